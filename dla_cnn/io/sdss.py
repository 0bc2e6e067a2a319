"""SDSS image-format spectra: DR7 ``spSpec`` and ``spPlate`` files.

Both keep a log-linear wavelength solution in the primary header
(``log10(lambda_i) = COEFF0 + COEFF1 * i``), normally already on the universal grid.

* ``spSpec-MJD-PLATE-FIBER.fit`` (SDSS-I/II, DR7): primary image rows flux,
  continuum-subtracted flux, error, mask (DR7 files carry a fifth row); redshift in the
  header keyword ``Z``.
* ``spPlate-PLATE-MJD.fits``: primary image flux (fibers x pixels), HDU1 ivar, HDU2
  and_mask, and a plug-map table (``PLUGMAP``: FIBERID, RA, DEC, OBJTYPE, ...).  It
  carries no redshifts: they come from the caller or a quasar catalog.

The arrays are read with astropy (spSpec files with fitsio when the caller asks for
``engine="fitsio"``, see :mod:`dla_cnn.io._fits`) rather than specutils'
``SDSS-I/II spSpec`` and ``SDSS spPlate`` loaders: those rebuild the wavelength WCS
without ``CRPIX1``, which puts their wavelengths one pixel (69 km/s) red of the
``COEFF0``/``COEFF1`` solution for files with ``CRPIX1 = 1`` (specutils 2.4); here the
solution is taken from the header as the format defines it.  The mask's informational
``EMLINE`` bit is not treated as bad.

Registered as the ``spspec`` and ``spplate`` formats: a 2-D primary image with
``COEFF0`` is an spSpec file when its header has ``FIBERID > 0``, else an spPlate file
when it has a ``PLUGMAP`` HDU or more than 5 rows, else an spSpec file with 4-5 rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.ids import sightline_id_prefix
from dla_cnn.exceptions import MissingRedshiftError, SightlineError, SpectrumReadError
from dla_cnn.io._common import (
    RedshiftArg,
    as_float,
    as_int,
    build_sightline,
    find_name,
    hdu_data,
    hdu_index,
    header_value,
    open_fits,
    resolve_redshift,
    sightline_id_from,
)
from dla_cnn.io._fits import FITSIO_ERRORS, FitsLayout, fitsio_header
from dla_cnn.io.qsocat import as_redshift_map, fill_catalog_ids
from dla_cnn.io.registry import Source, register_format
from dla_cnn.sightline import Sightline

EMLINE_BIT = 1 << 30
"""SDSS pixel-mask bit 30 (EMLINE): informational, marks emission lines, not bad data."""


def _wavelength(hdr: fits.Header, npix: int, path: str) -> np.ndarray:
    c0, c1 = hdr.get("COEFF0"), hdr.get("COEFF1")
    if c0 is None or c1 is None:
        raise SpectrumReadError(path, "primary header lacks the wavelength solution COEFF0/COEFF1")
    return 10.0 ** (float(c0) + float(c1) * np.arange(npix))


def _pixel_mask(values: np.ndarray) -> np.ndarray:
    """Bad-pixel flags from an SDSS pixel mask (stored as int or float)."""
    ints = np.rint(np.nan_to_num(np.asarray(values, dtype=np.float64))).astype(np.int64)
    return (ints & ~EMLINE_BIT) != 0


# ------------------------------------------------------------------------------ spSpec
def read_spspec(
    path: str | Path,
    z_qso: RedshiftArg = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
) -> Sightline:
    """Read an SDSS-I/II (DR7) ``spSpec`` file.

    Parameters
    ----------
    path : path
        The ``spSpec-MJD-PLATE-FIBER.fit`` file.
    z_qso : float or mapping, optional
        Quasar redshift; overrides the catalog and the header ``Z``.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog; overrides the header ``Z``.

    Returns
    -------
    Sightline
        ``ivar = 1 / error**2`` where ``error > 0`` (else 0); ids from the header
        keywords PLATEID, MJD, FIBERID; RA/DEC from RAOBJ/DECOBJ (or RA/DEC);
        ``thing_id`` from a THING_ID keyword (DR7 files have none: -1, unless a quasar
        catalog given to :func:`~dla_cnn.io.read_spectrum` supplies it).
    """
    zmap = as_redshift_map(quasar_catalog)
    with open_fits(path) as hdul:
        return fill_catalog_ids(read_spspec_hdul(hdul, str(path), z_qso, zmap), zmap)


def read_spspec_hdul(
    hdul: fits.HDUList, path: str, z_qso: RedshiftArg = None, zmap: Mapping | None = None
) -> Sightline:
    """Read an already opened ``spSpec`` file (see :func:`read_spspec`)."""
    return _spspec_sightline(path, hdul[0].header, np.asarray(hdu_data(hdul, 0, path)), z_qso, zmap)


def read_spspec_fitsio(fio, path: str, z_qso: RedshiftArg = None, zmap: Mapping | None = None) -> Sightline | None:
    """Read an ``spSpec`` file opened with fitsio; the same Sightline as :func:`read_spspec_hdul`.

    Returns None when the primary HDU holds no data or a scaled image (BSCALE/BZERO), or
    on a read error, so that astropy reads the file and gives its values or its error.
    """
    try:
        hdr = fitsio_header(fio[0])
        if hdr.get("BSCALE", 1) != 1 or hdr.get("BZERO", 0) != 0:
            return None
        img = fio[0].read()
    except FITSIO_ERRORS:
        return None
    if img is None:
        return None
    return _spspec_sightline(path, hdr, np.asarray(img), z_qso, zmap)


def _spspec_sightline(path: str, hdr, img: np.ndarray, z_qso: RedshiftArg, zmap: Mapping | None) -> Sightline:
    if img.ndim != 2 or img.shape[0] < 4:
        raise SpectrumReadError(path, f"primary image has shape {img.shape}; expected at least 4 rows "
                                      "(flux, continuum-subtracted flux, error, mask)")
    wave = _wavelength(hdr, img.shape[1], path)
    flux = img[0].astype(np.float64)
    err = img[2].astype(np.float64)
    ok = np.isfinite(err) & (err > 0)
    ivar = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    mask = _pixel_mask(img[3])
    plate, mjd, fiber = (as_int(hdr.get(k)) for k in ("PLATEID", "MJD", "FIBERID"))
    if plate > 0 and mjd > 0 and fiber > 0:
        sid = sightline_id_from(plate, mjd, fiber)
    else:
        sid = Path(path).name.split(".")[0]
    z, origin = resolve_redshift(path, [sid], z_qso, zmap, hdr.get("Z"))
    return build_sightline(
        path, wave, flux, ivar, mask,
        sightline_id=sid, z_qso=z,
        ra=as_float(header_value([hdr], ["RAOBJ", "RA"])),
        dec=as_float(header_value([hdr], ["DECOBJ", "DEC"])),
        plate=plate, mjd=mjd, fiber=fiber, thing_id=as_int(header_value([hdr], ["THING_ID"])),
        provenance={"file": path, "format": "spspec", "hdu": 0, "z_source": origin},
    )


# ------------------------------------------------------------------------------ spPlate
def _plugmap(hdul: fits.HDUList, path: str):
    """The plug-map table (HDU ``PLUGMAP`` or the first table with FIBERID), or None."""
    idx = hdu_index(hdul, "PLUGMAP")
    if idx is None:
        for i, hdu in enumerate(hdul):
            if isinstance(hdu, fits.BinTableHDU) and find_name(hdu.columns.names, ["FIBERID"]):
                idx = i
                break
    return None if idx is None else (idx, hdu_data(hdul, idx, path))


def _fibers_with_redshift(z_qso, zmap, plate, mjd, nfib) -> list[int]:
    fibers: set[int] = set()
    if isinstance(z_qso, Mapping):
        prefix = sightline_id_prefix(plate, mjd)
        for key in z_qso:
            if isinstance(key, (int, np.integer)):
                fibers.add(int(key))
            elif isinstance(key, str) and key.startswith(prefix) and key[len(prefix):].isdigit():
                fibers.add(int(key[len(prefix):]))
    if zmap is not None:
        fibers.update(f for f in range(1, nfib + 1) if sightline_id_from(plate, mjd, f) in zmap)
    return sorted(f for f in fibers if 1 <= f <= nfib)


def _plate_images(hdul: fits.HDUList, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Flux, ivar and (if present) and_mask images of an spPlate, shapes checked."""
    flux = np.asarray(hdu_data(hdul, 0, path))
    if flux.ndim != 2:
        raise SpectrumReadError(path, f"primary image has shape {flux.shape}; expected (fibers, pixels)")
    if len(hdul) < 2:
        raise SpectrumReadError(path, "missing HDU 1 (ivar)")
    ivar = np.asarray(hdu_data(hdul, 1, path))
    if ivar.shape != flux.shape:
        raise SpectrumReadError(path, f"ivar image (HDU1) has shape {ivar.shape}, flux has {flux.shape}")
    and_mask = None
    if len(hdul) > 2 and isinstance(hdul[2], fits.ImageHDU):
        and_mask = np.asarray(hdu_data(hdul, 2, path))
        if and_mask.shape != flux.shape:
            raise SpectrumReadError(path, f"and_mask image (HDU2) has shape {and_mask.shape}, flux has {flux.shape}")
    return flux, ivar, and_mask


