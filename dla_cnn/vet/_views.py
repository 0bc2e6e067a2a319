"""The catalog and the truth as :func:`dla_cnn.vet.vet` sees them, and their pairing.

* :func:`sightline_view` -- the catalog's ``ok`` sightlines and their S/N;
* :func:`truth_view` -- the true absorbers on them, with their class;
* :func:`detection_view` -- the detections that count (non-LYB, on ok sightlines);
* :func:`pair` -- :func:`~dla_cnn.vet.match` applied to those, and what each pair recovers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from dla_cnn.vet._common import canonical_ids, floats, strings
from dla_cnn.vet.matching import match

__all__ = ["Detections", "Pairs", "Sightlines", "Truth", "detection_view", "pair", "sightline_view", "truth_view"]


@dataclass
class Sightlines:
    """The catalog's sightlines: every id, the ``ok`` ones and their S/N."""

    ids: np.ndarray  # canonical id of every catalog row
    ok_ids: np.ndarray  # unique ids of the ok sightlines
    snr_of: dict[str, float]  # S/N of each ok sightline
    ok_snr: np.ndarray  # S/N of each of ok_ids


@dataclass
class Truth:
    """The true absorbers; the arrays past ``table`` are per row of ``table``."""

    ids: np.ndarray  # canonical sightline id of every truth row
    in_catalog: np.ndarray  # per truth row: its sightline is in the catalog
    ok: np.ndarray  # per truth row: its sightline is ok
    table: Table  # the rows on ok sightlines
    logn: np.ndarray
    is_dla: np.ndarray
    is_sub: np.ndarray
    snr: np.ndarray


@dataclass
class Detections:
    """The non-LYB detections on ok sightlines; the arrays past ``index`` are per row of ``table``."""

    on_ok: np.ndarray  # per catalog row: on an ok sightline
    lyb: np.ndarray  # per catalog row: an LYB on an ok sightline
    table: Table  # the detections that count
    index: np.ndarray  # their catalog row
    logn: np.ndarray
    is_dla: np.ndarray  # a predicted DLA
    conf: np.ndarray
    snr: np.ndarray


@dataclass
class Pairs:
    """The matched pairs (``det[k]``, ``tru[k]``) and what they say of each side."""

    det: np.ndarray  # detection index of each pair
    tru: np.ndarray  # truth index of each pair
    t_match: np.ndarray  # per true absorber: its detection, -1 if none
    t_any: np.ndarray  # per true absorber: recovered at any log N_HI
    t_as_dla: np.ndarray  # per true absorber: recovered as a DLA
    d_matched: np.ndarray  # per detection: matched
    pure: np.ndarray  # per detection: matched to a true log N_HI >= purity_min
    dz: np.ndarray  # per pair: z_pred - z_true
    dlogn: np.ndarray  # per pair: log N_pred - log N_true


def sightline_view(catalog_sightlines: Table, truth: Table) -> Sightlines:
    """The ok sightlines and their S/N, filled from the truth list where the catalog has none."""
    sl_ids = canonical_ids(catalog_sightlines["sightline_id"])
    sl_ok = strings(catalog_sightlines["status"]) == "ok"
    ok_ids = np.unique(sl_ids[sl_ok])
    snr_of = dict(zip(sl_ids[sl_ok], floats(catalog_sightlines["snr"])[sl_ok]))
    if "snr" in truth.colnames:  # fill S/N the catalog lacks from the truth list
        for sid, s in zip(canonical_ids(truth["sightline_id"]), floats(truth["snr"])):
            if sid in snr_of and not np.isfinite(snr_of[sid]) and np.isfinite(s):
                snr_of[sid] = s
    ok_snr = np.array([snr_of[s] for s in ok_ids], dtype=float)
    return Sightlines(sl_ids, ok_ids, snr_of, ok_snr)


def truth_view(truth: Table, sl: Sightlines, dla_min: float, subdla_min: float) -> Truth:
    """The true absorbers on ok sightlines, with their class and their sightline's S/N."""
    t_ids = canonical_ids(truth["sightline_id"])
    t_ok = np.isin(t_ids, sl.ok_ids)
    truth_ok = truth[t_ok]
    t_logn = floats(truth_ok["log_nhi"])
    t_dla = t_logn >= dla_min
    return Truth(
        ids=t_ids,
        in_catalog=np.isin(t_ids, sl.ids),
        ok=t_ok,
        table=truth_ok,
        logn=t_logn,
        is_dla=t_dla,
        is_sub=(t_logn >= subdla_min) & ~t_dla,
        snr=np.array([sl.snr_of[s] for s in t_ids[t_ok]], dtype=float),
    )


def detection_view(catalog_absorbers: Table, sl: Sightlines, dla_min: float) -> Detections:
    """The non-LYB detections on ok sightlines; a predicted DLA by log N_HI, else by type."""
    d_ids = canonical_ids(catalog_absorbers["sightline_id"])
    d_ok = np.isin(d_ids, sl.ok_ids)
    d_type = np.char.upper(strings(catalog_absorbers["type"]))
    lyb = d_ok & (d_type == "LYB")
    use = d_ok & ~lyb
    det = catalog_absorbers[use]
    p_logn = floats(det["log_nhi"])
    return Detections(
        on_ok=d_ok,
        lyb=lyb,
        table=det,
        index=np.nonzero(use)[0],
        logn=p_logn,
        is_dla=np.where(np.isfinite(p_logn), p_logn >= dla_min, d_type[use] == "DLA"),
        conf=floats(det["confidence"]),
        snr=np.array([sl.snr_of[s] for s in d_ids[use]], dtype=float),
    )


def pair(dets: Detections, truth: Truth, dz: float, purity_min: float) -> Pairs:
    """Match the detections to the true absorbers and mark what each pair recovers."""
    di, ti = match(dets.table, truth.table, dz=dz)
    d_match = np.full(len(dets.table), -1)
    d_match[di] = ti
    t_match = np.full(len(truth.table), -1)
    t_match[ti] = di
    t_as_dla = np.zeros(len(truth.table), dtype=bool)
    t_as_dla[ti] = dets.is_dla[di]
    pure = np.zeros(len(dets.table), dtype=bool)
    pure[di] = truth.logn[ti] >= purity_min
    return Pairs(
        det=di,
        tru=ti,
        t_match=t_match,
        t_any=t_match >= 0,
        t_as_dla=t_as_dla,
        d_matched=d_match >= 0,
        pure=pure,
        dz=floats(dets.table["z_abs"])[di] - floats(truth.table["z_abs"])[ti],
        dlogn=dets.logn[di] - truth.logn[ti],
    )
