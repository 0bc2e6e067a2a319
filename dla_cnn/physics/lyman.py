"""H I Lyman-series atomic data, taken from linetools' ``LineList('HI')``.

linetools is the source of the rest wavelengths, oscillator strengths and damping
constants (Ly-alpha 1215.6701 A, f = 0.4164, Gamma = 6.265e8 s^-1, ... down to the
series limit).  The table is read once per call of :func:`lyman_series`, which is
cached because it is a pure function of its argument.
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


@lru_cache(maxsize=1)
def _full_series() -> LymanSeries:
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
