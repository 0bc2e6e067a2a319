"""The normalised truth table, built from any truth list through column aliases.

Each truth field (``z_abs``, ``log_nhi``, ``plate`` ...) has a list of accepted
spellings, compared after lower-casing and turning punctuation into ``_``.
:func:`normalise_columns` is the normaliser the truth formats of
:mod:`dla_cnn.vet.truth` share: it finds the fields by their aliases, expands
per-sightline vector columns to one row per absorber, applies a confidence cut and
drops LYB rows.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dla_cnn.columns import find_name, normalise_name
from dla_cnn.exceptions import ConfigError
from dla_cnn.ids import format_sightline_id
from dla_cnn.vet._common import canonical_ids, floats, strings

__all__ = ["find_field", "has_fields", "normalise_columns", "normalised_names"]

# Accepted spellings, compared after lower-casing and turning punctuation into '_'.
_ALIASES: dict[str, tuple[str, ...]] = {
    "sightline_id": ("sightline_id",),
    "plate": ("plate", "plates", "plateid", "plate_id"),
    "mjd": ("mjd", "mjds"),
    "fiber": ("fiber", "fiberid", "fiber_id", "fibers", "fiber_ids", "fiberids"),
    "z_abs": ("z_abs", "zabs", "z_dla", "zdla", "z_dlas", "map_z_dlas", "map_z_dla"),
    "log_nhi": (
        "log_nhi", "lognhi", "log_n_hi", "log_nhis", "map_log_nhis", "map_log_nhi",
        "log_column_density", "nhi", "column_density", "log_nh",
    ),
    "z_qso": ("z_qso", "zqso", "z_qsos", "zem", "z_em", "z_vi"),
    "snr": ("snr", "snrs", "s_n", "sn"),
    "b": ("b", "b_kms", "doppler_b"),
    "confidence": ("dla_confidences", "dla_confidence", "p_dla", "p_dlas", "confidence", "conf"),
    "name": ("qso_name", "qso", "name", "sdss_name", "qso_id", "object"),
    "type": ("type", "absorber_type", "dla_type"),
}


def find_field(table: Table, key: str) -> str | None:
    """The column of ``table`` that spells truth field ``key`` (first alias wins).

    Parameters
    ----------
    table : `~astropy.table.Table`
        A truth list.
    key : str
        A truth field: ``sightline_id``, ``plate``, ``mjd``, ``fiber``, ``z_abs``,
        ``log_nhi``, ``z_qso``, ``snr``, ``b``, ``confidence``, ``name`` or ``type``.

    Returns
    -------
    str or None
        The column name as ``table`` spells it, None if no alias is present.
    """
    return find_name(table.colnames, _ALIASES[key], fuzzy=True)


def has_fields(table: Table, *keys: str) -> bool:
    """Whether ``table`` spells every truth field in ``keys``.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A truth list.
    *keys : str
        Truth fields, see :func:`find_field`.

    Returns
    -------
    bool
    """
    return all(find_field(table, key) is not None for key in keys)


def normalised_names(table: Table) -> set[str]:
    """The column names of ``table`` lower-cased, punctuation turned into ``_``.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Any table.

    Returns
    -------
    set of str
    """
    return {normalise_name(c) for c in table.colnames}


def _sightline_ids(table: Table, what: str) -> np.ndarray:
    """Canonical sightline id of each row: an id column, PLATE/MJD/FIBER or a QSO name."""
    col = find_field(table, "sightline_id")
    if col is not None:
        return canonical_ids(table[col])
    plate, mjd, fiber = (find_field(table, k) for k in ("plate", "mjd", "fiber"))
    if plate and mjd and fiber:
        p, m, f = (np.asarray(floats(table[c])) for c in (plate, mjd, fiber))
        bad = ~(np.isfinite(p) & np.isfinite(m) & np.isfinite(f))
        ids = [
            "" if b else format_sightline_id(int(pi), int(mi), int(fi))
            for b, pi, mi, fi in zip(bad, p, m, f)
        ]
        return np.array(ids, dtype=str) if ids else np.zeros(0, dtype="U1")
    name = find_field(table, "name")
    if name is not None:
        return strings(table[name])
    raise ConfigError(f"{what}: no sightline_id, PLATE/MJD/FIBER or QSO name column")


def _per_absorber(values: np.ndarray, nrow: int, width: int) -> np.ndarray:
    """A per-row or per-absorber column as a ``(nrow, width)`` array of absorber slots."""
    return np.broadcast_to(values.reshape(nrow, values.size // nrow if nrow else 1), (nrow, width))


def normalise_columns(table: Table, fmt: str, min_confidence: float | None) -> Table:
    """Normalise a truth table by its column aliases (the normaliser every format shares).

    Parameters
    ----------
    table : `~astropy.table.Table`
        The truth list, see :func:`normalise_truth`.
    fmt : str
        Its format name, recorded in ``meta["truth_format"]`` and error messages.
    min_confidence : float or None
        Keep only absorbers with confidence > ``min_confidence``; None keeps all.

    Returns
    -------
    `~astropy.table.Table`
        The normalised truth table (see :func:`normalise_truth`).

    Raises
    ------
    ConfigError
        No absorber redshift, log N_HI or sightline column, or a confidence cut
        without a confidence column.
    """
    what = f"truth table ({fmt})"
    zcol, ncol = find_field(table, "z_abs"), find_field(table, "log_nhi")
    if zcol is None or ncol is None:
        raise ConfigError(f"{what}: needs an absorber redshift and a log N_HI column")
    ids = _sightline_ids(table, what)
    z = floats(table[zcol])
    nrow = len(table)
    width = z.size // nrow if nrow else 1  # several absorbers per row (GP catalogs) or one
    z2 = z.reshape(nrow, width)
    n2 = _per_absorber(floats(table[ncol]), nrow, width)

    keep = np.isfinite(z2) & np.isfinite(n2)
    conf_col = find_field(table, "confidence")
    conf2 = _per_absorber(floats(table[conf_col]), nrow, width) if conf_col is not None else None
    if min_confidence is not None:
        if conf2 is None:
            raise ConfigError(f"{what}: a confidence cut needs a confidence column")
        keep &= conf2 > min_confidence
    type_col = find_field(table, "type")
    if type_col is not None:
        keep &= _per_absorber(np.char.upper(strings(table[type_col])) != "LYB", nrow, width)

    rows, slots = np.nonzero(keep)
    out = Table()
    out["sightline_id"] = ids[rows] if len(rows) else np.zeros(0, dtype="U1")
    out["z_abs"] = z2[rows, slots]
    nhi = n2[rows, slots]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["log_nhi"] = np.where(nhi > 30.0, np.log10(nhi), nhi)
    for key in ("z_qso", "snr", "b"):
        col = find_field(table, key)
        if col is not None:
            out[key] = _per_absorber(floats(table[col]), nrow, width)[rows, slots]
    if "b" in out.colnames:
        out["b"].unit = "km / s"
    if conf2 is not None:
        out["confidence"] = conf2[rows, slots]
    out["log_nhi"].description = "log10 of the H I column density in cm^-2"
    out.meta["truth_format"] = fmt
    out.meta["n_dropped"] = int(np.count_nonzero(np.isfinite(z2)) - len(out))
    return out
