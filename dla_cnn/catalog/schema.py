"""The catalog schema: column lists, allowed values and table builders.

This module is the one place the ``ABSORBERS`` / ``SIGHTLINES`` columns, their dtypes,
units and descriptions, and the allowed ``type`` / ``status`` values are written down.
:mod:`dla_cnn.catalog.io` writes and reads tables in this schema and
:mod:`dla_cnn.catalog.stats` computes population statistics from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import astropy.units as u
import numpy as np
from astropy.table import Column, MaskedColumn, Table

from dla_cnn.constants import DLA_MIN_LOG_NHI, LYA_REST
from dla_cnn.ids import parse_sightline_id

__all__ = [
    "ABSORBERS_HDU",
    "ABSORBER_COLUMNS",
    "ABSORBER_TYPES",
    "ColumnSpec",
    "SIGHTLINES_HDU",
    "SIGHTLINE_COLUMNS",
    "STATUS_VALUES",
    "absorber_table",
    "empty_absorber_table",
    "empty_sightline_table",
    "sightline_table",
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
    """One catalog column: name, numpy dtype, astropy unit (or None), description.

    ``optional`` marks a column added after the first catalogs were written: a catalog
    file without it still reads, with the column filled with its default (-1, NaN or "").
    """

    name: str
    dtype: str
    unit: u.UnitBase | None
    description: str
    optional: bool = False


_ID = ColumnSpec("sightline_id", "U", None, "sightline id, PLATE-MJD-FIBER for SDSS/BOSS")
_PLATE = ColumnSpec("plate", "i4", None, "SDSS plate (-1 when unknown)")
_MJD = ColumnSpec("mjd", "i4", None, "SDSS MJD of the observation (-1 when unknown)")
_FIBER = ColumnSpec("fiber", "i4", None, "SDSS fiber (-1 when unknown)")
_THING_ID = ColumnSpec("thing_id", "i8", None, "SDSS/BOSS THING_ID (spAll or quasar catalog; -1 when unknown)",
                       optional=True)
_TARGETID = ColumnSpec("targetid", "i8", None, "DESI TARGETID (-1 when unknown)", optional=True)
_RA = ColumnSpec("ra", "f8", u.deg, "right ascension (ICRS)")
_DEC = ColumnSpec("dec", "f8", u.deg, "declination (ICRS)")
_ZQSO = ColumnSpec("z_qso", "f8", None, "quasar redshift")

ABSORBER_COLUMNS: tuple[ColumnSpec, ...] = (
    _ID,
    _PLATE,
    _MJD,
    _FIBER,
    _THING_ID,
    _TARGETID,
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
    _THING_ID,
    _TARGETID,
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
        parsed from a ``PLATE-MJD-FIBER`` id (else -1), ``thing_id``/``targetid``
        are -1 (unknown), floats are NaN, ``lambda_obs`` is ``1215.6701 (1 + z_abs)``
        and ``type`` is DLA or SUBDLA from ``log_nhi``.  Quantities are converted to the
        column units.

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


# --------------------------------------------------------------------------- validation
def _check_values(table: Table, name: str, allowed: Mapping[str, str], exc: type[Exception]) -> None:
    values = np.unique(np.asarray(table[name], dtype=str))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise exc(f"column {name!r} has value(s) {bad}; allowed: {', '.join(allowed)}")



def _check_schema(table: Table, columns: Sequence[ColumnSpec], what: str, exc: type[Exception]) -> None:
    missing = [spec.name for spec in columns if spec.name not in table.colnames and not spec.optional]
    if missing:
        raise exc(f"{what}: missing column(s) {', '.join(missing)}")


def _conform(table: Table, columns: Sequence[ColumnSpec], what: str, exc: type[Exception]) -> Table:
    """Schema-ordered copy: native dtypes, masks filled with defaults, units set.

    An ``optional`` column that ``table`` lacks is filled with its default, so older
    catalogs keep reading.
    """
    _check_schema(table, columns, what, exc)
    out = Table(meta=dict(table.meta))
    for spec in columns:
        if spec.name not in table.colnames:
            values = np.full(len(table), _default(spec), dtype=spec.dtype)
            out[spec.name] = Column(values, unit=spec.unit, description=spec.description)
            continue
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

