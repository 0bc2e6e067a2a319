"""The dla-cnn catalog contract: two tables, ``ABSORBERS`` and ``SIGHTLINES``.

A catalog is one FITS file with an empty primary HDU and two binary-table HDUs named
``ABSORBERS`` and ``SIGHTLINES``; each HDU reads on its own with
``Table.read(path, hdu="ABSORBERS")`` and every physical column carries its astropy unit.
On request the same tables are written as two ECSV files, ``NAME.absorbers.ecsv`` and
``NAME.sightlines.ecsv``.

Column units
------------
* ``ra``, ``dec``: ``deg``; ``lambda_obs``: ``Angstrom``.
* Redshifts, S/N, confidence: dimensionless (no unit).
* ``log_nhi`` is log10 of the H I column density in cm^-2 and ``log_nhi_err`` its
  1-sigma error in dex.  Both are stored *without* an astropy unit: a logarithmic unit
  such as ``dex(cm-2)`` has no FITS ``TUNIT`` form and astropy drops it on the way
  through FITS, so the two formats would disagree.  The meaning is written into the
  column descriptions (FITS ``TCOMMn`` cards, ECSV ``description``); use
  :func:`column_density` to get N_HI as a ``Quantity`` in cm^-2.

Sightline status
----------------
``ok``
    The sightline was searched; zero absorbers is a real result.
``skipped``
    A valid spectrum that cannot be searched (no Lyman-alpha forest coverage, too
    few good pixels).
``error``
    The spectrum could not be read or is invalid; ``message`` says why.

A failed sightline never looks like one without absorbers: population statistics
(:func:`searched_path`, :func:`dn_dz`) use the ``ok`` rows only.

Metadata
--------
:func:`write_catalog` takes a ``meta`` dict with the keys below (all optional) and
writes them into the primary header and both table headers (FITS) or into both
files' metadata (ECSV):

=================  ====================================  =========================
meta key           FITS keyword                          meaning
=================  ====================================  =========================
``dlacnn_version`` ``DLACNN_V``                          always the writing version
``model_name``     ``MODEL``                             model name
``model_sha256``   ``MODELSHA``                          sha256 of the model file
``created``        ``DATE``                              UTC ISO time (default now)
``command``        ``COMMAND`` (long-string ``CONTINUE``) command line
``thresholds``     ``HIERARCH DLACNN THRESH <name>``     dict of name -> number
other ``key``      ``HIERARCH DLACNN <key>``             scalar extras
=================  ====================================  =========================

Strings written to FITS are reduced to printable ASCII (other characters become
backslash escapes), as FITS requires.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.stats import poisson_conf_interval
from astropy.table import Column, MaskedColumn, Table

from dla_cnn.atomic import atomic_path
from dla_cnn.constants import DLA_MIN_LOG_NHI, LYA_REST
from dla_cnn.ids import format_sightline_id, parse_sightline_id
from dla_cnn.exceptions import ConfigError, describe

__all__ = [
    "ABSORBER_COLUMNS",
    "ABSORBER_TYPES",
    "ColumnSpec",
    "DLA_MIN_LOG_NHI",
    "Incidence",
    "SIGHTLINE_COLUMNS",
    "STATUS_VALUES",
    "absorber_table",
    "column_density",
    "dn_dz",
    "ecsv_paths",
    "empty_absorber_table",
    "empty_sightline_table",
    "format_sightline_id",
    "parse_sightline_id",
    "read_catalog",
    "searched_path",
    "sightline_table",
    "write_catalog",
]

LYA_REST_ANGSTROM = LYA_REST

ABSORBERS_HDU = "ABSORBERS"
SIGHTLINES_HDU = "SIGHTLINES"

STATUS_VALUES: dict[str, str] = {
    "ok": "searched; zero absorbers is a real result",
    "skipped": "valid spectrum that cannot be searched (no forest coverage, too few good pixels)",
    "error": "unreadable or invalid spectrum; see message",
}
"""Allowed ``SIGHTLINES.status`` values and their meaning."""

ABSORBER_TYPES: dict[str, str] = {
    "DLA": f"damped Lyman-alpha absorber, log N_HI >= {DLA_MIN_LOG_NHI}",
    "SUBDLA": f"sub-DLA, 19.0 <= log N_HI < {DLA_MIN_LOG_NHI}",
    "LYB": "Ly-beta of a stronger absorber found by the Ly-alpha search",
}
"""Allowed ``ABSORBERS.type`` values and their meaning."""


class ColumnSpec(NamedTuple):
    """One catalog column: name, numpy dtype, astropy unit (or None), description."""

    name: str
    dtype: str
    unit: u.UnitBase | None
    description: str


_ID = ColumnSpec("sightline_id", "U", None, "sightline id, PLATE-MJD-FIBER for SDSS/BOSS")
_PLATE = ColumnSpec("plate", "i4", None, "SDSS plate (-1 when unknown)")
_MJD = ColumnSpec("mjd", "i4", None, "SDSS MJD of the observation (-1 when unknown)")
_FIBER = ColumnSpec("fiber", "i4", None, "SDSS fiber (-1 when unknown)")
_RA = ColumnSpec("ra", "f8", u.deg, "right ascension (ICRS)")
_DEC = ColumnSpec("dec", "f8", u.deg, "declination (ICRS)")
_ZQSO = ColumnSpec("z_qso", "f8", None, "quasar redshift")

ABSORBER_COLUMNS: tuple[ColumnSpec, ...] = (
    _ID,
    _PLATE,
    _MJD,
    _FIBER,
    _RA,
    _DEC,
    _ZQSO,
    ColumnSpec("z_abs", "f8", None, "absorber redshift"),
    ColumnSpec("z_abs_err", "f8", None, "1-sigma error of z_abs"),
    ColumnSpec("log_nhi", "f8", None, "log10 of the H I column density in cm^-2"),
    ColumnSpec("log_nhi_err", "f8", None, "1-sigma error of log_nhi, dex"),
    ColumnSpec("confidence", "f8", None, "probability that the absorber is real"),
    ColumnSpec("type", "U", None, "DLA, SUBDLA or LYB"),
    ColumnSpec("lambda_obs", "f8", u.AA, "observed wavelength of the Ly-alpha line centre"),
    ColumnSpec("snr", "f8", None, "median S/N per pixel of the sightline near the absorber"),
)
"""Columns of the ``ABSORBERS`` table, in order."""

SIGHTLINE_COLUMNS: tuple[ColumnSpec, ...] = (
    _ID,
    _PLATE,
    _MJD,
    _FIBER,
    _RA,
    _DEC,
    ColumnSpec("file", "U", None, "spectrum file the sightline was read from"),
    _ZQSO,
    ColumnSpec("snr", "f8", None, "median S/N per pixel in the search window"),
    ColumnSpec("z_min", "f8", None, "lowest absorber redshift searched"),
    ColumnSpec("z_max", "f8", None, "highest absorber redshift searched"),
    ColumnSpec("n_dla", "i4", None, "number of DLAs found (-1 when unknown)"),
    ColumnSpec("n_subdla", "i4", None, "number of sub-DLAs found (-1 when unknown)"),
    ColumnSpec("status", "U", None, "ok, skipped or error"),
    ColumnSpec("message", "U", None, "why the sightline was skipped or failed"),
)
"""Columns of the ``SIGHTLINES`` table, in order."""

_META_KEYWORDS = {
    "dlacnn_version": "DLACNN_V",
    "model_name": "MODEL",
    "model_sha256": "MODELSHA",
    "stage2_sha256": "STG2SHA",
    "created": "DATE",
    "command": "COMMAND",
}
_META_COMMENTS = {
    "DLACNN_V": "dla-cnn version that wrote the catalog",
    "MODEL": "model name",
    "MODELSHA": "sha256 of the model file",
    "STG2SHA": "sha256 of the absorber-level model file",
    "DATE": "UTC creation time",
    "COMMAND": "command line",
}
_HIER = "DLACNN"
_THRESH = "THRESH"
_META_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")


# --------------------------------------------------------------------------- ids
# --------------------------------------------------------------------------- tables
def _default(spec: ColumnSpec) -> Any:
    kind = np.dtype(spec.dtype).kind
    if kind == "i":
        return -1
    if kind == "f":
        return np.nan
    return ""


def _empty(columns: Sequence[ColumnSpec]) -> Table:
    return _build(columns, {spec.name: [] for spec in columns})


def _build(columns: Sequence[ColumnSpec], data: Mapping[str, Sequence[Any]]) -> Table:
    table = Table()
    for spec in columns:
        values = data[spec.name]
        if np.dtype(spec.dtype).kind == "U":
            arr = np.array([str(v) for v in values], dtype=str)
            if arr.size == 0:
                arr = np.zeros(0, dtype="U1")
        else:
            arr = np.array(values, dtype=spec.dtype)
        table[spec.name] = Column(arr, unit=spec.unit, description=spec.description)
    return table


def empty_absorber_table() -> Table:
    """An ``ABSORBERS`` table with no rows and the full schema."""
    return _empty(ABSORBER_COLUMNS)


def empty_sightline_table() -> Table:
    """A ``SIGHTLINES`` table with no rows and the full schema."""
    return _empty(SIGHTLINE_COLUMNS)


def _plain(value: Any, unit: u.UnitBase | None) -> Any:
    """Strip a Quantity to a number in the column's unit (units at the API edge)."""
    if isinstance(value, u.Quantity):
        return value.to_value(unit) if unit is not None else value.to_value(u.dimensionless_unscaled)
    return value


