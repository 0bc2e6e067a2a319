"""BOSS / eBOSS ``spec-PLATE-MJD-FIBER.fits`` files: reader and writer.

Layout: empty primary HDU; HDU1 ``COADD`` (columns ``flux``, ``loglam``, ``ivar``,
``and_mask``, ``or_mask``, ``wdisp``, ``sky``, ``model``); HDU2 ``SPALL`` (one row:
PLATE, MJD, FIBERID, Z, CLASS, THING_ID, PLUG_RA, PLUG_DEC, ...); HDU3 ``SPZLINE``.
Flux and wavelength are read with specutils' ``SDSS-III/IV spec`` loader; ivar,
and_mask and the SPALL row with astropy.  ``engine="astropy"`` reads every column
directly with astropy, ``engine="fitsio"`` with fitsio (the COADD table and only the
keywords and SPALL columns used; what catalog runs use), see :mod:`dla_cnn.io._fits`.

Registered as the ``boss-spec`` format: a file with a ``COADD`` or ``SPALL`` HDU, or
(a looser rule, tried after the SDSS image formats) whose HDU1 is a table with the
COADD columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn import __version__, grid
from dla_cnn.exceptions import SpectrumReadError, describe
from dla_cnn.io._common import (
    READ_ERRORS,
    RedshiftArg,
    as_float,
    as_int,
    build_sightline,
    find_name,
    header_value,
    hdu_data,
    hdu_index,
    open_fits,
    require_column,
    resolve_redshift,
    sightline_id_from,
)
from dla_cnn.io._fits import FITSIO_ERRORS, fitsio_header, fitsio_layout, open_fitsio, plain_columns
from dla_cnn.io.qsocat import as_redshift_map, fill_catalog_ids
from dla_cnn.io.registry import Source, register_format, register_identifier
from dla_cnn.sightline import Sightline



def _spectrum_class():
    """specutils' spectrum class, imported on first use (importing specutils takes ~2 s)."""
    try:  # specutils >= 2.0
        from specutils import Spectrum
    except ImportError:  # pragma: no cover - specutils 1.x
        from specutils import Spectrum1D as Spectrum
    return Spectrum

SPECUTILS_FORMAT = "SDSS-III/IV spec"
SDSS_FLUX_UNIT = u.Unit("1e-17 erg / (Angstrom cm2 s)")
BUNIT = "1e-17 erg / (Angstrom cm2 s)"
FORMAT = "boss-spec"

AND_MASK_BAD = 1 << 18
"""and_mask bit written for masked pixels (SDSS pixel-mask bit 18, FULLREJECT)."""

COADD_COLUMNS = ("flux", "loglam", "ivar", "and_mask")


def read_boss_spec(
    path: str | Path,
    z_qso: RedshiftArg = None,
    quasar_catalog: Table | Mapping | str | Path | None = None,
    engine: str = "specutils",
) -> Sightline:
    """Read a BOSS/eBOSS ``spec`` file.

    Parameters
    ----------
    path : path
        The ``spec-PLATE-MJD-FIBER.fits`` file.
    z_qso : float or mapping, optional
        Quasar redshift (a mapping is looked up by sightline id).  Overrides the
        catalog and the file's SPALL ``Z``.
    quasar_catalog : Table, mapping, or path, optional
        Quasar catalog (see :func:`~dla_cnn.io.read_quasar_catalog`); overrides SPALL ``Z``
        and supplies a THING_ID when SPALL has none.
    engine : {"specutils", "astropy", "fitsio"}
        ``specutils`` (default) reads through the ``SDSS-III/IV spec`` loader; ``astropy``
        reads the same columns directly, for throughput; ``fitsio`` reads them with
        fitsio (same values as ``astropy``, faster; astropy reads any file fitsio does
        not read cleanly, and every file when fitsio is not installed).

    Returns
    -------
    Sightline
        Validated; ``sightline_id`` is ``PLATE-MJD-FIBER``, mask is ``and_mask != 0``,
        ``thing_id`` is SPALL ``THING_ID`` (-1 when absent).

    Raises
    ------
    SpectrumReadError, InvalidSpectrumError, MissingRedshiftError
    """
    zmap = as_redshift_map(quasar_catalog)
    fio = open_fitsio(str(path)) if engine == "fitsio" else None
    if fio is not None:
        with fio:
            sl = read_boss_fitsio(fio, str(path), z_qso, zmap)
        if sl is not None:
            return fill_catalog_ids(sl, zmap)
    with open_fits(path) as hdul:
        return fill_catalog_ids(read_boss_hdul(hdul, str(path), z_qso, zmap, engine), zmap)


