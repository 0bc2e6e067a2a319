"""Figures of a vetting report: completeness and purity, residuals, reliability.

They draw on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas, without
pyplot, so they neither change the matplotlib backend nor keep figures open.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from dla_cnn.vet.metrics import RELIABILITY_LEVEL, binomial_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dla_cnn.vet.report import VetReport

__all__ = ["binned_figure", "vet_plots"]


def _bin_labels(table: Table) -> list[str]:
    """``lo-hi`` tick labels of a binned table."""
    def fmt(x: float) -> str:
        return "inf" if math.isinf(x) else f"{x:g}"

    return [f"{fmt(lo)}-{fmt(hi)}" for lo, hi in zip(table["lo"], table["hi"])]


def _new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A constrained-layout figure on an Agg canvas, outside pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _rate_errors(rate: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Lower and upper error bars of the fractions ``rate`` of ``n`` (Wilson, one sigma)."""
    k = np.where(np.isfinite(rate), np.rint(np.nan_to_num(rate) * n), 0).astype(int)
    lo, hi = binomial_interval(k, n)
    return np.vstack([np.clip(rate - lo, 0.0, None), np.clip(hi - rate, 0.0, None)])


def _rates(ax: Axes, x: np.ndarray, rate: np.ndarray, n: np.ndarray, style: dict, keep: np.ndarray | None = None) -> None:
    """One series of per-bin fractions with their binomial error bars (bins without data left out)."""
    has = np.isfinite(rate) & (n > 0) & (True if keep is None else keep)
    if has.any():
        ax.errorbar(x[has], rate[has], yerr=_rate_errors(rate, n)[:, has], capsize=3, ms=5, lw=1, **style)


def _draw_binned_rates(ax: Axes, table: Table, sub: np.ndarray) -> None:
    """Completeness (as DLA, any N), the sub-DLA contamination and purity per bin."""
    x = np.arange(len(table), dtype=float)
    n_true, n_pred = np.asarray(table["n_true"], dtype=int), np.asarray(table["n_pred_dla"], dtype=int)
    as_dla = np.asarray(table["completeness_dla"], dtype=float)
    if sub.any():
        last = int(np.flatnonzero(sub).max())
        ax.axvspan(-0.5, last + 0.5, color="0.93", zorder=0, label="true sub-DLA bins")
    _rates(ax, x - 0.15, as_dla, n_true, {"fmt": "o-", "color": "C0", "label": "completeness (as DLA)"}, ~sub)
    _rates(ax, x - 0.15, as_dla, n_true,
           {"fmt": "X", "color": "C3", "label": "contamination: sub-DLA reported as DLA"}, sub)
    _rates(ax, x, np.asarray(table["completeness_any"], dtype=float), n_true,
           {"fmt": "s--", "color": "C1", "label": "completeness (any N)"})
    _rates(ax, x + 0.15, np.asarray(table["purity"], dtype=float), n_pred,
           {"fmt": "^-", "color": "C2", "label": "purity"})
    if "completeness_ceiling" in table.colnames:
        ceiling = np.asarray(table["completeness_ceiling"], dtype=float)
        has = np.isfinite(ceiling) & ~sub
        if has.any():
            ax.plot(x[has] - 0.15, ceiling[has], "_:", color="C0", ms=14, mew=2,
                    label="as DLA, ideal finder with this log N scatter")


def _draw_counts(strip: Axes, table: Table) -> None:
    """The counts behind each bin's fractions, one row per denominator, in a strip below the rates."""
    rows = (("n true", "n_true", 1.5), ("n pred. DLA", "n_pred_dla", 0.5))
    for _, column, y in rows:
        for xi, n in enumerate(np.asarray(table[column], dtype=int)):
            strip.text(xi, y, str(n), ha="center", va="center", fontsize=8, color="0.25", gid="bin_count")
    strip.set_ylim(0.0, 2.0)
    strip.set_yticks([y for _, _, y in rows], [name for name, _, _ in rows], fontsize=8)
    strip.tick_params(axis="y", length=0)


