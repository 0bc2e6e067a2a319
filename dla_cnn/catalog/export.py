"""Catalogs in other programs' formats: ``dla-cnn export CATALOG --format FORMAT``.

``picca``
    The DLA catalog that picca's delta extraction masks DLAs with
    (``picca.delta_extraction.masks.dla_mask.DlaMask``, option ``mask file``/``filename``):
    one FITS binary table, HDU ``DLACAT``, one row per absorber, with

    ==============  =======  ===================================================
    column          dtype    meaning
    ==============  =======  ===================================================
    ``THING_ID``    int64    SDSS/BOSS line of sight (picca ``los_id name`` THING_ID)
    or ``TARGETID`` int64    DESI line of sight (picca ``los_id name`` TARGETID)
    ``Z``           float64  absorber redshift
    ``NHI``         float64  log10 of N_HI in cm^-2
    ``DLAID``       int64    unique absorber id, 1..n
    ``Z_QSO``       float64  quasar redshift
    ``CONFIDENCE``  float64  calibrated probability that the absorber is real
    ``TYPE``        str      DLA or SUBDLA (dla-cnn ``type``)
    ``Z_ERR``       float64  1-sigma error of Z
    ``NHI_ERR``     float64  1-sigma error of NHI, dex
    ``RA``, ``DEC`` float64  deg
    ``PLATE``, ``MJD``, ``FIBERID``  int64  SDSS ids (-1 when unknown)
    ``SIGHTLINE_ID`` str     the dla-cnn sightline id
    ==============  =======  ===================================================

    Rows are sorted by line of sight, then redshift, as picca's own converters write
    them.  Ly-beta rows (``type`` LYB, the Ly-beta line of an absorber already listed)
    are never exported; the cuts are ``log_nhi >= min_log_nhi`` and, when given,
    ``confidence >= min_confidence``.  The header records the cuts, the id column and
    the source catalog's provenance.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Column, Table

from dla_cnn.atomic import atomic_path
from dla_cnn.catalog.io import _ascii, _described_hdu, read_catalog
from dla_cnn.catalog.schema import ABSORBER_COLUMNS, SIGHTLINE_COLUMNS, _conform
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.exceptions import ConfigError

__all__ = ["EXPORT_FORMATS", "PICCA_HDU", "PiccaExport", "export_picca"]

PICCA_HDU = "DLACAT"
"""The HDU picca's DLA mask reads."""

ID_COLUMNS = {"THING_ID": "thing_id", "TARGETID": "targetid"}
"""picca line-of-sight id column -> dla-cnn catalog column."""

EXPORT_FORMATS = {"picca": "picca's DLA catalog (HDU DLACAT) for masking DLAs in the delta extraction"}
"""Formats of ``dla-cnn export``."""

_SHOWN = 5  # sightline ids named in an error message


@dataclass(frozen=True)
class PiccaExport:
    """What :func:`export_picca` wrote."""

    path: Path
    n_dla: int
    """Absorbers written."""
    n_los: int
    """Lines of sight with at least one absorber."""
    id_column: str
    """``THING_ID`` or ``TARGETID``."""


def _tables(catalog: Any) -> tuple[Table, Table | None, dict, str]:
    """(absorbers, sightlines or None, meta, name) from a path, a table pair or an ABSORBERS table."""
    if isinstance(catalog, (str, os.PathLike)):
        absorbers, sightlines, meta = read_catalog(catalog)
        return absorbers, sightlines, meta, str(catalog)
    if isinstance(catalog, Table):
        absorbers, sightlines = catalog, None
    elif isinstance(catalog, Sequence) and len(catalog) in (2, 3) and isinstance(catalog[0], Table):
        absorbers, sightlines = catalog[0], catalog[1]
    else:
        raise ConfigError("export: give a catalog path, an (absorbers, sightlines) pair or an ABSORBERS table")
    absorbers = _conform(absorbers, ABSORBER_COLUMNS, "ABSORBERS", ConfigError)
    if sightlines is not None:
        sightlines = _conform(sightlines, SIGHTLINE_COLUMNS, "SIGHTLINES", ConfigError)
    return absorbers, sightlines, dict(absorbers.meta), "catalog"


