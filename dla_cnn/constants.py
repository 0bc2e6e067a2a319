"""Physical and catalog constants, defined once for the whole package.

Rest wavelengths are vacuum Angstrom (linetools' H I list); the speed of light comes from
:mod:`astropy.constants`.  Plain floats, so hot loops need no unit handling.
"""

from __future__ import annotations

from astropy import constants as _const
from astropy.stats import gaussian_fwhm_to_sigma as _fwhm_to_sigma

C_KMS: float = float(_const.c.to_value("km/s"))
"""Speed of light, km/s."""
C_CMS: float = float(_const.c.to_value("cm/s"))
"""Speed of light, cm/s."""
FWHM_TO_SIGMA: float = float(_fwhm_to_sigma)
"""Gaussian sigma per FWHM (1 / 2.3548)."""

LYA_REST: float = 1215.6701
"""H I Ly-alpha rest wavelength, A."""
LYB_REST: float = 1025.7223
"""H I Ly-beta rest wavelength, A."""
LYMAN_LIMIT_REST: float = 911.76
"""H I Lyman limit, A."""

DLA_MIN_LOG_NHI: float = 20.3
"""A damped Ly-alpha absorber has log10 N_HI >= this (cm^-2)."""
SUBDLA_MIN_LOG_NHI: float = 19.0
"""Sub-DLAs: SUBDLA_MIN_LOG_NHI <= log N_HI < DLA_MIN_LOG_NHI."""
LLS_MIN_LOG_NHI: float = 17.2
"""Lyman-limit systems (optical depth > 1 at 912 A)."""

LOG_NHI_PIVOT: float = 20.5
"""The networks' log N_HI heads predict the difference from this value."""
