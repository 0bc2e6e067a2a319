"""The data behind the report's interactive tables, as ``data/NAME.js`` blobs.

A blob is JSON assigned to ``window.DLA_TABLES[NAME]`` in a classic script, so the
pages read it from ``file://`` with no server (browsers refuse ``fetch`` of local
files).  Rows are column-ordered lists; floats are rounded a little beyond what is
shown, NaN becomes ``null``.  See :mod:`dla_cnn.report.static` for the format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from astropy.table import Table

from dla_cnn.catalog.schema import ABSORBER_TYPES, STATUS_VALUES
from dla_cnn.report.names import ABSORBER_KEY, ABSORBER_ANCHOR, SIGHTLINE_KEY


class Column(NamedTuple):
    """One column of an interactive table."""

    key: str
    """Catalog column name."""
    label: str
    """Heading."""
    kind: str = "num"
    """``num``, ``str`` or ``sightline`` (a link to the sightline page)."""
    digits: int | None = None
    """Decimals shown (numbers)."""
    choices: tuple[str, ...] | None = None
    """Values offered by a drop-down filter (strings)."""


ABSORBER_COLUMNS: tuple[Column, ...] = (
    Column("sightline_id", "sightline", "sightline"),
    Column("type", "type", "str", choices=tuple(ABSORBER_TYPES)),
    Column("confidence", "confidence", digits=3),
    Column("snr", "S/N", digits=1),
    Column("z_abs", "z_abs", digits=4),
    Column("z_abs_err", "\u03c3 z", digits=4),
    Column("log_nhi", "log N_HI", digits=2),
    Column("log_nhi_err", "\u03c3 log N", digits=2),
    Column("z_qso", "z_qso", digits=3),
    Column("lambda_obs", "\u03bb_obs [\u00c5]", digits=1),
)

SIGHTLINE_COLUMNS: tuple[Column, ...] = (
    Column("sightline_id", "sightline", "sightline"),
    Column("status", "status", "str", choices=tuple(STATUS_VALUES)),
    Column("z_qso", "z_qso", digits=3),
    Column("snr", "S/N", digits=1),
    Column("z_min", "z_min", digits=3),
    Column("z_max", "z_max", digits=3),
    Column("n_dla", "DLAs", digits=0),
    Column("n_subdla", "sub-DLAs", digits=0),
    Column("message", "message", "str"),
)


def _values(table: Table, col: Column) -> list[Any]:
    """One catalog column as JSON-ready values (NaN as None)."""
    if col.key not in table.colnames:
        return [None] * len(table)
    if col.kind != "num":
        return [str(v).strip() for v in np.asarray(table[col.key]).astype(str)]
    values = np.asarray(table[col.key], dtype=float)
    if col.digits is not None:
        values = np.round(values, col.digits + 2)
    return [None if not np.isfinite(v) else (int(v) if col.digits == 0 else float(v)) for v in values.tolist()]


def table_blob(table: Table, columns: Sequence[Column], key: str, pages: Mapping[str, str],
               hash_prefix: str | None = None, page_size: int = 100) -> dict[str, Any]:
    """The blob of one interactive table.

    Parameters
    ----------
    table : Table
        Catalog table (rows in catalog order: row ``i`` gets the anchor ``key + i``).
    columns : sequence of Column
        What to show.
    key : str
        Anchor prefix of the rows.
    pages : mapping
        ``sightline_id`` to the sightline page, relative to the table's page.
    hash_prefix : str, optional
        Anchor prefix on the sightline page that a link adds with the row number.
    page_size : int
        Rows per page.
    """
    cols = [_values(table, c) for c in columns]
    specs = []
    for c in columns:
        spec: dict[str, Any] = {"key": c.key, "label": c.label, "type": c.kind}
        if c.digits is not None:
            spec["digits"] = c.digits
        if c.choices:
            spec["choices"] = list(c.choices)
        specs.append(spec)
    blob = {"columns": specs, "rows": [list(r) for r in zip(*cols)] if cols else [], "key": key,
            "pages": dict(pages), "pageSize": page_size}
    if hash_prefix:
        blob["hash"] = hash_prefix
    return blob


def write_blob(path: Path, name: str, blob: Mapping[str, Any]) -> Path:
    """Write ``blob`` as ``window.DLA_TABLES[name] = ...;`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(blob, separators=(",", ":"), allow_nan=False)
    # "</" cannot end a script element even if the file is ever inlined
    text = text.replace("</", "<\\/")
    path.write_text("window.DLA_TABLES = window.DLA_TABLES || {};\n"
                    f"window.DLA_TABLES[{json.dumps(name)}] = {text};\n", encoding="utf-8")
    return path


def write_table_data(out_dir: Path, absorbers: Table, sightlines: Table, pages: Mapping[str, str]) -> list[Path]:
    """Write ``data/absorbers.js`` and ``data/sightlines.js`` for the index and sightline-list pages.

    Parameters
    ----------
    out_dir : Path
        The report's top directory.
    absorbers, sightlines : Table
        The catalog tables.
    pages : mapping
        ``sightline_id`` to its page path relative to ``out_dir`` (sightlines with a page only).
    """
    data = out_dir / "data"
    return [
        write_blob(data / "absorbers.js", "absorbers",
                   table_blob(absorbers, ABSORBER_COLUMNS, ABSORBER_KEY, pages, ABSORBER_ANCHOR)),
        write_blob(data / "sightlines.js", "sightlines",
                   table_blob(sightlines, SIGHTLINE_COLUMNS, SIGHTLINE_KEY, pages)),
    ]
