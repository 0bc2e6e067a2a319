"""A damped Ly-alpha profile fit around an accepted absorber: the physics step of the finder.

For a DLA the damping wings fix N_HI through the width of the trough (rest equivalent
width ~7.3 A (N / 10^20)^0.5).  The fit models the normalised flux near the absorber as

    F(lambda) = (c0 + c1 x) * LSF[ exp(-N phi(lambda; z, b)) ]

with ``phi`` the Ly-alpha Voigt profile per unit column (b = 30 km/s), a linear local
continuum solved exactly for every (z, N) by weighted least squares, and a grid in
(z, log N) around the neural network's estimate (coarse, then fine in log N).  Forest absorption only ever lowers the
flux, so pixels more than ``clip_sigma`` below the best model are dropped and the fit is
repeated (``n_iter`` times).  The log N_HI error is where chi^2, minimised over z, rises by 1.

Caveats
-------
* Only Ly-alpha is modelled (the Lyman series is far from the fitted region).
* A linear continuum over the fitted stretch (at most +-``max_half_width_px``) is poor next
  to the quasar's Ly-alpha emission; such absorbers are fitted on a narrower stretch.
* The grid spans +-``log_n_span`` around the starting value: a start far off cannot be
  recovered (the result then sits at the grid edge and is flagged ``ok=False``).  The
  centre is only searched +-``z_span_px`` around the start; it may sit at that edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dla_cnn import grid
from dla_cnn.physics.voigt import voigt_tau


@dataclass(frozen=True)
class VoigtFitConfig:
    """Grid and rejection settings of :func:`fit_damped_lya`."""

    log_n_span: float = 0.6
    coarse_step: float = 0.05
    log_n_step: float = 0.01
    z_span_px: float = 2.0
    z_step_px: float = 0.5
    b_kms: float = 30.0
    lsf_sigma_pix: float = 1.0
    oversample: int = 2
    min_half_width_px: int = 60
    max_half_width_px: int = 300
    clip_sigma: float = 2.0
    n_iter: int = 4
    min_pixels: int = 40


@dataclass
class VoigtFit:
    """Result of one profile fit (window pixels, dex)."""

    centre_px: float
    log_nhi: float
    log_nhi_err: float
    chi2_dof: float
    n_pixels: int
    ok: bool


def trough_half_width_px(log_nhi: float) -> float:
    """Half the rest equivalent width of a damped Ly-alpha line, in SDSS pixels."""
    w_rest = 7.3 * 10.0 ** (0.5 * (log_nhi - 20.0))
    return 0.5 * w_rest / grid.LYA_REST / np.log(10.0) / grid.DLOGLAM


def fit_damped_lya(flux: np.ndarray, sigma: np.ndarray, valid: np.ndarray, window_start: int, centre_px: float,
                   log_nhi0: float, cfg: VoigtFitConfig = VoigtFitConfig(), offset: int = 0) -> VoigtFit:
    """Fit a damped Ly-alpha profile times a linear continuum near ``centre_px``.

    Parameters
    ----------
    flux, sigma, valid : ndarray
        Normalised flux, its 1-sigma error and the pixels with data, on a grid whose pixel
        ``offset + k`` is window pixel ``k``.
    window_start : int
        Universal-grid index of window pixel 0.
    centre_px : float
        Starting Ly-alpha centre (window px).
    log_nhi0 : float
        Starting log N_HI.
    cfg : VoigtFitConfig
    offset : int
        Index in ``flux`` of window pixel 0.

    Returns
    -------
    VoigtFit
    """
    hw = int(np.clip(3.0 * trough_half_width_px(log_nhi0 + 0.3), cfg.min_half_width_px, cfg.max_half_width_px))
    c0 = int(np.rint(centre_px)) + offset
    lo, hi = max(c0 - hw, 0), min(c0 + hw + 1, flux.size)
    f, s, v = flux[lo:hi], sigma[lo:hi], valid[lo:hi] & np.isfinite(sigma[lo:hi]) & (sigma[lo:hi] > 0)
    bad = VoigtFit(float(centre_px), float(log_nhi0), np.nan, np.nan, int(v.sum()), False)
    if v.sum() < cfg.min_pixels:
        return bad
    idx = np.arange(lo, hi) - offset  # window pixels of the stretch
    x = (idx - centre_px) / max(hw, 1)
    shifts = np.arange(-cfg.z_span_px, cfg.z_span_px + 1e-9, cfg.z_step_px)
    # coarse pass (with the forest rejection), then a fine pass around the coarse optimum
    log_ns = np.arange(log_nhi0 - cfg.log_n_span, log_nhi0 + cfg.log_n_span + 1e-9, cfg.coarse_step)
    trans = _transmission(window_start, idx, centre_px, shifts, log_ns, cfg)
    use = v.copy()
    for _ in range(cfg.n_iter):
        chi2, cont = _chi2_grid(trans, f, s, x, use)
        i, j = np.unravel_index(np.argmin(chi2), chi2.shape)
        model = (cont[0][i, j] + cont[1][i, j] * x) * trans[i, j]
        new = v & ((f - model) > -cfg.clip_sigma * s)
        if np.array_equal(new, use) or new.sum() < cfg.min_pixels:
            break
        use = new
    edge = j in (0, log_ns.size - 1)
    fine = np.arange(log_ns[j] - cfg.coarse_step, log_ns[j] + cfg.coarse_step + 1e-9, cfg.log_n_step)
    trans = _transmission(window_start, idx, centre_px, shifts, fine, cfg)
    chi2, cont = _chi2_grid(trans, f, s, x, use)
    i, j = np.unravel_index(np.argmin(chi2), chi2.shape)
    prof = chi2.min(axis=0)
    within = fine[prof <= prof.min() + 1.0]
    err = max(0.5 * (within.max() - within.min()), cfg.log_n_step)
    if within.min() <= fine[0] or within.max() >= fine[-1]:  # chi^2 + 1 beyond the fine grid
        err = max(err, cfg.coarse_step)
    dof = max(int(use.sum()) - 4, 1)
    return VoigtFit(float(centre_px + shifts[i]), float(fine[j]), float(err), float(chi2[i, j] / dof), int(use.sum()),
                    not edge and bool(cont[0][i, j] > 0))


def _transmission(window_start: int, idx: np.ndarray, centre_px: float, shifts: np.ndarray, log_ns: np.ndarray,
                  cfg: VoigtFitConfig) -> np.ndarray:
    """LSF-convolved, pixel-averaged Ly-alpha transmission, (shifts, log_ns, pixels)."""
    os_ = cfg.oversample
    sub = (np.arange(idx.size * os_) + 0.5) / os_ - 0.5
    wave_f = 10.0 ** ((window_start + idx[0] + sub) * grid.DLOGLAM)
    trans = np.empty((shifts.size, log_ns.size, idx.size))
    for i, d in enumerate(shifts):
        z = 10.0 ** ((window_start + centre_px + d) * grid.DLOGLAM) / grid.LYA_REST - 1.0
        # per unit column; evaluated at a high column so the damping wings are not truncated
        phi = voigt_tau(wave_f, 22.5, z, cfg.b_kms, series=_lya_only(), lyman_limit=False) / 10.0**22.5
        t = np.exp(-np.outer(10.0**log_ns, phi))
        t = gaussian_filter1d(t, cfg.lsf_sigma_pix * os_, axis=-1, mode="nearest")
        trans[i] = t.reshape(log_ns.size, idx.size, os_).mean(axis=-1)
    return trans


def _chi2_grid(trans: np.ndarray, f: np.ndarray, s: np.ndarray, x: np.ndarray, use: np.ndarray):
    """chi^2 of every (shift, log N) model with its best linear continuum (closed form)."""
    w = np.where(use, 1.0 / s**2, 0.0)
    fs = np.where(use, f, 0.0)
    m0, m1 = trans, trans * x
    a00 = (w * m0 * m0).sum(-1)
    a01 = (w * m0 * m1).sum(-1)
    a11 = (w * m1 * m1).sum(-1)
    b0 = (w * m0 * fs).sum(-1)
    b1 = (w * m1 * fs).sum(-1)
    det = a00 * a11 - a01**2
    det = np.where(np.abs(det) > 1e-30, det, 1e-30)
    c0 = (a11 * b0 - a01 * b1) / det
    c1 = (a00 * b1 - a01 * b0) / det
    resid = fs - c0[..., None] * m0 - c1[..., None] * m1
    return (w * resid**2).sum(-1), (c0, c1)


_LYA = None


def _lya_only():
    global _LYA
    if _LYA is None:
        from dla_cnn.physics.lyman import lyman_series

        _LYA = lyman_series(1)
    return _LYA