def _rows_to_columns(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[ColumnSpec],
    required: Sequence[str],
    fill: Any = None,
) -> dict[str, list[Any]]:
    names = [spec.name for spec in columns]
    known = set(names)
    data: dict[str, list[Any]] = {name: [] for name in names}
    for i, row in enumerate(rows):
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"row {i}: unknown catalog column(s) {sorted(unknown)}")
        missing = [key for key in required if key not in row]
        if missing:
            raise ValueError(f"row {i}: missing required column(s) {missing}")
        full = {spec.name: _plain(row.get(spec.name, _default(spec)), spec.unit) for spec in columns}
        ids = parse_sightline_id(full["sightline_id"])
        if ids is not None:
            for key, value in zip(("plate", "mjd", "fiber"), ids):
                if key not in row:
                    full[key] = value
        if fill is not None:
            fill(full, row)
        for name in names:
            data[name].append(full[name])
    return data


def _fill_absorber(full: dict[str, Any], row: Mapping[str, Any]) -> None:
    if "lambda_obs" not in row and np.isfinite(full["z_abs"]):
        full["lambda_obs"] = LYA_REST_ANGSTROM * (1.0 + float(full["z_abs"]))
    if "type" not in row:
        log_nhi = float(full["log_nhi"])
        if not np.isfinite(log_nhi):
            raise ValueError(f"absorber on {full['sightline_id']}: no type and no log_nhi")
        full["type"] = "DLA" if log_nhi >= DLA_MIN_LOG_NHI else "SUBDLA"


