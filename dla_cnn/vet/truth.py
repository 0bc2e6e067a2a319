"""Truth lists: recognise the external formats, read and normalise them.

Every truth format is a :class:`TruthFormat` in one registry: a name, a description,
a priority, an ``identify(table) -> bool`` test on the columns and a normaliser.
:func:`detect_truth_format` asks the formats in order of priority (lowest first) and
takes the first that recognises the table, so a format is told by its content --
column names -- never by a file name; :func:`read_truth` likewise tells FITS, ECSV
and CSV files apart by their first bytes.  Adding a format is one
:func:`register_truth_format` call at the end of this module.

================= ======== =========================================================
format            priority recognised by
================= ======== =========================================================
``dlacnn``        10       ``sightline_id``, ``z_abs`` and ``log_nhi``, spelled so
``gp``            20       a Gaussian-process column (``p_dlas``, ``z_dlas`` ...)
``parks``         30       ``dla_confidence``, ``log_column_density`` or
                           ``column_density``
``noterdaeme``    40       PLATE/MJD/FIBER, absorber redshift and log N_HI, and not
                           DR5-like (``NHI`` with a QSO name or ``zem``)
``prochaska_dr5`` 50       absorber redshift and log N_HI with PLATE/MJD/FIBER or
                           a QSO name
================= ======== =========================================================

The normalised table (:func:`normalise_truth`) has columns ``sightline_id``,
``z_abs``, ``log_nhi`` (log10 cm^-2) and, when the source has them, ``z_qso``,
``snr``, ``b`` (km/s) and ``confidence``; the column aliases and the normaliser the
formats share are in :mod:`dla_cnn.vet.truth_columns`.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.table import Table

from dla_cnn.exceptions import ConfigError, describe
from dla_cnn.vet.truth_columns import has_fields, normalise_columns, normalised_names

__all__ = [
    "GP_MIN_CONFIDENCE",
    "TRUTH_FORMATS",
    "TruthFormat",
    "detect_truth_format",
    "normalise_truth",
    "read_truth",
    "register_truth_format",
    "unregister_truth_format",
]

GP_MIN_CONFIDENCE = 0.5
"""Default cut for Gaussian-process catalogs: keep absorbers with p_DLA > 0.5."""

# --------------------------------------------------------------------------- registry
Normaliser = Callable[[Table, "float | None"], Table]
"""``normalise(table, min_confidence) -> normalised truth table``."""


@dataclass(frozen=True)
class TruthFormat:
    """One truth-list format: how to recognise it and how to normalise it.

    Attributes
    ----------
    name : str
        Key of :data:`TRUTH_FORMATS` and value of ``normalise_truth(kind=...)``.
    description : str
        One line naming the source and its columns (shown in error messages).
    priority : int
        Order in which :func:`detect_truth_format` asks the formats, lowest first.
    identify : callable
        ``identify(table) -> bool``: whether the table's columns are in this format.
    normalise : callable
        ``normalise(table, min_confidence) -> Table``, see :func:`normalise_truth`.
    """

    name: str
    description: str
    priority: int
    identify: Callable[[Table], bool]
    normalise: Normaliser


_REGISTRY: dict[str, TruthFormat] = {}

TRUTH_FORMATS: dict[str, str] = {}
"""Truth formats :func:`normalise_truth` understands: name -> description."""


def register_truth_format(
    name: str,
    description: str,
    *,
    priority: int,
    identify: Callable[[Table], bool],
    normalise: Normaliser | None = None,
) -> TruthFormat:
    """Add a truth format to the registry (replacing one of the same name).

    Formats are asked in order of priority, lowest first, ties in the order they were
    registered; they are listed (:data:`TRUTH_FORMATS`, error messages) in the order
    they were registered.

    Parameters
    ----------
    name, description : str
        See :class:`TruthFormat`.
    priority : int
        Detection order, lowest first; a more specific format needs a lower number
        than a looser one that would also accept its tables.
    identify : callable
        ``identify(table) -> bool`` on the columns of a table.
    normalise : callable, optional
        ``normalise(table, min_confidence) -> Table``; by default
        :func:`normalise_columns` with no confidence cut unless one is asked for.

    Returns
    -------
    TruthFormat
        The registered format.
    """
    if normalise is None:
        def normalise(table: Table, min_confidence: float | None) -> Table:
            return normalise_columns(table, name, min_confidence)

    fmt = TruthFormat(name, description, priority, identify, normalise)
    _REGISTRY[name] = fmt
    TRUTH_FORMATS[name] = description
    return fmt


def unregister_truth_format(name: str) -> None:
    """Remove a truth format from the registry (no error if it is not there).

    Parameters
    ----------
    name : str
        The format's name.

    Returns
    -------
    None
    """
    _REGISTRY.pop(name, None)
    TRUTH_FORMATS.pop(name, None)


def _truth_format(table: Table) -> TruthFormat:
    """The registered format that recognises ``table`` first, in order of priority."""
    for fmt in sorted(_REGISTRY.values(), key=lambda f: f.priority):
        if fmt.identify(table):
            return fmt
    raise ConfigError(
        "truth table columns fit no known format "
        f"({', '.join(table.colnames[:12])}); expected one of: {'; '.join(TRUTH_FORMATS.values())}"
    )


def detect_truth_format(table: Table) -> str:
    """Name (a key of :data:`TRUTH_FORMATS`) of the truth format ``table`` is in.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A truth list; only its column names are looked at.

    Returns
    -------
    str
        The first format, in order of priority, whose ``identify`` accepts the table.

    Raises
    ------
    ConfigError
        No known format fits the columns.
    """
    return _truth_format(table).name


def normalise_truth(
    table: Table,
    kind: str | None = None,
    min_confidence: float | None = None,
) -> Table:
    """Turn a truth list in any :data:`TRUTH_FORMATS` into the normalised truth table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The truth list.  Column names match case-insensitively, with punctuation
        ignored (``LOG.NHI`` = ``log_NHI`` = ``log_nhi``).  Per-sightline formats may
        hold several absorbers per row as vector columns (``z_dlas``, ``log_nhis``,
        NaN-padded); they are expanded to one row per absorber.
    kind : str, optional
        Force a format; detected from the columns by default
        (:func:`detect_truth_format`).
    min_confidence : float, optional
        Keep only absorbers with confidence > ``min_confidence`` (strict).  The
        default is 0.5 for ``gp`` catalogs (``dla_confidences`` per absorber if
        present, else ``p_dlas`` per sightline) and no cut otherwise; pass
        ``-inf`` to keep every GP absorber.

    Returns
    -------
    `~astropy.table.Table`
        Columns ``sightline_id``, ``z_abs``, ``log_nhi`` and, where the source has
        them, ``z_qso``, ``snr``, ``b`` (km/s), ``confidence``.  Rows with a
        non-finite ``z_abs`` or ``log_nhi``, and LYB rows, are dropped.  A linear
        column density (> 1e30) is converted to log10.  ``meta`` holds
        ``truth_format`` and ``n_dropped``.

    Raises
    ------
    ConfigError
        Unknown ``kind``, columns of no known format, or columns the format needs
        are missing.
    """
    if kind is None:
        fmt = _truth_format(table)
    elif kind in _REGISTRY:
        fmt = _REGISTRY[kind]
    else:
        raise ConfigError(f"unknown truth format {kind!r}; known: {', '.join(TRUTH_FORMATS)}")
    return fmt.normalise(table, min_confidence)


# --------------------------------------------------------------------------- reading
_FITS_MAGIC = b"SIMPLE  ="
_SNIFF_BYTES = 2880


def _reader_options(path: Path, hdu: int | str | None) -> dict[str, Any]:
    """``Table.read`` keywords for the file's content: FITS, ECSV, CSV or left to astropy."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    if head.startswith(_FITS_MAGIC):
        return {"format": "fits", "hdu": 1 if hdu is None else hdu}
    text = head.decode("utf-8", errors="replace")
    if text.lstrip().startswith("# %ECSV"):
        return {"format": "ascii.ecsv"}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return {"format": "ascii.csv"} if "," in line else {}
    return {}