def _choose_id(requested: str, rows: Table, sightlines: Table | None, name: str) -> str:
    """THING_ID or TARGETID: the one asked for, else the one the rows (or sightlines) know."""
    req = str(requested).strip().upper()
    if req in ID_COLUMNS:
        return req
    if req != "AUTO":
        raise ConfigError(f"export: id column must be auto, THING_ID or TARGETID (got {requested!r})")
    for table in (rows, sightlines):
        if table is None or len(table) == 0:
            continue
        known = {col: int((np.asarray(table[key]) >= 0).sum()) for col, key in ID_COLUMNS.items()}
        if known["THING_ID"] or known["TARGETID"]:
            return "TARGETID" if known["TARGETID"] > known["THING_ID"] else "THING_ID"
        if table is rows:
            ids = _first_ids(rows)
            raise ConfigError(f"{name}: no THING_ID or TARGETID for any of the {len(rows)} absorbers to export "
                              f"(sightlines {ids}); picca matches DLAs to lines of sight by one of them")
    return "THING_ID"


def _first_ids(rows: Table) -> str:
    ids = list(dict.fromkeys(str(s) for s in rows["sightline_id"]))
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(ids[:_SHOWN]) + more


def export_picca(
    catalog: str | os.PathLike | Table | tuple[Table, Table],
    out: str | os.PathLike,
    min_log_nhi: float = DLA_MIN_LOG_NHI,
    min_confidence: float | None = None,
    id_column: str = "auto",
) -> PiccaExport:
    """Write a catalog's absorbers as picca's DLA catalog (FITS, HDU ``DLACAT``).

    Parameters
    ----------
    catalog : path, (absorbers, sightlines) or Table
        A dla-cnn catalog file (FITS or ECSV), its two tables, or an ``ABSORBERS`` table.
    out : path
        The FITS file to write (atomically: a reader never sees half a file).
    min_log_nhi : float
        Export absorbers with ``log_nhi >= min_log_nhi`` (default 20.3, the DLAs).
    min_confidence : float, optional
        Export absorbers with ``confidence >= min_confidence`` (0..1); default: every
        absorber in the catalog (which holds those above the finder's threshold).
    id_column : {"auto", "THING_ID", "TARGETID"}
        picca's line-of-sight id (its ``los_id name`` option).  ``auto``: the one the
        exported absorbers carry (THING_ID for SDSS/BOSS, TARGETID for DESI).

    Returns
    -------
    PiccaExport
        The path written, the numbers of absorbers and lines of sight, the id column.

    Raises
    ------
    ConfigError
        Unreadable catalog, a bad option, or absorbers to export that lack the id
        (the message names their sightlines).
    """
    if min_confidence is not None and not 0.0 <= float(min_confidence) <= 1.0:
        raise ConfigError(f"export: --min-confidence must be within 0..1 (got {min_confidence})")
    if not np.isfinite(float(min_log_nhi)):
        raise ConfigError(f"export: --min-log-nhi must be a number (got {min_log_nhi})")
    absorbers, sightlines, meta, name = _tables(catalog)

    log_nhi = np.asarray(absorbers["log_nhi"], dtype=float)
    z_abs = np.asarray(absorbers["z_abs"], dtype=float)
    keep = (np.asarray(absorbers["type"]).astype(str) != "LYB") & np.isfinite(z_abs) & np.isfinite(log_nhi)
    keep &= log_nhi >= float(min_log_nhi)
    if min_confidence is not None:
        keep &= np.asarray(absorbers["confidence"], dtype=float) >= float(min_confidence)
    rows = absorbers[keep]

    id_name = _choose_id(id_column, rows, sightlines, name)
    los = np.asarray(rows[ID_COLUMNS[id_name]], dtype=np.int64)
    lacking = los < 0
    if lacking.any():
        raise ConfigError(f"{name}: {int(lacking.sum())} of {len(rows)} absorbers to export have no {id_name} "
                          f"(sightlines {_first_ids(rows[lacking])}); picca matches DLAs to lines of sight by "
                          f"{id_name}")
    order = np.lexsort((np.asarray(rows["z_abs"], dtype=float), los))
    rows, los = rows[order], los[order]

    def col(values, dtype, description, unit=None):
        return Column(np.asarray(values, dtype=dtype), unit=unit, description=description)

    n = len(rows)
    dlacat = Table()
    dlacat[id_name] = col(los, np.int64, f"line-of-sight id ({'SDSS/BOSS' if id_name == 'THING_ID' else 'DESI'} "
                                         f"{id_name})")
    dlacat["Z"] = col(rows["z_abs"], np.float64, "absorber redshift")
    dlacat["NHI"] = col(rows["log_nhi"], np.float64, "log10 of the H I column density in cm^-2")
    dlacat["DLAID"] = col(np.arange(1, n + 1), np.int64, "unique absorber id in this file")
    dlacat["Z_QSO"] = col(rows["z_qso"], np.float64, "quasar redshift")
    dlacat["CONFIDENCE"] = col(rows["confidence"], np.float64, "calibrated probability that the absorber is real")
    dlacat["TYPE"] = col(np.asarray(rows["type"]).astype(str) if n else np.zeros(0, "U6"), str,
                         "DLA or SUBDLA (dla-cnn type)")
    dlacat["Z_ERR"] = col(rows["z_abs_err"], np.float64, "1-sigma error of Z")
    dlacat["NHI_ERR"] = col(rows["log_nhi_err"], np.float64, "1-sigma error of NHI, dex")
    dlacat["RA"] = col(rows["ra"], np.float64, "right ascension (ICRS)", u.deg)
    dlacat["DEC"] = col(rows["dec"], np.float64, "declination (ICRS)", u.deg)
    dlacat["PLATE"] = col(rows["plate"], np.int64, "SDSS plate (-1 when unknown)")
    dlacat["MJD"] = col(rows["mjd"], np.int64, "SDSS MJD (-1 when unknown)")
    dlacat["FIBERID"] = col(rows["fiber"], np.int64, "SDSS fiber (-1 when unknown)")
    sids = [_ascii(s) for s in rows["sightline_id"]]
    dlacat["SIGHTLINE_ID"] = col(sids if n else np.zeros(0, "U1"), str, "dla-cnn sightline id")

    hdu = _described_hdu(dlacat)
    hdu.name = PICCA_HDU
    for i, colname in enumerate(dlacat.colnames, start=1):
        hdu.header[f"TCOMM{i}"] = dlacat[colname].description
    _export_header(hdu.header, meta, name, id_name, min_log_nhi, min_confidence)
    target = Path(out)
    with atomic_path(target) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, checksum=True)
    return PiccaExport(target, n, int(np.unique(los).size), id_name)


def _export_header(header: fits.Header, meta: dict, name: str, id_name: str, min_log_nhi: float,
                   min_confidence: float | None) -> None:
    from dla_cnn import __version__

    header["LOSID"] = (id_name, "line-of-sight id column (picca los_id name)")
    header["MINLOGN"] = (float(min_log_nhi), "exported absorbers have NHI >= MINLOGN")
    if min_confidence is not None:
        header["MINCONF"] = (float(min_confidence), "exported absorbers have CONFIDENCE >= MINCONF")
    header["DLACNN_V"] = (__version__, "dla-cnn version that wrote this file")
    for key, kw in (("model_name", "MODEL"), ("model_sha256", "MODELSHA"), ("created", "CATDATE")):
        if meta.get(key):
            header[kw] = _ascii(meta[key])
    header["SOURCE"] = _ascii(name)
