"""The index page's catalog figures (matplotlib, Agg, PNG).

Histograms of z_abs, log N_HI, confidence and S/N by absorber type, and the incidence
dN/dz in redshift bins with 68% Poisson intervals (:func:`dla_cnn.catalog.dn_dz`) above
the number of ``ok`` sightlines searched at each redshift.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.table import Table  # noqa: E402

from dla_cnn.catalog import dn_dz  # noqa: E402
from dla_cnn.constants import DLA_MIN_LOG_NHI  # noqa: E402

TYPE_COLOURS = {"DLA": "tab:red", "SUBDLA": "tab:purple", "LYB": "tab:gray"}
FIGURES = (
    ("z_abs", "absorber redshifts by type"),
    ("log_nhi", "log N_HI by type (dotted: the DLA threshold)"),
    ("confidence", "confidence by type"),
    ("snr", "S/N: searched sightlines (outline) and absorbers by type"),
    ("dndz", "dN/dz with 68% Poisson intervals, and the searched path g(z)"),
)
"""``(name, caption)`` of each figure, written as ``figures/NAME.png``."""


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _floats(table: Table, name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=float) if len(table) else np.array([], dtype=float)


def _types(absorbers: Table) -> np.ndarray:
    return np.char.strip(np.asarray(absorbers["type"]).astype(str)) if len(absorbers) else np.array([], dtype=str)


def _ok_sightlines(sightlines: Table) -> Table:
    if not len(sightlines):
        return sightlines
    return sightlines[np.char.strip(np.asarray(sightlines["status"]).astype(str)) == "ok"]


def hist_by_type(absorbers: Table, column: str, bins: np.ndarray, xlabel: str, path: Path,
                 background: np.ndarray | None = None) -> Path:
    """A stacked-by-type histogram of one ABSORBERS column, optionally over a ``background`` outline.

    Parameters
    ----------
    absorbers : Table
        ABSORBERS table.
    column : str
        Column to histogram.
    bins : ndarray
        Bin edges.
    xlabel : str
        Axis label.
    path : Path
        Output PNG.
    background : ndarray, optional
        Values drawn as a grey step outline (e.g. the S/N of every searched sightline).
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    values, types = _floats(absorbers, column), _types(absorbers)
    if background is not None:
        ax.hist(background[np.isfinite(background)], bins=bins, histtype="step", color="0.4", label="searched sightlines")
    for name, colour in TYPE_COLOURS.items():
        sel = (types == name) & np.isfinite(values)
        if sel.any():
            ax.hist(values[sel], bins=bins, color=colour, alpha=0.6, label=f"{name} ({int(sel.sum())})")
    if column == "log_nhi":
        ax.axvline(DLA_MIN_LOG_NHI, color="k", ls=":")
    if column == "snr":
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no absorbers", transform=ax.transAxes, ha="center", color="0.5")
    return _save(fig, path)


def _z_edges(sightlines: Table) -> np.ndarray | None:
    """Redshift bins over the searched path of the ok sightlines (about 0.25 wide, 3 to 12 bins)."""
    ok = _ok_sightlines(sightlines)
    zlo, zhi = _floats(ok, "z_min"), _floats(ok, "z_max")
    good = np.isfinite(zlo) & np.isfinite(zhi) & (zhi > zlo)
    if not good.any():
        return None
    lo, hi = float(zlo[good].min()), float(zhi[good].max())
    n = int(np.clip(round((hi - lo) / 0.25), 3, 12))
    return np.linspace(lo, hi, n + 1)


def coverage(sightlines: Table, z: np.ndarray) -> np.ndarray:
    """g(z): the number of ``ok`` sightlines whose searched path contains each redshift in ``z``."""
    ok = _ok_sightlines(sightlines)
    zlo, zhi = np.sort(_floats(ok, "z_min")), np.sort(_floats(ok, "z_max"))
    zlo, zhi = zlo[np.isfinite(zlo)], zhi[np.isfinite(zhi)]
    return np.searchsorted(zlo, z, side="right") - np.searchsorted(zhi, z, side="right")


def dndz_figure(absorbers: Table, sightlines: Table, path: Path) -> Path:
    """dN/dz of DLAs and sub-DLAs per redshift bin with 68% Poisson intervals, over g(z)."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5.2, 5.0), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    edges = _z_edges(sightlines)
    if edges is None:
        ax.text(0.5, 0.5, "no searched path", transform=ax.transAxes, ha="center", color="0.5")
        return _save(fig, path)
    mid = 0.5 * (edges[1:] + edges[:-1])
    for k, (kind, colour) in enumerate((("DLA", "tab:red"), ("SUBDLA", "tab:purple"))):
        inc = [dn_dz(absorbers, sightlines, kind=kind, z_range=(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:])]
        rate = np.array([i.dn_dz for i in inc])
        err = np.array([[i.dn_dz - i.lower for i in inc], [i.upper - i.dn_dz for i in inc]])
        x = mid + (k - 0.5) * 0.08 * (edges[1] - edges[0])
        ax.errorbar(x, rate, yerr=err, fmt="o", color=colour, ms=4, capsize=2,
                    label=f"{kind} ({sum(i.n for i in inc)})")
    ax.set_ylabel("dN/dz")
    ax.legend(fontsize=8)
    z = np.linspace(edges[0], edges[-1], 300)
    ax2.fill_between(z, coverage(sightlines, z), step="mid", color="tab:blue", alpha=0.4)
    ax2.set_ylabel("g(z)")
    ax2.set_xlabel("absorber redshift")
    return _save(fig, path)


def catalog_figures(absorbers: Table, sightlines: Table, out_dir: Path) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` into ``out_dir/figures``; returns name to path."""
    fig_dir = out_dir / "figures"
    z = _floats(absorbers, "z_abs")
    z_bins = np.linspace(np.nanmin(z), np.nanmax(z) + 1e-3, 25) if np.isfinite(z).any() else np.linspace(1.5, 4.5, 25)
    snr_ok = _floats(_ok_sightlines(sightlines), "snr")
    top = max(float(np.nanmax(snr_ok)) if np.isfinite(snr_ok).any() else 10.0, 10.0)
    out = {
        "z_abs": hist_by_type(absorbers, "z_abs", z_bins, "z_abs", fig_dir / "z_abs.png"),
        "log_nhi": hist_by_type(absorbers, "log_nhi", np.arange(19.0, 22.85, 0.1), "log N_HI [cm^-2]",
                                fig_dir / "log_nhi.png"),
        "confidence": hist_by_type(absorbers, "confidence", np.linspace(0, 1, 21), "confidence",
                                   fig_dir / "confidence.png"),
        "snr": hist_by_type(absorbers, "snr", np.geomspace(0.5, top * 1.05, 30), "S/N per pixel",
                            fig_dir / "snr.png", background=snr_ok),
        "dndz": dndz_figure(absorbers, sightlines, fig_dir / "dndz.png"),
    }
    return out
