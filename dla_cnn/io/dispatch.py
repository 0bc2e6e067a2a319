"""Read any supported spectrum file: format sniffing and batch iteration.

The format is told from the file's content -- FITS HDU names and headers, the NPZ /
ECSV / CSV signatures -- never from the file name alone.

============== ==========================================================
format         recognised by
============== ==========================================================
``desi-coadd`` ``*_WAVELENGTH`` + ``*_FLUX`` image HDUs (or a FIBERMAP HDU)
``boss-spec``  a ``COADD`` (or ``SPALL``) HDU; HDU1 table with loglam, flux, ivar, and_mask
``spspec``     2-D primary image with COEFF0 and FIBERID > 0 (or 4-5 rows)
``spplate``    2-D primary image with COEFF0 and a ``PLUGMAP`` HDU (or > 5 rows)
``table-fits`` a binary table with flux and wavelength/loglam columns
``table-ecsv`` ``# %ECSV`` text
``table-csv``  comma-separated text whose header names flux and wavelength/loglam
``npz``        a NumPy ``.npz`` archive with those keys
============== ==========================================================
"""

from __future__ import annotations

import glob
import gzip
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.exceptions import (
    DATA_ERRORS, ConfigError, RunError, SightlineError, SpectrumReadError, UnknownFormatError, describe,
)
from dla_cnn.io._common import READ_ERRORS, RedshiftArg, as_int, open_fits
from dla_cnn.io.boss import read_boss_hdul
from dla_cnn.io.desi import desi_cameras, iter_desi_hdul
from dla_cnn.io.qsocat import as_redshift_map
from dla_cnn.io.sdss import iter_spplate_hdul, read_spspec_hdul
from dla_cnn.io.table import (
    is_spectrum_table,
    read_table_hdul,
    read_table_spectrum,
    spectrum_table_hdu,
)
from dla_cnn.sightline import Sightline

FITS_FORMATS = ("boss-spec", "spspec", "spplate", "desi-coadd", "table-fits")
FORMATS = FITS_FORMATS + ("table-ecsv", "table-csv", "npz")
"""Format names accepted by ``format=``."""

_ALIASES = {
    "boss": "boss-spec", "spec": "boss-spec", "sdss-iii/iv spec": "boss-spec",
    "sdss-i/ii spspec": "spspec", "sdss spplate": "spplate", "desi": "desi-coadd",
    "fits": "table-fits", "ecsv": "table-ecsv", "csv": "table-csv",
}

SPECTRUM_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts", ".ecsv", ".csv", ".npz")
"""File endings picked up when a directory is given to :func:`iter_spectra`."""

_FITS_MAGIC = b"SIMPLE  ="
_SNIFF_BYTES = 2880


def canonical_format(format: str | None) -> str | None:
    """Normalise a ``format=`` argument; :class:`ConfigError` if it is not known."""
    if format is None:
        return None
    name = _ALIASES.get(format.strip().lower(), format.strip().lower())
    if name not in FORMATS:
        raise ConfigError(f"unknown spectrum format {format!r}; choose from {', '.join(FORMATS)}")
    return name


# ------------------------------------------------------------------------------ sniffing
def sniff_hdul(hdul: fits.HDUList, path: str) -> str:
    """Format of an open FITS file (see the module table); :class:`UnknownFormatError` if none."""
    names = [h.name.upper() for h in hdul]
    if desi_cameras(hdul) or "FIBERMAP" in names:
        return "desi-coadd"
    if "COADD" in names or "SPALL" in names:
        return "boss-spec"
    hdr = hdul[0].header
    if hdr.get("NAXIS") == 2 and "COEFF0" in hdr:
        nrow = as_int(hdr.get("NAXIS2"), 0)
        if as_int(hdr.get("FIBERID"), 0) > 0:
            return "spspec"
        if "PLUGMAP" in names or nrow > 5:
            return "spplate"
        if nrow >= 4:
            return "spspec"
    if len(hdul) > 1 and isinstance(hdul[1], fits.BinTableHDU):
        cols = {c.lower() for c in hdul[1].columns.names}
        if {"flux", "loglam", "ivar", "and_mask"} <= cols:
            return "boss-spec"
    if spectrum_table_hdu(hdul) is not None:
        return "table-fits"
    listing = ", ".join(n or "PRIMARY" for n in names)
    raise UnknownFormatError(path, f"FITS file (HDUs: {listing}) is not a spectrum format dla-cnn reads")


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise SpectrumReadError(path, f"cannot read the file ({describe(exc)})") from None
    return head


def _text_kind(path: str, head: bytes) -> str | None:
    text = head.decode("utf-8", errors="replace")
    if text.lstrip().startswith("# %ECSV"):
        return "table-ecsv"
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names = [c.strip().strip('"').strip("'") for c in line.split(",")]
        return "table-csv" if len(names) > 1 and is_spectrum_table(names) else None
    return None


