"""Fast optical depth of many H I lines on a uniform log-wavelength grid.

:func:`lines_tau` sums the Voigt optical depths of many absorbers, each with several Lyman
lines, on a grid ``loglam_k = loglam0 + k * step`` (the simulator's sub-pixel grid).  It
computes what :func:`dla_cnn.physics.voigt.voigt_tau` computes (frequency-space profiles,
``u = (nu - nu0) / dnu_D``; no Lyman-limit continuum), but evaluates each line only where
its optical depth exceeds a tolerance, in one compiled pass over the lines (numba): optically
thin lines on short stencils (the Gaussian stepped by its ratio between neighbouring samples),
the cores of damped lines, and their damping wings as far as they exceed the tolerance.  One
call per sightline does the forest and every optically thick absorber.

Approximations and their accuracy
---------------------------------
* **Voigt function.**  For ``a << 1`` (H I lines: ``a <= 4e-4``),
  ``H(a, u) = H0(u) + a H1(u) + O(a^2)`` (Harris 1948) with ``H0 = exp(-u^2)`` and
  ``H1 = -2 / sqrt(pi) (1 - 2 u F(u))`` (``F`` Dawson's integral, tabulated every 1/128 in
  ``u`` and interpolated linearly), for ``|u| < U_CORE = 10``; beyond, the asymptotic series
  ``a / (sqrt(pi) u^2) (1 + 3/(2u^2) + 15/(4u^4) + 105/(8u^6))`` (relative error < 1e-6).
  :func:`voigt_h_small_a` adds the ``a^2`` term ``(1 - 2u^2) exp(-u^2)`` and is within a
  relative 1e-5 of ``scipy.special.wofz`` for ``a <= 4e-4``; :func:`lines_tau` leaves that
  term out, which moves the transmission by less than ``a^2 (2 ln tau0 + 1) / e < 3e-6``.
* **Windows.**  Each line is evaluated where ``tau > tol`` (:data:`TAU_TOL`, 1e-5): its core
  out to ``u_c = sqrt(ln(tau0 / tol))`` and its damping wing out to
  ``u_w = sqrt(tau0 a / (sqrt(pi) tol))``.  Lines with ``tau0 <= tol`` are skipped.
* **Thin lines** (``tau0 <= 1`` and a wing that never leaves the core, ``u_w <= u_c``: most
  forest lines) are Gaussians with ``u`` proportional to the offset in ``ln(lambda)``; the
  damping term they lose is below ``1.2 a tau0`` (< 5e-4 in tau), the velocity-space
  approximation below 4e-5.  Other lines get ``u = (lambda_c / lambda - 1) c / b`` exactly.
* **Precision.**  Profiles are evaluated and summed in float64; the stepped Gaussians of thin
  lines drift by a relative ~1e-14 over their windows.

Against the exact sum of full-grid Voigt profiles, the transmission of a simulated forest
(600-3000 absorbers x 5 Lyman lines) is within 2e-4, that of optically thick absorbers
(whole series) within 1e-4; ``tests/test_linegrid.py`` holds both below 1e-3.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit
from scipy.special import dawsn

from dla_cnn.constants import C_KMS
from dla_cnn.physics.lyman import LymanSeries

SIGMA0 = 0.02654  # pi e^2 / (m_e c), cm^2 s^-1 (as in dla_cnn.physics.voigt)
TAU_TOL = 1e-5
"""Default optical depth below which a line's profile is not evaluated."""
U_CORE = 10.0
"""``|u|`` below which ``H0 + a H1`` is used; the asymptotic Lorentzian series beyond."""
THIN_TAU0 = 1.0
"""Lines with ``tau0`` up to this whose damping wing stays below ``tol`` outside their Gaussian
core are evaluated as Gaussians (see the module docstring)."""
_DU = 1.0 / 128.0
_SQRT_PI = float(np.sqrt(np.pi))
_LN10 = float(np.log(10.0))
_WING_SERIES = (1.0 / _SQRT_PI, 1.5 / _SQRT_PI, 3.75 / _SQRT_PI, 13.125 / _SQRT_PI)
"""Coefficients of ``r, r^2, r^3, r^4`` (``r = 1 / u^2``) in the asymptotic Lorentzian wing."""


def _compiled(**options):
    """``numba.njit`` with its machine code cached on disk where numba finds a writable cache
    directory (``__pycache__`` beside this file, else the user's cache); where it finds none
    (read-only installation and home), numba refuses ``cache=True`` when the function is
    decorated, and the kernels are compiled in memory by each process instead (~1 s)."""
    def wrap(func):
        try:
            return njit(cache=True, nogil=True, **options)(func)
        except RuntimeError:
            return njit(cache=False, nogil=True, **options)(func)
    return wrap