def absorber_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """Build an ``ABSORBERS`` table from a list of dicts.

    Parameters
    ----------
    rows : iterable of dict
        One dict per absorber, keyed by column name.  ``sightline_id`` and ``z_abs``
        are required.  Missing keys get defaults: ``plate``/``mjd``/``fiber`` are
        parsed from a ``PLATE-MJD-FIBER`` id (else -1), floats are NaN,
        ``lambda_obs`` is ``1215.6701 (1 + z_abs)`` and ``type`` is DLA or SUBDLA from
        ``log_nhi``.  Quantities are converted to the column units.

    Returns
    -------
    `~astropy.table.Table`

    Raises
    ------
    ValueError
        Unknown column, missing required column, or a ``type`` outside
        :data:`ABSORBER_TYPES`.
    """
    data = _rows_to_columns(rows, ABSORBER_COLUMNS, ("sightline_id", "z_abs"), _fill_absorber)
    table = _build(ABSORBER_COLUMNS, data)
    _check_values(table, "type", ABSORBER_TYPES, ValueError)
    return table


def sightline_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """Build a ``SIGHTLINES`` table from a list of dicts.

    Parameters
    ----------
    rows : iterable of dict
        One dict per sightline.  ``sightline_id`` and ``status`` are required (no
        status is assumed: a failure must never pass for a searched sightline).
        Missing keys get defaults: ``plate``/``mjd``/``fiber`` parsed from a
        ``PLATE-MJD-FIBER`` id (else -1), other integers -1 (unknown), floats NaN,
        strings empty.

    Returns
    -------
    `~astropy.table.Table`

    Raises
    ------
    ValueError
        Unknown column, missing required column, or a ``status`` outside
        :data:`STATUS_VALUES`.
    """
    data = _rows_to_columns(rows, SIGHTLINE_COLUMNS, ("sightline_id", "status"))
    table = _build(SIGHTLINE_COLUMNS, data)
    _check_values(table, "status", STATUS_VALUES, ValueError)
    return table