def read_truth(
    source: str | os.PathLike | Table,
    kind: str | None = None,
    min_confidence: float | None = None,
    hdu: int | str | None = None,
) -> Table:
    """Read a truth list from a file (or take a table) and normalise it.

    Parameters
    ----------
    source : path-like or `~astropy.table.Table`
        ECSV, CSV, FITS (first table HDU unless ``hdu``), gzipped or not, told
        apart by their content; anything else ``Table.read`` recognises.
    kind, min_confidence
        See :func:`normalise_truth`.
    hdu : int or str, optional
        FITS HDU of the table.

    Returns
    -------
    `~astropy.table.Table`
        The normalised truth table (:func:`normalise_truth`).

    Raises
    ------
    ConfigError
        Missing or unreadable file, or columns of no known format.
    """
    if isinstance(source, Table):
        return normalise_truth(source, kind=kind, min_confidence=min_confidence)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{path}: truth file not found")
    try:
        table = Table.read(path, **_reader_options(path, hdu))
    except Exception as err:
        raise ConfigError(f"{path}: cannot read truth table: {describe(err)}") from None
    try:
        return normalise_truth(table, kind=kind, min_confidence=min_confidence)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


# --------------------------------------------------------------------------- the formats
_GP_MARKERS = {"p_dla", "p_dlas", "dla_confidences", "z_dlas", "log_nhis", "map_z_dlas", "map_log_nhis"}
_PARKS_MARKERS = {"dla_confidence", "log_column_density", "column_density"}


