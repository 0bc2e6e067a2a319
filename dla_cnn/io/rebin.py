"""Put spectra on the universal SDSS grid (``loglam = k * 1e-4``).

Output pixel ``k`` spans ``(k - 0.5) * 1e-4 <= log10(lambda) < (k + 0.5) * 1e-4``.  The
rebinning is flux conserving: an output pixel holds the mean flux density of the input
pixels that overlap it, each weighted by its overlap in Angstrom, and its variance is
that of the weighted mean (input pixels assumed independent).

Three kinds of input pixel are told apart:

* *good*: finite flux, finite ``ivar > 0`` and not masked -- these make the output;
* *masked*: finite flux and ``ivar > 0`` but flagged -- used only where an output pixel
  has no good coverage, and the output pixel is then flagged as well;
* *missing*: non-finite flux or ``ivar <= 0`` -- never used; an output pixel covered
  only by missing pixels gets ``ivar = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dla_cnn import grid

ON_GRID_TOL = 1e-6
"""Largest |loglam - k * 1e-4| for an input pixel to count as already on the grid."""

_MIN_COVER = 1e-6
"""Overlaps shorter than this fraction of an output pixel are round-off and ignored."""


def _as_arrays(wavelength, flux, ivar, mask):
    wave = np.asarray(wavelength, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    if wave.ndim != 1:
        raise ValueError(f"wavelength must be 1-D, got shape {wave.shape}")
    if flux.ndim not in (1, 2) or flux.shape[-1] != wave.size:
        raise ValueError(f"flux shape {flux.shape} does not match {wave.size} wavelengths")
    if ivar.shape != flux.shape:
        raise ValueError(f"ivar shape {ivar.shape} differs from flux shape {flux.shape}")
    if mask is None:
        mask = np.zeros(flux.shape, dtype=bool)
    else:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), flux.shape)
    if wave.size < 2:
        raise ValueError("need at least 2 pixels")
    if not np.all(np.isfinite(wave)) or np.any(wave <= 0):
        raise ValueError("wavelengths must be finite and positive")
    if np.any(np.diff(wave) <= 0):
        order = np.argsort(wave, kind="stable")
        wave = wave[order]
        if np.any(np.diff(wave) <= 0):
            raise ValueError("wavelengths contain duplicates")
        flux, ivar, mask = flux[..., order], ivar[..., order], mask[..., order]
    return wave, flux, ivar, mask


def _pixel_classes(flux, ivar, mask):
    """Boolean arrays (good, usable) -- usable = good or masked (see module docstring)."""
    usable = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    return usable & ~mask, usable


def _on_grid_indices(loglam: np.ndarray) -> np.ndarray | None:
    """Grid indices of ``loglam`` if every pixel lies on the grid, else None."""
    k = np.rint(loglam / grid.DLOGLAM)
    if np.all(np.abs(loglam - k * grid.DLOGLAM) <= ON_GRID_TOL) and np.all(np.diff(k) >= 1):
        return k.astype(np.int64)
    return None


def _pass_through(k, flux, ivar, mask):
    """Place on-grid input into a contiguous array (gaps become missing pixels)."""
    start = int(k[0])
    n = int(k[-1] - start + 1)
    shape = flux.shape[:-1] + (n,)
    out_f = np.zeros(shape)
    out_i = np.zeros(shape)
    out_m = np.zeros(shape, dtype=bool)
    pos = k - start
    finite = np.isfinite(flux)
    ok = finite & np.isfinite(ivar) & (ivar > 0)
    out_f[..., pos] = np.where(finite, flux, 0.0)
    out_i[..., pos] = np.where(ok, ivar, 0.0)
    out_m[..., pos] = mask
    return start, out_f, out_i, out_m


def _group_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum ``values`` (..., nseg) over contiguous groups beginning at ``starts``."""
    return np.add.reduceat(values, starts, axis=-1)


