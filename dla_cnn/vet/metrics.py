"""The statistics a vetting report is made of: residual scatter, binned rates, the
reliability of the confidence and completeness / purity against a confidence threshold.

These functions take plain arrays (which true absorber was found, which detection is
pure ...); :mod:`dla_cnn.vet.report` works those out from a catalog and a truth list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.stats import binom_conf_interval, mad_std
from astropy.table import Table

__all__ = [
    "NHI_BINS",
    "RELIABILITY_BINS",
    "RELIABILITY_LEVEL",
    "SNR_BINS",
    "bin_index",
    "binned_rates",
    "binomial_interval",
    "confidence_curve",
    "expected_calibration_error",
    "ratio",
    "reliability",
    "summary_stats",
]

SNR_BINS: tuple[float, ...] = (0.0, 2.0, 4.0, 7.0, 12.0, math.inf)
"""Default S/N bin edges, bins are ``[lo, hi)``."""

NHI_BINS: tuple[float, ...] = (19.0, 19.5, 20.3, 20.6, 21.0, 21.5, 23.0)
"""Default log10 N_HI (cm^-2) bin edges, bins are ``[lo, hi)``."""

RELIABILITY_BINS = 10
"""Default number of equal-width confidence bins of the reliability diagram."""

RELIABILITY_LEVEL = 0.683
"""Confidence level of the binomial (Wilson) interval on each bin's fraction real."""


# --------------------------------------------------------------------------- basic statistics
def summary_stats(values: np.ndarray) -> dict[str, float]:
    """Bias and scatter of the finite ``values``.

    Parameters
    ----------
    values : ndarray of float
        Residuals; non-finite values are left out.

    Returns
    -------
    dict
        ``mean``, ``median``, ``std`` (``ddof=0``) and ``mad_std`` (``1.4826 * MAD``),
        all NaN when no value is finite.
    """
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"mean": np.nan, "median": np.nan, "std": np.nan, "mad_std": np.nan}
    med = float(np.median(v))
    return {
        "mean": float(np.mean(v)),
        "median": med,
        "std": float(np.std(v)),
        "mad_std": float(mad_std(v)),
    }


def ratio(num: int, den: int) -> float:
    """``num / den``, NaN when ``den`` is 0.

    Parameters
    ----------
    num, den : int
        Counts.

    Returns
    -------
    float
    """
    return num / den if den else np.nan


def bin_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin of each value for ``[lo, hi)`` bins; -1 outside or NaN.

    Parameters
    ----------
    values : ndarray of float
        Values to bin.
    edges : sequence of float
        Increasing bin edges.

    Returns
    -------
    ndarray of int
        Index of the bin ``[edges[i], edges[i + 1])`` holding each value, -1 for
        values outside every bin or not finite.
    """
    e = np.asarray(edges, dtype=float)
    idx = np.searchsorted(e, values, side="right") - 1
    idx[~np.isfinite(values) | (idx >= len(e) - 1)] = -1
    return idx


def binned_rates(
    edges: Sequence[float],
    true_bin: np.ndarray,
    true_as_dla: np.ndarray,
    true_any: np.ndarray,
    pred_bin: np.ndarray,
    pred_pure: np.ndarray,
    pair_bin: np.ndarray,
    dz: np.ndarray,
    dlogn: np.ndarray,
    sightline_bin: np.ndarray | None = None,
) -> Table:
    """Completeness, purity and residuals in bins (of S/N or log N_HI).

    Parameters
    ----------
    edges : sequence of float
        Bin edges, bins are ``[lo, hi)``.
    true_bin : ndarray of int
        Bin of each true absorber (-1: counted in no bin).
    true_as_dla, true_any : ndarray of bool
        Whether each true absorber was recovered as a DLA / at any log N_HI.
    pred_bin : ndarray of int
        Bin of each detection (-1: counted in no bin, e.g. not a predicted DLA).
    pred_pure : ndarray of bool
        Whether each detection matches a true absorber above the purity cut.
    pair_bin : ndarray of int
        Bin of each matched pair.
    dz, dlogn : ndarray of float
        Redshift and log N_HI residual of each matched pair.
    sightline_bin : ndarray of int, optional
        Bin of each ok sightline; adds ``n_sightlines`` and ``fp_per_sightline``.

    Returns
    -------
    `~astropy.table.Table`
        One row per bin: ``lo``, ``hi``, ``n_true``, ``completeness_dla``,
        ``completeness_any``, ``n_pred_dla``, ``purity``, (``n_sightlines``,
        ``fp_per_sightline``), ``n_pairs`` and the :func:`summary_stats` of ``dz``
        and ``dlogn`` as ``dz_mean`` ... ``dlogn_mad_std``.
    """
    rows = []
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        t, p, m = true_bin == b, pred_bin == b, pair_bin == b
        n_true, n_pred = int(t.sum()), int(p.sum())
        row: dict[str, Any] = {
            "lo": float(lo),
            "hi": float(hi),
            "n_true": n_true,
            "completeness_dla": ratio(int((t & true_as_dla).sum()), n_true),
            "completeness_any": ratio(int((t & true_any).sum()), n_true),
            "n_pred_dla": n_pred,
            "purity": ratio(int((p & pred_pure).sum()), n_pred),
        }
        if sightline_bin is not None:
            n_sl = int((sightline_bin == b).sum())
            row["n_sightlines"] = n_sl
            row["fp_per_sightline"] = ratio(int((p & ~pred_pure).sum()), n_sl)
        row["n_pairs"] = int(m.sum())
        for name, values in (("dz", dz[m]), ("dlogn", dlogn[m])):
            for stat, value in summary_stats(values).items():
                row[f"{name}_{stat}"] = value
        rows.append(row)
    return Table(rows=rows) if rows else Table()


def binomial_interval(k: np.ndarray, n: np.ndarray, level: float = RELIABILITY_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson interval of a binomial fraction ``k / n``.

    Parameters
    ----------
    k, n : array_like of int
        Successes and trials.
    level : float
        Confidence level (default :data:`RELIABILITY_LEVEL`, one sigma).

    Returns
    -------
    lo, hi : ndarray of float
        Bounds of the fraction, NaN where ``n == 0``.
    """
    k, n = np.atleast_1d(np.asarray(k, dtype=int)), np.atleast_1d(np.asarray(n, dtype=int))
    lo, hi = np.full(n.shape, np.nan), np.full(n.shape, np.nan)
    has = n > 0
    if has.any():
        lo[has], hi[has] = binom_conf_interval(k[has], n[has], confidence_level=level, interval="wilson")
    return lo, hi


