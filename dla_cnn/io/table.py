"""Plain spectrum tables: FITS binary table, ECSV, CSV, or ``.npz``.

Columns (case-insensitive): ``wavelength`` (Angstrom, vacuum; a unit on the column is
honoured) or ``loglam`` (log10 Angstrom); ``flux``; ``ivar`` or ``error``/``sigma``;
optional ``mask`` (non-zero = bad).  ``.npz`` files use the same keys.  The quasar
redshift comes from the caller, a quasar catalog, or a ``z_qso``/``Z`` keyword in the
table meta / FITS header (0-d ``z_qso`` array in ``.npz``).

Registered as four formats, each told from the content: ``table-fits`` (a FITS binary
table with flux and wavelength/loglam columns, tried after every other FITS format),
``npz`` (a NumPy archive with those keys), ``table-ecsv`` (``# %ECSV`` text) and
``table-csv`` (comma-separated text whose header names those columns).
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.columns import filled
from dla_cnn.exceptions import SpectrumReadError, UnknownFormatError, describe
from dla_cnn.io._common import (
    READ_ERRORS,
    RedshiftArg,
    as_float,
    as_int,
    build_sightline,
    find_name,
    header_value,
    open_fits,
    resolve_redshift,
    sightline_id_from,
)
from dla_cnn.io.qsocat import as_redshift_map, fill_catalog_ids
from dla_cnn.io.registry import Source, register_format
from dla_cnn.sightline import Sightline

WAVE_COLUMNS = ("wavelength", "wave", "lambda")
LOGLAM_COLUMNS = ("loglam", "log_lambda")
FLUX_COLUMNS = ("flux",)
IVAR_COLUMNS = ("ivar", "inverse_variance")
ERROR_COLUMNS = ("error", "sigma", "err", "flux_err", "noise")
MASK_COLUMNS = ("mask", "and_mask")
Z_KEYS = ("z_qso", "Z", "REDSHIFT")
ID_KEYS = ("sightline_id", "SIGHTID")

TABLE_FORMATS = ("table-fits", "table-ecsv", "table-csv", "npz")


def is_spectrum_table(names) -> bool:
    """True if column names include flux and a wavelength or loglam column."""
    names = list(names)
    return bool(find_name(names, FLUX_COLUMNS)) and bool(
        find_name(names, WAVE_COLUMNS) or find_name(names, LOGLAM_COLUMNS)
    )


def spectrum_table_hdu(hdul: fits.HDUList) -> int | None:
    """Index of the first binary table HDU that looks like a spectrum table."""
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.BinTableHDU) and is_spectrum_table(hdu.columns.names):
            return i
    return None


def _load_npz(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            items = {k: np.asarray(data[k]) for k in data.files}
    except (zipfile.BadZipFile, *READ_ERRORS) as exc:
        raise SpectrumReadError(path, f"not a readable .npz file ({describe(exc)})") from None
    cols = {k: v for k, v in items.items() if v.ndim >= 1}
    meta = {k: v.item() for k, v in items.items() if v.ndim == 0}
    return cols, meta


def _load_text(path: str, kind: str) -> Table:
    fmt = "ascii.ecsv" if kind == "table-ecsv" else "ascii.csv"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Table.read(path, format=fmt)
    except (*READ_ERRORS, UnicodeDecodeError) as exc:
        raise SpectrumReadError(path, f"not a readable {fmt[6:].upper()} table ({describe(exc)})") from None


def _column(cols: Mapping, candidates, path: str, required: bool = True):
    name = find_name(list(cols.keys()), candidates)
    if name is None:
        if required:
            raise SpectrumReadError(path, f"table has no column {' or '.join(candidates)}")
        return None
    return cols[name]


def _values(col) -> np.ndarray:
    numeric = np.ma.asarray(col).dtype.kind in "fiu"
    return filled(col, np.nan, float) if numeric and np.ma.is_masked(col) else filled(col, 0)


def _mask_values(values: np.ndarray) -> np.ndarray:
    """Bad-pixel flags from a mask column: non-zero numbers, True, or 'true'/'t'/'yes'."""
    if values.dtype.kind in "USO":
        text = np.char.strip(np.char.lower(values.astype(str)))
        return ~np.isin(text, ["", "0", "false", "f", "no", "n", "0.0"])
    return np.asarray(values) != 0


def _spectrum_from_columns(
    cols: Mapping, meta_sources: list, path: str, kind: str, hdu: Any,
    z_qso: RedshiftArg, zmap: Mapping | None, sightline_id: str | None,
) -> Sightline:
    wcol = _column(cols, WAVE_COLUMNS, path, required=False)
    if wcol is not None:
        unit = getattr(wcol, "unit", None)
        wave = _values(wcol).astype(np.float64)
        if unit is not None and unit != u.dimensionless_unscaled:
            try:
                wave = (wave * u.Unit(unit)).to_value(u.AA, equivalencies=u.spectral())
            except (u.UnitsError, ValueError) as exc:
                raise SpectrumReadError(path, f"wavelength unit {unit} is not a wavelength ({describe(exc)})") from None
    else:
        lcol = _column(cols, LOGLAM_COLUMNS, path, required=False)
        if lcol is None:
            raise SpectrumReadError(path, f"table has no column {' or '.join(WAVE_COLUMNS + LOGLAM_COLUMNS)}")
        wave = 10.0 ** _values(lcol).astype(np.float64)
    flux = _values(_column(cols, FLUX_COLUMNS, path)).astype(np.float64)
    icol = _column(cols, IVAR_COLUMNS, path, required=False)
    if icol is not None:
        ivar = _values(icol).astype(np.float64)
    else:
        ecol = _column(cols, ERROR_COLUMNS, path, required=False)
        if ecol is None:
            raise SpectrumReadError(path, f"table has no column {' or '.join(IVAR_COLUMNS + ERROR_COLUMNS)}")
        err = _values(ecol).astype(np.float64)
        ok = np.isfinite(err) & (err > 0)
        ivar = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    mcol = _column(cols, MASK_COLUMNS, path, required=False)
    mask = None if mcol is None else _mask_values(_values(mcol))
    if not (wave.shape == flux.shape == ivar.shape) or (mask is not None and mask.shape != flux.shape):
        raise SpectrumReadError(path, "wavelength, flux, ivar and mask columns differ in length")

    plate = as_int(header_value(meta_sources, ["PLATE", "PLATEID"]))
    mjd = as_int(header_value(meta_sources, ["MJD"]))
    fiber = as_int(header_value(meta_sources, ["FIBERID", "FIBER"]))
    if sightline_id is None:
        sightline_id = header_value(meta_sources, ID_KEYS)
    if sightline_id is None and plate > 0 and mjd > 0 and fiber > 0:
        sightline_id = sightline_id_from(plate, mjd, fiber)
    sid = str(sightline_id).strip() if sightline_id is not None else Path(path).name.split(".")[0]
    file_z = header_value(meta_sources, Z_KEYS)
    if file_z is None:
        zc = _column(cols, ("z_qso",), path, required=False)
        file_z = _values(zc).ravel()[0] if zc is not None and np.size(zc) else None
    z, origin = resolve_redshift(path, [sid], z_qso, zmap, file_z)
    return build_sightline(
        path, wave, flux, ivar, mask,
        sightline_id=sid, z_qso=z,
        ra=as_float(header_value(meta_sources, ["RA", "PLUG_RA", "TARGET_RA"])),
        dec=as_float(header_value(meta_sources, ["DEC", "PLUG_DEC", "TARGET_DEC"])),
        plate=plate, mjd=mjd, fiber=fiber,
        thing_id=as_int(header_value(meta_sources, ["THING_ID"])),
        targetid=as_int(header_value(meta_sources, ["TARGETID"])),
        provenance={"file": path, "format": kind, "hdu": hdu, "z_source": origin},
    )


def read_table_hdul(
    hdul: fits.HDUList, path: str, z_qso: RedshiftArg = None, zmap: Mapping | None = None,
    sightline_id: str | None = None,
) -> Sightline:
    """Read a spectrum table from an already opened FITS file."""
    idx = spectrum_table_hdu(hdul)
    if idx is None:
        raise SpectrumReadError(path, "no binary table with flux and wavelength/loglam columns")
    try:
        table = Table.read(hdul, hdu=idx)
    except READ_ERRORS as exc:
        raise SpectrumReadError(path, f"HDU {idx} is unreadable ({describe(exc)})") from None
    cols = {name: table[name] for name in table.colnames}
    meta = [dict(table.meta), dict(hdul[0].header)]
    return _spectrum_from_columns(cols, meta, path, "table-fits", idx, z_qso, zmap, sightline_id)


def table_kind(path: str | Path) -> str:
    """``table-fits``, ``table-ecsv``, ``table-csv`` or ``npz`` from the file's extension."""
    low = str(path).lower()
    for ext, kind in ((".npz", "npz"), (".ecsv", "table-ecsv"), (".csv", "table-csv"),
                      (".fits", "table-fits"), (".fit", "table-fits"), (".fits.gz", "table-fits")):
        if low.endswith(ext):
            return kind
    raise UnknownFormatError(str(path), "cannot tell the table format from the extension "
                                        "(.fits, .ecsv, .csv, .npz)")


