"""Quasar continua: a broken power law, broad emission lines and spectrophotometric wiggles.

The continuum is ``f_lambda ~ lambda^alpha`` with ``alpha ~ N(-1.5, 0.3)`` red of the
break near 1000-1200 A and a flatter slope blueward (as in composite spectra), times
Gaussian broad lines of section 1 of the spec with random equivalent widths, widths and
shifts, times a smooth multiplicative distortion of a few per cent that mimics the
spectrophotometric calibration errors of BOSS.

Broad absorption lines (BALs, ~10% of BOSS quasars) are a separate multiplicative factor,
:func:`bal_transmission`, which the caller applies to the continuum.

Caveats
-------
* No narrow associated absorbers, no host-galaxy light; BAL caveats are in
  :func:`bal_transmission`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dla_cnn.constants import C_KMS, FWHM_TO_SIGMA


# BAL ions: name, rest wavelength (A) of the absorbing transition (oscillator-strength weighted
# mean of the doublets), tau relative to C IV drawn from bal_ion_tau_scale (C IV: 1).
BAL_LINES: tuple[tuple[str, float], ...] = (
    ("CIV", 1549.06),
    ("SiIV", 1396.75),
    ("NV", 1240.14),
    ("Lya", 1215.67),
)

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
    line_ew_scale: float = 1.0
    """Multiplies every emission line's equivalent width (sky variation, held-out skies)."""
    distortion_sigma: float = 0.04
    """Per-coefficient amplitude of the smooth multiplicative distortion."""
    distortion_order: int = 3
    bal_fraction: float = 0.10
    """Probability that a quasar is a BAL quasar (~10% of BOSS quasars).  0 turns BALs off."""
    bal_n_troughs: tuple[int, int] = (1, 3)
    """Inclusive range of the number of troughs (shared by all ions)."""
    bal_velocity_kms: tuple[float, float] = (3000.0, 25000.0)
    """Range of outflow velocities (blueward of each line) that a trough's centre is drawn from."""
    bal_width_kms: tuple[float, float] = (2000.0, 10000.0)
    """Range of full trough widths (between the half-depth points of the edges)."""
    bal_depth: tuple[float, float] = (0.3, 0.95)
    """Range of the C IV trough depth ``1 - transmission`` at the trough floor."""
    bal_edge_kms: tuple[float, float] = (300.0, 1500.0)
    """Range of the width of each trough edge (a raised-cosine ramp from 0 to full depth)."""
    bal_ion_tau_scale: tuple[float, float] = (0.5, 1.0)
    """Optical depth of the Si IV, N V and Ly-alpha troughs relative to C IV, drawn per ion."""


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
        Source of randomness (spectral slopes, break, emission lines, distortion).
    cfg : QuasarConfig
        Population parameters of the continuum and emission lines.

    Returns
    -------
    ndarray, same shape as ``wave_obs``
        Broken power-law continuum plus Gaussian emission lines, times a smooth
        multiplicative Legendre distortion; flux in units of the power law at
        1450 A rest.  BAL troughs are not included (see :func:`bal_transmission`).
    """
    rest = np.asarray(wave_obs, dtype=float) / (1.0 + z_qso)
    alpha = rng.normal(cfg.alpha_mean, cfg.alpha_sigma)
    alpha_blue = rng.normal(cfg.blue_alpha_mean, cfg.alpha_sigma)
    lam_b = rng.uniform(*cfg.break_rest)
    cont = (rest / 1450.0) ** alpha
    ascending = rest.ndim == 1 and rest.size > 1 and rest[-1] > rest[0]
    blue = slice(0, int(np.searchsorted(rest, lam_b))) if ascending else rest < lam_b
    cont[blue] = (lam_b / 1450.0) ** alpha * (rest[blue] / lam_b) ** alpha_blue
    # every line's shift, width and strength in one draw each (lines off the spectrum included)
    lam0, ew, ew_dex, fwhm = _EMISSION_TABLE
    centre = lam0 * (1.0 + rng.normal(0.0, cfg.line_shift_sigma_kms, lam0.size) / C_KMS)
    sigma = centre * fwhm * 10.0 ** rng.normal(0.0, cfg.fwhm_scatter_dex, lam0.size) / C_KMS * FWHM_TO_SIGMA
    amp = cfg.line_ew_scale * ew * 10.0 ** (ew_dex * rng.standard_normal(lam0.size)) / (np.sqrt(2 * np.pi) * sigma)
    c_at = np.where(centre >= lam_b, (centre / 1450.0) ** alpha,
                    (lam_b / 1450.0) ** alpha * (centre / lam_b) ** alpha_blue)
    near = ((np.abs(rest.flat[0] - centre) <= 8 * sigma + (rest.flat[-1] - rest.flat[0]))
            | ((rest.flat[0] <= centre) & (centre <= rest.flat[-1])))
    lines = np.zeros_like(rest)
    c_n, s_n, h_n = centre[near], sigma[near], (amp * c_at)[near]
    # within 12 sigma of each centre (beyond, the Gaussian is < 1e-31 of its peak)
    if ascending:
        i_lo, i_hi = np.searchsorted(rest, c_n - 12 * s_n), np.searchsorted(rest, c_n + 12 * s_n)
    for k in range(c_n.size):
        sel = slice(i_lo[k], i_hi[k]) if ascending else slice(None)
        x = rest[sel] - c_n[k]
        x *= 1.0 / s_n[k]
        g = -0.5 * x
        g *= x
        np.exp(g, out=g)
        g *= h_n[k]
        lines[sel] += g
    coeffs = rng.normal(0.0, cfg.distortion_sigma, cfg.distortion_order)
    distortion = np.exp(_legendre_basis(rest.size, cfg.distortion_order) @ coeffs).reshape(rest.shape)
    return (cont + lines) * distortion


_EMISSION_TABLE = tuple(np.array(col) for col in list(zip(*EMISSION_LINES))[1:])
"""Rest wavelength, median EW, EW scatter (dex) and median FWHM of :data:`EMISSION_LINES`, as arrays."""


@lru_cache(maxsize=16)
def _legendre_basis(n: int, order: int) -> np.ndarray:
    """Legendre polynomials P_1 .. P_order at ``n`` points spread evenly over [-1, 1], (n, order)."""
    x = np.linspace(-1.0, 1.0, n)
    basis = np.polynomial.legendre.legvander(x, order)[:, 1:]
    basis.flags.writeable = False
    return basis


def _smooth_box(v: np.ndarray, v_lo: float, v_hi: float, edge: float) -> np.ndarray:
    """1 on ``[v_lo + edge/2, v_hi - edge/2]``, 0 outside ``[v_lo - edge/2, v_hi + edge/2]``,
    raised-cosine ramps (continuous first derivative) in between; exactly 0 outside."""
    ramp_lo = np.clip((v - (v_lo - edge / 2)) / edge, 0.0, 1.0)
    ramp_hi = np.clip(((v_hi + edge / 2) - v) / edge, 0.0, 1.0)
    return np.sin(0.5 * np.pi * ramp_lo) ** 2 * np.sin(0.5 * np.pi * ramp_hi) ** 2


def bal_transmission(
    wave_obs: np.ndarray, z_qso: float, rng: np.random.Generator, cfg: QuasarConfig = QuasarConfig()
) -> tuple[np.ndarray, bool]:
    """Broad-absorption-line troughs of a quasar: multiplicative transmission and BAL flag.

    With probability ``cfg.bal_fraction`` the quasar is a BAL quasar.  It then gets
    ``bal_n_troughs`` troughs, each with an outflow velocity (centre), a full width, a depth and
    an edge width drawn from the config ranges; the trough lies entirely blueward of its line
    (its red edge is at positive outflow velocity).  The same velocity structure is imprinted
    blueward of C IV 1549, Si IV 1397, N V 1240 and Ly-alpha 1216, so the N V and Ly-alpha
    troughs fall in the Ly-alpha forest and can mimic damped absorbers.  Optical depths add,
    ``T = exp(-sum tau)``; the C IV trough floor has depth ``bal_depth``, the other ions have
    ``tau`` scaled by a factor drawn from ``bal_ion_tau_scale``.

    Parameters
    ----------
    wave_obs : ndarray
        Observed wavelengths, Angstrom.
    z_qso : float
        Quasar redshift.
    rng : numpy.random.Generator
        One uniform draw decides BAL or not (none at all when ``bal_fraction <= 0``, so turning
        BALs off leaves the random stream untouched); a BAL quasar then draws the number of
        troughs, four numbers per trough and three ion scales.  The result is deterministic
        for a given generator state.
    cfg : QuasarConfig

    Returns
    -------
    transmission : ndarray
        Same shape as ``wave_obs``; in [0, 1], exactly 1 outside the troughs (and everywhere
        for a non-BAL quasar).
    is_bal : bool

    Caveats
    -------
    * All ions share one velocity profile; real troughs differ in shape between ions
      (e.g. Si IV often narrower, partial covering makes depths ion dependent).
    * Doublets are single lines at their weighted mean wavelength (C IV's 500 km/s splitting is
      small against the trough widths).
    * No narrow associated absorbers, no low-ionisation BALs (Al III, Mg II, C II), no
      O VI / Ly-beta troughs, and no emission-line changes that go with BALs.
    """
    wave_obs = np.asarray(wave_obs, dtype=float)
    transmission = np.ones_like(wave_obs)
    if cfg.bal_fraction <= 0.0 or rng.random() >= cfg.bal_fraction:
        return transmission, False
    n = int(rng.integers(cfg.bal_n_troughs[0], cfg.bal_n_troughs[1] + 1))
    troughs = []
    for _ in range(n):
        width = rng.uniform(*cfg.bal_width_kms)
        edge = rng.uniform(*cfg.bal_edge_kms)
        # the red edge of the ramp must stay at positive outflow velocity
        v_min = max(cfg.bal_velocity_kms[0], 0.5 * (width + edge) + 1.0)
        centre = rng.uniform(v_min, max(v_min, cfg.bal_velocity_kms[1]))
        depth = rng.uniform(*cfg.bal_depth)
        troughs.append((centre - 0.5 * width, centre + 0.5 * width, edge, -np.log1p(-depth)))
    scales = [1.0] + list(rng.uniform(*cfg.bal_ion_tau_scale, len(BAL_LINES) - 1))
    rest = wave_obs / (1.0 + z_qso)
    tau = np.zeros_like(wave_obs)
    for (_name, lam0), scale in zip(BAL_LINES, scales):
        ratio2 = (rest / lam0) ** 2
        v = C_KMS * (1.0 - ratio2) / (1.0 + ratio2)  # relativistic outflow velocity, > 0 blueward
        near = v > 0.0
        if not near.any():
            continue
        for v_lo, v_hi, edge, tau0 in troughs:
            tau[near] += scale * tau0 * _smooth_box(v[near], v_lo, v_hi, edge)
    return np.exp(-tau), True
