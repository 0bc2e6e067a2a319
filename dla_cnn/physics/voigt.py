"""Voigt optical depth of H I absorbers and the spectrograph line-spread function.

For one line of rest wavelength ``lambda0``, oscillator strength ``f`` and damping
constant ``Gamma``, the optical depth at observed wavelength ``lambda`` is::

    tau = N (pi e^2 / m_e c) f H(a, u) / (sqrt(pi) dnu_D)
    dnu_D = (b / c) nu0,   a = Gamma / (4 pi dnu_D),   u = (nu - nu0) / dnu_D

with ``nu = c (1 + z) / lambda`` and ``H(a, u) = Re[wofz(u + i a)]``.  Below the Lyman
limit (911.76 A rest) the continuum opacity ``N * 6.30e-18 cm^2 (lambda / 911.76 A)^3`` is
added.

Caveats
-------
* ``wofz`` is evaluated only where ``|u| < 25``; outside, the Lorentzian asymptote
  ``a / (sqrt(pi) u^2) (1 + 3 / (2 u^2))`` is used (relative error < 1e-5 there).
* Narrow lines must be sampled on a grid finer than the SDSS pixel before the flux is
  averaged: :func:`fine_grid` and :func:`apply_lsf` do that (5 samples per pixel by default).
"""

from __future__ import annotations

import numpy as np
from scipy.special import wofz

from dla_cnn import grid
from dla_cnn.constants import C_CMS, C_KMS
from dla_cnn.physics.lyman import LymanSeries, lyman_series

SIGMA0 = 0.02654  # pi e^2 / (m_e c), cm^2 s^-1
LYMAN_LIMIT_SIGMA = 6.30e-18  # cm^2 at the limit
U_EXACT = 25.0
TAU_NEGLIGIBLE = 1e-7


def _window(wave: np.ndarray, centre: float, half_width_frac: float, sorted_wave: bool) -> slice | np.ndarray:
    """Index selection of ``wave`` within ``centre * (1 +- half_width_frac)``."""
    lo, hi = centre * (1.0 - min(half_width_frac, 0.99)), centre * (1.0 + half_width_frac)
    if sorted_wave:
        return slice(int(np.searchsorted(wave, lo)), int(np.searchsorted(wave, hi)))
    return (wave >= lo) & (wave <= hi)


def voigt_profile_h(a: np.ndarray | float, u: np.ndarray) -> np.ndarray:
    """Voigt-Hjerting function ``H(a, u) = Re[wofz(u + i a)]``.

    Exact (``scipy.special.wofz``) for ``|u| < 25``, Lorentzian asymptote beyond.

    Parameters
    ----------
    a : float or ndarray
        Damping parameter ``Gamma / (4 pi dnu_D)`` (dimensionless); an array must
        broadcast to the shape of ``u``.
    u : ndarray
        Frequency offset from line centre in Doppler widths, ``(nu - nu0) / dnu_D``
        (dimensionless).

    Returns
    -------
    ndarray, same shape as ``u``
        ``H(a, u)`` (dimensionless; ``H(0, 0) = 1``).
    """
    u = np.asarray(u, dtype=float)
    out = np.empty_like(u)
    core = np.abs(u) < U_EXACT
    scalar_a = np.ndim(a) == 0
    a_core = a if scalar_a else np.broadcast_to(a, u.shape)[core]
    a_wing = a if scalar_a else np.broadcast_to(a, u.shape)[~core]
    out[core] = wofz(u[core] + 1j * a_core).real
    uw = u[~core]
    inv_u2 = 1.0 / (uw * uw)
    out[~core] = a_wing / np.sqrt(np.pi) * inv_u2 * (1.0 + 1.5 * inv_u2)
    return out


def voigt_tau(
    wave: np.ndarray,
    log_nhi: float | np.ndarray,
    z: float | np.ndarray,
    b_kms: float | np.ndarray = 30.0,
    series: LymanSeries | None = None,
    lyman_limit: bool = True,
) -> np.ndarray:
    """Optical depth of one or more H I absorbers (all Lyman lines + Lyman limit).

    Parameters
    ----------
    wave : ndarray
        Observed wavelengths, Angstrom.
    log_nhi, z, b_kms : float or ndarray
        log10 column density (cm^-2), absorber redshift and Doppler parameter (km/s);
        arrays of equal length give the summed optical depth of several absorbers.
    series : LymanSeries, optional
        Lines to include (default: the whole linetools H I series).
    lyman_limit : bool
        Add the photo-ionisation continuum below 911.76 A rest.

    Returns
    -------
    tau : ndarray, same shape as ``wave``
    """
    wave = np.asarray(wave, dtype=float)
    series = lyman_series() if series is None else series
    log_nhi, z, b_kms = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (log_nhi, z, b_kms))
    log_nhi, z, b_kms = np.broadcast_arrays(log_nhi, z, b_kms)
    tau = np.zeros_like(wave)
    wave_cm = wave * 1e-8
    sorted_wave = wave.ndim == 1 and wave.size > 1 and bool(np.all(np.diff(wave) > 0))
    for lnn, zz, bb in zip(log_nhi, z, b_kms):
        column = 10.0**lnn
        b_cms = bb * 1e5
        nu = C_CMS * (1.0 + zz) / wave_cm  # rest-frame frequency at each pixel
        for w0, f, gam in zip(series.wrest, series.f, series.gamma):
            nu0 = C_CMS / (w0 * 1e-8)
            dnu_d = b_cms / (w0 * 1e-8)
            a = gam / (4.0 * np.pi * dnu_d)
            tau0 = column * SIGMA0 * f / (np.sqrt(np.pi) * dnu_d)
            # evaluate only where the line can reach tau > TAU_NEGLIGIBLE (core or damping wing)
            u_max = max(U_EXACT, np.sqrt(tau0 * a / (np.sqrt(np.pi) * TAU_NEGLIGIBLE)))
            sel = _window(wave, w0 * (1.0 + zz), u_max * bb / C_KMS, sorted_wave)
            u = (nu[sel] - nu0) / dnu_d
            tau[sel] += tau0 * voigt_profile_h(a, u)
        if lyman_limit:
            tau += lyman_limit_tau(wave, lnn, zz)
    return tau


