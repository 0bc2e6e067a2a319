"""The vetting report: :class:`VetReport`, the metrics of one catalog against one truth list.

:func:`dla_cnn.vet.vet` fills it; the definitions it follows are in the docstring of
:mod:`dla_cnn.vet`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from astropy.table import Table

__all__ = ["CONFUSION_LABELS", "VetReport"]

CONFUSION_LABELS: tuple[str, str, str] = ("DLA", "SUBDLA", "none")
"""Row (true) and column (predicted) labels of :attr:`VetReport.confusion`."""


@dataclass
class VetReport:
    """Metrics of one catalog against one truth list (see :mod:`dla_cnn.vet`).

    ``match_dz`` is the matching window.  Counts are over ``ok`` sightlines unless
    named otherwise (``*_not_ok``: error/skipped sightlines; ``*_not_in_catalog``:
    sightlines the catalog does not list).  Fractions are NaN
    when their denominator is zero.  ``by_snr`` bins by the sightline S/N (true DLAs,
    predicted DLAs, DLA pairs and sightlines in each bin); ``by_nhi`` bins true
    absorbers and pairs by the true log N_HI and predicted DLAs by the predicted
    log N_HI.  ``confusion[i, j]`` counts true class ``i`` recovered as predicted
    class ``j`` (labels :data:`CONFUSION_LABELS`); the true ``none`` row counts
    detections that match no true absorber and its ``none`` column is 0.
    ``reliability`` is the :func:`~dla_cnn.vet.reliability` table of the detections'
    confidence (real: matched to a true absorber of any log N_HI) and ``ece`` its
    :func:`~dla_cnn.vet.expected_calibration_error`.  ``completeness_ceiling`` and
    ``purity_ceiling`` are those of an ideal finder (:func:`~dla_cnn.vet.typing_ceiling`)
    that finds every true absorber and measures its log N_HI with Gaussian errors of this
    catalog's robust scatter ``dlogn_mad_std``: the completeness its log N_HI errors alone
    allow, whatever its decisions; ``by_nhi`` carries the same per bin
    (``completeness_ceiling``).
    """

    match_dz: float
    dla_min: float
    purity_min: float
    subdla_min: float
    target_completeness: float
    n_sightlines: int
    n_sightlines_ok: int
    n_sightlines_not_ok: int
    n_truth: int
    n_truth_not_ok: int
    n_truth_not_in_catalog: int
    n_true_dla: int
    n_true_subdla: int
    n_detections: int
    n_detections_not_ok: int
    n_pred_dla: int
    n_pred_subdla: int
    n_lyb: int
    n_dla_as_dla: int
    n_dla_as_any: int
    n_pred_dla_pure: int
    n_false_positive: int
    n_unmatched: int
    completeness_dla: float
    completeness_any: float
    purity: float
    fp_per_sightline: float
    lyb_per_sightline: float
    dz_mean: float
    dz_median: float
    dz_std: float
    dz_mad_std: float
    dlogn_mean: float
    dlogn_median: float
    dlogn_std: float
    dlogn_mad_std: float
    threshold: float
    completeness_at_threshold: float
    purity_at_threshold: float
    ece: float
    completeness_ceiling: float
    purity_ceiling: float
    confusion: np.ndarray = field(repr=False)
    by_snr: Table = field(repr=False)
    by_nhi: Table = field(repr=False)
    confidence_curve: Table = field(repr=False)
    reliability: Table = field(repr=False)
    matches: Table = field(repr=False)

    @property
    def n_truth_excluded(self) -> int:
        """True absorbers left out: sightline not ok or not in the catalog."""
        return self.n_truth_not_ok + self.n_truth_not_in_catalog

    def summary_rows(self) -> list[tuple[str, float, str]]:
        """``(metric, value, detail)`` rows for printing."""
        t = self
        return [
            ("sightlines ok", t.n_sightlines_ok, f"{t.n_sightlines_ok} of {t.n_sightlines}"),
            ("true DLAs", t.n_true_dla, f"{t.n_true_subdla} sub-DLAs, {t.n_truth} absorbers in all"),
            ("true absorbers excluded", t.n_truth_excluded,
             f"{t.n_truth_not_ok} on error/skipped, {t.n_truth_not_in_catalog} not in catalog"),
            ("completeness (as DLA)", t.completeness_dla, f"{t.n_dla_as_dla} / {t.n_true_dla}"),
            ("completeness (any N)", t.completeness_any, f"{t.n_dla_as_any} / {t.n_true_dla}"),
            ("purity", t.purity, f"{t.n_pred_dla_pure} / {t.n_pred_dla} (true log N >= {t.purity_min})"),
            ("false positives per sightline", t.fp_per_sightline, f"{t.n_false_positive} / {t.n_sightlines_ok}"),
            ("LYB per sightline", t.lyb_per_sightline, f"{t.n_lyb} / {t.n_sightlines_ok}"),
            ("dz bias (mean)", t.dz_mean, ""),
            ("dz bias (median)", t.dz_median, ""),
            ("dz scatter (std)", t.dz_std, ""),
            ("dz scatter (1.4826 MAD)", t.dz_mad_std, ""),
            ("dlogN bias (mean)", t.dlogn_mean, ""),
            ("dlogN bias (median)", t.dlogn_median, ""),
            ("dlogN scatter (std)", t.dlogn_std, ""),
            ("dlogN scatter (1.4826 MAD)", t.dlogn_mad_std, ""),
            (f"confidence threshold for {t.target_completeness:.0%} completeness", t.threshold,
             f"completeness {t.completeness_at_threshold:.4f}"),
            ("purity at that threshold", t.purity_at_threshold, ""),
            ("completeness ceiling of the log N scatter", t.completeness_ceiling,
             f"ideal finder, Gaussian dlogN of {t.dlogn_mad_std:.3f} dex, typed by measured log N; "
             f"purity {t.purity_ceiling:.4f}" if np.isfinite(t.completeness_ceiling) else "needs matched true DLAs"),
            ("expected calibration error (ece)", t.ece,
             f"{int(np.sum(t.reliability['n']))} detections in "
             f"{len(t.reliability)} confidence bins; real = matched to a true absorber, |dz| < {t.match_dz:g}"),
        ]

    def summary_table(self) -> Table:
        """The headline metrics as a table with columns ``metric``, ``value``, ``detail``."""
        rows = self.summary_rows()
        return Table(
            {
                "metric": [r[0] for r in rows],
                "value": np.array([r[1] for r in rows], dtype=float),
                "detail": [r[2] for r in rows],
            }
        )

    def to_dict(self, include_matches: bool = False) -> dict[str, Any]:
        """JSON-ready dict: NaN becomes None, infinities the strings "inf"/"-inf"."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "matches" and not include_matches:
                continue
            if f.name == "confusion":
                out[f.name] = {
                    "rows_true": list(CONFUSION_LABELS),
                    "columns_predicted": list(CONFUSION_LABELS),
                    "counts": value.tolist(),
                }
            elif isinstance(value, Table):
                out[f.name] = [{k: _jsonable(row[k]) for k in value.colnames} for row in value]
            else:
                out[f.name] = _jsonable(value)
        out["n_truth_excluded"] = self.n_truth_excluded
        return out

    def to_json(self, indent: int | None = 2, include_matches: bool = False) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(include_matches=include_matches), indent=indent, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """A value JSON can hold: numpy scalars as Python, NaN as None, infinities as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value
