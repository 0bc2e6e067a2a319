"""Figures of one sightline with its absorbers and the model's per-pixel view, and of a catalog.

All functions take data and a path, draw with matplotlib's Agg backend and return the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dla_cnn import grid  # noqa: E402
from dla_cnn.constants import DLA_MIN_LOG_NHI  # noqa: E402
from dla_cnn.physics.voigt import apply_lsf, fine_grid, voigt_tau  # noqa: E402

if TYPE_CHECKING:
    from astropy.table import Table

    from dla_cnn.sightline import Sightline

__all__ = ["plot_catalog_summary", "plot_sightline"]


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
        Output PNG.
    detections : list of Detection, optional
        Each is drawn as a Voigt model (b = 30 km/s) over the window-normalised data.
    prob, votes : ndarray (1748,), optional
        Per-pixel classifier probability and vote histogram (normalised), drawn below.
    truth : list of dict, optional
        True absorbers (``z_abs``, ``log_nhi``) marked with dashed lines.

    Returns
    -------
    Path
        The PNG written.
    """
    detections = detections or []
    win = sightline.window()
    lam = 10.0**win.loglam
    has_model_panel = prob is not None or votes is not None
    fig, axes = plt.subplots(2 if has_model_panel else 1, 1, figsize=(13, 6.5 if has_model_panel else 4.2),
                             sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1.3][: 2 if has_model_panel else 1]})
    ax = axes[0, 0]
    f = np.where(win.valid, win.flux, np.nan)
    sig = np.where(win.valid, win.sigma, np.nan)
    ax.plot(lam, f, color="0.25", lw=0.6, drawstyle="steps-mid", label="flux / median(1420-1480 A)")
    ax.plot(lam, sig, color="tab:orange", lw=0.5, alpha=0.8, label="error")
    z_min, z_max = sightline.search_z_range()
    ax.axvspan(grid.LYA_REST * (1 + z_min), grid.LYA_REST * (1 + z_max), color="tab:blue", alpha=0.06, label="searched path")
    if detections:
        # continuum: a running upper percentile of the flux, then the absorbers' Voigt model on top
        cont = _rough_continuum(win.flux, win.valid)
        wave_f = 10.0 ** fine_grid(win.start_index, grid.N_WINDOW, 3)
        zs = [d.z_abs for d in detections if d.type != "LYB"]
        ns = [d.log_nhi for d in detections if d.type != "LYB"]
        if zs:
            trans = apply_lsf(np.exp(-voigt_tau(wave_f, ns, zs, 30.0)), 3, 1.0)
            # drawn over the searched path only, where the rough continuum means something
            shown = win.valid & (lam >= grid.LYA_REST * (1 + z_min) - 30) & (lam <= grid.LYA_REST * (1 + z_max) + 30)
            ax.plot(lam, np.where(shown, cont * trans, np.nan), color="tab:red", lw=1.0,
                    label="Voigt model of detections (b = 30 km/s)")
        for d in detections:
            colour = {"DLA": "tab:red", "SUBDLA": "tab:purple", "LYB": "tab:gray"}.get(d.type, "k")
            ax.axvline(d.lambda_obs, color=colour, lw=0.8, alpha=0.7)
            ax.text(d.lambda_obs, 1.02, f"{d.type} z={d.z_abs:.3f}\nlogN={d.log_nhi:.2f} p={d.confidence:.2f}",
                    transform=ax.get_xaxis_transform(), fontsize=7, ha="center", va="bottom", color=colour)
    for t in truth or []:
        ax.axvline(grid.LYA_REST * (1 + t["z_abs"]), color="tab:green", ls="--", lw=0.8, alpha=0.8)
    top = np.nanpercentile(f, 99) if np.isfinite(f).any() else 2
    ax.set_ylim(-0.3, max(1.5, 1.4 * top))
    ax.set_ylabel("normalised flux")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax.set_title(f"{sightline.sightline_id}  z_qso = {sightline.z_qso:.3f}  S/N = {sightline.snr():.1f}", fontsize=10, pad=28)
    if has_model_panel:
        ax2 = axes[1, 0]
        if prob is not None:
            ax2.plot(lam, prob, color="tab:blue", lw=0.8, label="classifier p(DLA within 60 px)")
        if votes is not None:
            ax2.plot(lam, votes, color="tab:red", lw=0.8, label="vote mass within +-10 px (per perfect absorber; thresholded)")
        ax2.set_ylim(-0.05, 1.1)
        ax2.set_ylabel("model")
        ax2.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("observed wavelength [A]")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rough_continuum(flux: np.ndarray, valid: np.ndarray, width: int = 151) -> np.ndarray:
    """A running 90th percentile of the flux: a rough forest continuum, for display only."""
    from scipy.ndimage import percentile_filter

    f = np.where(valid, flux, np.nan)
    filled = np.where(np.isfinite(f), f, np.nanmedian(f) if np.isfinite(f).any() else 1.0)
    return np.maximum(percentile_filter(filled, 90, size=width, mode="nearest"), 0.05)


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
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    types = np.asarray(absorbers["type"]).astype(str) if len(absorbers) else np.array([], dtype=str)
    nhi = np.asarray(absorbers["log_nhi"], dtype=float)
    zabs = np.asarray(absorbers["z_abs"], dtype=float)
    conf = np.asarray(absorbers["confidence"], dtype=float)
    for t, colour in (("DLA", "tab:red"), ("SUBDLA", "tab:purple"), ("LYB", "tab:gray")):
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
    plt.close(fig)
    return path