def _spall_row(hdul: fits.HDUList, path: str) -> Mapping[str, Any]:
    """The SPALL row as a dict (empty when the file has no SPALL HDU)."""
    idx = hdu_index(hdul, "SPALL")
    if idx is None:
        return {}
    data = hdu_data(hdul, idx, path)
    if len(data) < 1:
        raise SpectrumReadError(path, "SPALL HDU has no rows")
    row = data[0]
    return {name: row[name] for name in data.names}


def read_boss_hdul(
    hdul: fits.HDUList, path: str, z_qso: RedshiftArg = None, zmap: Mapping | None = None, engine: str = "specutils"
) -> Sightline:
    """Read an already opened BOSS ``spec`` file (see :func:`read_boss_spec`).

    ``engine="astropy"`` (or ``"fitsio"``: the file is open with astropy already) reads the
    COADD ``loglam``/``flux`` columns directly instead of going through specutils' loader
    (same values, several times faster).
    """
    idx = hdu_index(hdul, "COADD")
    if idx is None:
        if len(hdul) > 1 and isinstance(hdul[1], fits.BinTableHDU) and hdul[1].name.upper() != "SPALL":
            idx = 1  # files whose HDU1 is not named COADD
        else:
            raise SpectrumReadError(path, "missing HDU COADD")
    coadd = hdu_data(hdul, idx, path)
    for name in COADD_COLUMNS:
        require_column(coadd, (name,), path, "COADD")
    ivar = require_column(coadd, ("ivar",), path, "COADD").astype(np.float64)
    and_mask = require_column(coadd, ("and_mask",), path, "COADD")

    if engine in ("astropy", "fitsio"):
        # the same COADD columns specutils reads, without building a Spectrum (catalog throughput)
        wave = 10.0 ** require_column(coadd, ("loglam",), path, "COADD").astype(np.float64)
        flux = require_column(coadd, ("flux",), path, "COADD").astype(np.float64)
    elif engine == "specutils":
        hduin = hdul if idx == 1 else fits.HDUList([hdul[0], hdul[idx]])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", u.UnitsWarning)
                spec = _spectrum_class().read(hduin, format=SPECUTILS_FORMAT)
        except READ_ERRORS as exc:
            raise SpectrumReadError(path, f"specutils cannot read the spectrum ({describe(exc)})") from None
        wave = spec.spectral_axis.to_value(u.AA)
        flux = np.asarray(spec.flux.value, dtype=np.float64)
        if spec.flux.unit.is_equivalent(SDSS_FLUX_UNIT):
            scale = spec.flux.unit.to(SDSS_FLUX_UNIT)
            flux, ivar = flux * scale, ivar / scale**2
    else:
        raise ValueError(f"unknown engine {engine!r} (use 'specutils', 'astropy' or 'fitsio')")

    hdr = hdul[0].header
    # with the redshift given and the ids in the primary header, the direct engines skip
    # parsing the SPALL table (half the read time of a catalog run from a quasar table)
    fast = engine != "specutils" and _spall_not_needed(hdr, z_qso)
    spall = {} if fast else _spall_row(hdul, path)
    return _boss_sightline(path, idx, wave, flux, ivar, and_mask, hdr, spall, z_qso, zmap)


def _spall_not_needed(hdr: Mapping, z_qso: RedshiftArg) -> bool:
    """With one redshift given and the ids in the primary header, SPALL is not read."""
    return isinstance(z_qso, (int, float)) and all(k in hdr for k in ("PLATEID", "MJD", "FIBERID"))


def _boss_sightline(path: str, idx: int, wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray,
                    and_mask: np.ndarray, hdr: Mapping, spall: Mapping, z_qso: RedshiftArg,
                    zmap: Mapping | None) -> Sightline:
    """The Sightline of a BOSS file from its COADD columns, primary header and SPALL row."""
    plate = as_int(header_value([spall, hdr], ["PLATE", "PLATEID"]))
    mjd = as_int(header_value([spall, hdr], ["MJD"]))
    fiber = as_int(header_value([spall, hdr], ["FIBERID", "FIBER"]))
    if plate > 0 and mjd > 0 and fiber > 0:
        sid = sightline_id_from(plate, mjd, fiber)
    else:
        sid = str(header_value([hdr], ["SIGHTID"], Path(path).name.split(".")[0]))
    file_z = header_value([spall], ["Z"])
    z, origin = resolve_redshift(path, [sid], z_qso, zmap, file_z)
    cls = header_value([spall], ["CLASS"], "")
    thing_id = as_int(header_value([spall, hdr], ["THING_ID"]))
    provenance = {
        "file": path,
        "format": FORMAT,
        "hdu": int(idx),
        "z_source": origin,
        "thing_id": thing_id,
        "class": str(cls).strip(),
    }
    return build_sightline(
        path, wave, flux, ivar, np.asarray(and_mask) != 0,
        sightline_id=sid, z_qso=z,
        ra=as_float(header_value([spall, hdr], ["PLUG_RA", "RA"])),
        dec=as_float(header_value([spall, hdr], ["PLUG_DEC", "DEC"])),
        plate=plate, mjd=mjd, fiber=fiber, provenance=provenance, thing_id=thing_id,
    )