def binned_figure(table: Table, xlabel: str, title: str, dla_min: float | None = None) -> Figure:
    """Completeness and purity per bin of a ``by_snr`` / ``by_nhi`` table, with their counts.

    Parameters
    ----------
    table : `~astropy.table.Table`
        :func:`~dla_cnn.vet.metrics.binned_rates` table (``lo``, ``hi``, ``n_true``,
        ``completeness_dla``, ``completeness_any``, ``n_pred_dla``, ``purity``; with a
        ``completeness_ceiling`` column, that ceiling is drawn beside the completeness as DLA).
    xlabel, title : str
        Axis label and title.
    dla_min : float, optional
        The DLA threshold of a table binned by true log N_HI: in bins wholly below it
        the fraction reported as DLA is drawn as contamination, not completeness.

    Returns
    -------
    `~matplotlib.figure.Figure`
        ``fig.axes[0]`` holds the fractions with their Wilson (one sigma) error bars,
        ``fig.axes[1]`` the counts; the legend lies below both.
    """
    fig = _new_figure(7.0, 5.6)
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4.0, 0.7]})
    sub = np.zeros(len(table), dtype=bool)
    if dla_min is not None and len(table):
        sub = np.asarray(table["hi"], dtype=float) <= dla_min
    if len(table):
        _draw_binned_rates(ax, table, sub)
        _draw_counts(strip, table)
    strip.set_xticks(np.arange(len(table)), _bin_labels(table) if len(table) else [])
    strip.set_xlim(-0.5, max(len(table), 1) - 0.5)
    strip.set_xlabel(xlabel)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("fraction")
    ax.set_title(f"{title}\n(bars: {RELIABILITY_LEVEL:.1%} Wilson binomial intervals)", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # below the axes, where it cannot cover points or counts
        fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return fig


def _plot_binned(table: Table, xlabel: str, title: str, path: Path, dla_min: float | None = None) -> None:
    """Write :func:`binned_figure` to ``path``."""
    binned_figure(table, xlabel, title, dla_min).savefig(path, dpi=110)


def _plot_hist(values: np.ndarray, xlabel: str, title: str, path: Path, stats: tuple[float, float]) -> None:
    """Histogram of residuals with their median and robust scatter (``stats``) in the title."""
    fig = _new_figure()
    ax = fig.add_subplot()
    v = values[np.isfinite(values)]
    if v.size:
        ax.hist(v, bins=max(10, min(60, int(np.sqrt(v.size)) * 2)), color="C0", alpha=0.8)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    ax.set_title(f"{title}  (median {stats[0]:.4g}, 1.4826 MAD {stats[1]:.4g}, n={v.size})", fontsize=9)
    fig.savefig(path, dpi=110)


def _plot_confidence(report: VetReport, path: Path) -> None:
    """Completeness and purity against the confidence threshold, the target threshold marked."""
    curve = report.confidence_curve
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot(curve["threshold"], curve["completeness_dla"], label="completeness (as DLA)")
    ax.plot(curve["threshold"], curve["completeness_any"], "--", label="completeness (any N)")
    ax.plot(curve["threshold"], curve["purity"], label="purity")
    if np.isfinite(report.threshold):
        ax.axvline(report.threshold, color="0.3", ls=":",
                   label=f"{report.target_completeness:.0%} completeness: t={report.threshold:.3g}")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("fraction")
    ax.set_title("Completeness and purity vs confidence")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=110)


