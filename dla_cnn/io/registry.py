"""The spectrum format registry: each format module registers its sniffer and reader.

A format is a name, a reader, and one or more *identifiers*: functions that look at a
file's content (never its name) and say whether it is in that format.  Each format
module registers itself at import (``register_format(...)`` at the bottom of
:mod:`dla_cnn.io.boss`, :mod:`dla_cnn.io.sdss`, ...), in the spirit of specutils'
``default_loaders``, so adding a format means adding one module that registers itself
and is imported by :mod:`dla_cnn.io`.

Identifiers are tried in order of priority, lowest number first (ties in the order
they were registered); the first that says yes names the format.  A FITS format's
identifier sees the open file (:attr:`Source.layout`: HDU names, kinds, columns and
headers, whichever engine opened it; or :attr:`Source.hdul`, the astropy HDU list),
any other format's the first bytes of the file, so a more specific format needs a lower
number only than the looser formats of its own kind.  Formats are *listed*
(:func:`registered_formats`, error messages) in the order they were registered.

Built-in priorities:

===== =============================================== =====================
prio  FITS content                                    other content
===== =============================================== =====================
10    ``desi-coadd``
20    ``boss-spec`` (COADD / SPALL HDU)
30    ``spspec``, ``spplate``
40    ``boss-spec`` (HDU1 with the COADD columns)
50    ``table-fits``
60                                                    ``npz``
70                                                    ``table-ecsv``
80                                                    ``table-csv``
===== =============================================== =====================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from astropy.io import fits

from dla_cnn.exceptions import ConfigError, SightlineError
from dla_cnn.io._common import RedshiftArg
from dla_cnn.io._fits import FitsLayout, astropy_layout, fitsio_layout
from dla_cnn.sightline import Sightline

__all__ = [
    "Source",
    "SpectrumFormat",
    "get_format",
    "identify_format",
    "register_format",
    "register_identifier",
    "registered_formats",
    "unregister_format",
]


class Source:
    """What an identifier and a reader get: one spectrum file, opened as its kind needs.

    Parameters
    ----------
    path : str
        The file.
    head : bytes
        Its first 2880 bytes, decompressed if gzipped (empty when the caller named the
        format, so nothing was sniffed).
    hdul : `~astropy.io.fits.HDUList`, optional
        The file opened with astropy, for FITS content.
    open_hdul : callable, optional
        For FITS content not opened with astropy yet: opens it (on first use of
        :attr:`hdul`), or raises the file's read error.
    fitsio : fitsio.FITS, optional
        The file opened with ``fitsio``, when the caller asked for that engine and
        fitsio reads the file cleanly (see :mod:`dla_cnn.io._fits`).

    Attributes
    ----------
    path, head, fitsio
        As given.
    hdul : `~astropy.io.fits.HDUList` or None
        The open FITS file (opened with astropy on first use); None for other content.
    layout : `~dla_cnn.io._fits.FitsLayout` or None
        HDU names, kinds, columns and headers of FITS content, from fitsio when the
        file is open with it (no astropy parsing), else from :attr:`hdul`.
    is_fits : bool
        FITS content (only FITS formats' identifiers are asked about it).
    """

    __slots__ = ("path", "head", "fitsio", "_hdul", "_open_hdul", "_layout")

    def __init__(self, path: str, head: bytes, hdul: fits.HDUList | None = None, *,
                 open_hdul: Callable[[], fits.HDUList] | None = None, fitsio: Any = None):
        self.path = path
        self.head = head
        self.fitsio = fitsio
        self._hdul = hdul
        self._open_hdul = open_hdul
        self._layout = None

    @property
    def is_fits(self) -> bool:
        return self._hdul is not None or self._open_hdul is not None or self.fitsio is not None

    @property
    def hdul(self) -> fits.HDUList | None:
        if self._hdul is None and self._open_hdul is not None:
            opener, self._open_hdul = self._open_hdul, None
            self._hdul = opener()
        return self._hdul

    @property
    def layout(self) -> FitsLayout | None:
        if self._layout is None:
            if self.fitsio is not None:
                self._layout = fitsio_layout(self.fitsio)
            elif self.is_fits:
                self._layout = astropy_layout(self.hdul)
        return self._layout

    def __repr__(self) -> str:
        kind = "fitsio" if self.fitsio is not None else "FITS" if self.is_fits else "other"
        return f"Source({self.path!r}, {kind})"


Identify = Callable[[Source], bool]
"""``identify(source) -> bool``: is this file's content in the format?"""

Reader = Callable[[Source, RedshiftArg, Mapping | None, str], Iterable[Sightline | SightlineError]]
"""``read(source, z_qso, zmap, engine)`` -> every sightline of the file, or the error met in
its place (``z_qso`` the caller's redshift, ``zmap`` the quasar-catalog mapping,
``engine`` the reading engine, one of :data:`~dla_cnn.io._fits.ENGINES`; a reader
without fitsio support reads ``source.hdul`` whatever the engine)."""


class SpectrumFormat(NamedTuple):
    """A registered spectrum format.

    Attributes
    ----------
    name : str
        The name ``format=`` takes and provenance records.
    read : callable
        The reader, see :data:`Reader`.
    fits : bool
        FITS content: the identifiers and the reader get the open file
        (:attr:`Source.layout`, :attr:`Source.hdul`).
    aliases : tuple of str
        Other (lower-case) names ``format=`` accepts.
    """

    name: str
    read: Reader
    fits: bool
    aliases: tuple[str, ...]


class _Identifier(NamedTuple):
    priority: int
    name: str
    identify: Identify


_FORMATS: dict[str, SpectrumFormat] = {}
_IDENTIFIERS: list[_Identifier] = []
"""Every identifier, kept sorted by priority (a stable sort: ties in registration order)."""


def register_format(
    name: str,
    identify: Identify,
    read: Reader,
    priority: int,
    *,
    fits: bool = True,
    aliases: Iterable[str] = (),
) -> SpectrumFormat:
    """Add a spectrum format (replacing one of the same name and its identifiers).

    Parameters
    ----------
    name : str
        Format name, lower case (``"boss-spec"``).
    identify : callable
        ``identify(source) -> bool`` on the file's content (:class:`Source`); it must
        not look at the file name.
    read : callable
        ``read(source, z_qso, zmap, engine)`` yielding each Sightline of the file or
        the SightlineError in its place (see :data:`Reader`).
    priority : int
        Sniffing order, lowest first, see the module docstring.
    fits : bool
        The format is FITS content (``identify`` and ``read`` get the open file).
    aliases : iterable of str
        Other names ``format=`` accepts.

    Returns
    -------
    SpectrumFormat
        The registered format.
    """
    name = name.strip().lower()
    if name in _FORMATS:
        unregister_format(name)
    fmt = SpectrumFormat(name, read, bool(fits), tuple(a.strip().lower() for a in aliases))
    _FORMATS[name] = fmt
    register_identifier(name, identify, priority)
    return fmt


def register_identifier(name: str, identify: Identify, priority: int) -> None:
    """Add a further identifier to a registered format (a looser rule at another priority).

    Parameters
    ----------
    name : str
        A registered format.
    identify : callable
        ``identify(source) -> bool``, as for :func:`register_format`.
    priority : int
        Sniffing order, lowest first.

    Returns
    -------
    None

    Raises
    ------
    KeyError
        If no format of that name is registered.
    """
    if name not in _FORMATS:
        raise KeyError(f"no spectrum format {name!r} is registered")
    _IDENTIFIERS.append(_Identifier(int(priority), name, identify))
    _IDENTIFIERS.sort(key=lambda ident: ident.priority)


def unregister_format(name: str) -> SpectrumFormat:
    """Remove a format and its identifiers.

    Parameters
    ----------
    name : str
        A registered format name.

    Returns
    -------
    SpectrumFormat
        The format removed.

    Raises
    ------
    KeyError
        If no format of that name is registered.
    """
    name = name.strip().lower()
    fmt = _FORMATS.pop(name)
    _IDENTIFIERS[:] = [ident for ident in _IDENTIFIERS if ident.name != name]
    return fmt


def registered_formats() -> tuple[str, ...]:
    """Names of the registered formats, in the order they were registered.

    Returns
    -------
    tuple of str
    """
    return tuple(_FORMATS)


def get_format(name: str) -> SpectrumFormat:
    """The registered format called ``name`` or one of its aliases (case-insensitive).

    Parameters
    ----------
    name : str
        Format name or alias.

    Returns
    -------
    SpectrumFormat

    Raises
    ------
    ConfigError
        If no registered format has that name or alias.
    """
    key = name.strip().lower()
    if key in _FORMATS:
        return _FORMATS[key]
    for fmt in _FORMATS.values():
        if key in fmt.aliases:
            return fmt
    raise ConfigError(f"unknown spectrum format {name!r}; choose from {', '.join(_FORMATS)}")


def identify_format(source: Source) -> SpectrumFormat | None:
    """The format of ``source``: the first identifier, by priority, that recognises it.

    Parameters
    ----------
    source : Source
        The file; only formats of its kind (FITS when ``source.is_fits``) are tried.

    Returns
    -------
    SpectrumFormat or None
        None when no registered format recognises the content.
    """
    is_fits = source.is_fits
    for ident in list(_IDENTIFIERS):
        fmt = _FORMATS[ident.name]
        if fmt.fits == is_fits and ident.identify(source):
            return fmt
    return None
