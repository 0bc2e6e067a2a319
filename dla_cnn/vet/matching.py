"""Pair detections with true absorbers: same sightline, nearest redshift first, one to one."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dla_cnn.vet._common import canonical_ids, floats

__all__ = ["match"]


def _candidate_pairs(d_ids: np.ndarray, t_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, truth) index pair that shares a sightline, by detection index."""
    _, codes = np.unique(np.concatenate([d_ids, t_ids]), return_inverse=True)
    d_code, t_code = codes[: len(d_ids)], codes[len(d_ids):]
    order = np.argsort(t_code, kind="stable")
    sorted_codes = t_code[order]
    lo = np.searchsorted(sorted_codes, d_code, side="left")
    counts = np.searchsorted(sorted_codes, d_code, side="right") - lo
    det = np.repeat(np.arange(len(d_ids)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return det, order[np.repeat(lo, counts) + offset]


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
    d_z, t_z = floats(detections["z_abs"]), floats(truth["z_abs"])
    empty = np.zeros(0, dtype=int)
    if len(d_z) == 0 or len(t_z) == 0:
        return empty, empty.copy()
    det, tru = _candidate_pairs(d_ids, t_ids)
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