def _selected_fibers(path: str, fibers, z_qso: RedshiftArg, zmap: Mapping | None, plate: int, mjd: int,
                     nfib: int) -> list[int]:
    """The fibers to read: those asked for, else those with a redshift (file-level errors raised)."""
    if fibers is not None:
        selected = [int(fibers)] if np.ndim(fibers) == 0 else [int(f) for f in fibers]
        if z_qso is not None and not isinstance(z_qso, Mapping) and len(selected) != 1:
            raise MissingRedshiftError(path, f"one z_qso cannot serve {len(selected)} fibers; "
                                             "pass z_qso={fiber: z} or a quasar catalog")
        return selected
    if z_qso is not None and not isinstance(z_qso, Mapping):
        if nfib != 1:
            raise MissingRedshiftError(path, f"one z_qso cannot serve all {nfib} fibers of an spPlate; "
                                             "pass z_qso={fiber: z} or a quasar catalog")
        return [1]
    if z_qso is None and zmap is None:
        raise MissingRedshiftError(path, "spPlate files carry no redshift; pass z_qso={fiber: z} "
                                         "or a quasar catalog")
    selected = _fibers_with_redshift(z_qso, zmap, plate, mjd, nfib)
    if not selected:
        raise MissingRedshiftError(path, f"no fiber of plate {plate} MJD {mjd} has a redshift "
                                         "from the caller or the quasar catalog")
    return selected


