"""Read any supported spectrum file: format sniffing and batch iteration.

The format is told from the file's content -- FITS HDU names and headers, the NPZ /
ECSV / CSV signatures -- never from the file name.  Each format module registers its
content identifiers and reader with :mod:`dla_cnn.io.registry`, which tries the
identifiers in order of priority (listed there).  The built-in formats:

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

import contextlib
import glob
import gzip
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from astropy.io import fits
from astropy.table import Table

# the format modules register their formats on import (dla_cnn.io imports them in
# listing order before this module)
from dla_cnn.io import boss, sdss, desi, table  # noqa: F401
from dla_cnn.exceptions import (
    DATA_ERRORS, ConfigError, RunError, SightlineError, SpectrumReadError, UnknownFormatError, describe,
)
from dla_cnn.io._common import RedshiftArg, open_fits
from dla_cnn.io._fits import ENGINES, open_fitsio
from dla_cnn.io.qsocat import as_redshift_map, fill_catalog_ids
from dla_cnn.io.registry import Source, SpectrumFormat, get_format, identify_format, registered_formats
from dla_cnn.io.table import is_text, is_zip, npz_keys
from dla_cnn.sightline import Sightline

FORMATS = registered_formats()
"""Format names accepted by ``format=`` (the built-in ones;
:func:`~dla_cnn.io.registry.registered_formats` also lists formats registered later)."""

FITS_FORMATS = tuple(name for name in FORMATS if get_format(name).fits)

SPECTRUM_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts", ".ecsv", ".csv", ".npz")
"""File endings picked up when a directory is given to :func:`iter_spectra`."""

_FITS_MAGIC = b"SIMPLE  ="
_SNIFF_BYTES = 2880


def canonical_format(format: str | None) -> str | None:
    """Normalise a ``format=`` argument; :class:`ConfigError` if it is not known."""
    if format is None:
        return None
    return get_format(format).name


# ------------------------------------------------------------------------------ sniffing
def _identify(source: Source) -> SpectrumFormat:
    """The registered format of ``source``, or the one-line error that says what the content is."""
    fmt = identify_format(source)
    if fmt is not None:
        return fmt
    path, head = source.path, source.head
    if source.hdul is not None:
        listing = ", ".join(h.name.upper() or "PRIMARY" for h in source.hdul)
        raise UnknownFormatError(path, f"FITS file (HDUs: {listing}) is not a spectrum format dla-cnn reads")
    if not head:
        raise UnknownFormatError(path, "empty file")
    if is_zip(head):
        keys = npz_keys(path)  # SpectrumReadError when it is no readable .npz
        raise UnknownFormatError(path, ".npz archive without flux and wavelength/loglam arrays "
                                       f"(keys: {', '.join(keys)})")
    if not is_text(head):
        raise UnknownFormatError(path, "binary content that is neither FITS nor NPZ")
    raise UnknownFormatError(path, "text that is not an ECSV/CSV spectrum table "
                                   "(needs flux and wavelength or loglam columns)")


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
        The name of a registered format (one of :data:`FORMATS` for the built-in ones).

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
            return _identify(Source(path, head, hdul)).name
    return _identify(Source(path, head, None)).name


# ------------------------------------------------------------------------------ reading
def _iter_file(path: str, fmt: str | None, z_qso: RedshiftArg, zmap: Mapping | None, engine: str = "specutils",
               ) -> Iterator[Sightline | SightlineError]:
    if engine not in ENGINES:
        raise ConfigError(f"unknown reading engine {engine!r}; choose from {', '.join(ENGINES)}")
    if not Path(path).is_file():
        raise SpectrumReadError(path, "file not found")
    if fmt is None:
        head = _head(path)
        is_fits = head.startswith(_FITS_MAGIC)
        spec = None if is_fits else _identify(Source(path, head, None))
    else:
        head, spec = b"", get_format(fmt)
        is_fits = spec.fits
    if not is_fits:
        for item in spec.read(Source(path, head, None), z_qso, zmap, engine):
            yield fill_catalog_ids(item, zmap)
        return
    with contextlib.ExitStack() as files:
        fio = open_fitsio(path) if engine == "fitsio" else None
        if fio is not None:
            files.callback(fio.close)
        # astropy opens the file now, or (when fitsio read it cleanly) only if an
        # identifier or reader asks for the HDU list
        source = Source(path, head, open_hdul=lambda: files.enter_context(open_fits(path)), fitsio=fio)
        if fio is None:
            source.hdul  # noqa: B018 - an unreadable file is refused before sniffing
        spec = spec or _identify(source)
        for item in spec.read(source, z_qso, zmap, engine):
            yield fill_catalog_ids(item, zmap)


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
    engine : {"specutils", "astropy", "fitsio"}
        How FITS files are read (see :func:`read_spectrum`).

    Yields
    ------
    Sightline or SightlineError
        Each sightline read, or the error met in its place (a file-level error is
        yielded once and ends the iteration).

    Raises
    ------
    ConfigError
        If ``format`` or ``engine`` is not a known name or the quasar catalog is unreadable.
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
        table); it overrides redshifts stored in the files and supplies the RA/Dec,
        THING_ID and TARGETID a file lacks.
    engine : {"specutils", "astropy", "fitsio"}
        How FITS files are read.  BOSS ``spec`` files: through specutils' loader
        (default), or their columns directly with astropy, or with ``fitsio`` (the same
        values as ``astropy``, several times faster; what catalog runs use).  ``fitsio``
        also reads DR7 ``spSpec`` files; any other format, any file fitsio does not read
        cleanly (truncated, unusual columns, ...), and every file when fitsio is not
        installed are read with astropy, so values and error messages do not depend on
        the engine.

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
        If ``format`` or ``engine`` is not a known name or the quasar catalog is unreadable.
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
    engine: str = "specutils",
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
    engine : {"specutils", "astropy", "fitsio"}
        How FITS files are read (:func:`read_spectrum`); all give the same sightlines.

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
        items = iter_sightlines(path, z_qso, fmt, zmap, engine)
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
