"""Column coercion and sightline-id spelling shared by the vetting modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dla_cnn.columns import filled
from dla_cnn.ids import format_sightline_id, parse_sightline_id


def floats(column: Any) -> np.ndarray:
    """A (possibly masked) column as a float array, masked entries NaN.

    Parameters
    ----------
    column : array-like, Column or MaskedColumn
        Numbers of any dtype.

    Returns
    -------
    ndarray of float
    """
    return filled(column, np.nan, float).astype(float)


def strings(column: Any) -> np.ndarray:
    """A (possibly masked, possibly bytes) column as stripped ``str``, masked entries "".

    Parameters
    ----------
    column : array-like, Column or MaskedColumn
        Text, as ``str`` or ASCII bytes.

    Returns
    -------
    ndarray of str
    """
    arr = filled(column, "")
    if arr.dtype.kind == "S":
        arr = np.char.decode(arr, "ascii", errors="replace")
    return np.char.strip(arr.astype(str))


def canonical_ids(ids: Sequence[Any]) -> np.ndarray:
    """Sightline ids in one spelling: ``PLATE-MJD-FIBER`` ids re-padded, others stripped.

    Parameters
    ----------
    ids : sequence of str or bytes
        Sightline ids as a catalog or a truth list spells them.

    Returns
    -------
    ndarray of str
        ``7001-57001-12`` becomes ``7001-57001-0012``; ids of any other form (QSO
        names) are only stripped of surrounding blanks.
    """
    out = []
    for s in strings(ids):
        pmf = parse_sightline_id(s)
        out.append(format_sightline_id(*pmf) if pmf is not None else s)
    return np.array(out, dtype=str) if out else np.zeros(0, dtype="U1")
