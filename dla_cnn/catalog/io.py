"""Catalog files: one FITS file with two table HDUs, or a pair of ECSV files.

Writes are atomic (temporary file, then rename, via :mod:`dla_cnn.atomic`).  Provenance
``meta`` goes into the FITS headers (keywords listed in :mod:`dla_cnn.catalog`) or the
ECSV metadata, and comes back from :func:`read_catalog` as a dict.  Tables are conformed
to the schema of :mod:`dla_cnn.catalog.schema` on the way out and checked against it on
the way in, so what is written and what is read has the schema's columns, dtypes and
units.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.atomic import atomic_path
from dla_cnn.catalog.schema import (
    ABSORBER_COLUMNS,
    ABSORBERS_HDU,
    SIGHTLINE_COLUMNS,
    SIGHTLINES_HDU,
    _validate_pair,
)
from dla_cnn.exceptions import ConfigError, describe

__all__ = ["ecsv_paths", "read_catalog", "write_catalog"]

# provenance keys and their FITS keywords (the table in the dla_cnn.catalog docstring)
_META_KEYWORDS = {
    "dlacnn_version": "DLACNN_V",
    "model_name": "MODEL",
    "model_sha256": "MODELSHA",
    "stage2_sha256": "STG2SHA",
    "engine": "ENGINE",
    "created": "DATE",
    "command": "COMMAND",
}
_META_COMMENTS = {
    "DLACNN_V": "dla-cnn version that wrote the catalog",
    "MODEL": "model name",
    "MODELSHA": "sha256 of the model file",
    "STG2SHA": "sha256 of the absorber-level model file",
    "ENGINE": "inference engine (keras or onnx)",
    "DATE": "UTC creation time",
    "COMMAND": "command line",
}
_HIER = "DLACNN"
_THRESH = "THRESH"
_META_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")


# --------------------------------------------------------------------------- meta
def _ascii(text: Any) -> str:
    """Printable ASCII for FITS: control characters become spaces, others escapes."""
    s = str(text).encode("ascii", "backslashreplace").decode("ascii")
    return re.sub(r"[\x00-\x1f\x7f]", " ", s)


def _normalise_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    from dla_cnn import __version__

    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if value is None:
            continue
        if not _META_KEY_RE.match(str(key)):
            raise ValueError(f"meta key {key!r} is not an identifier")
        if key == "thresholds":
            if not isinstance(value, Mapping):
                raise ValueError("meta['thresholds'] must be a dict of name -> number")
            th = {}
            for name, v in value.items():
                if not _META_KEY_RE.match(str(name)):
                    raise ValueError(f"threshold name {name!r} is not an identifier")
                if v is not None:
                    th[str(name)] = _scalar(v, f"threshold {name!r}")
            out["thresholds"] = th
        else:
            out[str(key)] = _scalar(value, f"meta[{key!r}]")
    out["dlacnn_version"] = __version__
    if "created" not in out:
        out["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    out.setdefault("thresholds", {})
    return out


def _scalar(value: Any, what: str) -> Any:
    if isinstance(value, u.Quantity):
        value = value.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{what} must be a number, bool or string, not {type(value).__name__}")


def _meta_to_header(meta: Mapping[str, Any], header: fits.Header) -> None:
    for key, value in meta.items():
        if key == "thresholds":
            for name, v in value.items():
                header[f"HIERARCH {_HIER} {_THRESH} {name}"] = _ascii(v) if isinstance(v, str) else v
        elif key in _META_KEYWORDS:
            kw = _META_KEYWORDS[key]
            if isinstance(value, str):
                value = _ascii(value)
            # a comment only where it fits on the card (long strings use CONTINUE cards)
            short = not isinstance(value, str) or len(value) <= 24
            header[kw] = (value, _META_COMMENTS[kw]) if short else value
        else:
            header[f"HIERARCH {_HIER} {key}"] = _ascii(value) if isinstance(value, str) else value


def _header_to_meta(header: fits.Header) -> dict[str, Any]:
    reverse = {kw: key for key, kw in _META_KEYWORDS.items()}
    meta: dict[str, Any] = {}
    thresholds: dict[str, Any] = {}
    for kw in header:
        value = header[kw]
        if kw in reverse:
            meta[reverse[kw]] = value
            continue
        parts = kw.split(" ")
        if len(parts) == 3 and parts[0] == _HIER and parts[1] == _THRESH:
            thresholds[parts[2]] = value
        elif len(parts) == 2 and parts[0] == _HIER:
            meta[parts[1]] = value
    meta["thresholds"] = thresholds
    return meta


def _table_hdu(table: Table, name: str, meta: Mapping[str, Any]) -> fits.BinTableHDU:
    plain = Table(table, copy=True)
    plain.meta.clear()
    for spec in ABSORBER_COLUMNS if name == ABSORBERS_HDU else SIGHTLINE_COLUMNS:
        if np.dtype(spec.dtype).kind == "U":
            plain[spec.name] = np.array([_ascii(v) for v in plain[spec.name]], dtype=str)
            if len(plain) == 0:
                plain[spec.name] = np.zeros(0, dtype="U1")
            plain[spec.name].description = spec.description
    hdu = _described_hdu(plain)
    hdu.name = name
    for i, colname in enumerate(plain.colnames, start=1):
        hdu.header[f"TCOMM{i}"] = table[colname].description
    _meta_to_header(meta, hdu.header)
    return hdu


def _described_hdu(table: Table) -> fits.BinTableHDU:
    """A binary-table HDU that keeps the columns' astropy ``description``s.

    ``Table.write`` records descriptions in astropy's serialized-columns header block
    (COMMENT cards), which ``Table.read`` turns back into ``Column.description``;
    ``fits.table_to_hdu`` alone drops them.
    """
    buf = io.BytesIO()
    table.write(buf, format="fits")
    buf.seek(0)
    with fits.open(buf, memmap=False) as hdul:
        src = hdul[1]
        return fits.BinTableHDU(data=src.data.copy(), header=src.header.copy())


def _atomic_write(target: Path, writer) -> None:
    """Let ``writer`` create a hidden temporary file next to ``target``, then rename it."""
    with atomic_path(target) as tmp:
        writer(str(tmp))


def ecsv_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The two ECSV files of catalog ``path``: ``NAME.absorbers.ecsv``, ``NAME.sightlines.ecsv``.

    ``NAME`` is ``path`` without a trailing ``.ecsv`` (and without ``.absorbers`` /
    ``.sightlines``), so ``cat``, ``cat.ecsv`` and ``cat.absorbers.ecsv`` all name the
    same pair.

    Parameters
    ----------
    path : path-like
        Any name of the catalog: its base name or either ECSV file.

    Returns
    -------
    absorbers, sightlines : Path
        The ``ABSORBERS`` and ``SIGHTLINES`` ECSV files, next to ``path``.
    """
    p = Path(path)
    name = p.name
    for suffix in (".absorbers.ecsv", ".sightlines.ecsv", ".ecsv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(f"{name}.absorbers.ecsv"), p.with_name(f"{name}.sightlines.ecsv")


def write_catalog(
    path: str | os.PathLike,
    absorbers: Table,
    sightlines: Table,
    meta: Mapping[str, Any] | None = None,
    format: str = "fits",
) -> list[Path]:
    """Write a catalog atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        FITS file; for ``format="ecsv"`` the base name of the two ECSV files (see
        :func:`ecsv_paths`).
    absorbers, sightlines : `~astropy.table.Table`
        Tables with (at least) the :data:`ABSORBER_COLUMNS` / :data:`SIGHTLINE_COLUMNS`;
        they are written in schema order with schema dtypes and units (a column in a
        convertible unit is converted).  Extra columns and table ``meta`` are not
        written.
    meta : dict, optional
        Provenance, see :mod:`dla_cnn.catalog`.  ``dlacnn_version`` is always set to
        the writing version and ``created`` defaults to now (UTC).
    format : {"fits", "ecsv"}

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        Bad format, missing columns, bad ``type`` / ``status`` values or meta.
    """
    fmt = str(format).lower()
    if fmt not in ("fits", "ecsv"):
        raise ValueError(f"catalog format must be 'fits' or 'ecsv', not {format!r}")
    absorbers, sightlines = _validate_pair(absorbers, sightlines, ValueError, "catalog")
    full_meta = _normalise_meta(meta)

    if fmt == "fits":
        target = Path(path)
        primary = fits.PrimaryHDU()
        _meta_to_header(full_meta, primary.header)
        hdus = fits.HDUList(
            [
                primary,
                _table_hdu(absorbers, ABSORBERS_HDU, full_meta),
                _table_hdu(sightlines, SIGHTLINES_HDU, full_meta),
            ]
        )
        _atomic_write(target, lambda tmp: hdus.writeto(tmp, checksum=True))
        return [target]

    written = []
    for target, table, name in zip(ecsv_paths(path), (absorbers, sightlines), (ABSORBERS_HDU, SIGHTLINES_HDU)):
        out = Table(table, copy=False)
        out.meta = {"dlacnn_catalog": name, **full_meta}
        _atomic_write(target, lambda tmp, out=out: out.write(tmp, format="ascii.ecsv"))
        written.append(target)
    return written


# --------------------------------------------------------------------------- reading
def _is_fits(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b":  # gzip: trust the name
        return path.name.lower().endswith(_FITS_SUFFIXES)
    return head == b"SIMPLE  ="


def read_catalog(path: str | os.PathLike) -> tuple[Table, Table, dict[str, Any]]:
    """Read a dla-cnn catalog written by :func:`write_catalog`.

    Parameters
    ----------
    path : path-like
        The FITS file, or any name of an ECSV pair (see :func:`ecsv_paths`).

    Returns
    -------
    absorbers, sightlines : `~astropy.table.Table`
        In schema order, with units and descriptions; each table's ``meta`` is a copy
        of ``meta``.
    meta : dict
        Provenance (see :mod:`dla_cnn.catalog`), ``thresholds`` as a dict.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, or not a dla-cnn catalog (missing HDU or
        columns, bad ``type`` / ``status`` values).
    """
    p = Path(path)
    if p.is_file() and _is_fits(p):
        absorbers, sightlines, meta = _read_fits(p)
    else:
        a_path, s_path = ecsv_paths(p)
        missing = [q.name for q in (a_path, s_path) if not q.is_file()]
        if missing:
            if p.is_file():
                raise ConfigError(f"{p}: not a dla-cnn catalog (neither FITS nor an ECSV pair)")
            raise ConfigError(f"{p}: catalog file not found (nor ECSV {' / '.join(missing)})")
        absorbers, meta = _read_ecsv(a_path, ABSORBERS_HDU)
        sightlines, _ = _read_ecsv(s_path, SIGHTLINES_HDU)
    absorbers, sightlines = _validate_pair(absorbers, sightlines, ConfigError, f"{p}: not a dla-cnn catalog:")
    absorbers.meta = dict(meta)
    sightlines.meta = dict(meta)
    return absorbers, sightlines, meta


def _read_fits(path: Path) -> tuple[Table, Table, dict[str, Any]]:
    try:
        with fits.open(path) as hdul:
            names = [hdu.name for hdu in hdul]
            for name in (ABSORBERS_HDU, SIGHTLINES_HDU):
                if name not in names:
                    raise ConfigError(f"{path}: not a dla-cnn catalog: no {name} HDU (HDUs: {', '.join(names)})")
            meta = _header_to_meta(hdul[0].header)
            tables = [
                Table.read(hdul, hdu=name, mask_invalid=False, character_as_bytes=False)
                for name in (ABSORBERS_HDU, SIGHTLINES_HDU)
            ]
    except ConfigError:
        raise
    except Exception as err:  # corrupt or truncated file
        raise ConfigError(f"{path}: cannot read catalog: {describe(err)}") from None
    return tables[0], tables[1], meta


def _read_ecsv(path: Path, name: str) -> tuple[Table, dict[str, Any]]:
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as err:
        raise ConfigError(f"{path}: cannot read catalog: {describe(err)}") from None
    meta = dict(table.meta)
    kind = meta.pop("dlacnn_catalog", None)
    if kind is not None and kind != name:
        raise ConfigError(f"{path}: not a dla-cnn {name} table (it says {kind})")
    meta["thresholds"] = dict(meta.get("thresholds") or {})
    return table, meta
