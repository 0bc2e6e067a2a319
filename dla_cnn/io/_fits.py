"""FITS access for the readers: the two reading engines and what the identifiers look at.

Every FITS format is read with astropy (:func:`dla_cnn.io._common.open_fits`).  Readers
that support it (BOSS ``spec``, DR7 ``spSpec``) read with ``fitsio`` (cfitsio) instead
when the caller asks for ``engine="fitsio"`` and ``fitsio`` is importable: the same
values, several times faster per file, which is what survey-scale catalog runs need.

``fitsio`` only ever reads files it reads cleanly.  :func:`open_fitsio` hands a file to
astropy (returns None) when its content ends anywhere but where the headers say
(truncated, trailing bytes), when it is gzipped in more than one member, when cfitsio
cannot open it, or when the path would mean something else to cfitsio's extended
file-name syntax (``file.fits[1]``, ``-``, ``http://``, ...); the readers hand a file
to astropy when anything they need looks unusual (scaled or vector columns, an empty
table, any read error).  So a corrupt or odd file gets the same astropy error message,
or the same values, whichever engine was asked for.

Identifiers see a :class:`FitsLayout` (HDU names and kinds, column names, headers),
built from whichever engine opened the file, so sniffing a file opened with fitsio
parses no header with astropy.

Catalog runs read with :func:`fits_engine`: fitsio unless ``DLA_CNN_FITS_ENGINE=astropy``.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from astropy.io import fits

from dla_cnn.exceptions import ConfigError

__all__ = [
    "ENGINES",
    "FITS_ENGINE_ENV",
    "FitsLayout",
    "astropy_layout",
    "fits_engine",
    "fitsio_available",
    "fitsio_header",
    "fitsio_layout",
    "open_fitsio",
    "plain_columns",
]

ENGINES = ("specutils", "astropy", "fitsio")
"""Reading engines: ``specutils`` (BOSS flux through specutils' loader; the default of
:func:`~dla_cnn.io.read_spectrum`), ``astropy`` (the columns directly), ``fitsio``
(cfitsio where a reader supports it and the file reads cleanly, else astropy)."""

FITSIO_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError)
"""What fitsio raises on a file it cannot read (cfitsio errors are OSError); such a file
goes to astropy, which gives the error message (or reads it)."""

FITS_ENGINE_ENV = "DLA_CNN_FITS_ENGINE"
"""Environment variable naming how catalog runs read FITS files: ``fitsio`` (the default;
astropy where fitsio is not installed or does not read a file cleanly) or ``astropy``."""

_GZIP_MAGIC = b"\x1f\x8b"
_FITS_MAGIC = b"SIMPLE  ="
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./-]+")
"""Paths cfitsio takes literally: no brackets, parentheses, ``+N``, ``!``, ``~``, ``:``,
spaces, ... (which its extended file-name syntax would interpret)."""


@lru_cache(maxsize=1)
def _fitsio():
    try:
        import fitsio
    except ImportError:  # no wheel for this platform: astropy reads everything
        return None
    return fitsio


def fitsio_available() -> bool:
    """Whether ``fitsio`` can be imported here (else ``engine="fitsio"`` reads with astropy)."""
    return _fitsio() is not None


def fits_engine() -> str:
    """The engine catalog runs read spectra with: ``$DLA_CNN_FITS_ENGINE`` (``astropy`` or
    ``fitsio``, read at each call), else ``fitsio``.

    Both give the same values and error messages; fitsio is several times faster per file.

    Returns
    -------
    str
        ``"fitsio"`` or ``"astropy"``.

    Raises
    ------
    ConfigError
        If the variable names another engine.
    """
    engine = os.environ.get(FITS_ENGINE_ENV, "").strip().lower() or "fitsio"
    if engine not in ("astropy", "fitsio"):
        raise ConfigError(f"{FITS_ENGINE_ENV}={engine!r}: choose astropy or fitsio")
    return engine


def _expected_size(path: str) -> int | None:
    """Where the FITS content must end: the file size, or for a gzipped file its
    decompressed size; None when the file starts as neither FITS nor gzip, or is a gzip
    file of several members (cfitsio sizes its buffer from the last member's trailer
    and would see only part of the content) or with bytes after its end."""
    with open(path, "rb") as fh:
        magic = fh.read(len(_FITS_MAGIC))
        if magic.startswith(_GZIP_MAGIC):
            fh.seek(0)
            unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            size = 0
            while chunk := fh.read(1 << 20):
                size += len(unzip.decompress(chunk))
                if unzip.eof:
                    break
            return size if unzip.eof and not unzip.unused_data and not fh.read(1) else None
        if magic != _FITS_MAGIC:
            return None
        return os.fstat(fh.fileno()).st_size


def open_fitsio(path: str):
    """The file opened with fitsio, or None when astropy should read it.

    None when fitsio is not importable, the path is not one cfitsio takes literally, the
    file does not start as FITS (or a single gzip member), cfitsio cannot open it, or its
    last HDU does not end exactly where the file (or its decompressed content) ends.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    fitsio.FITS or None
        Open for reading; the caller closes it.
    """
    fitsio = _fitsio()
    if fitsio is None:
        return None
    path = os.path.abspath(path)
    if not _PLAIN_PATH.fullmatch(path):
        return None
    try:
        expected = _expected_size(path)
        if expected is None:
            return None
        fio = fitsio.FITS(path)
    except (*FITSIO_ERRORS, zlib.error):
        return None
    try:
        clean = fio[len(fio) - 1].get_offsets()["data_end"] == expected
    except FITSIO_ERRORS:
        clean = False
    if not clean:
        fio.close()
        return None
    return fio


def fitsio_header(hdu) -> dict[str, Any]:
    """A fitsio HDU's header as ``{KEYWORD: value}``, the first card of a repeated keyword
    winning (as astropy's ``header[key]`` does)."""
    out: dict[str, Any] = {}
    for rec in hdu.read_header_list():
        name = rec.get("name")
        if name:
            out.setdefault(str(name).upper(), rec.get("value"))
    return out


def plain_columns(hdu, names: list[str]) -> bool:
    """Whether fitsio reads these table columns as astropy does: unscaled (no TSCALn /
    TZEROn: the two scale differently), and scalar unless strings (no vector or
    variable-length columns)."""
    # fitsio keeps an HDU's metadata in ``_info``; ``get_info()`` returns a deep copy of
    # it, which costs a tenth of a millisecond per call
    info = getattr(hdu, "_info", None)
    if not isinstance(info, Mapping):
        info = hdu.get_info()
    columns = {c["name"]: c for c in info["colinfo"]}
    for name in names:
        c = columns.get(name)
        if c is None or c["tscale"] != 1.0 or c["tzero"] != 0.0:
            return False
        tform = str(c["tform"]).strip().upper()
        if "P" in tform or "Q" in tform or (c["repeat"] != 1 and not tform.endswith("A")):
            return False
    return True


class FitsLayout:
    """What a FITS identifier looks at, whichever engine opened the file.

    Attributes
    ----------
    names : tuple of str
        Upper-case HDU names (``"PRIMARY"`` for the primary HDU when unnamed).
    kinds : tuple of str
        ``"image"``, ``"bintable"`` or ``"table"`` (ASCII) per HDU.
    """

    __slots__ = ("names", "kinds", "_columns", "_header")

    def __init__(self, names, kinds, columns, header):
        self.names: tuple[str, ...] = tuple(names)
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._columns = columns
        self._header = header

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int | None:
        """Index of the first HDU called ``name`` (case-insensitive), or None."""
        name = name.upper()
        return next((i for i, n in enumerate(self.names) if n == name), None)

    def columns(self, i: int) -> tuple[str, ...]:
        """Column names of table HDU ``i`` as spelled in the file (empty for an image)."""
        return tuple(self._columns(i)) if self.kinds[i] != "image" else ()

    def header(self, i: int) -> Mapping[str, Any]:
        """The header of HDU ``i`` (upper-case keywords)."""
        return self._header(i)


def astropy_layout(hdul: fits.HDUList) -> FitsLayout:
    """The layout of a file opened with astropy."""
    kinds = ["bintable" if isinstance(h, fits.BinTableHDU) else "table" if isinstance(h, fits.TableHDU)
             else "image" for h in hdul]
    return FitsLayout([h.name.upper() for h in hdul], kinds,
                      lambda i: hdul[i].columns.names, lambda i: hdul[i].header)


_FITSIO_KINDS = {"IMAGE_HDU": "image", "BINARY_TBL": "bintable", "ASCII_TBL": "table"}


def fitsio_layout(fio) -> FitsLayout:
    """The layout of a file opened with fitsio."""
    hdus = list(fio)
    names = [(h.get_extname() or "").strip().upper() for h in hdus]
    if names and not names[0]:
        names[0] = "PRIMARY"
    kinds = [_FITSIO_KINDS.get(h.get_exttype(), "image") for h in hdus]
    headers: dict[int, dict] = {}

    def header(i: int) -> dict:
        if i not in headers:
            headers[i] = fitsio_header(hdus[i])
        return headers[i]

    return FitsLayout(names, kinds, lambda i: hdus[i].get_colnames(), header)
