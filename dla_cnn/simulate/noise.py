"""BOSS-like noise: sky and read noise rising to the blue, a photon term, masks, sky residuals.

The variance per pixel is ``sigma^2 = s_sky^2 g(lambda) + k F_model``: a sky/read term whose
shape rises steeply below ~4000 A (the BOSS blue throughput) and a photon term proportional
to the noiseless flux.  Both are scaled so that the median S/N per pixel at 1420-1480 A rest
equals the drawn target.  Runs of masked pixels (ivar = 0) and residuals of bright sky lines
are added.

Caveats
-------
* The noise is Gaussian and uncorrelated between pixels; real coadds have mild correlations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKY_LINES = (5577.3, 5889.9, 6300.3, 6363.8, 7246.0, 7913.7, 8344.6, 8827.1)


@dataclass(frozen=True)
class NoiseConfig:
    """Parameters of the simulated noise."""

    snr_min: float = 1.0
    snr_max: float = 30.0
    snr_distribution: str = "loguniform"
    """``loguniform`` between snr_min and snr_max (training), or ``boss`` (peaked near 3-5)."""
    sky_fraction: tuple[float, float] = (0.4, 0.9)
    """Share of the variance at 1450 A rest that is sky/read noise (the rest is photon noise)."""
    blue_rise_power: tuple[float, float] = (1.0, 2.5)
    blue_edge: float = 4000.0
    mask_runs_per_spectrum: float = 0.7
    mask_run_length: tuple[int, int] = (3, 30)
    sky_residual_sigma: float = 3.0


def draw_snr(rng: np.random.Generator, n: int, cfg: NoiseConfig = NoiseConfig()) -> np.ndarray:
    """Target median S/N per pixel at 1420-1480 A rest."""
    if cfg.snr_distribution == "boss":
        snr = np.exp(rng.normal(np.log(4.0), 0.7, n))
        return np.clip(snr, cfg.snr_min, cfg.snr_max)
    lo, hi = np.log(cfg.snr_min), np.log(cfg.snr_max)
    return np.exp(rng.uniform(lo, hi, n))


def noise_sigma(
    wave_obs: np.ndarray,
    flux_model: np.ndarray,
    norm_level: float,
    snr: float,
    rng: np.random.Generator,
    norm_wave: float,
    cfg: NoiseConfig = NoiseConfig(),
) -> np.ndarray:
    """Per-pixel 1-sigma noise for a noiseless model spectrum.

    Parameters
    ----------
    wave_obs : ndarray
        Observed wavelength, Angstrom.
    flux_model : ndarray
        Noiseless flux.
    norm_level : float
        Model flux level at 1420-1480 A rest, where ``snr`` applies.
    snr : float
        Target S/N per pixel at the normalisation level.
    norm_wave : float
        Observed wavelength (A) of the normalisation region (1450 A rest).
    """
    sky_frac = rng.uniform(*cfg.sky_fraction)
    power = rng.uniform(*cfg.blue_rise_power)
    var_tot = (norm_level / snr) ** 2
    shape = (wave_obs / 5000.0) ** (-power) * (1.0 + (cfg.blue_edge / wave_obs) ** 8)
    shape_ref = np.interp(norm_wave, wave_obs, shape)
    sky_var = var_tot * sky_frac * shape / shape_ref
    photon_var = var_tot * (1.0 - sky_frac) * np.clip(flux_model, 0.0, None) / norm_level
    sigma = np.sqrt(sky_var + photon_var)
    for line in SKY_LINES:
        near = np.abs(wave_obs - line) < 3.0
        sigma[near] *= cfg.sky_residual_sigma
    return sigma


def mask_runs(rng: np.random.Generator, npix: int, cfg: NoiseConfig = NoiseConfig()) -> np.ndarray:
    """Boolean mask (True = bad) with a Poisson number of contiguous bad-pixel runs."""
    mask = np.zeros(npix, dtype=bool)
    for _ in range(rng.poisson(cfg.mask_runs_per_spectrum)):
        length = rng.integers(cfg.mask_run_length[0], cfg.mask_run_length[1] + 1)
        start = rng.integers(0, max(1, npix - length))
        mask[start:start + length] = True
    return mask
