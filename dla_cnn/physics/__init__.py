"""Absorber physics: the H I Lyman series and Voigt optical depths."""

from dla_cnn.physics.lyman import LymanSeries, lyman_series
from dla_cnn.physics.voigt import (
    apply_lsf,
    lyman_limit_tau,
    transmission,
    voigt_profile_h,
    voigt_tau,
)

__all__ = [
    "LymanSeries",
    "lyman_series",
    "voigt_profile_h",
    "voigt_tau",
    "lyman_limit_tau",
    "transmission",
    "apply_lsf",
]
