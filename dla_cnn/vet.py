"""Vet a catalog against a list of true absorbers (the ``dla-cnn vet`` backend).

Three steps:

1. :func:`read_truth` / :func:`normalise_truth` turn a truth list into one table with
   columns ``sightline_id``, ``z_abs``, ``log_nhi`` (log10 cm^-2) and, when the source
   has them, ``z_qso``, ``snr``, ``b`` (km/s) and ``confidence``.
2. :func:`match` pairs detections with true absorbers on the same sightline.
3. :func:`vet` computes the metrics of the specification's validation section into a
   :class:`VetReport`; :func:`vet_plots` draws them.

:func:`reliability` and :func:`expected_calibration_error` check whether the catalog's
``confidence`` behaves as the probability that a detection is real; :func:`vet` applies
them to its detections.

Definitions used throughout
---------------------------
* A detection of type ``LYB`` is left out of matching, purity and false positives;
  LYB counts are reported on their own.
* A non-LYB detection is a *predicted DLA* when its ``log_nhi >= dla_min`` (its
  catalog ``type`` when ``log_nhi`` is NaN), otherwise a *predicted SUBDLA*.
* A *true DLA* has ``log_nhi >= dla_min``; a *true sub-DLA* has
  ``subdla_min <= log_nhi < dla_min``.
* Only sightlines with ``status == "ok"`` count.  True absorbers on sightlines that
  are missing from the catalog or not ``ok`` are counted apart, never as misses.
* ``dz = z_pred - z_true`` and ``dlogn = log_nhi_pred - log_nhi_true``.
* Scatter is given as the standard deviation (``ddof=0``) and as the robust
  ``1.4826 * MAD`` (median absolute deviation from the median).
* The confidence threshold ``t`` keeps detections with ``confidence >= t``; a true
  DLA is recovered at ``t`` when the detection matched to it (with all detections)
  passes ``t``.
* For the reliability diagram a detection is *real* when :func:`match` pairs it with a
  true absorber of any log N_HI (so a second detection of one absorber is not real).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from astropy.stats import binom_conf_interval, mad_std
from astropy.table import Table

from dla_cnn.catalog import format_sightline_id, parse_sightline_id, read_catalog
from dla_cnn.columns import filled, find_name, normalise_name
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.exceptions import ConfigError, describe

__all__ = [
    "CONFUSION_LABELS",
    "NHI_BINS",
    "RELIABILITY_BINS",
    "RELIABILITY_LEVEL",
    "SNR_BINS",
    "TRUTH_FORMATS",
    "VetReport",
    "canonical_ids",
    "detect_truth_format",
    "expected_calibration_error",
    "match",
    "normalise_truth",
    "read_truth",
    "reliability",
    "vet",
    "vet_files",
    "vet_plots",
]

SNR_BINS: tuple[float, ...] = (0.0, 2.0, 4.0, 7.0, 12.0, math.inf)
"""Default S/N bin edges, bins are ``[lo, hi)``."""

NHI_BINS: tuple[float, ...] = (19.0, 19.5, 20.3, 20.6, 21.0, 21.5, 23.0)
"""Default log10 N_HI (cm^-2) bin edges, bins are ``[lo, hi)``."""


RELIABILITY_BINS = 10
"""Default number of equal-width confidence bins of the reliability diagram."""

RELIABILITY_LEVEL = 0.683
"""Confidence level of the binomial (Wilson) interval on each bin's fraction real."""

CONFUSION_LABELS: tuple[str, str, str] = ("DLA", "SUBDLA", "none")
"""Row (true) and column (predicted) labels of :attr:`VetReport.confusion`."""

GP_MIN_CONFIDENCE = 0.5
"""Default cut for Gaussian-process catalogs: keep absorbers with p_DLA > 0.5."""