def _h1_table() -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(int(U_CORE / _DU) + 3) * _DU
    h1 = -2.0 / _SQRT_PI * (1.0 - 2.0 * u * dawsn(u))
    return h1, np.append(np.diff(h1), 0.0)


_H1, _H1_SLOPE = _h1_table()
_H1_32, _H1_SLOPE_32 = _H1.astype(np.float32), _H1_SLOPE.astype(np.float32)


def voigt_h1(u: np.ndarray) -> np.ndarray:
    """First-order damping term ``H1(u) = dH/da`` at ``a = 0`` of the Voigt function.

    Parameters
    ----------
    u : ndarray
        Offset from line centre in Doppler widths; ``|u| < U_CORE`` (tabulated, linear
        interpolation every 1/128: absolute error < 4e-5).

    Returns
    -------
    ndarray
        ``-2 / sqrt(pi) (1 - 2 u F(u))``, ``F`` Dawson's integral; ``-1.128`` at ``u = 0``,
        ``~ 1 / (sqrt(pi) u^2)`` for large ``u``.
    """
    u = np.asarray(u)
    x = np.abs(u) * u.dtype.type(1.0 / _DU) if u.dtype == np.float32 else np.abs(u) * (1.0 / _DU)
    i = np.minimum(x.astype(np.intp), _H1.size - 2)
    if x.dtype == np.float32:
        x -= i
        return _H1_32[i] + x * _H1_SLOPE_32[i]
    return _H1[i] + (x - i) * _H1_SLOPE[i]


def voigt_h_small_a(a: np.ndarray | float, u: np.ndarray) -> np.ndarray:
    """Voigt-Hjerting function for small damping parameters (see the module docstring).

    Parameters
    ----------
    a : float or ndarray
        Damping parameter (``<~ 1e-3`` for the stated accuracy); broadcasts against ``u``.
    u : ndarray
        Offset from line centre in Doppler widths.

    Returns
    -------
    ndarray
        ``H(a, u)``: ``H0 + a H1 + a^2 H2`` for ``|u| < U_CORE``, the asymptotic Lorentzian
        series beyond.
    """
    u = np.asarray(u, dtype=float)
    a = np.broadcast_to(np.asarray(a, dtype=float), u.shape)
    core = np.abs(u) < U_CORE
    out = _wing_shape(np.minimum(1.0 / np.maximum(u * u, 1e-300), 1.0 / U_CORE**2)) * a
    uc, ac = u[core], a[core]
    u2 = uc * uc
    out[core] = np.exp(-u2) * (1.0 + ac * ac * (1.0 - 2.0 * u2)) + ac * voigt_h1(uc)
    return out


def _wing_shape(r: np.ndarray) -> np.ndarray:
    """``r (1 + 3/2 r + 15/4 r^2 + 105/8 r^3) / sqrt(pi)`` with ``r = 1 / u^2`` (in r's dtype)."""
    c = r.dtype.type
    out = r * c(_WING_SERIES[3])
    for coef in _WING_SERIES[2::-1]:
        out += c(coef)
        out *= r
    return out


_WING_AT_CORE = float(_wing_shape(np.array(1.0 / U_CORE**2)))