def sniff_format(path: str | Path) -> str:
    """Tell a spectrum file's format from its content.

    Parameters
    ----------
    path : str or Path
        The spectrum file.  Only its first 2880 bytes (decompressed if gzipped) are
        looked at, plus the HDU list of a FITS file or the keys of an NPZ archive.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    SpectrumReadError
        If the file is missing or a FITS file is unreadable / truncated.
    UnknownFormatError
        If the content is no supported format.
    """
    path = str(path)
    if not Path(path).is_file():
        raise SpectrumReadError(path, "file not found")
    head = _head(path)
    if head.startswith(_FITS_MAGIC):
        with open_fits(path) as hdul:
            return sniff_hdul(hdul, path)
    return _non_fits_kind(path, head)


def _non_fits_kind(path: str, head: bytes) -> str:
    if not head:
        raise UnknownFormatError(path, "empty file")
    if head.startswith(b"PK\x03\x04"):
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.files)
        except (zipfile.BadZipFile, *READ_ERRORS) as exc:
            raise SpectrumReadError(path, f"zip archive that is not a readable .npz ({describe(exc)})") from None
        if is_spectrum_table(keys):
            return "npz"
        raise UnknownFormatError(path, ".npz archive without flux and wavelength/loglam arrays "
                                       f"(keys: {', '.join(keys)})")
    if b"\0" in head or head.decode("utf-8", errors="replace").count("\ufffd") > len(head) // 20:
        raise UnknownFormatError(path, "binary content that is neither FITS nor NPZ")
    kind = _text_kind(path, head)
    if kind is None:
        raise UnknownFormatError(path, "text that is not an ECSV/CSV spectrum table "
                                       "(needs flux and wavelength or loglam columns)")
    return kind


# ------------------------------------------------------------------------------ reading
def _iter_file(path: str, fmt: str | None, z_qso: RedshiftArg, zmap: Mapping | None, engine: str = "specutils",
               ) -> Iterator[Sightline | SightlineError]:
    if not Path(path).is_file():
        raise SpectrumReadError(path, "file not found")
    if fmt is None:
        head = _head(path)
        is_fits = head.startswith(_FITS_MAGIC)
        kind = None if is_fits else _non_fits_kind(path, head)
    else:
        is_fits, kind = fmt in FITS_FORMATS, fmt
    if not is_fits:
        yield read_table_spectrum(path, z_qso, zmap, format=kind)
        return
    with open_fits(path) as hdul:
        kind = kind or sniff_hdul(hdul, path)
        if kind == "boss-spec":
            yield read_boss_hdul(hdul, path, z_qso, zmap, engine)
        elif kind == "spspec":
            yield read_spspec_hdul(hdul, path, z_qso, zmap)
        elif kind == "spplate":
            yield from iter_spplate_hdul(hdul, path, None, z_qso, zmap)
        elif kind == "desi-coadd":
            yield from iter_desi_hdul(hdul, path, None, z_qso, zmap)
        else:
            yield read_table_hdul(hdul, path, z_qso, zmap)


def iter_sightlines(
    path: str | Path,
    z_qso: RedshiftArg = None,
    format: str | None = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
    engine: str = "specutils",
) -> Iterator[Sightline | SightlineError]:
    """Yield each sightline of one file, or the :class:`SightlineError` in its place.

    A file-level problem yields one error; files holding several spectra (spPlate,
    DESI coadd) yield one item per spectrum, so one bad fiber does not hide the others.
    Arguments as for :func:`read_spectrum`.

    Parameters
    ----------
    path : str or Path
        The spectrum file (any format of :data:`FORMATS`).
    z_qso : float or mapping, optional
        Quasar redshift, or a mapping looked up by sightline id, fiber or TARGETID;
        overrides the catalog and the files.
    format : str, optional
        One of :data:`FORMATS` (or an alias) to skip sniffing.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog whose redshifts override those stored in the file.
    engine : {"specutils", "astropy"}
        How BOSS ``spec`` files are read.

    Yields
    ------
    Sightline or SightlineError
        Each sightline read, or the error met in its place (a file-level error is
        yielded once and ends the iteration).

    Raises
    ------
    ConfigError
        If ``format`` is not a known name or the quasar catalog is unreadable.
    """
    fmt = canonical_format(format)
    zmap = as_redshift_map(quasar_catalog)
    try:
        yield from _iter_file(str(path), fmt, z_qso, zmap, engine)
    except SightlineError as err:
        yield err