def lyman_limit_tau(wave: np.ndarray, log_nhi: float, z: float) -> np.ndarray:
    """Lyman-continuum optical depth ``N sigma (lambda / 911.76)^3`` below 911.76 A rest.

    Parameters
    ----------
    wave : ndarray
        Observed wavelengths, Angstrom.
    log_nhi : float
        H I column density of the absorber, log10 cm^-2.
    z : float
        Absorber redshift.

    Returns
    -------
    ndarray, same shape as ``wave``
        Optical depth: ``N * 6.30e-18 cm^2 * (lambda_rest / 911.76 A)^3`` where the rest
        wavelength ``wave / (1 + z)`` is below the Lyman limit, 0 elsewhere.
    """
    rest = np.asarray(wave, dtype=float) / (1.0 + z)
    return np.where(
        rest < grid.LYMAN_LIMIT_REST,
        10.0**log_nhi * LYMAN_LIMIT_SIGMA * (rest / grid.LYMAN_LIMIT_REST) ** 3,
        0.0,
    )


def transmission(
    wave: np.ndarray,
    log_nhi: float | np.ndarray,
    z: float | np.ndarray,
    b_kms: float | np.ndarray = 30.0,
    series: LymanSeries | None = None,
) -> np.ndarray:
    """Transmitted fraction ``exp(-tau)`` of one or more absorbers (no LSF).

    Parameters
    ----------
    wave : ndarray
        Observed wavelengths, Angstrom.
    log_nhi : float or ndarray
        H I column density, log10 cm^-2.
    z : float or ndarray
        Absorber redshift.
    b_kms : float or ndarray
        Doppler parameter, km/s.  Arrays of equal length for ``log_nhi``, ``z`` and
        ``b_kms`` describe several absorbers whose optical depths add.
    series : LymanSeries, optional
        Lines to include (default: the whole linetools H I series).

    Returns
    -------
    ndarray, same shape as ``wave``
        ``exp(-tau)`` with ``tau`` from :func:`voigt_tau`, Lyman-limit continuum
        included; values in [0, 1], not convolved with any line-spread function.
    """
    return np.exp(-voigt_tau(wave, log_nhi, z, b_kms, series=series))


def fine_grid(start_index: int, npix: int, oversample: int = 5) -> np.ndarray:
    """Sub-pixel log10-wavelength samples of SDSS pixels ``start_index .. start_index+npix-1``.

    Each pixel gets ``oversample`` equally spaced samples centred on it, so a block mean
    over a pixel's samples is the pixel average.
    """
    sub = (np.arange(npix * oversample) + 0.5) / oversample - 0.5
    return (start_index + sub) * grid.DLOGLAM


def apply_lsf(flux_fine: np.ndarray, oversample: int = 5, sigma_pix: float = 1.0) -> np.ndarray:
    """Convolve sub-pixel flux with a Gaussian LSF and average it into SDSS pixels.

    The Gaussian (truncated at 4 sigma, normalised, edges extended with the nearest sample,
    as :func:`scipy.ndimage.gaussian_filter1d`) and the pixel average are applied as one
    kernel evaluated only at pixel centres: ``oversample`` times fewer operations than
    convolving every sub-pixel sample, the same result to rounding (~1e-16).

    Parameters
    ----------
    flux_fine : ndarray (..., npix * oversample)
        Flux on the grid of :func:`fine_grid`.
    oversample : int
        Samples per pixel.
    sigma_pix : float
        Gaussian LSF sigma in pixels (SDSS/BOSS ``wdisp`` is ~1 pixel); 0 skips the convolution.

    Returns
    -------
    ndarray (..., npix)
    """
    flux_fine = np.asarray(flux_fine, dtype=float)
    shape = flux_fine.shape[:-1] + (flux_fine.shape[-1] // oversample, oversample)
    if sigma_pix <= 0:
        return flux_fine.reshape(shape).mean(axis=-1)
    kernel, radius = _lsf_pixel_kernel(oversample, float(sigma_pix))
    npix, taps = shape[-2], -(-kernel.size // oversample)
    kernel = np.concatenate([kernel, np.zeros(taps * oversample - kernel.size)])
    out = np.empty(shape[:-1])
    for row, res in zip(flux_fine.reshape(-1, flux_fine.shape[-1]), out.reshape(-1, npix)):
        padded = np.concatenate([np.full(radius, row[0]), row, np.full(radius + taps * oversample, row[-1])])
        # pixel j = sum_t kernel[t] padded[j * oversample + t]; split t by its phase r = t % oversample
        res[:] = sum(np.correlate(padded[r::oversample][: npix + taps - 1], kernel[r::oversample], "valid")
                     for r in range(oversample))
    return out


def _lsf_pixel_kernel(oversample: int, sigma_pix: float) -> tuple[np.ndarray, int]:
    """Gaussian LSF (``gaussian_filter1d``'s weights) convolved with a pixel-wide box, and its radius."""
    sd = sigma_pix * oversample
    radius = int(4.0 * sd + 0.5)
    x = np.arange(-radius, radius + 1)
    gauss = np.exp(-0.5 * (x / sd) ** 2)
    gauss /= gauss.sum()
    return np.convolve(gauss, np.full(oversample, 1.0 / oversample)), radius