# the SPALL and header keywords _boss_sightline looks up (a fitsio read takes only these columns)
_SPALL_KEYS = frozenset(k.lower() for k in ("PLATE", "PLATEID", "MJD", "FIBERID", "FIBER", "Z", "CLASS",
                                             "THING_ID", "PLUG_RA", "RA", "PLUG_DEC", "DEC"))


def _readable(hdu, colnames: list[str], cols: list[str]) -> bool:
    """A table fitsio reads as astropy does: rows, plain columns, no two names differing
    only in case (fitsio looks columns up case-insensitively)."""
    return (hdu.get_nrows() >= 1 and len({c.lower() for c in colnames}) == len(colnames)
            and plain_columns(hdu, cols))


def read_boss_fitsio(fio, path: str, z_qso: RedshiftArg = None, zmap: Mapping | None = None) -> Sightline | None:
    """Read a BOSS ``spec`` file opened with fitsio: the COADD table, the primary keywords
    and the SPALL columns used (of its first row, and only when the redshift or the ids
    are not given otherwise); the same Sightline as ``engine="astropy"``.

    Returns None when anything looks unusual (no COADD HDU or column, an empty table,
    scaled or vector columns, a read error), so that astropy reads the file and gives
    its values or its error message.
    """
    try:
        layout = fitsio_layout(fio)
        idx = layout.index("COADD")
        if idx is None and len(layout) > 1 and layout.kinds[1] == "bintable" and layout.names[1] != "SPALL":
            idx = 1  # files whose HDU1 is not named COADD
        if idx is None or layout.kinds[idx] != "bintable":
            return None
        hdu = fio[idx]
        colnames = hdu.get_colnames()
        cols = [find_name(colnames, (name,)) for name in COADD_COLUMNS]
        if None in cols or not _readable(hdu, colnames, cols):
            return None
        # the whole table in one contiguous read takes about half the time of reading 4 of
        # its 8 columns (cfitsio reads a subset row by row); it is ~150 kB for a BOSS file
        coadd = hdu.read()
        flux, loglam, ivar, and_mask = (coadd[c] for c in cols)
        hdr = fitsio_header(fio[0])
        spall: dict[str, Any] = {}
        sidx = layout.index("SPALL")
        if sidx is not None and not _spall_not_needed(hdr, z_qso):
            if layout.kinds[sidx] != "bintable":
                return None
            shdu = fio[sidx]
            colnames = shdu.get_colnames()
            scols = [c for c in colnames if c.lower() in _SPALL_KEYS]
            if not _readable(shdu, colnames, scols):
                return None
            if scols:
                row = shdu.read(columns=scols, rows=[0])
                spall = {c: row[c][0] for c in scols}
    except FITSIO_ERRORS:
        return None
    wave = 10.0 ** loglam.astype(np.float64)
    return _boss_sightline(path, idx, wave, flux.astype(np.float64), ivar.astype(np.float64), and_mask,
                           hdr, spall, z_qso, zmap)