TRUTH_FORMATS: dict[str, str] = {
    "dlacnn": "dla-cnn truth table: sightline_id, z_abs, log_nhi, b [km/s], z_qso, snr",
    "prochaska_dr5": "Prochaska et al. SDSS DR5 DLA survey: QSO name or PLATE/MJD/FIBER, zem, zabs, NHI",
    "noterdaeme": "Noterdaeme et al. DR9/DR12: PLATE, MJD, FIBER, Z_ABS, LOG.NHI (or log_NHI)",
    "gp": "Garnett/Ho Gaussian-process: plates, mjds, fiber_ids, z_dlas, log_nhis, p_dlas / dla_confidences",
    "parks": "Parks et al. CNN DR12: plate, mjd, fiber, z_dla / zabs, log_column_density / NHI, dla_confidence",
}
"""Truth formats :func:`normalise_truth` understands."""

# Accepted spellings, compared after lower-casing and turning punctuation into '_'.
_ALIASES: dict[str, tuple[str, ...]] = {
    "sightline_id": ("sightline_id",),
    "plate": ("plate", "plates", "plateid", "plate_id"),
    "mjd": ("mjd", "mjds"),
    "fiber": ("fiber", "fiberid", "fiber_id", "fibers", "fiber_ids", "fiberids"),
    "z_abs": ("z_abs", "zabs", "z_dla", "zdla", "z_dlas", "map_z_dlas", "map_z_dla"),
    "log_nhi": (
        "log_nhi", "lognhi", "log_n_hi", "log_nhis", "map_log_nhis", "map_log_nhi",
        "log_column_density", "nhi", "column_density", "log_nh",
    ),
    "z_qso": ("z_qso", "zqso", "z_qsos", "zem", "z_em", "z_vi"),
    "snr": ("snr", "snrs", "s_n", "sn"),
    "b": ("b", "b_kms", "doppler_b"),
    "confidence": ("dla_confidences", "dla_confidence", "p_dla", "p_dlas", "confidence", "conf"),
    "name": ("qso_name", "qso", "name", "sdss_name", "qso_id", "object"),
    "type": ("type", "absorber_type", "dla_type"),
}
_GP_MARKERS = {"p_dla", "p_dlas", "dla_confidences", "z_dlas", "log_nhis", "map_z_dlas", "map_log_nhis"}
_PARKS_MARKERS = {"dla_confidence", "log_column_density", "column_density"}


def _find(table: Table, key: str) -> str | None:
    """The column of ``table`` that spells field ``key`` (first alias wins)."""
    return find_name(table.colnames, _ALIASES[key], fuzzy=True)


def _floats(column: Any) -> np.ndarray:
    return filled(column, np.nan, float).astype(float)


def _strings(column: Any) -> np.ndarray:
    arr = filled(column, "")
    if arr.dtype.kind == "S":
        arr = np.char.decode(arr, "ascii", errors="replace")
    return np.char.strip(arr.astype(str))


def canonical_ids(ids: Sequence[Any]) -> np.ndarray:
    """Sightline ids in one spelling: ``PLATE-MJD-FIBER`` ids re-padded, others stripped."""
    out = []
    for s in _strings(ids):
        pmf = parse_sightline_id(s)
        out.append(format_sightline_id(*pmf) if pmf is not None else s)
    return np.array(out, dtype=str) if out else np.zeros(0, dtype="U1")


# --------------------------------------------------------------------------- truth
def detect_truth_format(table: Table) -> str:
    """Name (a key of :data:`TRUTH_FORMATS`) of the truth format ``table`` is in.

    Raises
    ------
    ConfigError
        No known format fits the columns.
    """
    names = {normalise_name(c) for c in table.colnames}
    has = {key: _find(table, key) is not None for key in _ALIASES}
    if {"sightline_id", "z_abs", "log_nhi"} <= names:
        return "dlacnn"
    if names & _GP_MARKERS:
        return "gp"
    if names & _PARKS_MARKERS:
        return "parks"
    if has["z_abs"] and has["log_nhi"]:
        pmf = has["plate"] and has["mjd"] and has["fiber"]
        dr5_like = "nhi" in names and (has["name"] or "zem" in names)
        if pmf and not dr5_like:
            return "noterdaeme"
        if pmf or has["name"]:
            return "prochaska_dr5"
    raise ConfigError(
        "truth table columns fit no known format "
        f"({', '.join(table.colnames[:12])}); expected one of: {'; '.join(TRUTH_FORMATS.values())}"
    )


