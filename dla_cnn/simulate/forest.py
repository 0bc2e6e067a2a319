"""The Lyman-alpha forest and the optically thick absorbers of the IGM.

Forest lines (12 < log N < 17.2) are a Poisson process in redshift and column density
with a broken power law ``f(N) ~ N^-1.5`` below log N = 14.5 and ``~ N^-1.9`` above
(Kim et al. 2013; Prochaska et al. 2014), and Doppler parameters around 28 km/s.  Every
line with log N > 15.5 also adds its Lyman-limit continuum.  Their density
``dN/dz = A (1 + z)^2.92`` is *calibrated*, not guessed: for a Poisson superposition of
lines ``-ln <F> = (dN/dz) (1 + z) <W_r> / lambda_alpha``, so ``A`` follows from the mean
rest equivalent width ``<W_r>`` of the drawn lines and the Faucher-Giguere et al. (2008)
effective optical depth ``tau_eff = 0.0018 (1 + z)^3.92``.

Lyman-limit systems and sub-DLAs (17.2 <= log N < 20.3) are added at their natural
incidence ``l(z) = 2.2 ((1 + z) / 4)^2`` (Songaila & Cowie 2010); DLAs only when asked for
(the simulator makes DLA-free hosts by default).  Together, the forest's optically thin
lines and these systems set the mean free path of ionising photons
(:func:`mean_free_path`), which a test holds against Worseck et al. (2014).

Caveats
-------
* Lines are independent (no clustering, no thermal/velocity structure beyond b).
* Forest lines use Lyman alpha to epsilon (plus the Lyman-limit continuum above
  log N 15.5); optically thick absorbers use the whole series and the continuum.
* Each line's Voigt profile is evaluated only where its optical depth exceeds 1e-5
  (:mod:`dla_cnn.physics.linegrid`); the transmission stays within ~2e-4 of the exact sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dla_cnn import grid
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.physics.linegrid import TAU_TOL, lines_tau, voigt_h_small_a
from dla_cnn.physics.lyman import lyman_series
from dla_cnn.physics.voigt import LYMAN_LIMIT_SIGMA, SIGMA0

C_KMS = grid.C_KMS


@dataclass(frozen=True)
class ForestConfig:
    """Parameters of the simulated intergalactic absorption."""

    log_n_min: float = 12.0
    log_n_max: float = 17.2
    beta: float = 1.5
    """Forest column-density slope below ``log_n_break``, ``f(N) ~ N^-beta``."""
    log_n_break: float = 14.5
    beta_high: float = 1.9
    """Slope of the forest f(N) above ``log_n_break`` (continuous at the break)."""
    ll_continuum_min_log_n: float = 15.5
    """Forest lines above this column also get the Lyman-limit continuum."""
    b_median_kms: float = 28.0
    b_scatter_dex: float = 0.1
    b_min_kms: float = 15.0
    b_max_kms: float = 60.0
    tau_eff_norm: float = 0.0018
    tau_eff_slope: float = 3.92
    n_series: int = 5
    """Lyman lines per forest absorber (alpha ... epsilon)."""
    lls_incidence_z3: float = 2.2
    """Optically thick (log N >= 17.2) absorbers per unit z at z = 3 (Songaila & Cowie 2010)."""
    lls_incidence_slope: float = 2.0
    lls_log_n_max: float = DLA_MIN_LOG_NHI
    lls_beta: float = 1.3
    """Slope of f(N) for 17.2 <= log N < 20.3, giving ~0.3 sub-DLAs (>= 19.0) per unit z at z = 3."""


def tau_eff(z: np.ndarray | float, cfg: ForestConfig = ForestConfig()) -> np.ndarray | float:
    """Effective Ly-alpha optical depth ``0.0018 (1 + z)^3.92`` (Faucher-Giguere et al. 2008).

    Parameters
    ----------
    z : float or ndarray
        Absorption redshift of Ly-alpha.
    cfg : ForestConfig
        ``tau_eff_norm`` and ``tau_eff_slope`` (the defaults give the formula above).

    Returns
    -------
    float or ndarray
        ``tau_eff = -ln <F>``, dimensionless, same shape as ``z``.
    """
    return cfg.tau_eff_norm * (1.0 + np.asarray(z)) ** cfg.tau_eff_slope


def draw_b(rng: np.random.Generator, n: int, cfg: ForestConfig) -> np.ndarray:
    """Doppler parameters (km/s), log-normal around the median, clipped."""
    b = cfg.b_median_kms * 10.0 ** (cfg.b_scatter_dex * rng.standard_normal(n))
    return np.clip(b, cfg.b_min_kms, cfg.b_max_kms)


def _draw_power_law_log_n(rng: np.random.Generator, n: int, lo: float, hi: float, beta: float) -> np.ndarray:
    """log10 N with ``f(N) ~ N^-beta`` between ``lo`` and ``hi`` (inverse CDF)."""
    k = 1.0 - beta
    u = rng.random(n)
    a, b = 10.0 ** (k * lo), 10.0 ** (k * hi)
    return np.log10(a + u * (b - a)) / k


def forest_dn_dlogn(log_n: np.ndarray, cfg: ForestConfig = ForestConfig()) -> np.ndarray:
    """Unnormalised ``dn/dlog N`` of forest lines (broken power law, continuous at the break)."""
    log_n = np.asarray(log_n, dtype=float)
    lo = (1.0 - cfg.beta) * log_n
    hi = (1.0 - cfg.beta_high) * log_n + (cfg.beta_high - cfg.beta) * cfg.log_n_break
    inside = (log_n >= cfg.log_n_min) & (log_n <= cfg.log_n_max)
    return np.where(inside, 10.0 ** np.where(log_n < cfg.log_n_break, lo, hi), 0.0)


def _segment_mass(lo: float, hi: float, beta: float, offset: float) -> float:
    """Integral of ``10**((1 - beta) x + offset)`` over ``lo .. hi``."""
    k = 1.0 - beta
    return float(10.0**offset * (10.0 ** (k * hi) - 10.0 ** (k * lo)) / (k * np.log(10.0)))


def draw_forest_log_n(rng: np.random.Generator, n: int, cfg: ForestConfig = ForestConfig()) -> np.ndarray:
    """log10 N of ``n`` forest lines from the broken power law of :func:`forest_dn_dlogn`."""
    brk = min(max(cfg.log_n_break, cfg.log_n_min), cfg.log_n_max)
    m_lo = _segment_mass(cfg.log_n_min, brk, cfg.beta, 0.0)
    m_hi = _segment_mass(brk, cfg.log_n_max, cfg.beta_high, (cfg.beta_high - cfg.beta) * brk)
    low = rng.random(n) < m_lo / (m_lo + m_hi)
    out = _draw_power_law_log_n(rng, n, brk, cfg.log_n_max, cfg.beta_high)
    out[low] = _draw_power_law_log_n(rng, int(low.sum()), cfg.log_n_min, brk, cfg.beta)
    return out


def rest_equivalent_width(log_n: np.ndarray, b_kms: np.ndarray) -> np.ndarray:
    """Ly-alpha rest equivalent width (A) of single Voigt lines, by direct integration.

    The profile is :func:`dla_cnn.physics.linegrid.voigt_h_small_a` (within a relative 1e-5
    of ``wofz`` for the damping parameters of these lines), integrated over +-800 km/s in
    1 km/s steps.
    """
    series = lyman_series(1)
    w0, f, gam = series.wrest[0], series.f[0], series.gamma[0]
    log_n, b_kms = np.broadcast_arrays(np.atleast_1d(log_n).astype(float), np.atleast_1d(b_kms).astype(float))
    v = np.linspace(-800.0, 800.0, 1601)
    dv = v[1] - v[0]
    dnu_d = b_kms[:, None] * 1e5 / (w0 * 1e-8)
    a = gam / (4 * np.pi * dnu_d)
    u = v[None, :] / b_kms[:, None]
    tau = 10.0 ** log_n[:, None] * SIGMA0 * f / (np.sqrt(np.pi) * dnu_d) * voigt_h_small_a(a, u)
    return (1.0 - np.exp(-tau)).sum(axis=1) * dv / C_KMS * w0


_W_GRID_LOG_N = np.linspace(11.0, 18.0, 141)


@lru_cache(maxsize=32)
def _w_table(b_median_kms: float, b_scatter_dex: float, b_min_kms: float, b_max_kms: float) -> np.ndarray:
    """Ly-alpha ``W_r`` on :data:`_W_GRID_LOG_N`, averaged over the b distribution."""
    cfg = ForestConfig(b_median_kms=b_median_kms, b_scatter_dex=b_scatter_dex, b_min_kms=b_min_kms,
                       b_max_kms=b_max_kms)
    b = np.quantile(draw_b(np.random.default_rng(12345), 20000, cfg), (np.arange(8) + 0.5) / 8)
    ln, bb = np.meshgrid(_W_GRID_LOG_N, b, indexing="ij")
    return rest_equivalent_width(ln.ravel(), bb.ravel()).reshape(ln.shape).mean(axis=1)


@lru_cache(maxsize=64)
def mean_rest_equivalent_width(cfg: ForestConfig = ForestConfig()) -> float:
    """``<W_r>`` of Ly-alpha averaged over the forest's f(N) and b distributions (A).

    The W_r(N) table depends only on the b distribution and is cached, so a per-sightline
    randomised sky (other slopes, same b) costs a quadrature, not new Voigt profiles.
    """
    w_tab = _w_table(cfg.b_median_kms, cfg.b_scatter_dex, cfg.b_min_kms, cfg.b_max_kms)
    log_n = np.linspace(cfg.log_n_min, cfg.log_n_max, 105)
    w = np.interp(log_n, _W_GRID_LOG_N, w_tab)
    weight = forest_dn_dlogn(log_n, cfg)
    return float(np.trapezoid(w * weight, log_n) / np.trapezoid(weight, log_n))


def forest_line_density(z: np.ndarray | float, cfg: ForestConfig = ForestConfig()) -> np.ndarray | float:
    """Forest lines per unit redshift, calibrated to reproduce ``tau_eff(z)``.

    Parameters
    ----------
    z : float or ndarray
        Redshift.
    cfg : ForestConfig
        Forest f(N) and b distribution (through the mean rest equivalent width) and
        the ``tau_eff`` law.

    Returns
    -------
    float or ndarray
        ``dN/dz = tau_eff(z) lambda_alpha / (<W_r> (1 + z))``: lines with
        ``log_n_min <= log N <= log_n_max`` per unit redshift, same shape as ``z``.
    """
    w = mean_rest_equivalent_width(cfg)
    return tau_eff(z, cfg) * grid.LYA_REST / (w * (1.0 + np.asarray(z)))


def _draw_poisson_z(rng: np.random.Generator, z_lo: float, z_hi: float, norm: float, slope: float) -> np.ndarray:
    """Poisson redshifts with density ``norm (1 + z)^slope`` on [z_lo, z_hi]."""
    if z_hi <= z_lo:
        return np.empty(0)
    k = slope + 1.0
    c_lo, c_hi = (1 + z_lo) ** k, (1 + z_hi) ** k
    n = rng.poisson(norm * (c_hi - c_lo) / k)
    return (c_lo + rng.random(n) * (c_hi - c_lo)) ** (1.0 / k) - 1.0


def draw_forest(rng: np.random.Generator, z_lo: float, z_hi: float, cfg: ForestConfig = ForestConfig()):
    """Forest absorbers between ``z_lo`` and ``z_hi``.

    Returns
    -------
    z, log_n, b : ndarray
    """
    norm = cfg.tau_eff_norm * grid.LYA_REST / mean_rest_equivalent_width(cfg)
    z = _draw_poisson_z(rng, z_lo, z_hi, norm, cfg.tau_eff_slope - 1.0)
    log_n = draw_forest_log_n(rng, z.size, cfg)
    return z, log_n, draw_b(rng, z.size, cfg)


def lls_incidence(z: np.ndarray | float, cfg: ForestConfig = ForestConfig()) -> np.ndarray | float:
    """Systems with log N >= 17.2 (tau_LL >= 1) per unit redshift."""
    return cfg.lls_incidence_z3 * ((1.0 + np.asarray(z)) / 4.0) ** cfg.lls_incidence_slope


def draw_thick_absorbers(rng: np.random.Generator, z_lo: float, z_hi: float, cfg: ForestConfig = ForestConfig()):
    """Lyman-limit systems and sub-DLAs (17.2 <= log N < 20.3) at their natural incidence."""
    norm = cfg.lls_incidence_z3 / 4.0**cfg.lls_incidence_slope
    z = _draw_poisson_z(rng, z_lo, z_hi, norm, cfg.lls_incidence_slope)
    log_n = _draw_power_law_log_n(rng, z.size, cfg.log_n_max, cfg.lls_log_n_max, cfg.lls_beta)
    return z, log_n, draw_b(rng, z.size, cfg)


def lyman_continuum_tau(loglam: np.ndarray, z: np.ndarray, log_n: np.ndarray) -> np.ndarray:
    """Summed Lyman-limit continuum optical depth of many absorbers on a sorted grid.

    ``tau(lambda) = lambda^3 sum_i N_i sigma_LL / lambda_LL,i^3`` over absorbers whose limit
    ``lambda_LL,i = 911.76 (1 + z_i)`` lies redward of ``lambda``: one sort and one
    cumulative sum, whatever the number of absorbers.
    """
    loglam = np.asarray(loglam, dtype=float)
    tau = np.zeros(loglam.size)
    if np.size(z) == 0:
        return tau
    edge = grid.LYMAN_LIMIT_REST * (1.0 + np.asarray(z, dtype=float))
    order = np.argsort(edge)
    edge = edge[order]
    weight = 10.0 ** np.asarray(log_n, dtype=float)[order] * LYMAN_LIMIT_SIGMA / edge**3
    tail = np.concatenate([np.cumsum(weight[::-1])[::-1], [0.0]])  # sum over edges[k:]
    # only samples blueward of the reddest edge are absorbed
    m = int(np.searchsorted(loglam, np.log10(edge[-1]), side="right"))
    wave = 10.0 ** loglam[:m]
    k = np.searchsorted(edge, wave, side="right")  # first edge redder than the pixel
    tau[:m] = wave**3 * tail[k]
    return tau


def mean_free_path(z: float, cfg: ForestConfig = ForestConfig(), h: float = 0.7, omega_m: float = 0.3) -> float:
    """Mean free path of ionising photons (912 A) in proper Mpc implied by the absorbers.

    The effective Lyman-continuum optical depth from ``z`` down to ``z'`` is
    ``int dz'' int dN f(N, z'') (1 - exp(-N sigma_LL ((1 + z'') / (1 + z))^3))`` over the
    forest lines above ``cfg.ll_continuum_min_log_n`` (their calibrated density and broken
    f(N); thinner lines get no continuum in the simulator) and the Lyman-limit systems; the
    mean free path is the proper distance at which it reaches 1.

    Parameters
    ----------
    z : float
        Redshift of emission.
    cfg : ForestConfig
    h, omega_m : float
        Flat LambdaCDM cosmology of the comparison (Worseck et al. 2014 use h = 0.7).
    """
    log_n_f = np.linspace(cfg.log_n_min, cfg.log_n_max, 400)
    dn_f = forest_dn_dlogn(log_n_f, cfg)
    dn_f = np.where(log_n_f > cfg.ll_continuum_min_log_n, dn_f, 0.0) / np.trapezoid(dn_f, log_n_f)
    log_n_t = np.linspace(cfg.log_n_max, cfg.lls_log_n_max, 200)
    dn_t = 10.0 ** ((1.0 - cfg.lls_beta) * log_n_t)
    dn_t = dn_t / np.trapezoid(dn_t, log_n_t)
    norm_f = cfg.tau_eff_norm * grid.LYA_REST / mean_rest_equivalent_width(cfg)
    zz = np.linspace(z, max(z - 1.5, 0.0), 1500)
    scale = ((1.0 + zz) / (1.0 + z)) ** 3
    absorbed_f = 1.0 - np.exp(-10.0 ** log_n_f[None, :] * LYMAN_LIMIT_SIGMA * scale[:, None])
    absorbed_t = 1.0 - np.exp(-10.0 ** log_n_t[None, :] * LYMAN_LIMIT_SIGMA * scale[:, None])
    dtau_dz = (norm_f * (1.0 + zz) ** (cfg.tau_eff_slope - 1.0) * np.trapezoid(absorbed_f * dn_f, log_n_f, axis=1)
               + lls_incidence(zz, cfg) * np.trapezoid(absorbed_t * dn_t, log_n_t, axis=1))
    tau = np.concatenate([[0.0], np.cumsum(0.5 * (dtau_dz[1:] + dtau_dz[:-1]) * -np.diff(zz))])
    if tau[-1] < 1.0:
        return float("inf")
    z_one = float(np.interp(1.0, tau, zz))
    hubble = 100.0 * h * np.sqrt(omega_m * (1.0 + zz) ** 3 + 1.0 - omega_m)  # km/s/Mpc
    dr = C_KMS / ((1.0 + zz) * hubble)  # proper Mpc per unit z
    seg = zz >= z_one
    return float(np.trapezoid(dr[seg][::-1], zz[seg][::-1]))


def forest_tau(
    loglam: np.ndarray,
    z: np.ndarray,
    log_n: np.ndarray,
    b_kms: np.ndarray,
    n_series: int = 5,
    tol: float = TAU_TOL,
) -> np.ndarray:
    """Optical depth of many forest lines on a uniform log-lambda grid.

    Voigt profiles of the first ``n_series`` Lyman lines of every absorber, each evaluated
    only where its optical depth exceeds ``tol`` (:func:`dla_cnn.physics.linegrid.lines_tau`,
    whose docstring states the approximations and their accuracy: a transmission within
    ~2e-4 of the exact full-grid Voigt sum).  The Lyman-limit continuum is not included
    (:func:`lyman_continuum_tau`).

    Parameters
    ----------
    loglam : ndarray
        Uniformly spaced log10 observed wavelengths (e.g. :func:`dla_cnn.physics.voigt.fine_grid`).
    z, log_n, b_kms : ndarray
        Line redshifts, log10 column densities and Doppler parameters (km/s).
    n_series : int
        Lyman lines per absorber (alpha, beta, ...).
    tol : float
        Optical depth below which a line's profile is not evaluated.

    Returns
    -------
    ndarray, same shape as ``loglam``
        Summed optical depth.
    """
    n = np.size(loglam)
    if np.size(z) == 0 or n < 2:
        return np.zeros(n)
    step = float(loglam[1] - loglam[0])
    return lines_tau(float(loglam[0]), step, n, [(z, log_n, b_kms, lyman_series(n_series))], tol)