def rebin_to_sdss_grid(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Rebin a spectrum onto the universal SDSS log-lambda grid, conserving flux.

    Parameters
    ----------
    wavelength : ndarray (n,)
        Pixel-centre vacuum wavelengths in Angstrom (any order, no duplicates).  Pixel
        edges are taken half-way (in log lambda) between neighbouring centres.
    flux : ndarray (n,) or (nspec, n)
        Flux density per Angstrom.  Several spectra sharing one wavelength array may be
        rebinned at once.
    ivar : ndarray, same shape as ``flux``
        Inverse variance; ``<= 0`` or non-finite means missing.
    mask : ndarray of bool, optional
        True where a pixel is flagged bad.

    Returns
    -------
    start_index : int
        Grid index of the first output pixel (``loglam[0] = start_index * 1e-4``).
    flux, ivar : ndarray (..., m)
        Rebinned flux and inverse variance; ``ivar = 0`` where no input pixel with finite
        flux and ``ivar > 0`` overlaps, and flux is 0 where no finite flux overlaps.
    mask : ndarray of bool (..., m)
        True where the output comes only from flagged pixels, or where flagged pixels
        are the only input that was not missing.

    Notes
    -----
    Input already on the grid (every ``log10(wavelength)`` within 1e-6 of a multiple of
    1e-4) is passed through unchanged, gaps becoming missing pixels.  Otherwise every
    input pixel ``i`` and output pixel ``j`` overlap on at most one interval of length
    ``w_ij`` (Angstrom); the output flux is ``sum_i w_ij f_i / sum_i w_ij`` and its
    variance ``sum_i w_ij**2 / ivar_i / (sum_i w_ij)**2``.

    Raises
    ------
    ValueError
        If the arrays disagree in shape or the wavelengths are not finite, positive and
        distinct.
    """
    wave, flux, ivar, mask = _as_arrays(wavelength, flux, ivar, mask)
    loglam = np.log10(wave)
    k = _on_grid_indices(loglam)
    if k is not None:
        return _pass_through(k, flux, ivar, mask)

    # input pixel edges (log lambda), half-way between centres, extrapolated at the ends
    mid = 0.5 * (loglam[1:] + loglam[:-1])
    in_edges = np.concatenate([[2 * loglam[0] - mid[0]], mid, [2 * loglam[-1] - mid[-1]]])
    lo, hi = in_edges[0], in_edges[-1]
    k0 = int(np.floor(lo / grid.DLOGLAM + 0.5))
    k1 = int(np.ceil(hi / grid.DLOGLAM + 0.5)) - 1
    out_edges = (np.arange(k0, k1 + 2) - 0.5) * grid.DLOGLAM

    # every (input, output) overlap is one segment between consecutive merged edges
    cuts = np.union1d(in_edges, out_edges[(out_edges > lo) & (out_edges < hi)])
    seg_mid = 0.5 * (cuts[1:] + cuts[:-1])
    i_in = np.clip(np.searchsorted(in_edges, seg_mid, side="right") - 1, 0, wave.size - 1)
    j_out = np.searchsorted(out_edges, seg_mid, side="right") - 1
    width = 10.0 ** cuts[1:] - 10.0 ** cuts[:-1]
    full = 10.0 ** out_edges[1:] - 10.0 ** out_edges[:-1]
    width[width < _MIN_COVER * full[j_out]] = 0.0  # round-off slivers at coinciding edges
    # segments are sorted, so each output pixel owns one contiguous run of them
    n_out = k1 - k0 + 1
    starts = np.searchsorted(j_out, np.arange(n_out), side="left")
    present = np.zeros(n_out, dtype=bool)
    present[j_out] = True
    starts = np.minimum(starts, j_out.size - 1)

    good, usable = _pixel_classes(flux, ivar, mask)
    f = np.where(np.isfinite(flux), flux, 0.0)[..., i_in]
    var = np.where(usable, 1.0 / np.where(usable, ivar, 1.0), 0.0)[..., i_in]
    finite = np.isfinite(flux)[..., i_in]
    good, usable, flagged = good[..., i_in], usable[..., i_in], mask[..., i_in]

    def weighted(sel):
        w = _group_sum(np.where(sel, width, 0.0), starts)
        s = _group_sum(np.where(sel, width * f, 0.0), starts)
        v = _group_sum(np.where(sel, width**2 * var, 0.0), starts)
        return w, s, v

    w_good, s_good, v_good = weighted(good)
    w_use, s_use, v_use = weighted(usable)
    w_fin = _group_sum(np.where(finite, width, 0.0), starts)
    s_fin = _group_sum(np.where(finite, width * f, 0.0), starts)
    w_flag = _group_sum(np.where(flagged, width, 0.0), starts)

    use_good = w_good > 0
    w = np.where(use_good, w_good, w_use)
    s = np.where(use_good, s_good, s_use)
    v = np.where(use_good, v_good, v_use)
    has = w > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback = np.where(w_fin > 0, s_fin / np.where(w_fin > 0, w_fin, 1.0), 0.0)
        out_f = np.where(has, s / np.where(has, w, 1.0), fallback)
        out_i = np.where(has & (v > 0), w**2 / np.where(v > 0, v, 1.0), 0.0)
    out_m = np.where(use_good, False, np.where(has, True, w_flag > 0))

    # drop edge pixels left with no overlap once round-off slivers are ignored
    cover = np.bincount(j_out, weights=width, minlength=n_out)
    keep = present & (cover > 0)
    first = int(np.argmax(keep))
    last = int(n_out - np.argmax(keep[::-1]))
    sl = slice(first, last)
    return k0 + first, out_f[..., sl], out_i[..., sl], out_m[..., sl]


def coadd_on_grid(
    pieces: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-variance weighted merge of spectra already on the universal grid.

    Parameters
    ----------
    pieces : sequence of (start_index, flux, ivar, mask)
        As returned by :func:`rebin_to_sdss_grid` (1-D, or 2-D with the same number of
        rows), e.g. the cameras of one DESI spectrum.

    Returns
    -------
    start_index, flux, ivar, mask
        Over the union of the pieces: where unflagged pixels with ``ivar > 0`` overlap,
        ``flux = sum(ivar f) / sum(ivar)`` and ``ivar = sum(ivar)``; where only flagged
        pixels have ``ivar > 0`` the same is done with those and the pixel stays flagged;
        elsewhere ``ivar = 0``.
    """
    if not pieces:
        raise ValueError("nothing to merge")
    start = min(int(p[0]) for p in pieces)
    stop = max(int(p[0]) + np.shape(p[1])[-1] for p in pieces)
    lead = np.shape(pieces[0][1])[:-1]
    shape = lead + (stop - start,)
    acc = {key: np.zeros(shape) for key in ("w_good", "s_good", "w_use", "s_use", "n_fin", "s_fin")}
    flagged = np.zeros(shape, dtype=bool)
    for s0, f, iv, m in pieces:
        f, iv, m = np.asarray(f, float), np.asarray(iv, float), np.asarray(m, bool)
        if f.shape[:-1] != lead:
            raise ValueError("pieces hold different numbers of spectra")
        sl = (Ellipsis, slice(int(s0) - start, int(s0) - start + f.shape[-1]))
        good, usable = _pixel_classes(f, iv, m)
        finite = np.isfinite(f)
        f0 = np.where(finite, f, 0.0)
        iv0 = np.where(usable, iv, 0.0)
        acc["w_good"][sl] += np.where(good, iv0, 0.0)
        acc["s_good"][sl] += np.where(good, iv0 * f0, 0.0)
        acc["w_use"][sl] += iv0
        acc["s_use"][sl] += iv0 * f0
        acc["n_fin"][sl] += finite
        acc["s_fin"][sl] += f0
        flagged[sl] |= m
    use_good = acc["w_good"] > 0
    w = np.where(use_good, acc["w_good"], acc["w_use"])
    s = np.where(use_good, acc["s_good"], acc["s_use"])
    has = w > 0
    n_fin = acc["n_fin"]
    flux = np.where(has, s / np.where(has, w, 1.0), np.where(n_fin > 0, acc["s_fin"] / np.maximum(n_fin, 1), 0.0))
    mask = np.where(use_good, False, np.where(has, True, flagged))
    return start, flux, w, mask
