"""Randomised skies: every training sightline drawn with its own simulator settings.

Real skies differ from any one simulator, so a model that only fits one set of forest,
continuum and noise parameters is not done.  :class:`SkyVariation` gives ranges for the
settings that matter most to a DLA finder, and :func:`draw_sky` draws one
:class:`~dla_cnn.simulate.sightlines.SimulatorConfig` from them per sightline:

* forest: density (``tau_eff`` normalisation) and both f(N) slopes, +-20%;
* Lyman-limit systems and sub-DLAs: incidence x0.5-2 (log-uniform);
* continuum: power-law slope shift, emission-line strengths, share of BAL quasars;
* noise: the blue-end throughput collapse and the sky share of the variance;
* resolution: the LSF width.

:data:`SKIES` names the presets: ``fixed`` (no variation, the simulator defaults),
``train`` (the ranges above; what the packaged models learned on) and ``heldout``
(settings *outside* the training ranges: a denser forest with steeper f(N) slopes, more
Lyman-limit systems, stronger emission lines, redder continua, broader LSF, a steeper
blue-end noise rise and more BAL quasars), used only to measure accuracy.  The held-out
sky stays physical: its mean free path of ionising photons is within a factor ~2.5 of the
measured one (Worseck et al. 2014); shallower forest slopes outside the training range
(x0.8 and below) would make the IGM several times more opaque than observed.

Caveats
-------
* Every range is uniform (log-uniform for the LLS incidence) and independent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from dla_cnn.simulate.sightlines import SimulatorConfig


@dataclass(frozen=True)
class SkyVariation:
    """Ranges (low, high) of the per-sightline simulator settings; factors unless stated."""

    forest_density: tuple[float, float] = (0.8, 1.2)
    forest_slope: tuple[float, float] = (0.8, 1.2)
    """Multiplies both f(N) slopes (drawn independently)."""
    lls_incidence: tuple[float, float] = (0.5, 2.0)
    alpha_shift: tuple[float, float] = (-0.3, 0.3)
    """Added to the mean continuum slope."""
    line_ew_scale: tuple[float, float] = (0.6, 1.5)
    bal_fraction: tuple[float, float] = (0.05, 0.15)
    blue_rise_scale: tuple[float, float] = (0.6, 1.3)
    sky_fraction_shift: tuple[float, float] = (-0.1, 0.05)
    lsf_sigma_pix: tuple[float, float] = (0.8, 1.35)

    def to_dict(self) -> dict:
        return asdict(self)


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def draw_sky(rng: np.random.Generator, base: SimulatorConfig, variation: SkyVariation | None) -> SimulatorConfig:
    """One simulator configuration drawn from ``variation`` around ``base``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Consumed only when ``variation`` is given.
    base : SimulatorConfig
    variation : SkyVariation or None
        ``None`` returns ``base`` unchanged.
    """
    if variation is None:
        return base
    v = variation
    f, q, n = base.forest, base.quasar, base.noise
    lls = float(np.exp(rng.uniform(np.log(v.lls_incidence[0]), np.log(v.lls_incidence[1]))))
    forest = replace(f, tau_eff_norm=f.tau_eff_norm * _u(rng, v.forest_density),
                     beta=f.beta * _u(rng, v.forest_slope), beta_high=f.beta_high * _u(rng, v.forest_slope),
                     lls_incidence_z3=f.lls_incidence_z3 * lls)
    quasar = replace(q, alpha_mean=q.alpha_mean + _u(rng, v.alpha_shift), line_ew_scale=_u(rng, v.line_ew_scale),
                     bal_fraction=_u(rng, v.bal_fraction))
    shift = _u(rng, v.sky_fraction_shift)
    noise = replace(n, blue_rise_scale=_u(rng, v.blue_rise_scale),
                    sky_fraction=(min(max(n.sky_fraction[0] + shift, 0.05), 0.95),
                                  min(max(n.sky_fraction[1] + shift, 0.1), 0.98)))
    lsf = _u(rng, v.lsf_sigma_pix)
    return replace(base, forest=forest, quasar=quasar, noise=noise, lsf_sigma_pix=(lsf, lsf))


SKIES: dict[str, SkyVariation | None] = {
    "fixed": None,
    "train": SkyVariation(),
    "heldout": SkyVariation(
        forest_density=(1.2, 1.3), forest_slope=(1.2, 1.25), lls_incidence=(2.0, 2.5), alpha_shift=(0.3, 0.45),
        line_ew_scale=(1.5, 1.8), bal_fraction=(0.15, 0.2), blue_rise_scale=(1.3, 1.6),
        sky_fraction_shift=(0.05, 0.1), lsf_sigma_pix=(1.35, 1.5),
    ),
}
"""Named sky presets (see the module docstring)."""


def sky_variation(name: str) -> SkyVariation | None:
    """The preset ``name`` of :data:`SKIES`; ConfigError for an unknown name."""
    from dla_cnn.exceptions import ConfigError

    if name not in SKIES:
        raise ConfigError(f"unknown sky {name!r} (choose from {', '.join(SKIES)})")
    return SKIES[name]