def _plug_values(plug, row: int | None) -> tuple[float, float, str, int]:
    """RA, Dec, OBJTYPE and THING_ID of a plug-map row (NaN / "" / -1 where unknown)."""
    if plug is None or row is None:
        return np.nan, np.nan, "", -1
    names, plugrow = plug[1].names, plug[1][row]

    def value(name: str, convert, missing):
        col = find_name(names, [name])
        return convert(plugrow[col]) if col else missing

    return (value("RA", as_float, np.nan), value("DEC", as_float, np.nan),
            value("OBJTYPE", lambda v: str(v).strip(), ""), value("THING_ID", as_int, -1))


def iter_spplate_hdul(
    hdul: fits.HDUList,
    path: str,
    fibers: int | Iterable[int] | None = None,
    z_qso: RedshiftArg = None,
    zmap: Mapping | None = None,
) -> Iterator[Sightline | SightlineError]:
    """Yield a Sightline, or the per-fiber error, for each selected fiber of an spPlate.

    File-level problems (unreadable, no redshift source at all) are raised.
    """
    hdr = hdul[0].header
    flux, ivar, and_mask = _plate_images(hdul, path)
    nfib, npix = flux.shape
    wave = _wavelength(hdr, npix, path)
    plate, mjd = as_int(hdr.get("PLATEID")), as_int(hdr.get("MJD"))
    plug = _plugmap(hdul, path)
    plug_fibers = None
    if plug is not None:
        fcol = find_name(plug[1].names, ["FIBERID"])
        plug_fibers = np.asarray(plug[1][fcol]).astype(np.int64) if fcol else None

    for fiber in _selected_fibers(path, fibers, z_qso, zmap, plate, mjd, nfib):
        source = f"{path}[fiber {fiber}]"
        try:
            row = None
            if plug_fibers is not None:
                hit = np.flatnonzero(plug_fibers == fiber)
                row = int(hit[0]) if hit.size else None
            irow = row if row is not None and row < nfib else fiber - 1
            if not 0 <= irow < nfib:
                raise SpectrumReadError(source, f"no such fiber (the plate has fibers 1-{nfib})")
            sid = sightline_id_from(plate, mjd, fiber)
            z, origin = resolve_redshift(source, [sid, fiber], z_qso, zmap)
            ra, dec, objtype, thing_id = _plug_values(plug, row)
            yield build_sightline(
                source, wave, flux[irow], ivar[irow],
                None if and_mask is None else _pixel_mask(and_mask[irow]),
                sightline_id=sid, z_qso=z, ra=ra, dec=dec, plate=plate, mjd=mjd, fiber=fiber, thing_id=thing_id,
                provenance={"file": path, "format": "spplate", "hdu": 0, "row": irow,
                            "z_source": origin, "objtype": objtype},
            )
        except SightlineError as err:
            yield err


