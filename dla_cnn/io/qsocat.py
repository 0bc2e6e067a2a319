"""Quasar catalogs (DR12Q / DR16Q style, or DESI ``TARGETID, Z`` tables).

:func:`read_quasar_catalog` returns an astropy Table with normalised lower-case columns
``sightline_id, plate, mjd, fiber, ra, dec, z_qso, bal`` (plus ``thing_id`` and
``targetid`` when the input has them), whatever the input spelled them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.columns import filled
from dla_cnn.exceptions import ConfigError, describe
from dla_cnn.io._common import READ_ERRORS, find_name, sightline_id_from

Z_COLUMNS = ("z_qso", "Z", "Z_VI", "Z_PIPE", "Z_QSO", "REDSHIFT")
"""Redshift columns, in order of preference; per row the first valid (> 0) value wins."""

_FIBER = ("fiber", "FIBERID")
_RA = ("ra", "TARGET_RA", "PLUG_RA")
_DEC = ("dec", "TARGET_DEC", "PLUG_DEC")


_filled = filled


def _num(col, fill=np.nan) -> np.ndarray:
    return _filled(col, fill).astype(np.float64)


def normalize_quasar_catalog(table: Table, source: str = "quasar catalog") -> Table:
    """Normalise a quasar table's columns (see :func:`read_quasar_catalog`).

    Idempotent: a table it returned normalises to itself.
    """
    names = table.colnames
    n = len(table)

    def col(cands):
        name = find_name(names, cands)
        return None if name is None else table[name]

    z = np.full(n, np.nan)
    for cand in Z_COLUMNS:
        name = find_name(names, [cand])
        if name is None:
            continue
        vals = _num(table[name])
        take = ~(np.isfinite(z) & (z > 0)) & np.isfinite(vals) & (vals > 0)
        z[take] = vals[take]
    if find_name(names, Z_COLUMNS) is None:
        raise ConfigError(f"{source}: quasar catalog has no redshift column ({', '.join(Z_COLUMNS)})")

    plate, mjd, fiber = col(["plate"]), col(["mjd"]), col(_FIBER)
    targetid, sid = col(["targetid"]), col(["sightline_id"])
    out = Table()
    have_pmf = plate is not None and mjd is not None and fiber is not None
    out["plate"] = _filled(plate, -1).astype(np.int64) if plate is not None else np.full(n, -1, np.int64)
    out["mjd"] = _filled(mjd, -1).astype(np.int64) if mjd is not None else np.full(n, -1, np.int64)
    out["fiber"] = _filled(fiber, -1).astype(np.int64) if fiber is not None else np.full(n, -1, np.int64)
    if sid is not None:
        ids = [str(s).strip() for s in _filled(sid, "")]
    elif have_pmf:
        ids = [sightline_id_from(p, m, f) for p, m, f in zip(out["plate"], out["mjd"], out["fiber"])]
    elif targetid is not None:
        ids = [str(int(t)) for t in _filled(targetid, -1)]
    else:
        raise ConfigError(f"{source}: quasar catalog needs PLATE/MJD/FIBERID, TARGETID or sightline_id columns")
    out["sightline_id"] = ids
    ra, dec = col(_RA), col(_DEC)
    out["ra"] = _num(ra) if ra is not None else np.full(n, np.nan)
    out["dec"] = _num(dec) if dec is not None else np.full(n, np.nan)
    out["ra"].unit = out["dec"].unit = "deg"
    out["z_qso"] = z
    bal = np.zeros(n, dtype=bool)
    for cand, test in (("bal", lambda v: v > 0), ("BAL_FLAG_VI", lambda v: v > 0),
                       ("BI_CIV", lambda v: v > 0), ("BAL_PROB", lambda v: v >= 0.5)):
        c = col([cand])
        if c is not None:
            v = _num(c, 0.0)
            bal |= np.isfinite(v) & test(v)
    out["bal"] = bal
    thing_id = col(["thing_id"])
    if thing_id is not None:
        out["thing_id"] = _filled(thing_id, -1).astype(np.int64)
    if targetid is not None:
        out["targetid"] = _filled(targetid, -1).astype(np.int64)
    out.meta["source"] = source
    return out[["sightline_id"] + [c for c in out.colnames if c != "sightline_id"]]


def _table_hdu(path: str) -> int:
    """First binary-table HDU of a FITS file that has a redshift column."""
    with fits.open(path, memmap=False) as hdul:
        tables = [i for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU)]
        for i in tables:
            if find_name(hdul[i].columns.names, Z_COLUMNS) is not None:
                return i
    return tables[0] if tables else 1


def read_quasar_catalog(path: str | Path | Table, hdu: int | str | None = None) -> Table:
    """Read a quasar catalog and normalise its columns.

    Parameters
    ----------
    path : path or Table
        FITS (DR12Q, DR16Q, DESI redshift tables), ECSV or CSV file, or a Table.
    hdu : int or str, optional
        FITS HDU; default: the first table HDU with a redshift column.

    Returns
    -------
    Table
        Columns ``sightline_id`` (``PLATE-MJD-FIBER``, or ``str(TARGETID)``), ``plate``,
        ``mjd``, ``fiber`` (-1 when unknown), ``ra``, ``dec`` (deg), ``z_qso`` (first valid
        of Z, Z_VI, Z_PIPE; NaN if none), ``bal`` (BAL_FLAG_VI > 0 or BI_CIV > 0 or
        BAL_PROB >= 0.5), and ``thing_id`` (SDSS ``THING_ID``) and ``targetid`` (DESI
        ``TARGETID``) where the input has them (-1 in rows without one).

    Raises
    ------
    ConfigError
        If the file cannot be read or lacks the redshift / identifier columns.
    """
    if isinstance(path, Table):
        return normalize_quasar_catalog(path)
    path = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"{path}: quasar catalog not found")
    low = path.lower()
    try:
        if low.endswith((".fits", ".fit", ".fits.gz", ".fit.gz", ".fz")):
            table = Table.read(path, hdu=_table_hdu(path) if hdu is None else hdu)
        elif low.endswith(".ecsv"):
            table = Table.read(path, format="ascii.ecsv")
        elif low.endswith(".csv"):
            table = Table.read(path, format="ascii.csv")
        else:
            table = Table.read(path)
    except READ_ERRORS as exc:
        raise ConfigError(f"{path}: cannot read quasar catalog ({describe(exc)})") from None
    return normalize_quasar_catalog(table, source=path)


class RedshiftMap(dict):
    """``{sightline_id: z_qso}`` that also remembers the catalog's survey object ids.

    ``object_ids`` maps the same keys to ``(ra, dec, thing_id, targetid)`` (NaN / -1 when
    the catalog does not know them); readers fill what a spectrum file lacks from it
    (see :func:`fill_catalog_ids`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.object_ids: dict[str, tuple[float, float, int, int]] = {}


def redshift_lookup(catalog: Table | str | Path) -> RedshiftMap:
    """``{sightline_id: z_qso}`` for the catalog rows with a valid redshift.

    Parameters
    ----------
    catalog : Table, str or Path
        A quasar catalog file or table, read through :func:`read_quasar_catalog`.

    Returns
    -------
    RedshiftMap
        Quasar redshift by sightline id (a dict), for the rows whose ``z_qso`` is finite
        and > 0.  DESI tables with a ``targetid`` column also get ``str(TARGETID)`` keys
        (for non-negative TARGETIDs).  Its ``object_ids`` hold each row's RA, Dec,
        THING_ID and TARGETID under the same keys.

    Raises
    ------
    ConfigError
        If the catalog cannot be read or lacks the redshift / identifier columns.
    """
    cat = read_quasar_catalog(catalog)
    z = np.asarray(cat["z_qso"], dtype=float)
    ok = np.isfinite(z) & (z > 0)
    sids = np.asarray(cat["sightline_id"])[ok].tolist()
    out = RedshiftMap(zip(sids, z[ok].tolist()))
    n = int(ok.sum())
    thing = np.asarray(cat["thing_id"])[ok] if "thing_id" in cat.colnames else np.full(n, -1)
    tid = np.asarray(cat["targetid"])[ok] if "targetid" in cat.colnames else np.full(n, -1)
    ids = list(zip(np.asarray(cat["ra"], float)[ok].tolist(), np.asarray(cat["dec"], float)[ok].tolist(),
                   thing.astype(np.int64).tolist(), tid.astype(np.int64).tolist()))
    out.object_ids.update(zip(sids, ids))
    if "targetid" in cat.colnames:  # DESI redshift tables: also by TARGETID
        for t, zz, obj in zip(tid.tolist(), z[ok].tolist(), ids):
            if t >= 0:
                out[str(int(t))] = zz
                out.object_ids[str(int(t))] = obj
    return out


def fill_catalog_ids(item, zmap: Mapping | None):
    """Fill a sightline's unknown RA/Dec, ``thing_id`` and ``targetid`` from a quasar catalog.

    What the spectrum file gives is kept; only NaN positions and -1 ids are replaced,
    from the catalog row with the same sightline id.

    Parameters
    ----------
    item : Sightline or SightlineError
        Errors and sightlines the catalog does not list pass through unchanged.
    zmap : mapping, optional
        A :class:`RedshiftMap` from :func:`redshift_lookup`; other mappings carry no ids.

    Returns
    -------
    Sightline or SightlineError
        The same ``item``.
    """
    ids = getattr(zmap, "object_ids", None)
    if not ids or not hasattr(item, "thing_id"):
        return item
    row = ids.get(str(item.sightline_id))
    if row is None:
        return item
    ra, dec, thing_id, targetid = row
    if not (np.isfinite(item.ra) and np.isfinite(item.dec)) and np.isfinite(ra) and np.isfinite(dec):
        item.ra, item.dec = float(ra), float(dec)
    if item.thing_id < 0 and thing_id >= 0:
        item.thing_id = int(thing_id)
    if item.targetid < 0 and targetid >= 0:
        item.targetid = int(targetid)
    return item


def catalog_redshift(catalog: Table | Mapping[str, float], plate: int, mjd: int, fiber: int) -> float | None:
    """Quasar redshift of ``(plate, mjd, fiber)`` in a catalog, or None if absent.

    ``catalog`` is a table from :func:`read_quasar_catalog` (or any table it normalises)
    or a mapping from :func:`redshift_lookup`.  For repeated look-ups build the mapping
    once.

    Parameters
    ----------
    catalog : Table or mapping of str to float
        The quasar catalog, or a ``{sightline_id: z_qso}`` mapping.
    plate : int
        SDSS/BOSS plate number.
    mjd : int
        Modified Julian Date of the observation.
    fiber : int
        Fiber number on the plate.

    Returns
    -------
    float or None
        The quasar redshift stored under the sightline id ``PLATE-MJD-FIBER``, or None
        if the catalog has no such entry (or no valid redshift for it).
    """
    zmap = catalog if isinstance(catalog, Mapping) else redshift_lookup(catalog)
    z = zmap.get(sightline_id_from(plate, mjd, fiber))
    return None if z is None else float(z)


def as_redshift_map(catalog: Table | Mapping | str | Path | None) -> Mapping | None:
    """Turn a caller's quasar catalog (path, Table or mapping) into a redshift mapping."""
    if catalog is None or isinstance(catalog, Mapping):
        return catalog
    return redshift_lookup(catalog)
