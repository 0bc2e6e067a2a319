"""Figures of one sightline with its absorbers and the model's per-pixel view, and of a catalog.

The figures are drawn on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas,
without pyplot, so they neither change the matplotlib backend nor keep figures open.
:func:`sightline_figure` returns the figure; :func:`plot_sightline` and
:func:`plot_catalog_summary` write a PNG and return its path.

The absorbers' model drawn over the data is :func:`absorber_model`: a local continuum of
the data (an upper envelope of the flux over about 60 pixels, taken on the searched path
only, absorbers divided out) times the detections' Voigt profiles, in the data's units.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from dla_cnn import grid
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.physics.voigt import apply_lsf, fine_grid, voigt_tau

if TYPE_CHECKING:
    from astropy.table import Table
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dla_cnn.sightline import Sightline

__all__ = ["absorber_model", "plot_catalog_summary", "plot_sightline", "sightline_figure"]

MODEL_B_KMS = 30.0
"""Doppler parameter of the drawn Voigt profiles, km/s."""
CONTINUUM_WIDTH = 61
"""Pixels (about 60 A at 4000 A) of the running envelope that makes the drawn continuum."""
CONTINUUM_PERCENTILE = 90.0
"""Percentile of the flux taken as the continuum, less its expected noise excess."""
TYPE_COLOURS = {"DLA": "tab:red", "SUBDLA": "tab:purple", "LYB": "tab:gray"}
LABEL_GAP_PT = 4.0
"""Least horizontal gap between two absorber labels on one row, points."""


def _new_figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas, outside pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


# --------------------------------------------------------------------------- the absorbers' model
def _running(values: np.ndarray, width: int, stat, min_count: int) -> np.ndarray:
    """``stat`` of the finite values in a centred window of ``width`` pixels; NaN where too few."""
    half = width // 2
    windows = sliding_window_view(np.pad(values, (half, width - 1 - half), constant_values=np.nan), width)
    count = np.isfinite(windows).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        out = stat(windows, axis=1)
    return np.where(count >= min_count, out, np.nan)


def _envelope(flux: np.ndarray, sigma: np.ndarray, width: int, q: float) -> np.ndarray:
    """Running upper envelope of the finite ``flux``: its ``q`` percentile less the noise's share.

    The percentile of pure noise around a level C is ``C + z_q sigma``; that excess is
    taken off (down to no lower than the running median) so that the envelope of noisy
    data stays on the data, then the result is smoothed over the same width.
    """
    need = max(width // 4, 1)
    upper = _running(flux, width, lambda w, axis: np.nanpercentile(w, q, axis=axis), need)
    median = _running(flux, width, np.nanmedian, need)
    noise = _running(np.where(np.isfinite(flux), sigma, np.nan), width, np.nanmedian, need)
    env = np.fmax(upper - norm.ppf(q / 100.0) * noise, median)
    return _running(env, width, np.nanmean, 1)


def absorber_model(sightline: Sightline, detections: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections' model in the units of the plotted (window-normalised) flux.

    Parameters
    ----------
    sightline : Sightline
        The spectrum.
    detections : list of Detection
        Absorbers (``z_abs``, ``log_nhi``, ``type``); ``LYB`` ones are left out.

    Returns
    -------
    wavelength : ndarray (1748,)
        Observed wavelength of the search window's pixels, Angstrom.
    continuum : ndarray (1748,)
        A local continuum of the data on the searched path (NaN elsewhere): the running
        :data:`CONTINUUM_PERCENTILE` envelope over :data:`CONTINUUM_WIDTH` pixels of the
        flux with the absorbers' profiles divided out (pixels they absorb by more than
        half are left out), less the noise's share of that percentile.  Only data on the
        searched path enter it, so the Ly-alpha emission line redward of the path does
        not lift it.
    model : ndarray (1748,)
        ``continuum`` times the absorbers' Voigt profiles (b = :data:`MODEL_B_KMS`,
        line-spread function of one pixel).
    """
    win = sightline.window()
    lam = 10.0**win.loglam
    z_min, z_max = sightline.search_z_range()
    path = win.valid & (lam >= grid.LYA_REST * (1 + z_min)) & (lam <= grid.LYA_REST * (1 + z_max))
    absorbers = [d for d in detections if d.type != "LYB"]
    trans = np.ones(lam.size)
    if absorbers:
        wave_f = 10.0 ** fine_grid(win.start_index, grid.N_WINDOW, 3)
        tau = voigt_tau(wave_f, [d.log_nhi for d in absorbers], [d.z_abs for d in absorbers], MODEL_B_KMS)
        trans = apply_lsf(np.exp(-tau), 3, 1.0)
    use = path & (trans > 0.5)
    safe = np.where(use, trans, 1.0)
    env = _envelope(np.where(use, win.flux / safe, np.nan), win.sigma / safe, CONTINUUM_WIDTH, CONTINUUM_PERCENTILE)
    known = np.flatnonzero(np.isfinite(env))
    continuum = np.full(lam.size, np.nan)
    if known.size:
        continuum[path] = np.interp(np.flatnonzero(path), known, env[known])
    return lam, continuum, continuum * trans


