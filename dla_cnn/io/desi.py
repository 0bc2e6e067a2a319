"""DESI ``coadd-*.fits`` files.

Per camera ``C`` in B, R, Z: image HDUs ``C_WAVELENGTH`` (Angstrom, vacuum),
``C_FLUX`` and ``C_IVAR`` (spectra x pixels), ``C_MASK`` (non-zero = bad); a
``FIBERMAP`` table with TARGETID (and TARGET_RA, TARGET_DEC) gives one row per
spectrum.  Each camera is rebinned onto the universal SDSS grid and the cameras are
merged inverse-variance weighted where they overlap.  Redshifts are not in the file:
they come from a separate table (TARGETID, Z) given by the caller.

Registered as the ``desi-coadd`` format, tried before every other FITS format: a file
with ``*_WAVELENGTH`` and ``*_FLUX`` image HDUs, or a ``FIBERMAP`` HDU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from dla_cnn.exceptions import InvalidSpectrumError, MissingRedshiftError, SightlineError, SpectrumReadError, describe
from dla_cnn.io._common import (
    RedshiftArg,
    as_float,
    find_name,
    hdu_data,
    hdu_index,
    lookup,
    open_fits,
    require_column,
    resolve_redshift,
)
from dla_cnn.io.qsocat import as_redshift_map, fill_catalog_ids
from dla_cnn.io.rebin import coadd_on_grid, rebin_to_sdss_grid
from dla_cnn.io.registry import Source, register_format
from dla_cnn.sightline import Sightline

FORMAT = "desi-coadd"
CAMERAS = ("B", "R", "Z")


def desi_cameras(hdul: fits.HDUList) -> list[str]:
    """Cameras with both ``*_WAVELENGTH`` and ``*_FLUX`` HDUs, blue to red."""
    return _cameras(h.name.upper() for h in hdul)


def _cameras(hdu_names) -> list[str]:
    names = set(hdu_names)
    found = sorted({n[: -len("_FLUX")] for n in names if n.endswith("_FLUX")} &
                   {n[: -len("_WAVELENGTH")] for n in names if n.endswith("_WAVELENGTH")})
    return sorted(found, key=lambda c: (CAMERAS.index(c) if c in CAMERAS else len(CAMERAS), c))


def _camera_arrays(hdul: fits.HDUList, path: str, cam: str, nspec: int):
    wave = np.asarray(hdu_data(hdul, f"{cam}_WAVELENGTH", path), dtype=np.float64)
    flux = np.asarray(hdu_data(hdul, f"{cam}_FLUX", path), dtype=np.float64)
    ivar = np.asarray(hdu_data(hdul, f"{cam}_IVAR", path), dtype=np.float64)
    mask = None
    if hdu_index(hdul, f"{cam}_MASK") is not None:
        mask = np.asarray(hdu_data(hdul, f"{cam}_MASK", path)) != 0
    flux, ivar = np.atleast_2d(flux), np.atleast_2d(ivar)
    shape = (nspec, wave.size)
    for name, arr in (("FLUX", flux), ("IVAR", ivar)) + ((("MASK", np.atleast_2d(mask)),) if mask is not None else ()):
        if arr.shape != shape:
            raise SpectrumReadError(path, f"{cam}_{name} has shape {arr.shape}; expected {shape} "
                                          f"({nspec} FIBERMAP rows x {wave.size} wavelengths)")
    return wave, flux, ivar, (np.atleast_2d(mask) if mask is not None else None)


def _wanted_targets(path: str, tids: np.ndarray, targetids: Iterable[int] | None, z_qso: RedshiftArg,
                    zmap: Mapping | None) -> list[int]:
    """The TARGETIDs to read: those asked for, else those with a redshift (file-level errors raised)."""
    if targetids is not None:
        wanted = [int(t) for t in np.atleast_1d(targetids)]
    elif z_qso is not None and not isinstance(z_qso, Mapping):
        if tids.size != 1:
            raise MissingRedshiftError(path, f"one z_qso cannot serve all {tids.size} targets of a DESI coadd; "
                                             "pass a redshift table (TARGETID, Z)")
        wanted = [int(tids[0])]
    elif z_qso is None and zmap is None:
        raise MissingRedshiftError(path, "DESI coadds carry no redshift; pass a redshift table (TARGETID, Z)")
    else:
        wanted = [int(t) for t in tids if lookup(z_qso if isinstance(z_qso, Mapping) else None, [int(t)])
                  is not None or lookup(zmap, [int(t)]) is not None]
        if not wanted:
            raise MissingRedshiftError(path, "no TARGETID of the file is in the redshift table")
    if z_qso is not None and not isinstance(z_qso, Mapping) and len(wanted) != 1:
        raise MissingRedshiftError(path, f"one z_qso cannot serve {len(wanted)} targets; "
                                         "pass a redshift table (TARGETID, Z)")
    return wanted


def _rebinned_cameras(hdul: fits.HDUList, path: str, cams: list[str], nspec: int, present: list[int]):
    """Raw (flux, ivar) per camera of the ``present`` rows, and their coadd on the SDSS grid.

    Every camera of every selected spectrum is rebinned at once (they share a wavelength array).
    """
    raw, pieces = [], []
    for cam in cams:
        wave, flux, ivar, mask = _camera_arrays(hdul, path, cam, nspec)
        flux, ivar = flux[present], ivar[present]
        mask = None if mask is None else mask[present]
        raw.append((flux, ivar))
        try:
            pieces.append(rebin_to_sdss_grid(wave, flux, ivar, mask))
        except ValueError as exc:
            raise InvalidSpectrumError(path, f"bad {cam}_WAVELENGTH ({describe(exc)})") from None
    return raw, (coadd_on_grid(pieces) if present else (0, None, None, None))


def iter_desi_hdul(
    hdul: fits.HDUList,
    path: str,
    targetids: Iterable[int] | None = None,
    z_qso: RedshiftArg = None,
    zmap: Mapping | None = None,
) -> Iterator[Sightline | SightlineError]:
    """Yield a Sightline, or the per-target error, for the selected targets of a coadd.

    File-level problems (unreadable, missing HDU, no redshift source) are raised.
    """
    cams = desi_cameras(hdul)
    if not cams:
        raise SpectrumReadError(path, "no camera HDUs (B_WAVELENGTH/B_FLUX, ...)")
    fmap = hdu_data(hdul, "FIBERMAP", path)
    tids = require_column(fmap, ("TARGETID",), path, "FIBERMAP").astype(np.int64)
    nspec = tids.size
    ra_name, dec_name = find_name(fmap.names, ["TARGET_RA", "RA"]), find_name(fmap.names, ["TARGET_DEC", "DEC"])
    ra = np.asarray(fmap[ra_name], dtype=float) if ra_name else np.full(nspec, np.nan)
    dec = np.asarray(fmap[dec_name], dtype=float) if dec_name else np.full(nspec, np.nan)

    wanted = _wanted_targets(path, tids, targetids, z_qso, zmap)
    rows = []
    for t in wanted:
        hit = np.flatnonzero(tids == t)
        rows.append(int(hit[0]) if hit.size else -1)
    present = [r for r in rows if r >= 0]

    raw, (start, flux_m, ivar_m, mask_m) = _rebinned_cameras(hdul, path, cams, nspec, present)

    for t, r in zip(wanted, rows):
        source = f"{path}[TARGETID {t}]"
        try:
            if r < 0:
                raise SpectrumReadError(source, "TARGETID not in FIBERMAP")
            k = present.index(r)
            f_raw = np.concatenate([fl[k] for fl, _ in raw])
            i_raw = np.concatenate([iv[k] for _, iv in raw])
            if not np.isfinite(f_raw).any():
                raise InvalidSpectrumError(source, "flux is NaN/inf everywhere")
            if not (np.isfinite(i_raw) & (i_raw > 0)).any():
                raise InvalidSpectrumError(source, "ivar is zero (or invalid) at every pixel")
            z, origin = resolve_redshift(source, [t], z_qso, zmap)
            sl = Sightline(
                sightline_id=str(t), z_qso=z, start_index=start,
                flux=flux_m[k], ivar=ivar_m[k], mask=mask_m[k],
                ra=as_float(ra[r]), dec=as_float(dec[r]),
                provenance={"file": path, "format": FORMAT, "hdu": "FIBERMAP", "row": r,
                            "targetid": t, "cameras": "".join(cams), "z_source": origin},
                targetid=t,
            )
            try:
                yield sl.validate()
            except SightlineError as err:
                raise type(err)(source, err.problem) from None
        except SightlineError as err:
            yield err


def read_desi_coadd(
    path: str | Path,
    redshifts: Table | Mapping | str | Path | None = None,
    targetids: Iterable[int] | None = None,
    z_qso: RedshiftArg = None,
) -> list[Sightline]:
    """Read spectra from a DESI ``coadd`` file, cameras merged on the SDSS grid.

    Parameters
    ----------
    path : path
        The ``coadd-*.fits`` file.
    redshifts : Table, mapping, or path, optional
        Redshift table with TARGETID and Z (e.g. a redrock ``REDSHIFTS`` table or a
        quasar catalog), or a mapping ``{targetid: z}``.
    targetids : iterable of int, optional
        Targets to read.  Default: every target with a redshift.
    z_qso : float or mapping, optional
        A redshift for a single-target file, or ``{targetid: z}``; overrides ``redshifts``.

    Returns
    -------
    list of Sightline
        ``sightline_id = str(TARGETID)`` and ``targetid = TARGETID``; ``plate``, ``mjd``,
        ``fiber`` and ``thing_id`` are -1; ``ra``/``dec`` from FIBERMAP ``TARGET_RA``/``TARGET_DEC``.

    Raises
    ------
    MissingRedshiftError
        If no redshift is given, or a requested target has none.
    SightlineError
        The first per-target problem; :func:`dla_cnn.io.iter_sightlines` yields the good
        targets of a file with some bad ones.
    """
    zmap = as_redshift_map(redshifts)
    with open_fits(path) as hdul:
        out = []
        for item in iter_desi_hdul(hdul, str(path), targetids, z_qso, zmap):
            if isinstance(item, SightlineError):
                raise item
            out.append(fill_catalog_ids(item, zmap))
        return out


# ------------------------------------------------------------------------------ registry
def identify_desi_coadd(source: Source) -> bool:
    """A FITS file with camera HDUs (``B_WAVELENGTH`` + ``B_FLUX``, ...) or a ``FIBERMAP`` HDU.

    Parameters
    ----------
    source : Source
        The open FITS file.

    Returns
    -------
    bool
    """
    names = source.layout.names
    return bool(_cameras(names)) or "FIBERMAP" in names


def _read_source(
    source: Source, z_qso: RedshiftArg, zmap: Mapping | None, engine: str
) -> Iterator[Sightline | SightlineError]:
    return iter_desi_hdul(source.hdul, source.path, None, z_qso, zmap)


register_format(FORMAT, identify_desi_coadd, _read_source, priority=10, aliases=("desi",))
