"""BOSS-like noise: sky and read noise rising to the blue, a photon term, masks, sky residuals.

The variance per pixel, in flux units, is ``sigma^2 = s^2 (lambda/5000)^-p u(lambda)^2 +
k F_model u(lambda)``, where ``u = 1/T`` is the inverse of the relative throughput:

    u(lambda) = 1 + blue_rise_scale * A * exp((blue_edge - lambda) / w)

BOSS's throughput (CCD, spectrograph and atmosphere) collapses below ~4000 A, so a fixed
number of read-noise and sky electrons becomes a larger flux error there (``u^2``), and the
photon noise of the source itself grows as ``u``.  ``A``, ``w``, ``p`` and the sky/read share
of the variance are drawn per spectrum, so the blue rise varies from spectrum to spectrum:
with the defaults, for a flat-spectrum source the noise at 3700 A is on average ~4 times that
at 4500 A (5-95% range ~2.6-6), as in BOSS.  Both terms are scaled so that the S/N per pixel at
1450 A rest equals the drawn target.  Runs of masked pixels (ivar = 0) and residuals of bright
sky lines are added.

``blue_rise_scale`` multiplies the whole throughput collapse; values above 1 give a bluer-noisier
sky than the training range (for held-out tests), 0 leaves only the ``(lambda/5000)^-p`` slope.

Caveats
-------
* The noise is Gaussian and uncorrelated between pixels; real coadds have mild correlations.
* The throughput curve is a smooth exponential edge, not a measured BOSS curve; the sky
  continuum's own colour is folded into the ``(lambda/5000)^-p`` slope.
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
    """Range of the power ``p`` of the sky/read slope ``(lambda/5000)^-p``."""
    blue_edge: float = 4000.0
    """Wavelength (A) below which the throughput collapses: there ``1/T - 1 = blue_rise_scale * A``."""
    blue_edge_width: tuple[float, float] = (200.0, 300.0)
    """Range of the e-folding length ``w`` (A) of the blue throughput collapse."""
    blue_drop_amplitude: tuple[float, float] = (0.5, 1.5)
    """Range of the per-spectrum amplitude ``A`` of the inverse throughput rise at ``blue_edge``."""
    blue_rise_scale: float = 1.0
    """Multiplies ``A`` for every spectrum: 1 for training; larger for a held-out, bluer-noisier sky."""
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


def blue_inverse_throughput(wave_obs: np.ndarray, amplitude: float, width: float, edge: float) -> np.ndarray:
    """Inverse relative throughput ``1 + amplitude * exp((edge - wave) / width)`` (1 far to the red)."""
    return 1.0 + amplitude * np.exp((edge - np.asarray(wave_obs, dtype=float)) / width)


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
    rng : numpy.random.Generator
        Four draws per call: sky/read share, slope power, blue amplitude and edge width.
    cfg : NoiseConfig
    """
    wave_obs = np.asarray(wave_obs, dtype=float)
    sky_frac = rng.uniform(*cfg.sky_fraction)
    power = rng.uniform(*cfg.blue_rise_power)
    amplitude = cfg.blue_rise_scale * rng.uniform(*cfg.blue_drop_amplitude)
    width = rng.uniform(*cfg.blue_edge_width)
    var_tot = (norm_level / snr) ** 2
    inv_throughput = blue_inverse_throughput(wave_obs, amplitude, width, cfg.blue_edge)
    inv_ref = float(blue_inverse_throughput(norm_wave, amplitude, width, cfg.blue_edge))
    shape = (wave_obs / 5000.0) ** (-power) * inv_throughput**2
    shape_ref = (norm_wave / 5000.0) ** (-power) * inv_ref**2
    sky_var = var_tot * sky_frac * shape / shape_ref
    photon_var = (var_tot * (1.0 - sky_frac) * np.clip(flux_model, 0.0, None) / norm_level
                  * inv_throughput / inv_ref)
    sigma = np.sqrt(sky_var + photon_var)
    if wave_obs.ndim == 1 and wave_obs.size > 1 and wave_obs[-1] > wave_obs[0]:  # sorted: slices
        lo = np.searchsorted(wave_obs, np.array(SKY_LINES) - 3.0, side="right")
        hi = np.searchsorted(wave_obs, np.array(SKY_LINES) + 3.0, side="left")
        for i, j in zip(lo, hi):
            sigma[i:j] *= cfg.sky_residual_sigma
        return sigma
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
