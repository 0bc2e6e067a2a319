"""Compare a catalog with a truth list: :func:`vet` and :func:`vet_files`.

:func:`vet` works in steps: the catalog's sightlines, the true absorbers and the
detections on ``ok`` sightlines and their pairing (:mod:`dla_cnn.vet._views`), then
one helper for each part of the :class:`VetReport` -- counts, residual statistics,
confusion matrix, binned tables, the table of matches.  The definitions it follows
are in the docstring of :mod:`dla_cnn.vet`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.table import Table

from dla_cnn.catalog import read_catalog
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.exceptions import ConfigError
from dla_cnn.vet._common import floats
from dla_cnn.vet.ceiling import typing_ceiling
from dla_cnn.vet._views import (
    Detections,
    Pairs,
    Sightlines,
    Truth,
    detection_view,
    pair,
    sightline_view,
    truth_view,
)
from dla_cnn.vet.metrics import (
    NHI_BINS,
    RELIABILITY_BINS,
    SNR_BINS,
    bin_index,
    binned_rates,
    confidence_curve,
    expected_calibration_error,
    ratio,
    reliability,
    summary_stats,
)
from dla_cnn.vet.report import VetReport
from dla_cnn.vet.truth import normalise_truth, read_truth

__all__ = ["vet", "vet_files"]


def _require(table: Table, names: Sequence[str], what: str) -> None:
    """:class:`ConfigError` naming the columns of ``names`` that ``table`` lacks."""
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise ConfigError(f"{what}: missing column(s) {', '.join(missing)}")


def _matches_table(dets: Detections, truth: Truth, pairs: Pairs) -> Table:
    """One row per matched pair: ids, catalog and truth rows, values and residuals."""
    di, ti = pairs.det, pairs.tru
    return Table(
        {
            "sightline_id": truth.ids[truth.ok][ti] if len(ti) else np.zeros(0, dtype="U1"),
            "detection_index": dets.index[di],
            "truth_index": np.nonzero(truth.ok)[0][ti],
            "z_true": floats(truth.table["z_abs"])[ti],
            "z_pred": floats(dets.table["z_abs"])[di],
            "log_nhi_true": truth.logn[ti],
            "log_nhi_pred": dets.logn[di],
            "dz": pairs.dz,
            "dlogn": pairs.dlogn,
            "pred_dla": dets.is_dla[di],
            "confidence": dets.conf[di],
            "snr": dets.snr[di],
        }
    )


def _confusion(dets: Detections, truth: Truth, pairs: Pairs) -> np.ndarray:
    """True class (DLA, SUBDLA, none) against predicted class (DLA, SUBDLA, none)."""
    di, ti, p_dla = pairs.det, pairs.tru, dets.is_dla
    confusion = np.zeros((3, 3), dtype=int)
    for row, t_class in enumerate((truth.is_dla, truth.is_sub)):
        confusion[row, 0] = int((t_class[ti] & p_dla[di]).sum())
        confusion[row, 1] = int((t_class[ti] & ~p_dla[di]).sum())
        confusion[row, 2] = int((t_class & ~pairs.t_any).sum())
    confusion[2, 0] = int((~pairs.d_matched & p_dla).sum())
    confusion[2, 1] = int((~pairs.d_matched & ~p_dla).sum())
    return confusion


def _binned_tables(
    sl: Sightlines, dets: Detections, truth: Truth, pairs: Pairs,
    snr_bins: Sequence[float], nhi_bins: Sequence[float],
) -> tuple[Table, Table]:
    """The ``by_snr`` and ``by_nhi`` tables of the report."""
    ti, p_dla = pairs.tru, dets.is_dla
    pair_true_dla = truth.is_dla[ti]
    by_snr = binned_rates(
        snr_bins,
        np.where(truth.is_dla, bin_index(truth.snr, snr_bins), -1), pairs.t_as_dla, pairs.t_any,
        np.where(p_dla, bin_index(dets.snr, snr_bins), -1), pairs.pure,
        np.where(pair_true_dla, bin_index(truth.snr[ti], snr_bins), -1), pairs.dz, pairs.dlogn,
        sightline_bin=bin_index(sl.ok_snr, snr_bins),
    )
    by_nhi = binned_rates(
        nhi_bins,
        bin_index(truth.logn, nhi_bins), pairs.t_as_dla, pairs.t_any,
        np.where(p_dla, bin_index(dets.logn, nhi_bins), -1), pairs.pure,
        bin_index(truth.logn[ti], nhi_bins), pairs.dz, pairs.dlogn,
    )
    return by_snr, by_nhi


def _ceiling_by_bin(truth: Truth, edges: Sequence[float], sigma: float, dla_min: float) -> np.ndarray:
    """Per true-log N bin, the completeness (as DLA) of an ideal finder with Gaussian log N
    errors of ``sigma`` (:func:`~dla_cnn.vet.typing_ceiling`); NaN in bins without true DLAs."""
    out = np.full(len(edges) - 1, np.nan)
    if not np.isfinite(sigma):
        return out
    idx = bin_index(truth.logn, edges)
    for b in range(out.size):
        sel = (idx == b) & truth.is_dla
        if sel.any():
            out[b] = typing_ceiling(truth.logn[sel], sigma, dla_min=dla_min).completeness
    return out


def _counts(sl: Sightlines, dets: Detections, truth: Truth, pairs: Pairs) -> dict[str, Any]:
    """The ``n_*`` counts of the report and the rates made from them."""
    t_dla, p_dla = truth.is_dla, dets.is_dla
    n_ok = int(len(sl.ok_ids))
    n_true_dla = int(t_dla.sum())
    n_pred_dla = int(p_dla.sum())
    n_pure = int((p_dla & pairs.pure).sum())
    n_fp = n_pred_dla - n_pure
    n_as_dla = int((t_dla & pairs.t_as_dla).sum())
    n_as_any = int((t_dla & pairs.t_any).sum())
    n_lyb = int(dets.lyb.sum())
    return {
        "n_sightlines": int(len(np.unique(sl.ids))),
        "n_sightlines_ok": n_ok,
        "n_sightlines_not_ok": int(len(np.unique(sl.ids[~np.isin(sl.ids, sl.ok_ids)]))),
        "n_truth": int(len(truth.table)),
        "n_truth_not_ok": int((truth.in_catalog & ~truth.ok).sum()),
        "n_truth_not_in_catalog": int((~truth.in_catalog).sum()),
        "n_true_dla": n_true_dla,
        "n_true_subdla": int(truth.is_sub.sum()),
        "n_detections": int(len(dets.table)),
        "n_detections_not_ok": int((~dets.on_ok).sum()),
        "n_pred_dla": n_pred_dla,
        "n_pred_subdla": int((~p_dla).sum()),
        "n_lyb": n_lyb,
        "n_dla_as_dla": n_as_dla,
        "n_dla_as_any": n_as_any,
        "n_pred_dla_pure": n_pure,
        "n_false_positive": n_fp,
        "n_unmatched": int((~pairs.d_matched).sum()),
        "completeness_dla": ratio(n_as_dla, n_true_dla),
        "completeness_any": ratio(n_as_any, n_true_dla),
        "purity": ratio(n_pure, n_pred_dla),
        "fp_per_sightline": ratio(n_fp, n_ok),
        "lyb_per_sightline": ratio(n_lyb, n_ok),
    }


def _residual_stats(truth: Truth, pairs: Pairs) -> dict[str, float]:
    """Bias and scatter of dz and dlogN over the pairs whose true absorber is a DLA."""
    dla_pairs = truth.is_dla[pairs.tru]
    out: dict[str, float] = {}
    for name, values in (("dz", pairs.dz), ("dlogn", pairs.dlogn)):
        for stat, value in summary_stats(values[dla_pairs]).items():
            out[f"{name}_{stat}"] = value
    return out


def vet(
    catalog_absorbers: Table,
    catalog_sightlines: Table,
    truth: Table,
    dz: float = 0.015,
    dla_min: float = DLA_MIN_LOG_NHI,
    purity_min: float = 20.0,
    *,
    subdla_min: float = 19.0,
    snr_bins: Sequence[float] = SNR_BINS,
    nhi_bins: Sequence[float] = NHI_BINS,
    thresholds: Sequence[float] | None = None,
    target_completeness: float = 0.99,
    reliability_bins: int = RELIABILITY_BINS,
) -> VetReport:
    """Compare a catalog with the truth.

    Parameters
    ----------
    catalog_absorbers, catalog_sightlines : `~astropy.table.Table`
        The catalog (:func:`dla_cnn.catalog.read_catalog`).
    truth : `~astropy.table.Table`
        True absorbers, in any format :func:`~dla_cnn.vet.normalise_truth` reads.
    dz : float
        Matching window, ``|z_det - z_true| < dz``.
    dla_min : float
        log N_HI from which an absorber (true or predicted) is a DLA.
    purity_min : float
        A predicted DLA is pure when it matches a true absorber with log N_HI at
        least this.
    subdla_min : float
        Lower log N_HI of the true sub-DLA class of the confusion matrix.
    snr_bins, nhi_bins : sequence of float
        Bin edges of the binned statistics.
    thresholds : sequence of float, optional
        Confidence thresholds of :attr:`VetReport.confidence_curve` (0 to 1 in
        steps of 0.01 by default).
    target_completeness : float
        Completeness (true DLAs recovered at any N) that :attr:`VetReport.threshold`
        keeps: the highest threshold with at least this completeness (NaN if even
        threshold 0 does not reach it).
    reliability_bins : int
        Number of confidence bins of :attr:`VetReport.reliability`.

    Returns
    -------
    VetReport
        The metrics; see the docstrings of :class:`VetReport` and :mod:`dla_cnn.vet`.

    Raises
    ------
    ConfigError
        A catalog table lacks a column, or the truth is in no known format.
    """
    _require(catalog_absorbers, ("sightline_id", "z_abs", "log_nhi", "type", "confidence"), "catalog ABSORBERS")
    _require(catalog_sightlines, ("sightline_id", "status", "snr"), "catalog SIGHTLINES")
    truth = normalise_truth(truth)
    sl = sightline_view(catalog_sightlines, truth)
    tru = truth_view(truth, sl, dla_min, subdla_min)
    dets = detection_view(catalog_absorbers, sl, dla_min)
    pairs = pair(dets, tru, dz, purity_min)
    by_snr, by_nhi = _binned_tables(sl, dets, tru, pairs, snr_bins, nhi_bins)
    curve, thr, c_thr, p_thr = confidence_curve(
        thresholds, target_completeness, tru.is_dla, pairs.t_any, pairs.t_as_dla, pairs.t_match,
        dets.conf, dets.is_dla, pairs.pure,
    )
    # reliability of the confidence: real = matched to a true absorber of any log N
    rel = reliability(dets.conf, pairs.d_matched, n_bins=reliability_bins)
    residuals = _residual_stats(tru, pairs)
    sigma = residuals["dlogn_mad_std"]
    ceiling = typing_ceiling(tru.logn, sigma, dla_min=dla_min, purity_min=purity_min,
                             subdla_min=subdla_min) if np.isfinite(sigma) else None
    by_nhi["completeness_ceiling"] = _ceiling_by_bin(tru, nhi_bins, sigma, dla_min)
    return VetReport(
        match_dz=float(dz),
        dla_min=float(dla_min),
        purity_min=float(purity_min),
        subdla_min=float(subdla_min),
        target_completeness=float(target_completeness),
        **_counts(sl, dets, tru, pairs),
        **residuals,
        threshold=thr,
        completeness_at_threshold=c_thr,
        purity_at_threshold=p_thr,
        ece=expected_calibration_error(rel),
        completeness_ceiling=ceiling.completeness if ceiling else float("nan"),
        purity_ceiling=ceiling.purity if ceiling else float("nan"),
        confusion=_confusion(dets, tru, pairs),
        by_snr=by_snr,
        by_nhi=by_nhi,
        confidence_curve=curve,
        reliability=rel,
        matches=_matches_table(dets, tru, pairs),
    )


def vet_files(
    catalog: str | os.PathLike,
    truth: str | os.PathLike,
    *,
    truth_format: str | None = None,
    min_confidence: float | None = None,
    **kwargs: Any,
) -> VetReport:
    """:func:`vet` a catalog file against a truth file (the CLI entry point).

    Parameters
    ----------
    catalog : path-like
        A catalog file (:func:`dla_cnn.catalog.read_catalog`).
    truth : path-like
        A truth file in any known format (:func:`~dla_cnn.vet.read_truth`).
    truth_format, min_confidence
        Passed to :func:`~dla_cnn.vet.read_truth`.
    **kwargs
        Passed to :func:`vet`.

    Returns
    -------
    VetReport
    """
    absorbers, sightlines, _ = read_catalog(catalog)
    truth_table = read_truth(truth, kind=truth_format, min_confidence=min_confidence)
    return vet(absorbers, sightlines, truth_table, **kwargs)