def transitions(
    loglam0: float, step: float, z: np.ndarray, log_n: np.ndarray, b_kms: np.ndarray, series: LymanSeries
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every line of every absorber: grid position, central optical depth, damping, b.

    Parameters
    ----------
    loglam0, step : float
        The grid ``loglam0 + k * step`` (log10 Angstrom).
    z, log_n, b_kms : ndarray
        Absorber redshifts, log10 column densities (cm^-2) and Doppler parameters (km/s).
    series : LymanSeries
        Lines of each absorber.

    Returns
    -------
    pos, tau0, a, b : ndarray (one entry per absorber x line, absorber-major)
        Fractional grid index of the line centre, central optical depth
        ``N sigma0 f lambda0 / (sqrt(pi) b)``, damping parameter ``Gamma lambda0 / (4 pi b)``
        and b (km/s).
    """
    z, log_n, b_kms = (np.asarray(x, dtype=float).reshape(-1, 1) for x in (z, log_n, b_kms))
    inv_b = 1e-5 / b_kms  # s / cm
    pos = (np.log10(1.0 + z) - loglam0) * (1.0 / step) + np.log10(series.wrest) * (1.0 / step)
    tau0 = (np.exp(_LN10 * log_n) * inv_b) * (series.f * series.wrest * (SIGMA0 / _SQRT_PI * 1e-8))
    a = inv_b * (series.gamma * series.wrest * (1e-8 / (4.0 * np.pi)))
    b = np.repeat(b_kms, len(series), axis=1)
    return pos.ravel(), tau0.ravel(), a.ravel(), b.ravel()


Absorbers = tuple[np.ndarray, np.ndarray, np.ndarray, LymanSeries]
"""``(z, log_n, b_kms, series)``: absorbers that share a set of Lyman lines."""


def lines_tau(
    loglam0: float,
    step: float,
    n: int,
    groups: list[Absorbers],
    tol: float = TAU_TOL,
) -> np.ndarray:
    """Summed Voigt optical depth of many absorbers on a uniform log-wavelength grid.

    Parameters
    ----------
    loglam0 : float
        log10 wavelength (Angstrom) of grid sample 0.
    step : float
        Grid step in log10 wavelength (``1e-4 / oversample`` for the simulator's grid).
    n : int
        Number of grid samples.
    groups : list of (z, log_n, b_kms, series)
        Absorber redshifts, log10 H I column densities (cm^-2), Doppler parameters (km/s)
        and the Lyman lines they get (e.g. the forest with 5 lines, optically thick
        absorbers with the whole series); no Lyman-limit continuum is added here.
    tol : float
        Optical depth below which a line's profile is not evaluated (see the module
        docstring for the resulting accuracy).

    Returns
    -------
    ndarray (n,)
        Optical depth at each grid sample (float64).
    """
    tau = np.zeros(n)
    parts = [transitions(loglam0, step, *g) for g in groups if np.size(g[0])]
    if not parts or n == 0:
        return tau
    pos, tau0, a, b = (np.concatenate(x) for x in zip(*parts)) if len(parts) > 1 else parts[0]
    eps = _LN10 * step  # ln(lambda) per sample
    _sum_lines(tau, eps, pos, tau0, a, b, float(tol), _H1, _H1_SLOPE, _inv_lambda(eps, n))
    return tau


def _inv_lambda(eps: float, n: int) -> np.ndarray:
    """``exp(-eps k)`` for ``k < n`` (``lambda_0 / lambda_k`` on the grid): a slice of a cached
    table at least 4096 long, the next power of two above ``n`` (each value depends on ``k``
    only, so the slice equals ``np.exp(-eps * np.arange(n))``); do not write to it."""
    return _inv_lambda_table(float(eps), 1 << max(int(n - 1).bit_length(), 12))[:n]


@lru_cache(maxsize=8)
def _inv_lambda_table(eps: float, size: int) -> np.ndarray:
    return np.exp(-eps * np.arange(size))


@_compiled()
def _sum_lines(tau: np.ndarray, eps: float, pos: np.ndarray, tau0: np.ndarray, a: np.ndarray, b: np.ndarray,
               tol: float, h1: np.ndarray, h1_slope: np.ndarray, inv_lam: np.ndarray) -> None:  # pragma: no cover - compiled
    """Add every line to ``tau`` (``eps``: ln(lambda) per sample, ``inv_lam[k] = lambda_0 / lambda_k``),
    choosing its evaluation:
    a Gaussian core for thin lines, ``H0 + a H1`` within ``U_CORE`` for damped ones, plus the
    Lorentzian wing where it reaches beyond ``U_CORE``."""
    for j in range(pos.size):
        if tau0[j] <= tol:
            continue
        u_core = np.sqrt(np.log(tau0[j] / tol))
        tau0_a = tau0[j] * a[j]
        u_wing = np.sqrt(tau0_a / (_SQRT_PI * tol))
        if u_wing <= u_core and tau0[j] <= THIN_TAU0:
            _add_gaussian(tau, eps, pos[j], tau0[j], b[j], u_core)
            continue
        has_wing = u_wing > U_CORE
        _add_voigt_core(tau, eps, pos[j], tau0[j], a[j], b[j], max(u_wing, u_core), has_wing, h1, h1_slope,
                        inv_lam)
        if has_wing:
            _add_wing(tau, eps, pos[j], tau0_a, b[j], u_wing, inv_lam)


@_compiled(inline="always")
def _add_gaussian(tau: np.ndarray, eps: float, pos: float, tau0: float, b: float,
                  u_max: float) -> None:  # pragma: no cover - compiled
    """An optically thin line: ``tau0 exp(-u^2)`` within ``|u| <= u_max``.

    ``u`` is taken proportional to the offset in ``ln(lambda)`` (velocity space); for
    ``tau0 <= 1`` and ``u <= 3.4`` the frequency-space profile differs from this by less than
    4e-5 in optical depth.  Along the window the Gaussian is stepped by its ratio between
    neighbouring samples (itself a geometric sequence): three exponentials per line.
    """
    s = eps * C_KMS / b  # u per sample
    s2 = s * s
    centre = int(np.rint(pos))
    half = int(u_max / s + 1.5)  # ceil(x + 0.5)
    k0, k1 = max(centre - half, 0), min(centre + half + 1, tau.size)
    if k0 >= k1:
        return
    d = k0 - pos
    g = tau0 * np.exp(-s2 * d * d)
    r = np.exp(-s2 * (2.0 * d + 1.0))  # g(k + 1) / g(k)
    q = np.exp(-2.0 * s2)  # r(k + 1) / r(k)
    for k in range(k0, k1):
        tau[k] += g
        g *= r
        r *= q


@_compiled(inline="always")
def _add_voigt_core(tau: np.ndarray, eps: float, pos: float, tau0: float, a: float, b: float, u_max: float,
                    has_wing: bool, h1: np.ndarray, h1_slope: np.ndarray,
                    inv_lam: np.ndarray) -> None:  # pragma: no cover - compiled
    """A damped line within ``|u| < min(u_max, U_CORE)``: ``tau0 H(a, u)`` with
    ``u = (lambda_c / lambda - 1) c / b``, less the wing term's value at ``U_CORE`` where
    :func:`_add_wing` adds the wing (their sum is continuous)."""
    c_over_b = C_KMS / b
    u_lim = min(u_max, U_CORE)
    centre = int(np.rint(pos))
    # samples to |u| = u_lim on the red side: u_lim b / c / eps (1 + O(u b / c)), + 0.5 for rounding
    half = int(u_lim / (eps * c_over_b) * (1.0 + 2e-3) + 1.5)
    k0, k1 = max(centre - half, 0), min(centre + half + 1, tau.size)
    offset = tau0 * a * _WING_AT_CORE if has_wing else 0.0
    top = h1.size - 2
    centre_ratio = np.exp(eps * pos)  # lambda_c / lambda_0
    for k in range(k0, k1):
        u = (centre_ratio * inv_lam[k] - 1.0) * c_over_b
        au = abs(u)
        if au >= U_CORE:
            continue  # the wing term takes over
        x = au * (1.0 / _DU)
        i = min(int(x), top)
        tau[k] += tau0 * (np.exp(-u * u) + a * (h1[i] + (x - i) * h1_slope[i])) - offset


@_compiled(inline="always")
def _add_wing(tau: np.ndarray, eps: float, pos: float, tau0_a: float, b: float, u_max: float,
              inv_lam: np.ndarray) -> None:  # pragma: no cover - compiled
    """A Lorentzian wing ``tau0 a / (sqrt(pi) u^2) (1 + ...)`` for ``U_CORE <= |u| <= u_max``
    (inside ``U_CORE`` the wing is held at its value there; see :func:`_add_voigt_core`).
    ``inv_lam[k] = lambda_0 / lambda_k``; ``u = (lambda_c / lambda_k - 1) c / b``."""
    n = tau.size
    inv_du = C_KMS / b  # u per unit of (nu - nu0) / nu0
    # window [pos - blue, pos + red] in samples: |expm1(eps (p - k))| <= x = u_max b / c
    x = u_max / inv_du
    blue = np.log1p(x) / eps
    red = -np.log1p(-x) / eps if x < 0.5 else 2.0 * n  # (unbounded for x >= 1)
    k0 = int(min(max(np.floor(pos - blue), 0.0), n))
    k1 = int(min(max(np.ceil(pos + red) + 1.0, 0.0), n))
    centre = np.exp(eps * pos)  # lambda_c / lambda_0
    u2_min = U_CORE * U_CORE
    c0, c1, c2, c3 = _WING_SERIES
    out, ratio = tau[k0:k1], inv_lam[k0:k1]  # (views and a plain conditional: the loop vectorises)
    for k in range(out.size):
        u = (centre * ratio[k] - 1.0) * inv_du
        u2 = u * u
        r = 1.0 / (u2 if u2 > u2_min else u2_min)
        out[k] += tau0_a * r * (c0 + r * (c1 + r * (c2 + r * c3)))
