"""H I Lyman-series atomic data, taken from linetools' ``LineList('HI')``.

linetools is the source of the rest wavelengths, oscillator strengths and damping
constants (Ly-alpha 1215.67 A, f = 0.4164, Gamma = 6.265e8 s^-1, ... down to the
series limit).  Reading linetools' line lists costs about half a second per process, so
:data:`HI_LYMAN_TABLE` keeps a copy of the 30 lines with ``f > 0``;
``tests/test_physics.py`` checks that it equals :func:`linetools_series` value for value.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class LymanSeries:
    """Rest wavelengths (A), oscillator strengths and damping constants (s^-1), Ly-alpha first."""

    wrest: np.ndarray
    f: np.ndarray
    gamma: np.ndarray

    def __len__(self) -> int:
        return int(self.wrest.size)

    def head(self, n: int) -> "LymanSeries":
        """The first ``n`` lines (Ly-alpha, Ly-beta, ...)."""
        return LymanSeries(self.wrest[:n], self.f[:n], self.gamma[:n])


def lyman_series(n_lines: int | None = None) -> LymanSeries:
    """The H I Lyman series from linetools, strongest (Ly-alpha) first.

    Parameters
    ----------
    n_lines : int, optional
        Keep only the first ``n_lines`` transitions (all ~30 by default; 0 also
        keeps all).

    Returns
    -------
    LymanSeries
        Rest wavelengths (Angstrom), oscillator strengths and damping constants
        (s^-1) of the lines with ``f > 0``, in order of decreasing rest wavelength.
    """
    series = _full_series()
    return series.head(n_lines) if n_lines else series


HI_LYMAN_TABLE: tuple[tuple[float, float, float], ...] = (
    (1215.67, 0.4164, 6.265e8),
    (1025.7222, 0.07914, 1.897e8),
    (972.5367, 0.02901, 8.127e7),
    (949.743, 0.01395, 4.204e7),
    (937.8034, 0.007803, 2.45e7),
    (930.7482, 0.004816, 1.236e7),
    (926.2256, 0.003185, 8.255e6),
    (923.1503, 0.002217, 5.785e6),
    (920.963, 0.001606, 4.21e6),
    (919.3513, 0.001201, 3.16e6),
    (918.1293, 0.0009219, 2.432e6),
    (917.1805, 0.0007231, 1.911e6),
    (916.4291, 0.0005777, 1.529e6),
    (915.8238, 0.0004689, 1.243e6),
    (915.3289, 0.0003858, 1.024e6),
    (914.9192, 0.0003212, 8.533e5),
    (914.5762, 0.0002703, 7.186e5),
    (914.2861, 0.0002297, 6.109e5),
    (914.0385, 0.0001968, 5.237e5),
    (913.8256, 0.0001699, 4.523e5),
    (913.6411, 0.0001477, 3.933e5),
    (913.4803, 0.0001293, 3.444e5),
    (913.3391, 0.0001137, 3.031e5),
    (913.2146, 0.0001006, 2.681e5),
    (913.1042, 8.936e-05, 2.383e5),
    (913.0059, 7.978e-05, 2.128e5),
    (912.9179, 7.148e-05, 1.907e5),
    (912.8389, 6.435e-05, 1.717e5),
    (912.7676, 5.812e-05, 1.551e5),
    (912.7032, 5.264e-05, 1.405e5),
)
"""``(wrest A, f, Gamma s^-1)`` of linetools' H I lines with ``f > 0``, by decreasing wavelength."""


@lru_cache(maxsize=1)
def _full_series() -> LymanSeries:
    wrest, f, gamma = (np.array(col) for col in zip(*HI_LYMAN_TABLE))
    for arr in (wrest, f, gamma):
        arr.flags.writeable = False
    return LymanSeries(wrest, f, gamma)


def linetools_series() -> LymanSeries:
    """The H I Lyman series read from linetools' ``LineList('HI')`` (slow; see :data:`HI_LYMAN_TABLE`).

    Returns
    -------
    LymanSeries
        Lines with ``f > 0`` in order of decreasing rest wavelength.
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from linetools.lists.linelist import LineList

        data = LineList("HI", verbose=False)._data
    order = np.argsort(np.asarray(data["wrest"], dtype=float))[::-1]
    wrest = np.asarray(data["wrest"], dtype=float)[order]
    f = np.asarray(data["f"], dtype=float)[order]
    gamma = np.asarray(data["gamma"], dtype=float)[order]
    keep = f > 0
    return LymanSeries(wrest[keep], f[keep], gamma[keep])