def write_boss_spec(
    sightline: Sightline,
    path: str | Path,
    wdisp: np.ndarray | float | None = None,
    extra_spall: Mapping[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a sightline as a BOSS ``spec`` file.

    The file reads back with :func:`read_boss_spec` and with specutils'
    ``SDSS-III/IV spec`` loader (also without naming the format, when the sightline has
    a fiber number > 0).

    Parameters
    ----------
    sightline : Sightline
        The spectrum; its ``plate``, ``mjd``, ``fiber``, ``thing_id`` (-1 when unknown),
        ``ra``, ``dec`` and ``z_qso`` go into SPALL, its ``sightline_id`` into the primary
        header (``SIGHTID``).
    path : path
        Output file.
    wdisp : ndarray or float, optional
        Line-spread sigma in pixels (default 1).
    extra_spall : mapping, optional
        Extra SPALL columns (scalars), or overrides of the default ones.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Columns are float32 like the survey's files; pixels with a non-finite flux are
    written with flux 0 and ivar 0; masked pixels get ``and_mask`` bit 18.
    ``sky`` and ``model`` are zero and ``SPZLINE`` is an empty table.
    """
    sl = sightline
    n = sl.npix
    finite = np.isfinite(sl.flux)
    ivar = np.where(finite & np.isfinite(sl.ivar) & (sl.ivar > 0), sl.ivar, 0.0)
    wd = np.broadcast_to(np.asarray(1.0 if wdisp is None else wdisp, dtype=np.float32), (n,))
    and_mask = np.where(sl.mask, AND_MASK_BAD, 0).astype(np.int32)
    coadd = Table()
    coadd["flux"] = np.where(finite, sl.flux, 0.0).astype(np.float32)
    coadd["loglam"] = (sl.loglam).astype(np.float32)
    coadd["ivar"] = ivar.astype(np.float32)
    coadd["and_mask"] = and_mask
    coadd["or_mask"] = and_mask.copy()
    coadd["wdisp"] = np.array(wd, dtype=np.float32)
    coadd["sky"] = np.zeros(n, dtype=np.float32)
    coadd["model"] = np.zeros(n, dtype=np.float32)

    spall: dict[str, Any] = {
        "PLATE": np.int32(sl.plate),
        "MJD": np.int32(sl.mjd),
        "FIBERID": np.int32(sl.fiber),
        "CLASS": "QSO",
        "Z": np.float64(sl.z_qso),  # float64 so a written z reads back exactly
        "Z_ERR": np.float32(0.0),
        "ZWARNING": np.int32(0),
        "THING_ID": np.int32(sl.thing_id if sl.thing_id >= 0 else sl.provenance.get("thing_id", -1)),
        "PLUG_RA": np.float64(sl.ra),
        "PLUG_DEC": np.float64(sl.dec),
    }
    spall.update(extra_spall or {})
    spall_tab = Table({k: [v] for k, v in spall.items()})

    zline = Table(
        {
            "PLATE": np.zeros(0, np.int32),
            "MJD": np.zeros(0, np.int32),
            "FIBERID": np.zeros(0, np.int32),
            "LINENAME": np.zeros(0, "S13"),
            "LINEWAVE": np.zeros(0, np.float64),
            "LINEZ": np.zeros(0, np.float32),
        }
    )

    hdr = fits.Header()
    hdr["TELESCOP"] = ("SDSS 2.5-M", "survey layout (written by dla-cnn)")
    hdr["VERS2D"] = ("v5_dla-cnn", "spec-file layout version; not a pipeline run")
    hdr["PLATEID"] = sl.plate
    hdr["MJD"] = sl.mjd
    hdr["FIBERID"] = sl.fiber
    hdr["SIGHTID"] = (str(sl.sightline_id), "dla-cnn sightline id")
    if np.isfinite(sl.ra) and np.isfinite(sl.dec):
        hdr["PLUG_RA"] = float(sl.ra)
        hdr["PLUG_DEC"] = float(sl.dec)
    hdr["BUNIT"] = BUNIT
    hdr["COEFF0"] = float(sl.start_index * grid.DLOGLAM)
    hdr["COEFF1"] = grid.DLOGLAM
    hdr["CREATOR"] = f"dla-cnn {__version__}"
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(header=hdr),
            fits.BinTableHDU(coadd, name="COADD"),
            fits.BinTableHDU(spall_tab, name="SPALL"),
            fits.BinTableHDU(zline, name="SPZLINE"),
        ]
    )
    path = Path(path)
    hdul.writeto(path, overwrite=overwrite)
    return path


# ------------------------------------------------------------------------------ registry
def identify_boss_spec(source: Source) -> bool:
    """A FITS file with a ``COADD`` or ``SPALL`` HDU.

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    names = source.layout.names
    return "COADD" in names or "SPALL" in names


def identify_boss_columns(source: Source) -> bool:
    """A FITS file whose HDU1 is a binary table with ``flux``, ``loglam``, ``ivar``, ``and_mask``.

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    layout = source.layout
    if len(layout) > 1 and layout.kinds[1] == "bintable":
        return set(COADD_COLUMNS) <= {c.lower() for c in layout.columns(1)}
    return False


def _read_source(source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str) -> Iterator[Sightline]:
    if source.fitsio is not None:
        sl = read_boss_fitsio(source.fitsio, source.path, z_qso, zmap)
        if sl is not None:
            yield sl
            return
    yield read_boss_hdul(source.hdul, source.path, z_qso, zmap, engine)


register_format(FORMAT, identify_boss_spec, _read_source, priority=20,
                aliases=("boss", "spec", SPECUTILS_FORMAT))
register_identifier(FORMAT, identify_boss_columns, priority=40)