def read_table_spectrum(
    path: str | Path,
    z_qso: RedshiftArg = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
    sightline_id: str | None = None,
    format: str | None = None,
) -> Sightline:
    """Read a spectrum from a plain table (FITS, ECSV, CSV) or an ``.npz`` file.

    Parameters
    ----------
    path : path
        The file.
    z_qso : float or mapping, optional
        Quasar redshift; overrides the catalog and the file's ``z_qso``/``Z`` keyword.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog, matched by sightline id.
    sightline_id : str, optional
        Id to give the sightline.  Default: a ``sightline_id``/``SIGHTID`` keyword,
        ``PLATE-MJD-FIBER`` from PLATE/MJD/FIBERID keywords, else the file name stem.
    format : {'table-fits', 'table-ecsv', 'table-csv', 'npz'}, optional
        Default: from the file extension.

    Returns
    -------
    Sightline
        On the universal grid (rebinned when the wavelengths are not on it); ``ra``,
        ``dec``, ``thing_id`` and ``targetid`` from RA/DEC, THING_ID and TARGETID keywords
        in the table meta or FITS header (NaN / -1 when absent).
    """
    path = str(path)
    if not Path(path).is_file():
        raise SpectrumReadError(path, "file not found")
    kind = format or table_kind(path)
    zmap = as_redshift_map(quasar_catalog)
    if kind == "table-fits":
        with open_fits(path) as hdul:
            return fill_catalog_ids(read_table_hdul(hdul, path, z_qso, zmap, sightline_id), zmap)
    if kind == "npz":
        cols, meta = _load_npz(path)
        sl = _spectrum_from_columns(cols, [meta], path, kind, None, z_qso, zmap, sightline_id)
        return fill_catalog_ids(sl, zmap)
    if kind in ("table-ecsv", "table-csv"):
        table = _load_text(path, kind)
        cols = {name: table[name] for name in table.colnames}
        sl = _spectrum_from_columns(cols, [dict(table.meta)], path, kind, None, z_qso, zmap, sightline_id)
        return fill_catalog_ids(sl, zmap)
    raise UnknownFormatError(path, f"{kind!r} is not a table format ({', '.join(TABLE_FORMATS)})")