# --------------------------------------------------------------------------- drawing
def _draw_data(ax: Axes, sightline: Sightline, detections: list, truth: list[dict] | None) -> tuple[float, float]:
    """Flux, error, searched path, the absorbers' model and true absorbers; returns the data's x-range."""
    win = sightline.window()
    lam = 10.0**win.loglam
    f = np.where(win.valid, win.flux, np.nan)
    ax.plot(lam, f, color="0.25", lw=0.6, drawstyle="steps-mid", label="flux / median(1420-1480 A)")
    ax.plot(lam, np.where(win.valid, win.sigma, np.nan), color="tab:orange", lw=0.5, alpha=0.8, label="error")
    z_min, z_max = sightline.search_z_range()
    ax.axvspan(grid.LYA_REST * (1 + z_min), grid.LYA_REST * (1 + z_max), color="tab:blue", alpha=0.06,
               label="searched path")
    if any(d.type != "LYB" for d in detections):
        _, _, model = absorber_model(sightline, detections)
        ax.plot(lam, model, color="tab:red", lw=1.0, gid="absorber_model",
                label=f"local continuum x Voigt profiles of detections (b = {MODEL_B_KMS:g} km/s)")
    for d in detections:
        ax.axvline(d.lambda_obs, color=TYPE_COLOURS.get(d.type, "k"), lw=0.8, alpha=0.7)
    for t in truth or []:
        ax.axvline(grid.LYA_REST * (1 + t["z_abs"]), color="tab:green", ls="--", lw=0.8, alpha=0.8)
    top = np.nanpercentile(f, 99) if np.isfinite(f).any() else 2.0
    ax.set_ylim(-0.3, max(1.5, 1.4 * top))
    ax.set_ylabel("normalised flux")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    span = lam[win.valid] if win.valid.any() else lam
    pad = 0.005 * (span.max() - span.min())
    return float(span.min() - pad), float(span.max() + pad)


def _rows(extents: list[tuple[float, float]], gap: float) -> list[int]:
    """Row of each horizontal extent (in order of position): the lowest row it does not overlap."""
    ends: list[float] = []
    rows = []
    for x0, x1 in extents:
        row = next((k for k, end in enumerate(ends) if x0 >= end + gap), len(ends))
        if row == len(ends):
            ends.append(x1)
        ends[row] = x1
        rows.append(row)
    return rows