def read_spplate(
    path: str | Path,
    fibers: int | Iterable[int] | None = None,
    z_qso: RedshiftArg = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
) -> list[Sightline]:
    """Read fibers of an ``spPlate`` file.

    Parameters
    ----------
    path : path
        The ``spPlate-PLATE-MJD.fits`` file.
    fibers : int or iterable of int, optional
        Fiber numbers (1-based).  Default: every fiber with a redshift from ``z_qso``
        (a mapping) or ``quasar_catalog``.
    z_qso : float or mapping, optional
        ``{fiber: z}`` (or ``{sightline_id: z}``); a single float only with one fiber.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog matched by ``PLATE-MJD-FIBER``.

    Returns
    -------
    list of Sightline

    Raises
    ------
    MissingRedshiftError
        If no redshift source is given (spPlate files carry none) or a selected fiber
        has none.
    SightlineError
        The first per-fiber problem; use :func:`dla_cnn.io.iter_sightlines` to get the
        good fibers of a plate with some bad ones.
    """
    zmap = as_redshift_map(quasar_catalog)
    with open_fits(path) as hdul:
        out = []
        for item in iter_spplate_hdul(hdul, str(path), fibers, z_qso, zmap):
            if isinstance(item, SightlineError):
                raise item
            out.append(fill_catalog_ids(item, zmap))
        return out


# ------------------------------------------------------------------------------ registry
def _image_kind(layout: FitsLayout) -> str | None:
    """``spspec``, ``spplate`` or None from the primary header (see the module docstring)."""
    hdr = layout.header(0)
    if not (hdr.get("NAXIS") == 2 and "COEFF0" in hdr):
        return None
    nrow = as_int(hdr.get("NAXIS2"), 0)
    if as_int(hdr.get("FIBERID"), 0) > 0:
        return "spspec"
    if "PLUGMAP" in layout.names or nrow > 5:
        return "spplate"
    return "spspec" if nrow >= 4 else None


def identify_spspec(source: Source) -> bool:
    """A DR7 ``spSpec`` file: 2-D primary image with COEFF0 and FIBERID > 0 (or 4-5 rows).

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    return _image_kind(source.layout) == "spspec"


def identify_spplate(source: Source) -> bool:
    """An ``spPlate`` file: 2-D primary image with COEFF0 and a PLUGMAP HDU (or > 5 rows).

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    return _image_kind(source.layout) == "spplate"


def _read_spspec_source(source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str) -> Iterator[Sightline]:
    if source.fitsio is not None:
        sl = read_spspec_fitsio(source.fitsio, source.path, z_qso, zmap)
        if sl is not None:
            yield sl
            return
    yield read_spspec_hdul(source.hdul, source.path, z_qso, zmap)


def _read_spplate_source(
    source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str
) -> Iterator[Sightline | SightlineError]:
    return iter_spplate_hdul(source.hdul, source.path, None, z_qso, zmap)


register_format("spspec", identify_spspec, _read_spspec_source, priority=30, aliases=("sdss-i/ii spspec",))
register_format("spplate", identify_spplate, _read_spplate_source, priority=30, aliases=("sdss spplate",))