# --------------------------------------------------------------------------- reliability
def reliability(confidence: np.ndarray, is_real: np.ndarray, n_bins: int = RELIABILITY_BINS) -> Table:
    """Reliability diagram: observed fraction of real detections per confidence bin.

    Parameters
    ----------
    confidence : ndarray of float
        Confidence of each detection, meant as the probability that it is real.
        Values must lie in [0, 1]; non-finite values are left out.
    is_real : ndarray of bool
        Whether each detection is real (same shape as ``confidence``).
    n_bins : int
        Number of equal-width bins on [0, 1].  Bins are ``[lo, hi)``, the last one
        ``[lo, 1]``.

    Returns
    -------
    `~astropy.table.Table`
        One row per bin, empty bins included: ``conf_lo``, ``conf_hi``, ``n``
        (detections in the bin), ``n_real``, ``mean_confidence``, ``fraction_real``
        (``n_real / n``) and ``fraction_real_lo`` / ``fraction_real_hi``, the
        :data:`RELIABILITY_LEVEL` Wilson binomial interval of the fraction.  The
        fractions and the mean are NaN where ``n == 0``.  For a calibrated
        confidence ``fraction_real`` follows ``mean_confidence``.

    Raises
    ------
    ValueError
        ``confidence`` and ``is_real`` differ in shape, ``n_bins < 1``, or a finite
        confidence lies outside [0, 1].
    """
    conf = np.asarray(confidence, dtype=float).ravel()
    real = np.asarray(is_real, dtype=bool).ravel()
    if np.shape(confidence) != np.shape(is_real):
        raise ValueError(f"confidence {np.shape(confidence)} and is_real {np.shape(is_real)} differ in shape")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, not {n_bins!r}")
    n_bins = int(n_bins)
    finite = np.isfinite(conf)
    conf, real = conf[finite], real[finite]
    tol = 1e-9
    if np.any((conf < -tol) | (conf > 1.0 + tol)):
        raise ValueError(f"confidence must lie in [0, 1], found {conf.min():.6g} .. {conf.max():.6g}")
    conf = np.clip(conf, 0.0, 1.0)
    # floor(conf * n) puts 0.3 in [0.3, 0.4) where searchsorted on linspace edges would not
    idx = np.minimum(np.floor(conf * n_bins).astype(int), n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    n_real = np.bincount(idx, weights=real.astype(float), minlength=n_bins).round().astype(int)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    has = n > 0
    mean_conf = np.full(n_bins, np.nan)
    frac = np.full(n_bins, np.nan)
    mean_conf[has] = sum_conf[has] / n[has]
    frac[has] = n_real[has] / n[has]
    lo, hi = binomial_interval(n_real, n)
    table = Table(
        {
            "conf_lo": np.arange(n_bins) / n_bins,
            "conf_hi": np.arange(1, n_bins + 1) / n_bins,
            "n": n,
            "n_real": n_real,
            "mean_confidence": mean_conf,
            "fraction_real": frac,
            "fraction_real_lo": lo,
            "fraction_real_hi": hi,
        }
    )
    table.meta["confidence_level"] = RELIABILITY_LEVEL
    table.meta["interval"] = "wilson"
    return table


def expected_calibration_error(table: Table) -> float:
    """Expected calibration error of a :func:`reliability` table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Output of :func:`reliability` (columns ``n``, ``fraction_real``,
        ``mean_confidence``).

    Returns
    -------
    float
        ``sum_b n_b / N * |fraction_real_b - mean_confidence_b|`` over the populated
        bins, ``N`` the number of detections; 0 for a calibrated confidence (up to
        noise), NaN when there are no detections.
    """
    n = np.asarray(table["n"], dtype=float)
    total = n.sum()
    if total == 0:
        return math.nan
    has = n > 0
    frac = np.asarray(table["fraction_real"], dtype=float)[has]
    mean_conf = np.asarray(table["mean_confidence"], dtype=float)[has]
    return float(np.sum(n[has] / total * np.abs(frac - mean_conf)))


# --------------------------------------------------------------------------- confidence threshold
def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` are ``>= t`` for each threshold ``t``."""
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")


def _finite_sorted(values: np.ndarray) -> np.ndarray:
    return np.sort(values[np.isfinite(values)])


def confidence_curve(
    thresholds: Sequence[float] | None,
    target: float,
    t_dla: np.ndarray,
    t_any: np.ndarray,
    t_as_dla: np.ndarray,
    t_match: np.ndarray,
    p_conf: np.ndarray,
    p_dla: np.ndarray,
    pure: np.ndarray,
) -> tuple[Table, float, float, float]:
    """Completeness and purity of the detections kept by each confidence threshold.

    A detection is kept at threshold ``t`` when its confidence is ``>= t``; a true
    DLA is recovered at ``t`` when the detection matched to it is kept.

    Parameters
    ----------
    thresholds : sequence of float or None
        Thresholds of the curve; 0 to 1 in steps of 0.01 when None.
    target : float
        Completeness (true DLAs recovered at any log N_HI) the returned threshold keeps.
    t_dla, t_any, t_as_dla : ndarray of bool
        Per true absorber: a true DLA; recovered at any log N_HI; recovered as a DLA.
    t_match : ndarray of int
        Per true absorber, the index of its detection (-1: none).
    p_conf : ndarray of float
        Confidence of each detection.
    p_dla, pure : ndarray of bool
        Per detection: a predicted DLA; matched above the purity cut.

    Returns
    -------
    curve : `~astropy.table.Table`
        Columns ``threshold``, ``completeness_dla``, ``completeness_any``,
        ``purity``, ``n_pred_dla``.
    threshold, completeness, purity : float
        The highest threshold whose completeness (any log N_HI) reaches ``target``,
        and the completeness and purity there; NaN when even 0 does not reach it.
    """
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    th = np.asarray(thresholds, dtype=float)
    n_true = int(t_dla.sum())
    conf_any = _finite_sorted(p_conf[t_match[t_dla & t_any]])
    conf_dla = _finite_sorted(p_conf[t_match[t_dla & t_as_dla]])
    conf_pred = _finite_sorted(p_conf[p_dla])
    conf_pure = _finite_sorted(p_conf[p_dla & pure])

    def completeness(sorted_conf: np.ndarray, t: np.ndarray) -> np.ndarray:
        if n_true == 0:
            return np.full(t.shape, np.nan)
        return _count_at_least(sorted_conf, t) / n_true

    def purity(t: np.ndarray) -> np.ndarray:
        n_pred = _count_at_least(conf_pred, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n_pred > 0, _count_at_least(conf_pure, t) / np.maximum(n_pred, 1), np.nan)

    curve = Table(
        {
            "threshold": th,
            "completeness_dla": completeness(conf_dla, th),
            "completeness_any": completeness(conf_any, th),
            "purity": purity(th),
            "n_pred_dla": _count_at_least(conf_pred, th),
        }
    )
    k = math.ceil(target * n_true - 1e-9)
    if n_true == 0 or k > len(conf_any) or k < 1:
        return curve, np.nan, np.nan, np.nan
    thr = float(conf_any[::-1][k - 1])
    at = np.array([thr])
    return curve, thr, float(completeness(conf_any, at)[0]), float(purity(at)[0])