def _plot_reliability_points(ax: Axes, rel: Table) -> None:
    """Fraction real per populated bin with its interval and count, or a note if none."""
    has = np.asarray(rel["n"]) > 0
    if not has.any():
        ax.text(0.5, 0.5, "no detection with a confidence", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        return
    x = np.asarray(rel["mean_confidence"], dtype=float)[has]
    y = np.asarray(rel["fraction_real"], dtype=float)[has]
    err = np.vstack([np.clip(y - np.asarray(rel["fraction_real_lo"], dtype=float)[has], 0.0, None),
                     np.clip(np.asarray(rel["fraction_real_hi"], dtype=float)[has] - y, 0.0, None)])
    level = rel.meta.get("confidence_level", RELIABILITY_LEVEL)
    ax.errorbar(x, y, yerr=err, fmt="o", color="C0", capsize=3,
                label=f"fraction real ({level:.1%} Wilson interval)")
    # counts written vertically beyond the end of each error bar, away from the nearer
    # edge, so neighbouring bins never share the space and labels stay inside the axes
    for xi, yi, e_lo, e_hi, n in zip(x, y, err[0], err[1], np.asarray(rel["n"])[has]):
        up = yi < 0.5
        ax.annotate(f"n={n}", (xi, yi + e_hi if up else yi - e_lo), xytext=(0, 3 if up else -3),
                    textcoords="offset points", rotation=90, ha="center", va="bottom" if up else "top",
                    fontsize=7, color="0.3")


def _plot_reliability(report: VetReport, path: Path) -> None:
    """The reliability diagram of the confidence, with the ECE in the title."""
    rel = report.reliability
    fig = _new_figure(5.5, 5.5)
    ax = fig.add_subplot()
    ax.plot([0.0, 1.0], [0.0, 1.0], color="0.5", ls="--", lw=1, label="calibrated")
    _plot_reliability_points(ax, rel)
    for edge in np.asarray(rel["conf_lo"])[1:]:  # bin edges
        ax.axvline(edge, color="0.9", lw=0.6, zorder=0)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_aspect("equal")
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("fraction of detections that are real")
    ece = "n/a" if not np.isfinite(report.ece) else f"{report.ece:.3f}"
    ax.set_title(f"Reliability of the confidence: ECE = {ece}\n"
                 f"real = matches a true absorber (any log N), |z_det - z_true| < {report.match_dz:g}",
                 fontsize=9)
    # legend below the axes, where it cannot cover points or counts
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    fig.savefig(path, dpi=110)


def vet_plots(report: VetReport, outdir: str | os.PathLike) -> list[Path]:
    """Draw the vetting figures as PNG files in ``outdir`` (created if needed).

    Files: ``completeness_purity_snr.png``, ``completeness_purity_nhi.png``
    (:func:`binned_figure`: fractions per bin with Wilson error bars and the counts
    behind them; in the N_HI figure true sub-DLAs reported as DLAs are contamination),
    ``dz_hist.png``, ``dlogn_hist.png`` (true DLA pairs),
    ``completeness_confidence.png`` and ``reliability.png`` (observed fraction of
    real detections against the mean confidence per bin, with counts and the ECE).

    Parameters
    ----------
    report : VetReport
        The output of :func:`dla_cnn.vet.vet`.
    outdir : path-like
        Directory for the figures.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out / f"{name}.png"
        for name in ("completeness_purity_snr", "completeness_purity_nhi", "dz_hist", "dlogn_hist",
                     "completeness_confidence", "reliability")
    }
    _plot_binned(report.by_snr, "S/N per pixel", "Completeness and purity vs S/N", paths["completeness_purity_snr"])
    _plot_binned(report.by_nhi, "log N_HI [cm^-2] (true; predicted for purity)",
                 "Completeness and purity vs N_HI", paths["completeness_purity_nhi"], report.dla_min)
    dla_pairs = report.matches["log_nhi_true"] >= report.dla_min
    _plot_hist(np.asarray(report.matches["dz"])[dla_pairs], "z_pred - z_true", "dz",
               paths["dz_hist"], (report.dz_median, report.dz_mad_std))
    _plot_hist(np.asarray(report.matches["dlogn"])[dla_pairs], "log N_pred - log N_true [dex]", "dlogN",
               paths["dlogn_hist"], (report.dlogn_median, report.dlogn_mad_std))
    _plot_confidence(report, paths["completeness_confidence"])
    _plot_reliability(report, paths["reliability"])
    return list(paths.values())
