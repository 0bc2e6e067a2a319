"""The median of a small 1-D array, without :func:`numpy.median`'s per-call overhead.

:func:`numpy.median` spends most of its time on a few hundred values in argument handling,
axis bookkeeping and :func:`numpy.mean`; the per-sightline normalisation, S/N and the local
S/N of each candidate call it tens of thousands of times per second.  :func:`median_1d`
partitions once and averages the two middle values the way :func:`numpy.median` does, so it
returns the same float to the bit.
"""

from __future__ import annotations

import numpy as np


def median_1d(x: np.ndarray) -> float:
    """Median of a 1-D float array, equal to ``float(np.median(x))`` to the bit.

    Parameters
    ----------
    x : ndarray (n,)
        Values; NaN anywhere gives NaN, as :func:`numpy.median` does.

    Returns
    -------
    float
        NaN for an empty array (where :func:`numpy.median` also warns).
    """
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    if n == 0:
        return float("nan")
    k = n // 2
    part = np.partition(x, [k - 1, k, n - 1] if n % 2 == 0 else [k, n - 1])
    if np.isnan(part[-1]):
        return float("nan")
    if n % 2:
        return float(part[k])
    return float((part[k - 1] + part[k]) / 2.0)