def _label_absorbers(ax: Axes, detections: list) -> float:
    """Label each absorber above the axes, stacking labels that would overlap; returns their height (points)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    xmin, xmax = ax.get_xlim()
    shown = sorted((d for d in detections if xmin <= d.lambda_obs <= xmax), key=lambda d: d.lambda_obs)
    labels = [ax.annotate(f"{d.type} z={d.z_abs:.3f}\nlogN={d.log_nhi:.2f} p={d.confidence:.2f}",
                          (d.lambda_obs, 1.0), xycoords=ax.get_xaxis_transform(), xytext=(0, 3),
                          textcoords="offset points", fontsize=7, ha="center", va="bottom",
                          color=TYPE_COLOURS.get(d.type, "k"), annotation_clip=False)
              for d in shown]
    if not labels:
        return 0.0
    px_per_pt = fig.dpi / 72.0
    fig_width = fig.bbox.width
    for text in labels:  # keep labels at the figure's edges inside it
        box = text.get_window_extent(renderer)
        if box.x0 < 0 or box.x1 > fig_width:
            text.set_horizontalalignment("left" if box.x0 < 0 else "right")
    boxes = [text.get_window_extent(renderer) for text in labels]
    rows = _rows([(b.x0, b.x1) for b in boxes], LABEL_GAP_PT * px_per_pt)
    step = max(b.height for b in boxes) / px_per_pt + 2.0
    for text, row in zip(labels, rows):
        text.xyann = (0, 3 + row * step)
    return 3 + (max(rows) + 1) * step


def _draw_curves(ax: Axes, prob: np.ndarray | None, votes: np.ndarray | None, lam: np.ndarray) -> None:
    """The classifier probability and vote mass per pixel."""
    if prob is not None:
        ax.plot(lam, prob, color="tab:blue", lw=0.8, label="classifier p(DLA within 60 px)")
    if votes is not None:
        ax.plot(lam, votes, color="tab:red", lw=0.8, label="vote mass within +-10 px (per perfect absorber; thresholded)")
    ax.set_ylim(-0.05, 1.1)
    ax.set_ylabel("model")
    ax.legend(loc="upper left", fontsize=7)


def sightline_figure(
    sightline: Sightline,
    detections: list | None = None,
    prob: np.ndarray | None = None,
    votes: np.ndarray | None = None,
    truth: list[dict] | None = None,
) -> Figure:
    """The figure of :func:`plot_sightline`, returned rather than written.

    Parameters
    ----------
    sightline : Sightline
        The spectrum.
    detections : list of Detection, optional
        Drawn as :func:`absorber_model` over the data and labelled above it; labels that
        would overlap are put on separate rows.
    prob, votes : ndarray (1748,), optional
        Per-pixel classifier probability and vote histogram (normalised), drawn in a
        lower panel that shares the data panel's x-axis.
    truth : list of dict, optional
        True absorbers (``z_abs``, ``log_nhi``) marked with dashed lines.

    Returns
    -------
    `~matplotlib.figure.Figure`
        On an Agg canvas; ``fig.axes[0]`` is the data panel, ``fig.axes[1]`` (when
        ``prob`` or ``votes`` is given) the model's panel.
    """
    detections = detections or []
    curves = prob is not None or votes is not None
    height = 6.5 if curves else 4.2
    fig = _new_figure(13.0, height)
    axes = fig.subplots(2 if curves else 1, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [3, 1.3][: 2 if curves else 1], "hspace": 0.08,
                                     "left": 0.75 / 13.0, "right": 1 - 0.2 / 13.0, "bottom": 0.55 / height})
    ax = axes[0, 0]
    ax.set_xlim(*_draw_data(ax, sightline, detections, truth))
    if curves:
        _draw_curves(axes[1, 0], prob, votes, 10.0 ** sightline.window().loglam)
    axes[-1, 0].set_xlabel("observed wavelength [A]")
    labels_pt = _label_absorbers(ax, detections)
    title_pad = labels_pt + 4.0
    ax.set_title(f"{sightline.sightline_id}  z_qso = {sightline.z_qso:.3f}  S/N = {sightline.snr():.1f}",
                 fontsize=10, pad=title_pad)
    fig.subplots_adjust(top=1 - (title_pad + 22.0) / 72.0 / height)
    return fig


def plot_sightline(
    sightline: Sightline,
    path: str | Path,
    detections: list | None = None,
    prob: np.ndarray | None = None,
    votes: np.ndarray | None = None,
    truth: list[dict] | None = None,
) -> Path:
    """The spectrum, its search window, each absorber's Voigt model and the model's curves.

    Parameters
    ----------
    sightline : Sightline
        The spectrum.
    path : str or Path
        Output PNG (parent directories are created).
    detections : list of Detection, optional
        Each is drawn as a Voigt model (b = 30 km/s) on a local continuum of the data
        (:func:`absorber_model`) and labelled.
    prob, votes : ndarray (1748,), optional
        Per-pixel classifier probability and vote histogram (normalised), drawn below.
    truth : list of dict, optional
        True absorbers (``z_abs``, ``log_nhi``) marked with dashed lines.

    Returns
    -------
    Path
        The PNG written.
    """
    fig = sightline_figure(sightline, detections, prob, votes, truth)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_catalog_summary(absorbers: Table, sightlines: Table, path: str | Path) -> Path:
    """N_HI and redshift distributions and confidences of a catalog (ABSORBERS, SIGHTLINES tables).

    Parameters
    ----------
    absorbers, sightlines : `~astropy.table.Table`
        The catalog's ABSORBERS and SIGHTLINES tables (:func:`dla_cnn.catalog.read_catalog`).
    path : str or Path
        Output PNG (parent directories are created).

    Returns
    -------
    Path
        The PNG written.
    """
    fig = _new_figure(11, 8)
    axes = fig.subplots(2, 2)
    types = np.asarray(absorbers["type"]).astype(str) if len(absorbers) else np.array([], dtype=str)
    nhi = np.asarray(absorbers["log_nhi"], dtype=float)
    zabs = np.asarray(absorbers["z_abs"], dtype=float)
    conf = np.asarray(absorbers["confidence"], dtype=float)
    for t, colour in TYPE_COLOURS.items():
        sel = types == t
        axes[0, 0].hist(nhi[sel], bins=np.arange(19.0, 22.81, 0.1), color=colour, alpha=0.7, label=f"{t} ({sel.sum()})")
        axes[0, 1].hist(zabs[sel], bins=30, color=colour, alpha=0.7, label=t)
        axes[1, 0].hist(conf[sel], bins=np.linspace(0, 1, 21), color=colour, alpha=0.7, label=t)
    axes[0, 0].axvline(DLA_MIN_LOG_NHI, color="k", ls=":")
    axes[0, 0].set_xlabel("log N_HI [cm^-2]")
    axes[0, 1].set_xlabel("z_abs")
    axes[1, 0].set_xlabel("confidence")
    status = np.asarray(sightlines["status"]).astype(str)
    ok = status == "ok"
    zq = np.asarray(sightlines["z_qso"], dtype=float)
    axes[1, 1].hist(zq[ok], bins=30, color="tab:blue", alpha=0.7, label=f"ok ({ok.sum()})")
    axes[1, 1].hist(zq[~ok], bins=30, color="tab:orange", alpha=0.7, label=f"error/skipped ({(~ok).sum()})")
    axes[1, 1].set_xlabel("z_qso of sightlines")
    for ax in axes.ravel():
        ax.legend(fontsize=8)
        ax.set_ylabel("number")
    dz = np.sum(np.clip(np.asarray(sightlines["z_max"], float)[ok] - np.asarray(sightlines["z_min"], float)[ok], 0, None))
    fig.suptitle(f"{int((types == 'DLA').sum())} DLAs on {ok.sum()} searched sightlines (path dz = {dz:.0f})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