# ------------------------------------------------------------------------------ registry
def npz_keys(path: str) -> list[str]:
    """The array names in a NumPy ``.npz`` archive.

    Parameters
    ----------
    path : str
        The archive.

    Returns
    -------
    list of str

    Raises
    ------
    SpectrumReadError
        If the file is a zip archive that NumPy cannot read as ``.npz``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return list(data.files)
    except (zipfile.BadZipFile, *READ_ERRORS) as exc:
        raise SpectrumReadError(path, f"zip archive that is not a readable .npz ({describe(exc)})") from None


def is_zip(head: bytes) -> bool:
    """True if ``head`` starts like a zip archive (``.npz``)."""
    return head.startswith(b"PK\x03\x04")


def is_text(head: bytes) -> bool:
    """True if ``head`` is text: not empty, not a zip archive, no NUL, few undecodable bytes."""
    if not head or is_zip(head) or b"\0" in head:
        return False
    return head.decode("utf-8", errors="replace").count("\ufffd") <= len(head) // 20


def identify_table_fits(source: Source) -> bool:
    """A FITS file with a binary table holding flux and wavelength/loglam columns.

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    layout = source.layout
    return any(kind == "bintable" and is_spectrum_table(layout.columns(i)) for i, kind in enumerate(layout.kinds))


def identify_npz(source: Source) -> bool:
    """A readable NumPy ``.npz`` archive with flux and wavelength/loglam arrays.

    Parameters
    ----------
    source : Source
        The file and its first bytes.

    Returns
    -------
    bool
    """
    if not is_zip(source.head):
        return False
    try:
        return is_spectrum_table(npz_keys(source.path))
    except SpectrumReadError:
        return False


def identify_ecsv(source: Source) -> bool:
    """Text that starts with the ``# %ECSV`` signature.

    Parameters
    ----------
    source : Source
        The file and its first bytes.

    Returns
    -------
    bool
    """
    return is_text(source.head) and source.head.decode("utf-8", errors="replace").lstrip().startswith("# %ECSV")


def identify_csv(source: Source) -> bool:
    """Text whose first line that is not a ``#`` comment names flux and wavelength/loglam, comma-separated.

    Parameters
    ----------
    source : Source
        The file and its first bytes.

    Returns
    -------
    bool
    """
    if not is_text(source.head):
        return False
    for line in source.head.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names = [c.strip().strip('"').strip("'") for c in line.split(",")]
        return len(names) > 1 and is_spectrum_table(names)
    return False


def _read_fits_source(source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str) -> Iterator[Sightline]:
    yield read_table_hdul(source.hdul, source.path, z_qso, zmap)


def _file_reader(kind: str):
    def read(source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str) -> Iterator[Sightline]:
        yield read_table_spectrum(source.path, z_qso, zmap, format=kind)

    return read


register_format("table-fits", identify_table_fits, _read_fits_source, priority=50, aliases=("fits",))
register_format("table-ecsv", identify_ecsv, _file_reader("table-ecsv"), priority=70, fits=False, aliases=("ecsv",))
register_format("table-csv", identify_csv, _file_reader("table-csv"), priority=80, fits=False, aliases=("csv",))
register_format("npz", identify_npz, _file_reader("npz"), priority=60, fits=False)
