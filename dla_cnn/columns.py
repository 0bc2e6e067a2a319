"""Table columns as the readers, the catalog code and the truth readers all need them.

* :func:`find_name` -- the first of several aliases present among a table's column names;
* :func:`filled` -- a possibly masked column as a plain array with masked entries filled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np


def normalise_name(name: str) -> str:
    """Lower case, every run of non-alphanumerics one underscore (``Z_VI`` == ``z-vi``)."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def find_name(names: Iterable[str], candidates: Iterable[str], fuzzy: bool = False) -> str | None:
    """The first of ``candidates`` present in ``names``, as spelled in ``names``.

    Parameters
    ----------
    names : iterable of str
        Column names of a table.
    candidates : iterable of str
        Aliases in order of preference.
    fuzzy : bool
        Compare :func:`normalise_name` forms instead of lower-case names.

    Returns
    -------
    str or None
    """
    key = normalise_name if fuzzy else str.lower
    stored: dict[str, str] = {}
    for n in names:
        stored.setdefault(key(n), n)
    for c in candidates:
        if key(c) in stored:
            return stored[key(c)]
    return None


def filled(column: Any, fill: Any, dtype: Any = None) -> np.ndarray:
    """A (possibly masked) column as a plain ndarray, masked entries set to ``fill``.

    Parameters
    ----------
    column : array-like, Column or MaskedColumn
    fill : scalar
        Value for masked entries (NaN, -1, "" ...).
    dtype : numpy dtype, optional
        Convert before filling (e.g. ``float`` so NaN fits an integer column).

    Returns
    -------
    ndarray
    """
    data = np.ma.asarray(column)
    if dtype is not None:
        data = data.astype(dtype)
    return np.asarray(data.filled(fill)) if np.ma.is_masked(data) else np.asarray(data)
