"""Quasar continua: a broken power law, broad emission lines and spectrophotometric wiggles.

The continuum is ``f_lambda ~ lambda^alpha`` with ``alpha ~ N(-1.5, 0.3)`` red of the
break near 1000-1200 A and a flatter slope blueward (as in composite spectra), times
Gaussian broad lines of section 1 of the spec with random equivalent widths, widths and
shifts, times a smooth multiplicative distortion of a few per cent that mimics the
spectrophotometric calibration errors of BOSS.

Caveats
-------
* No broad absorption lines (BALs), no associated absorbers, no host-galaxy light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name, rest wavelength (A), median rest EW (A), EW scatter (dex), median FWHM (km/s)
EMISSION_LINES: tuple[tuple[str, float, float, float, float], ...] = (
    ("OVI/Lyb", 1033.8, 12.0, 0.25, 4500.0),
    ("Lya", 1215.67, 70.0, 0.15, 4000.0),
    ("NV", 1240.14, 15.0, 0.25, 3000.0),
    ("SiII", 1262.6, 2.0, 0.3, 3000.0),
    ("OI", 1304.9, 2.5, 0.3, 3000.0),
    ("CII", 1335.3, 1.5, 0.3, 3000.0),
    ("SiIV/OIV]", 1400.0, 8.0, 0.2, 4500.0),
    ("CIV", 1549.06, 35.0, 0.2, 4500.0),
    ("HeII", 1640.4, 2.0, 0.3, 4000.0),
    ("CIII]", 1908.73, 20.0, 0.2, 5000.0),
    ("MgII", 2798.75, 30.0, 0.2, 4500.0),
)


@dataclass(frozen=True)
class QuasarConfig:
    """Parameters of the simulated quasar continuum."""

    alpha_mean: float = -1.5
    alpha_sigma: float = 0.3
    blue_alpha_mean: float = -0.5
    break_rest: tuple[float, float] = (1000.0, 1200.0)
    line_shift_sigma_kms: float = 500.0
    fwhm_scatter_dex: float = 0.12
    distortion_sigma: float = 0.04
    """Per-coefficient amplitude of the smooth multiplicative distortion."""
    distortion_order: int = 3


def quasar_continuum(
    wave_obs: np.ndarray, z_qso: float, rng: np.random.Generator, cfg: QuasarConfig = QuasarConfig()
) -> np.ndarray:
    """Unabsorbed quasar spectrum, normalised to 1 at 1450 A rest (before distortion).

    Parameters
    ----------
    wave_obs : ndarray
        Observed wavelengths, Angstrom.
    z_qso : float
        Quasar redshift.
    rng : numpy.random.Generator
    cfg : QuasarConfig
    """
    rest = np.asarray(wave_obs, dtype=float) / (1.0 + z_qso)
    alpha = rng.normal(cfg.alpha_mean, cfg.alpha_sigma)
    alpha_blue = rng.normal(cfg.blue_alpha_mean, cfg.alpha_sigma)
    lam_b = rng.uniform(*cfg.break_rest)
    cont = (rest / 1450.0) ** alpha
    blue = rest < lam_b
    cont[blue] = (lam_b / 1450.0) ** alpha * (rest[blue] / lam_b) ** alpha_blue
    lines = np.zeros_like(rest)
    for _name, lam0, ew, ew_dex, fwhm in EMISSION_LINES:
        centre = lam0 * (1.0 + rng.normal(0.0, cfg.line_shift_sigma_kms) / 299792.458)
        sigma = centre * fwhm * 10.0 ** rng.normal(0.0, cfg.fwhm_scatter_dex) / 299792.458 / 2.3548
        if abs(rest[0] - centre) > 8 * sigma + (rest[-1] - rest[0]) and not (rest[0] <= centre <= rest[-1]):
            continue
        amp = ew * 10.0 ** rng.normal(0.0, ew_dex) / (np.sqrt(2 * np.pi) * sigma)
        c_at = (centre / 1450.0) ** alpha if centre >= lam_b else (lam_b / 1450.0) ** alpha * (centre / lam_b) ** alpha_blue
        lines += amp * c_at * np.exp(-0.5 * ((rest - centre) / sigma) ** 2)
    x = np.linspace(-1.0, 1.0, rest.size)
    coeffs = rng.normal(0.0, cfg.distortion_sigma, cfg.distortion_order)
    distortion = np.exp(np.polynomial.legendre.legval(x, np.concatenate([[0.0], coeffs])))
    return (cont + lines) * distortion