def read_spectrum(
    path: str | Path,
    z_qso: RedshiftArg = None,
    format: str | None = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
    engine: str = "specutils",
) -> list[Sightline]:
    """Read every sightline of a spectrum file, whatever its format.

    Parameters
    ----------
    path : path
        A BOSS ``spec``, DR7 ``spSpec``, ``spPlate``, DESI ``coadd``, or plain table
        (FITS/ECSV/CSV/NPZ) file.
    z_qso : float or mapping, optional
        Quasar redshift.  A float serves single-spectrum files; a mapping is looked up
        by sightline id, fiber (spPlate) or TARGETID (DESI).  Overrides everything else.
    format : str, optional
        One of :data:`FORMATS` to skip sniffing.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog (:func:`~dla_cnn.io.read_quasar_catalog`, or a DESI TARGETID/Z
        table); it overrides redshifts stored in the files.
    engine : {"specutils", "astropy"}
        How BOSS ``spec`` files are read: through specutils' loader (default) or directly
        with astropy (same values, faster; what catalog runs use).

    Returns
    -------
    list of Sightline
        One for single-spectrum files; for spPlate / DESI files, every spectrum with a
        redshift.

    Raises
    ------
    SightlineError
        The first problem met (:class:`UnknownFormatError`, :class:`SpectrumReadError`,
        :class:`InvalidSpectrumError`, :class:`MissingRedshiftError`).
    ConfigError
        If ``format`` is not a known name or the quasar catalog is unreadable.
    """
    out = []
    for item in iter_sightlines(path, z_qso, format, quasar_catalog, engine):
        if isinstance(item, SightlineError):
            raise item
        out.append(item)
    return out


def expand_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike],
                  recursive: bool = True) -> Iterator[str | SightlineError]:
    """Files named by paths, glob patterns and directories, in a stable order.

    Directories contribute the files ending in :data:`SPECTRUM_SUFFIXES` (searched
    recursively by default).  A path that does not exist, or a pattern that matches
    nothing, gives a :class:`SpectrumReadError` in its place.

    Parameters
    ----------
    inputs : path, glob pattern, directory, or an iterable of them
        What to expand; a single str or path-like is taken as one input.  Patterns
        are expanded with ``glob`` (``**`` allowed); directories matched by a pattern
        are searched as directories.
    recursive : bool
        Search directories recursively (default) or only their top level.  Hidden
        files (names starting with ``.``) are skipped.

    Yields
    ------
    str or SpectrumReadError
        Each file path once (first occurrence wins), directory contents sorted by
        path; a :class:`SpectrumReadError` for an input that names no file.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    seen: set[str] = set()

    def from_dir(d: Path) -> list[str]:
        it = d.rglob("*") if recursive else d.glob("*")
        return sorted(str(p) for p in it if p.is_file() and not p.name.startswith(".")
                      and p.name.lower().endswith(SPECTRUM_SUFFIXES))

    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            files = from_dir(p)
        elif p.is_file():
            files = [text]
        elif glob.has_magic(text):
            files = []
            for m in sorted(glob.glob(text, recursive=True)):
                files.extend(from_dir(Path(m)) if Path(m).is_dir() else [m])
            if not files:
                yield SpectrumReadError(text, "no file matches this pattern")
                continue
        else:
            yield SpectrumReadError(text, "file not found")
            continue
        for f in files:
            if f not in seen:
                seen.add(f)
                yield f


def iter_spectra(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    z_qso: RedshiftArg = None,
    format: str | None = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
    recursive: bool = True,
) -> Iterator[Sightline | SightlineError]:
    """Yield a Sightline, or the SightlineError in its place, for every input spectrum.

    A batch never stops on one bad file: every problem with a file or a spectrum is
    yielded as a :class:`~dla_cnn.exceptions.SightlineError` (unexpected exceptions as a
    :class:`SpectrumReadError` naming the exception type).  Only run-wide problems
    (:class:`ConfigError`: unknown ``format``, unreadable quasar catalog) are raised.

    Parameters
    ----------
    inputs : path, glob pattern, directory, or an iterable of them
    z_qso, format, quasar_catalog
        As for :func:`read_spectrum`; the catalog is read once.
    recursive : bool
        Search directories recursively.

    Yields
    ------
    Sightline or SightlineError
        Every sightline of every input file, in :func:`expand_inputs` order, or the
        error met in its place.

    Raises
    ------
    ConfigError
        If ``format`` is not a known name or the quasar catalog is unreadable.
    """
    fmt = canonical_format(format)
    zmap = as_redshift_map(quasar_catalog)
    for path in expand_inputs(inputs, recursive=recursive):
        if isinstance(path, SightlineError):
            yield path
            continue
        items = iter_sightlines(path, z_qso, fmt, zmap)
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except RunError:
                raise
            except DATA_ERRORS as exc:  # a batch goes on past any one unreadable file
                yield SpectrumReadError(path, f"unexpected {describe(exc)}")
                break
            yield item