def _sightline_ids(table: Table, what: str) -> np.ndarray:
    col = _find(table, "sightline_id")
    if col is not None:
        return canonical_ids(table[col])
    plate, mjd, fiber = (_find(table, k) for k in ("plate", "mjd", "fiber"))
    if plate and mjd and fiber:
        p, m, f = (np.asarray(_floats(table[c])) for c in (plate, mjd, fiber))
        bad = ~(np.isfinite(p) & np.isfinite(m) & np.isfinite(f))
        ids = [
            "" if b else format_sightline_id(int(pi), int(mi), int(fi))
            for b, pi, mi, fi in zip(bad, p, m, f)
        ]
        return np.array(ids, dtype=str) if ids else np.zeros(0, dtype="U1")
    name = _find(table, "name")
    if name is not None:
        return _strings(table[name])
    raise ConfigError(f"{what}: no sightline_id, PLATE/MJD/FIBER or QSO name column")


def normalise_truth(
    table: Table,
    kind: str | None = None,
    min_confidence: float | None = None,
) -> Table:
    """Turn a truth list in any :data:`TRUTH_FORMATS` into the normalised truth table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The truth list.  Column names match case-insensitively, with punctuation
        ignored (``LOG.NHI`` = ``log_NHI`` = ``log_nhi``).  Per-sightline formats may
        hold several absorbers per row as vector columns (``z_dlas``, ``log_nhis``,
        NaN-padded); they are expanded to one row per absorber.
    kind : str, optional
        Force a format; detected from the columns by default
        (:func:`detect_truth_format`).
    min_confidence : float, optional
        Keep only absorbers with confidence > ``min_confidence`` (strict).  The
        default is 0.5 for ``gp`` catalogs (``dla_confidences`` per absorber if
        present, else ``p_dlas`` per sightline) and no cut otherwise; pass
        ``-inf`` to keep every GP absorber.

    Returns
    -------
    `~astropy.table.Table`
        Columns ``sightline_id``, ``z_abs``, ``log_nhi`` and, where the source has
        them, ``z_qso``, ``snr``, ``b`` (km/s), ``confidence``.  Rows with a
        non-finite ``z_abs`` or ``log_nhi``, and LYB rows, are dropped.  A linear
        column density (> 1e30) is converted to log10.  ``meta`` holds
        ``truth_format`` and ``n_dropped``.
    """
    fmt = kind if kind is not None else detect_truth_format(table)
    if fmt not in TRUTH_FORMATS:
        raise ConfigError(f"unknown truth format {fmt!r}; known: {', '.join(TRUTH_FORMATS)}")
    if min_confidence is None and fmt == "gp":
        min_confidence = GP_MIN_CONFIDENCE
    what = f"truth table ({fmt})"
    zcol, ncol = _find(table, "z_abs"), _find(table, "log_nhi")
    if zcol is None or ncol is None:
        raise ConfigError(f"{what}: needs an absorber redshift and a log N_HI column")

    ids = _sightline_ids(table, what)
    z = _floats(table[zcol])
    logn = _floats(table[ncol])
    nrow = len(table)
    width = z.size // nrow if nrow else 1  # several absorbers per row (GP catalogs) or one
    z2 = z.reshape(nrow, width)
    n2 = np.broadcast_to(logn.reshape(nrow, logn.size // nrow if nrow else 1), z2.shape)

    def per_absorber(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values.reshape(nrow, values.size // nrow if nrow else 1), (nrow, width))

    keep = np.isfinite(z2) & np.isfinite(n2)
    conf_col = _find(table, "confidence")
    conf2 = per_absorber(_floats(table[conf_col])) if conf_col is not None else None
    if min_confidence is not None:
        if conf2 is None:
            raise ConfigError(f"{what}: a confidence cut needs a confidence column")
        keep &= conf2 > min_confidence
    type_col = _find(table, "type")
    if type_col is not None:
        types = np.char.upper(_strings(table[type_col]))
        keep &= per_absorber(types != "LYB")

    rows, slots = np.nonzero(keep)
    out = Table()
    out["sightline_id"] = ids[rows] if len(rows) else np.zeros(0, dtype="U1")
    out["z_abs"] = z2[rows, slots]
    nhi = n2[rows, slots]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["log_nhi"] = np.where(nhi > 30.0, np.log10(nhi), nhi)
    for key in ("z_qso", "snr", "b"):
        col = _find(table, key)
        if col is not None:
            out[key] = per_absorber(_floats(table[col]))[rows, slots]
    if "b" in out.colnames:
        out["b"].unit = "km / s"
    if conf2 is not None:
        out["confidence"] = conf2[rows, slots]
    out["log_nhi"].description = "log10 of the H I column density in cm^-2"
    out.meta["truth_format"] = fmt
    out.meta["n_dropped"] = int(np.count_nonzero(np.isfinite(z2)) - len(out))
    return out


def read_truth(
    source: str | os.PathLike | Table,
    kind: str | None = None,
    min_confidence: float | None = None,
    hdu: int | str | None = None,
) -> Table:
    """Read a truth list from a file (or take a table) and normalise it.

    Parameters
    ----------
    source : path-like or `~astropy.table.Table`
        ECSV, CSV, FITS (first table HDU unless ``hdu``) or anything
        ``Table.read`` reads.
    kind, min_confidence
        See :func:`normalise_truth`.
    hdu : int or str, optional
        FITS HDU of the table.

    Raises
    ------
    ConfigError
        Missing or unreadable file, or columns of no known format.
    """
    if isinstance(source, Table):
        return normalise_truth(source, kind=kind, min_confidence=min_confidence)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{path}: truth file not found")
    name = path.name.lower()
    kwargs: dict[str, Any] = {}
    if name.endswith(".ecsv"):
        kwargs["format"] = "ascii.ecsv"
    elif name.endswith(".csv"):
        kwargs["format"] = "ascii.csv"
    elif name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")):
        kwargs["format"] = "fits"
        kwargs["hdu"] = 1 if hdu is None else hdu
    try:
        table = Table.read(path, **kwargs)
    except Exception as err:
        raise ConfigError(f"{path}: cannot read truth table: {describe(err)}") from None
    try:
        return normalise_truth(table, kind=kind, min_confidence=min_confidence)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


# --------------------------------------------------------------------------- matching
def match(detections: Table, truth: Table, dz: float = 0.015) -> tuple[np.ndarray, np.ndarray]:
    """Pair detections with true absorbers one-to-one.

    A pair must lie on the same sightline with ``|z_det - z_true| < dz``; pairs are
    accepted greedily, smallest ``|dz|`` first (ties by detection, then truth
    index), each detection and each true absorber used at most once.

    Parameters
    ----------
    detections, truth : `~astropy.table.Table`
        Tables with ``sightline_id`` and ``z_abs``.
    dz : float
        Matching window in redshift.

    Returns
    -------
    det_index, truth_index : ndarray of int
        Row indices of the matched pairs, sorted by detection index.
    """
    d_ids, t_ids = canonical_ids(detections["sightline_id"]), canonical_ids(truth["sightline_id"])
    d_z, t_z = _floats(detections["z_abs"]), _floats(truth["z_abs"])
    empty = np.zeros(0, dtype=int)
    if len(d_z) == 0 or len(t_z) == 0:
        return empty, empty.copy()
    _, codes = np.unique(np.concatenate([d_ids, t_ids]), return_inverse=True)
    d_code, t_code = codes[: len(d_ids)], codes[len(d_ids):]
    order = np.argsort(t_code, kind="stable")
    sorted_codes = t_code[order]
    lo = np.searchsorted(sorted_codes, d_code, side="left")
    counts = np.searchsorted(sorted_codes, d_code, side="right") - lo
    det = np.repeat(np.arange(len(d_z)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    tru = order[np.repeat(lo, counts) + offset]
    adz = np.abs(d_z[det] - t_z[tru])
    ok = adz < dz
    det, tru, adz = det[ok], tru[ok], adz[ok]
    d_used = np.zeros(len(d_z), dtype=bool)
    t_used = np.zeros(len(t_z), dtype=bool)
    pairs = []
    for k in np.lexsort((tru, det, adz)):
        i, j = det[k], tru[k]
        if not (d_used[i] or t_used[j]):
            d_used[i] = t_used[j] = True
            pairs.append((i, j))
    if not pairs:
        return empty, empty.copy()
    pairs.sort()
    arr = np.array(pairs, dtype=int)
    return arr[:, 0], arr[:, 1]


# --------------------------------------------------------------------------- statistics
def _stats(values: np.ndarray) -> dict[str, float]:
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


def _ratio(num: int, den: int) -> float:
    return num / den if den else np.nan


def _bin_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin of each value for ``[lo, hi)`` bins; -1 outside or NaN."""
    e = np.asarray(edges, dtype=float)
    idx = np.searchsorted(e, values, side="right") - 1
    idx[~np.isfinite(values) | (idx >= len(e) - 1)] = -1
    return idx


def _binned(
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
    rows = []
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        t, p, m = true_bin == b, pred_bin == b, pair_bin == b
        n_true, n_pred = int(t.sum()), int(p.sum())
        row: dict[str, Any] = {
            "lo": float(lo),
            "hi": float(hi),
            "n_true": n_true,
            "completeness_dla": _ratio(int((t & true_as_dla).sum()), n_true),
            "completeness_any": _ratio(int((t & true_any).sum()), n_true),
            "n_pred_dla": n_pred,
            "purity": _ratio(int((p & pred_pure).sum()), n_pred),
        }
        if sightline_bin is not None:
            n_sl = int((sightline_bin == b).sum())
            row["n_sightlines"] = n_sl
            row["fp_per_sightline"] = _ratio(int((p & ~pred_pure).sum()), n_sl)
        row["n_pairs"] = int(m.sum())
        for name, values in (("dz", dz[m]), ("dlogn", dlogn[m])):
            for stat, value in _stats(values).items():
                row[f"{name}_{stat}"] = value
        rows.append(row)
    return Table(rows=rows) if rows else Table()


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
    lo = np.full(n_bins, np.nan)
    hi = np.full(n_bins, np.nan)
    mean_conf[has] = sum_conf[has] / n[has]
    frac[has] = n_real[has] / n[has]
    if has.any():
        interval = binom_conf_interval(n_real[has], n[has], confidence_level=RELIABILITY_LEVEL, interval="wilson")
        lo[has], hi[has] = interval[0], interval[1]
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


@dataclass
class VetReport:
    """Metrics of one catalog against one truth list (see the module docstring).

    ``match_dz`` is the matching window.  Counts are over ``ok`` sightlines unless
    named otherwise (``*_not_ok``: error/skipped sightlines; ``*_not_in_catalog``:
    sightlines the catalog does not list).  Fractions are NaN
    when their denominator is zero.  ``by_snr`` bins by the sightline S/N (true DLAs,
    predicted DLAs, DLA pairs and sightlines in each bin); ``by_nhi`` bins true
    absorbers and pairs by the true log N_HI and predicted DLAs by the predicted
    log N_HI.  ``confusion[i, j]`` counts true class ``i`` recovered as predicted
    class ``j`` (labels :data:`CONFUSION_LABELS`); the true ``none`` row counts
    detections that match no true absorber and its ``none`` column is 0.
    ``reliability`` is the :func:`reliability` table of the detections' confidence
    (real: matched to a true absorber of any log N_HI) and ``ece`` its
    :func:`expected_calibration_error`.
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
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def _require(table: Table, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise ConfigError(f"{what}: missing column(s) {', '.join(missing)}")


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
        True absorbers, in any format :func:`normalise_truth` reads.
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
    """
    _require(catalog_absorbers, ("sightline_id", "z_abs", "log_nhi", "type", "confidence"), "catalog ABSORBERS")
    _require(catalog_sightlines, ("sightline_id", "status", "snr"), "catalog SIGHTLINES")
    truth = normalise_truth(truth)

    # --- sightlines
    sl_ids = canonical_ids(catalog_sightlines["sightline_id"])
    sl_ok = _strings(catalog_sightlines["status"]) == "ok"
    ok_ids = np.unique(sl_ids[sl_ok])
    snr_of = dict(zip(sl_ids[sl_ok], _floats(catalog_sightlines["snr"])[sl_ok]))
    if "snr" in truth.colnames:  # fill S/N the catalog lacks from the truth list
        for sid, s in zip(canonical_ids(truth["sightline_id"]), _floats(truth["snr"])):
            if sid in snr_of and not np.isfinite(snr_of[sid]) and np.isfinite(s):
                snr_of[sid] = s
    ok_snr = np.array([snr_of[s] for s in ok_ids], dtype=float)

    # --- truth on ok sightlines
    t_ids = canonical_ids(truth["sightline_id"])
    t_in_cat = np.isin(t_ids, sl_ids)
    t_ok = np.isin(t_ids, ok_ids)
    truth_ok = truth[t_ok]
    t_logn = _floats(truth_ok["log_nhi"])
    t_dla = t_logn >= dla_min
    t_sub = (t_logn >= subdla_min) & ~t_dla
    t_snr = np.array([snr_of[s] for s in t_ids[t_ok]], dtype=float)

    # --- detections on ok sightlines
    d_ids = canonical_ids(catalog_absorbers["sightline_id"])
    d_ok = np.isin(d_ids, ok_ids)
    d_type = np.char.upper(_strings(catalog_absorbers["type"]))
    lyb = d_ok & (d_type == "LYB")
    use = d_ok & ~lyb
    det = catalog_absorbers[use]
    det_index = np.nonzero(use)[0]
    p_logn = _floats(det["log_nhi"])
    p_dla = np.where(np.isfinite(p_logn), p_logn >= dla_min, d_type[use] == "DLA")
    p_conf = _floats(det["confidence"])
    p_snr = np.array([snr_of[s] for s in d_ids[use]], dtype=float)

    # --- matching
    di, ti = match(det, truth_ok, dz=dz)
    d_match = np.full(len(det), -1)
    d_match[di] = ti
    t_match = np.full(len(truth_ok), -1)
    t_match[ti] = di
    t_any = t_match >= 0
    t_as_dla = np.zeros(len(truth_ok), dtype=bool)
    t_as_dla[ti] = p_dla[di]
    d_matched = d_match >= 0
    pure = np.zeros(len(det), dtype=bool)
    pure[di] = t_logn[ti] >= purity_min
    n_pred_dla = int(p_dla.sum())
    n_pure = int((p_dla & pure).sum())

    # --- residuals of the pairs
    pair_dz = _floats(det["z_abs"])[di] - _floats(truth_ok["z_abs"])[ti]
    pair_dlogn = p_logn[di] - t_logn[ti]
    pair_true_dla = t_dla[ti]
    dz_stats = _stats(pair_dz[pair_true_dla])
    dn_stats = _stats(pair_dlogn[pair_true_dla])
    matches = Table(
        {
            "sightline_id": t_ids[t_ok][ti] if len(ti) else np.zeros(0, dtype="U1"),
            "detection_index": det_index[di],
            "truth_index": np.nonzero(t_ok)[0][ti],
            "z_true": _floats(truth_ok["z_abs"])[ti],
            "z_pred": _floats(det["z_abs"])[di],
            "log_nhi_true": t_logn[ti],
            "log_nhi_pred": p_logn[di],
            "dz": pair_dz,
            "dlogn": pair_dlogn,
            "pred_dla": p_dla[di],
            "confidence": p_conf[di],
            "snr": p_snr[di],
        }
    )

    # --- confusion matrix
    confusion = np.zeros((3, 3), dtype=int)
    for row, t_class in enumerate((t_dla, t_sub)):
        confusion[row, 0] = int((t_class[ti] & p_dla[di]).sum())
        confusion[row, 1] = int((t_class[ti] & ~p_dla[di]).sum())
        confusion[row, 2] = int((t_class & ~t_any).sum())
    confusion[2, 0] = int((~d_matched & p_dla).sum())
    confusion[2, 1] = int((~d_matched & ~p_dla).sum())

    # --- binned
    pairs_snr = t_snr[ti]
    by_snr = _binned(
        snr_bins,
        np.where(t_dla, _bin_index(t_snr, snr_bins), -1), t_as_dla, t_any,
        np.where(p_dla, _bin_index(p_snr, snr_bins), -1), pure,
        np.where(pair_true_dla, _bin_index(pairs_snr, snr_bins), -1), pair_dz, pair_dlogn,
        sightline_bin=_bin_index(ok_snr, snr_bins),
    )
    by_nhi = _binned(
        nhi_bins,
        _bin_index(t_logn, nhi_bins), t_as_dla, t_any,
        np.where(p_dla, _bin_index(p_logn, nhi_bins), -1), pure,
        _bin_index(t_logn[ti], nhi_bins), pair_dz, pair_dlogn,
    )

    # --- confidence
    curve, thr, c_thr, p_thr = _confidence_curve(
        thresholds, target_completeness, t_dla, t_any, t_as_dla, t_match, p_conf, p_dla, pure
    )

    # --- reliability of the confidence: real = matched to a true absorber of any log N
    rel = reliability(p_conf, d_matched, n_bins=reliability_bins)

    n_ok = int(len(ok_ids))
    n_fp = n_pred_dla - n_pure
    n_true_dla = int(t_dla.sum())
    return VetReport(
        match_dz=float(dz),
        dla_min=float(dla_min),
        purity_min=float(purity_min),
        subdla_min=float(subdla_min),
        target_completeness=float(target_completeness),
        n_sightlines=int(len(np.unique(sl_ids))),
        n_sightlines_ok=n_ok,
        n_sightlines_not_ok=int(len(np.unique(sl_ids[~np.isin(sl_ids, ok_ids)]))),
        n_truth=int(len(truth_ok)),
        n_truth_not_ok=int((t_in_cat & ~t_ok).sum()),
        n_truth_not_in_catalog=int((~t_in_cat).sum()),
        n_true_dla=n_true_dla,
        n_true_subdla=int(t_sub.sum()),
        n_detections=int(len(det)),
        n_detections_not_ok=int((~d_ok).sum()),
        n_pred_dla=n_pred_dla,
        n_pred_subdla=int((~p_dla).sum()),
        n_lyb=int(lyb.sum()),
        n_dla_as_dla=int((t_dla & t_as_dla).sum()),
        n_dla_as_any=int((t_dla & t_any).sum()),
        n_pred_dla_pure=n_pure,
        n_false_positive=n_fp,
        n_unmatched=int((~d_matched).sum()),
        completeness_dla=_ratio(int((t_dla & t_as_dla).sum()), n_true_dla),
        completeness_any=_ratio(int((t_dla & t_any).sum()), n_true_dla),
        purity=_ratio(n_pure, n_pred_dla),
        fp_per_sightline=_ratio(n_fp, n_ok),
        lyb_per_sightline=_ratio(int(lyb.sum()), n_ok),
        dz_mean=dz_stats["mean"],
        dz_median=dz_stats["median"],
        dz_std=dz_stats["std"],
        dz_mad_std=dz_stats["mad_std"],
        dlogn_mean=dn_stats["mean"],
        dlogn_median=dn_stats["median"],
        dlogn_std=dn_stats["std"],
        dlogn_mad_std=dn_stats["mad_std"],
        threshold=thr,
        completeness_at_threshold=c_thr,
        purity_at_threshold=p_thr,
        ece=expected_calibration_error(rel),
        confusion=confusion,
        by_snr=by_snr,
        by_nhi=by_nhi,
        confidence_curve=curve,
        reliability=rel,
        matches=matches,
    )


def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` are ``>= t`` for each threshold ``t``."""
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")


def _confidence_curve(
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
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    th = np.asarray(thresholds, dtype=float)
    n_true = int(t_dla.sum())

    def finite_sorted(values: np.ndarray) -> np.ndarray:
        return np.sort(values[np.isfinite(values)])

    rec_any = t_dla & t_any
    conf_any = finite_sorted(p_conf[t_match[rec_any]])
    conf_dla = finite_sorted(p_conf[t_match[t_dla & t_as_dla]])
    conf_pred = finite_sorted(p_conf[p_dla])
    conf_pure = finite_sorted(p_conf[p_dla & pure])

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


def vet_files(
    catalog: str | os.PathLike,
    truth: str | os.PathLike,
    *,
    truth_format: str | None = None,
    min_confidence: float | None = None,
    **kwargs: Any,
) -> VetReport:
    """:func:`vet` a catalog file against a truth file (the CLI entry point).

    ``truth_format`` and ``min_confidence`` go to :func:`read_truth`, other keywords
    to :func:`vet`.
    """
    absorbers, sightlines, _ = read_catalog(catalog)
    truth_table = read_truth(truth, kind=truth_format, min_confidence=min_confidence)
    return vet(absorbers, sightlines, truth_table, **kwargs)


# --------------------------------------------------------------------------- plots
def _bin_labels(table: Table) -> list[str]:
    def fmt(x: float) -> str:
        return "inf" if math.isinf(x) else f"{x:g}"

    return [f"{fmt(lo)}-{fmt(hi)}" for lo, hi in zip(table["lo"], table["hi"])]


def _new_figure(width: float = 6.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_binned(table: Table, xlabel: str, title: str, path: Path) -> None:
    fig = _new_figure()
    ax = fig.add_subplot()
    x = np.arange(len(table))
    if len(table):
        ax.plot(x, table["completeness_dla"], "o-", label="completeness (as DLA)")
        ax.plot(x, table["completeness_any"], "s--", label="completeness (any N)")
        ax.plot(x, table["purity"], "^-", label="purity")
        for xi, n in zip(x, table["n_true"]):
            ax.annotate(f"n={n}", (xi, 0.02), ha="center", fontsize=7, color="0.4")
    ax.set_xticks(x, _bin_labels(table) if len(table) else [])
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=110)


def _plot_hist(values: np.ndarray, xlabel: str, title: str, path: Path, stats: tuple[float, float]) -> None:
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


def _plot_reliability(report: VetReport, path: Path) -> None:
    rel = report.reliability
    fig = _new_figure(5.5, 5.5)
    ax = fig.add_subplot()
    ax.plot([0.0, 1.0], [0.0, 1.0], color="0.5", ls="--", lw=1, label="calibrated")
    has = np.asarray(rel["n"]) > 0
    if has.any():
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
    else:
        ax.text(0.5, 0.5, "no detection with a confidence", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
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

    Files: ``completeness_purity_snr.png``, ``completeness_purity_nhi.png``,
    ``dz_hist.png``, ``dlogn_hist.png`` (true DLA pairs),
    ``completeness_confidence.png`` and ``reliability.png`` (observed fraction of
    real detections against the mean confidence per bin, with counts and the ECE).

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
                 "Completeness and purity vs N_HI", paths["completeness_purity_nhi"])
    dla_pairs = report.matches["log_nhi_true"] >= report.dla_min
    _plot_hist(np.asarray(report.matches["dz"])[dla_pairs], "z_pred - z_true", "dz",
               paths["dz_hist"], (report.dz_median, report.dz_mad_std))
    _plot_hist(np.asarray(report.matches["dlogn"])[dla_pairs], "log N_pred - log N_true [dex]", "dlogN",
               paths["dlogn_hist"], (report.dlogn_median, report.dlogn_mad_std))
    _plot_confidence(report, paths["completeness_confidence"])
    _plot_reliability(report, paths["reliability"])
    return list(paths.values())
