"""How complete and pure a DLA list can be, given only the scatter of its log N_HI.

A catalog types each absorber by its *measured* column: DLA where log N_HI >= 20.3.  A
true DLA measured below the threshold is lost to the DLA list even when it was found and
placed exactly; a sub-DLA measured above it is a false DLA row.  Because the column
density distribution rises steeply towards low N_HI, many true DLAs lie just above the
threshold, and these losses set a ceiling on completeness that no decision stage can
lift.  :func:`typing_ceiling` gives that ceiling for a set of true absorbers: the
completeness and purity of an *ideal* finder that finds every absorber of log N_HI >=
``subdla_min``, finds nothing else, and measures each column with a Gaussian error.
:func:`sigma_for_completeness` inverts it: the largest log N_HI scatter at which the
ideal finder still reaches a completeness goal.

Caveats
-------
* The errors are Gaussian; a finder's are heavier-tailed (compare the robust
  ``1.4826 * MAD`` scatter with the standard deviation), so the ceiling at its robust
  scatter is optimistic.
* Purity is the ratio of expected counts, the limit of a large sample.
* Absorbers below ``subdla_min`` (Lyman-limit systems, the forest) never become DLA rows
  here; a real finder's false rows from noise and blends come on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from dla_cnn.constants import DLA_MIN_LOG_NHI

__all__ = ["TypingCeiling", "sigma_for_completeness", "typing_ceiling"]


@dataclass(frozen=True)
class TypingCeiling:
    """Completeness and purity of an ideal finder (see :func:`typing_ceiling`)."""

    completeness: float
    """Expected share of the wanted true DLAs typed DLA."""
    purity: float
    """Expected share of DLA rows whose true log N_HI is at least ``purity_min``."""
    n_true_dla: int
    """Wanted true DLAs (the completeness denominator)."""
    expected_dla_rows: float
    """Expected number of DLA rows."""


def _p_typed(log_nhi: np.ndarray, sigma: float | np.ndarray, bias: float, type_min: float) -> np.ndarray:
    """Probability that an absorber of true ``log_nhi`` is measured at or above ``type_min``."""
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), log_nhi.shape)
    margin = log_nhi + bias - type_min
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ndtr(margin / sigma)
    return np.where(sigma > 0, p, (margin >= 0).astype(float))


def typing_ceiling(
    true_log_nhi: np.ndarray,
    sigma: float | np.ndarray,
    *,
    wanted: np.ndarray | None = None,
    bias: float = 0.0,
    dla_min: float = DLA_MIN_LOG_NHI,
    type_min: float | None = None,
    purity_min: float = 20.0,
    subdla_min: float = 19.0,
) -> TypingCeiling:
    """Completeness and purity of a finder limited only by its log N_HI errors.

    Every true absorber with log N_HI >= ``subdla_min`` is found, measured at its true
    column plus ``bias`` plus a Gaussian error of ``sigma`` dex, and typed DLA where the
    measured column is at least ``type_min``.

    Parameters
    ----------
    true_log_nhi : array
        True columns, log10 cm^-2, of every absorber the finder could report.
    sigma : float or array
        1-sigma log N_HI error, dex (one value, or one per absorber, e.g. by S/N); 0 types
        each absorber by its true column.
    wanted : array of bool, optional
        The true absorbers the completeness counts (e.g. those on S/N >= 3 sightlines);
        only its true DLAs are used.  Default: all.
    bias : float
        Systematic offset of the measured columns, dex.
    dla_min : float
        True DLAs have log N_HI >= ``dla_min``.
    type_min : float, optional
        Measured column from which a row is typed DLA (default ``dla_min``).
    purity_min : float
        A DLA row is pure when its true log N_HI is at least this (the matching rule of
        ``dla-cnn vet`` and ``benchmarks/bench_detection.py``).
    subdla_min : float
        The ideal finder reports absorbers from this column up.

    Returns
    -------
    TypingCeiling
        NaN completeness when no wanted true DLA is given, NaN purity when no DLA row is
        expected.

    Examples
    --------
    A true DLA right at the threshold is typed DLA half of the time:

    >>> typing_ceiling([20.3], 0.1).completeness
    0.5
    """
    n = np.atleast_1d(np.asarray(true_log_nhi, dtype=float))
    wanted = np.ones(n.shape, dtype=bool) if wanted is None else np.broadcast_to(np.asarray(wanted, dtype=bool), n.shape)
    p = _p_typed(n, sigma, bias, dla_min if type_min is None else type_min)
    p = np.where(np.isfinite(n) & (n >= subdla_min), p, 0.0)
    dla = wanted & (n >= dla_min)
    rows = float(p.sum())
    return TypingCeiling(
        completeness=float(p[dla].mean()) if dla.any() else float("nan"),
        purity=float(p[n >= purity_min].sum() / rows) if rows > 0 else float("nan"),
        n_true_dla=int(dla.sum()),
        expected_dla_rows=rows,
    )


def sigma_for_completeness(
    true_log_nhi: np.ndarray,
    target: float,
    *,
    wanted: np.ndarray | None = None,
    dla_min: float = DLA_MIN_LOG_NHI,
    max_sigma: float = 2.0,
) -> float:
    """The largest unbiased log N_HI scatter at which an ideal finder, typing by the
    measured column at ``dla_min``, still reaches completeness ``target``.

    Parameters
    ----------
    true_log_nhi, wanted, dla_min
        As :func:`typing_ceiling`.
    target : float
        Completeness goal, in (0, 1).
    max_sigma : float
        Upper end of the search, dex.

    Returns
    -------
    float
        Dex; ``max_sigma`` when even that scatter reaches the goal, 0.0 when no scatter
        does (true DLAs exactly at the threshold count half), NaN without wanted true DLAs.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target completeness must be in (0, 1), got {target}")

    def gap(s: float) -> float:
        return typing_ceiling(true_log_nhi, s, wanted=wanted, dla_min=dla_min).completeness - target

    lo = 1e-6
    g_lo = gap(lo)
    if not np.isfinite(g_lo):
        return float("nan")
    if g_lo < 0:
        return 0.0
    if gap(max_sigma) >= 0:
        return float(max_sigma)
    return float(brentq(gap, lo, max_sigma, xtol=1e-5))
