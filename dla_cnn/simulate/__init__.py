"""The built-in realistic quasar + Lyman-alpha forest sightline simulator."""

from dla_cnn.simulate.forest import ForestConfig, forest_line_density, tau_eff
from dla_cnn.simulate.noise import NoiseConfig
from dla_cnn.simulate.quasar import QuasarConfig, quasar_continuum
from dla_cnn.simulate.sightlines import (
    SIMULATOR_VERSION,
    SimulatedHost,
    SimulatorConfig,
    draw_dla_log_nhi,
    draw_z_qso,
    simulate_host,
    simulate_sightline,
)

__all__ = [
    "SIMULATOR_VERSION", "ForestConfig", "NoiseConfig", "QuasarConfig", "SimulatorConfig", "SimulatedHost",
    "draw_dla_log_nhi", "draw_z_qso", "forest_line_density", "quasar_continuum",
    "simulate_host", "simulate_sightline", "tau_eff",
]