def _is_dlacnn(table: Table) -> bool:
    """dla-cnn's own truth table (the simulator writes it)."""
    return {"sightline_id", "z_abs", "log_nhi"} <= normalised_names(table)


def _is_gp(table: Table) -> bool:
    """A Gaussian-process catalog: one of its per-sightline columns."""
    return bool(normalised_names(table) & _GP_MARKERS)


def _is_parks(table: Table) -> bool:
    """The Parks et al. CNN catalog: its confidence or column-density names."""
    return bool(normalised_names(table) & _PARKS_MARKERS)


def _is_noterdaeme(table: Table) -> bool:
    """PLATE/MJD/FIBER, an absorber redshift and log N_HI, not DR5-like."""
    names = normalised_names(table)
    dr5_like = "nhi" in names and (has_fields(table, "name") or "zem" in names)
    return has_fields(table, "z_abs", "log_nhi", "plate", "mjd", "fiber") and not dr5_like


def _is_prochaska_dr5(table: Table) -> bool:
    """An absorber redshift and log N_HI on PLATE/MJD/FIBER or a QSO name."""
    located = has_fields(table, "plate", "mjd", "fiber") or has_fields(table, "name")
    return has_fields(table, "z_abs", "log_nhi") and located


def _normalise_gp(table: Table, min_confidence: float | None) -> Table:
    """GP absorbers keep p_DLA > 0.5 unless another cut is asked for."""
    cut = GP_MIN_CONFIDENCE if min_confidence is None else min_confidence
    return normalise_columns(table, "gp", cut)


# Listed in the order of TRUTH_FORMATS; detected in the order of priority.
register_truth_format(
    "dlacnn", "dla-cnn truth table: sightline_id, z_abs, log_nhi, b [km/s], z_qso, snr",
    priority=10, identify=_is_dlacnn,
)
register_truth_format(
    "prochaska_dr5",
    "Prochaska et al. SDSS DR5 DLA survey: QSO name or PLATE/MJD/FIBER, zem, zabs, NHI",
    priority=50, identify=_is_prochaska_dr5,
)
register_truth_format(
    "noterdaeme", "Noterdaeme et al. DR9/DR12: PLATE, MJD, FIBER, Z_ABS, LOG.NHI (or log_NHI)",
    priority=40, identify=_is_noterdaeme,
)
register_truth_format(
    "gp",
    "Garnett/Ho Gaussian-process: plates, mjds, fiber_ids, z_dlas, log_nhis, p_dlas / dla_confidences",
    priority=20, identify=_is_gp, normalise=_normalise_gp,
)
register_truth_format(
    "parks",
    "Parks et al. CNN DR12: plate, mjd, fiber, z_dla / zabs, log_column_density / NHI, dla_confidence",
    priority=30, identify=_is_parks,
)