def _check_values(table: Table, name: str, allowed: Mapping[str, str], exc: type[Exception]) -> None:
    values = np.unique(np.asarray(table[name], dtype=str))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise exc(f"column {name!r} has value(s) {bad}; allowed: {', '.join(allowed)}")


def column_density(absorbers: Table) -> u.Quantity:
    """N_HI of each absorber as a `~astropy.units.Quantity` in cm^-2."""
    return (10.0 ** np.asarray(absorbers["log_nhi"], dtype=float)) * u.cm**-2


# --------------------------------------------------------------------------- statistics
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


# --------------------------------------------------------------------------- writing
def _check_schema(table: Table, columns: Sequence[ColumnSpec], what: str, exc: type[Exception]) -> None:
    missing = [spec.name for spec in columns if spec.name not in table.colnames]
    if missing:
        raise exc(f"{what}: missing column(s) {', '.join(missing)}")


def _conform(table: Table, columns: Sequence[ColumnSpec], what: str, exc: type[Exception]) -> Table:
    """Schema-ordered copy: native dtypes, masks filled with defaults, units set."""
    _check_schema(table, columns, what, exc)
    out = Table(meta=dict(table.meta))
    for spec in columns:
        col = table[spec.name]
        unit = getattr(col, "unit", None)
        values = col.filled(_default(spec)) if isinstance(col, MaskedColumn) else col
        if isinstance(values, u.Quantity):
            unit, values = values.unit, values.value
        kind = np.dtype(spec.dtype).kind
        if kind == "U":
            arr = np.asarray(values)
            if arr.dtype.kind == "S":
                arr = np.char.decode(arr, "ascii", errors="replace")
            arr = np.asarray(arr, dtype=str)
            if arr.size == 0:
                arr = np.zeros(0, dtype="U1")
        else:
            arr = np.asarray(values)
            if spec.unit is not None and unit is not None and unit != spec.unit:
                try:
                    arr = (arr * unit).to_value(spec.unit)
                except u.UnitsError:
                    raise exc(f"{what}: column {spec.name!r} in {unit}, expected {spec.unit}") from None
            try:
                arr = arr.astype(spec.dtype)
            except (TypeError, ValueError):
                raise exc(f"{what}: column {spec.name!r} is not {np.dtype(spec.dtype).name}") from None
        out[spec.name] = Column(arr, unit=spec.unit, description=spec.description)
    return out


def _validate_pair(absorbers: Table, sightlines: Table, exc: type[Exception], what: str) -> tuple[Table, Table]:
    absorbers = _conform(absorbers, ABSORBER_COLUMNS, f"{what} {ABSORBERS_HDU}", exc)
    sightlines = _conform(sightlines, SIGHTLINE_COLUMNS, f"{what} {SIGHTLINES_HDU}", exc)
    _check_values(absorbers, "type", ABSORBER_TYPES, exc)
    _check_values(sightlines, "status", STATUS_VALUES, exc)
    return absorbers, sightlines


def _table_hdu(table: Table, name: str, meta: Mapping[str, Any]) -> fits.BinTableHDU:
    plain = Table(table, copy=True)
    plain.meta.clear()
    for spec in ABSORBER_COLUMNS if name == ABSORBERS_HDU else SIGHTLINE_COLUMNS:
        if np.dtype(spec.dtype).kind == "U":
            plain[spec.name] = np.array([_ascii(v) for v in plain[spec.name]], dtype=str)
            if len(plain) == 0:
                plain[spec.name] = np.zeros(0, dtype="U1")
    hdu = fits.table_to_hdu(plain)
    hdu.name = name
    for i, colname in enumerate(plain.colnames, start=1):
        hdu.header[f"TCOMM{i}"] = table[colname].description
    _meta_to_header(meta, hdu.header)
    return hdu


def _atomic_write(target: Path, writer) -> None:
    """Let ``writer`` create a hidden temporary file next to ``target``, then rename it."""
    with atomic_path(target) as tmp:
        writer(str(tmp))


def ecsv_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The two ECSV files of catalog ``path``: ``NAME.absorbers.ecsv``, ``NAME.sightlines.ecsv``.

    ``NAME`` is ``path`` without a trailing ``.ecsv`` (and without ``.absorbers`` /
    ``.sightlines``), so ``cat``, ``cat.ecsv`` and ``cat.absorbers.ecsv`` all name the
    same pair.
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
        Provenance, see the module docstring.  ``dlacnn_version`` is always set to
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
        Provenance (module docstring), ``thresholds`` as a dict.

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
