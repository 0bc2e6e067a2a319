"""Population statistics of a catalog: N_HI, searched redshift path, line density.

Only ``ok`` sightlines count: a skipped or failed sightline contributes neither
absorbers nor path, so a failure never looks like a sightline without absorbers.
"""

from __future__ import annotations

from typing import NamedTuple

import astropy.units as u
import numpy as np
from astropy.stats import poisson_conf_interval
from astropy.table import Table

from dla_cnn.catalog.schema import ABSORBER_TYPES

__all__ = ["Incidence", "column_density", "dn_dz", "searched_path"]


def column_density(absorbers: Table) -> u.Quantity:
    """N_HI of each absorber as a `~astropy.units.Quantity` in cm^-2.

    Parameters
    ----------
    absorbers : `~astropy.table.Table`
        An ``ABSORBERS`` table (its ``log_nhi`` column is used).

    Returns
    -------
    `~astropy.units.Quantity`
        ``10**log_nhi`` in cm^-2, one value per row.
    """
    return (10.0 ** np.asarray(absorbers["log_nhi"], dtype=float)) * u.cm**-2


class Incidence(NamedTuple):
    """Line density of absorbers ``dn_dz = n / path`` with its 68.3% Poisson interval.

    ``lower`` and ``upper`` bound ``dn_dz`` (``astropy.stats.poisson_conf_interval``,
    frequentist-confidence: correct for small ``n``, where ``sqrt(n)`` is not); ``error``
    is half their distance.
    """

    dn_dz: float
    error: float
    n: int
    path: float
    lower: float = float("nan")
    upper: float = float("nan")


def _ok(sightlines: Table) -> np.ndarray:
    return np.char.strip(np.asarray(sightlines["status"], dtype=str)) == "ok"


def _path_per_sightline(sightlines: Table, z_range: tuple[float, float] | None) -> np.ndarray:
    zlo = np.asarray(sightlines["z_min"], dtype=float)
    zhi = np.asarray(sightlines["z_max"], dtype=float)
    if z_range is not None:
        zlo = np.maximum(zlo, z_range[0])
        zhi = np.minimum(zhi, z_range[1])
    dz = np.where(_ok(sightlines), zhi - zlo, 0.0)
    return np.clip(np.nan_to_num(dz, nan=0.0), 0.0, None)


def searched_path(sightlines: Table, z_range: tuple[float, float] | None = None) -> float:
    """Total redshift path ``sum(z_max - z_min)`` over the ``ok`` sightlines.

    Parameters
    ----------
    sightlines : `~astropy.table.Table`
        A ``SIGHTLINES`` table.
    z_range : (float, float), optional
        Count only the part of each path inside this absorber-redshift range.

    Returns
    -------
    float
        The summed redshift path; NaN limits and non-``ok`` rows contribute zero.
    """
    return float(_path_per_sightline(sightlines, z_range).sum())


def dn_dz(
    absorbers: Table,
    sightlines: Table,
    kind: str = "DLA",
    z_range: tuple[float, float] | None = None,
) -> Incidence:
    """Number of absorbers per unit redshift over the searched path of the ``ok`` rows.

    Parameters
    ----------
    absorbers, sightlines : `~astropy.table.Table`
        The two catalog tables.
    kind : {"DLA", "SUBDLA", "LYB", "any"}
        Absorber type to count; ``any`` counts DLA and SUBDLA.
    z_range : (float, float), optional
        Restrict absorbers and path to this redshift range.

    Returns
    -------
    Incidence
        ``(dn_dz, error, n, path, lower, upper)``; NaN rate when the path is zero.
    """
    types = ("DLA", "SUBDLA") if kind == "any" else (kind,)
    for t in types:
        if t not in ABSORBER_TYPES:
            raise ValueError(f"unknown absorber kind {kind!r}")
    ok_ids = np.asarray(sightlines["sightline_id"], dtype=str)[_ok(sightlines)]
    sel = np.isin(np.asarray(absorbers["sightline_id"], dtype=str), ok_ids)
    sel &= np.isin(np.asarray(absorbers["type"], dtype=str), types)
    if z_range is not None:
        z = np.asarray(absorbers["z_abs"], dtype=float)
        sel &= (z >= z_range[0]) & (z < z_range[1])
    n = int(sel.sum())
    path = searched_path(sightlines, z_range)
    if path <= 0:
        return Incidence(np.nan, np.nan, n, path)
    lo, hi = poisson_conf_interval(n, interval="frequentist-confidence")
    return Incidence(n / path, float(hi - lo) / 2.0 / path, n, path, float(lo) / path, float(hi) / path)

