"""Helpers shared by the spectrum readers (not public API)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np
from astropy.io import fits

from dla_cnn.columns import find_name  # noqa: F401 - the readers import it from here
from dla_cnn.ids import format_sightline_id
from dla_cnn.exceptions import InvalidSpectrumError, MissingRedshiftError, SightlineError, SpectrumReadError, describe
from dla_cnn.io.rebin import rebin_to_sdss_grid
from dla_cnn.sightline import Sightline

READ_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, AttributeError)
"""Exceptions that astropy / numpy raise on unreadable or malformed files."""

RedshiftArg = Union[float, Mapping[Any, float], None]
"""A caller-supplied redshift: one number, or a mapping from sightline key to z."""

_CORRUPT_HINTS = ("truncated", "Error validating header", "Unexpected bytes trailing")


sightline_id_from = format_sightline_id
"""SDSS/BOSS sightline id ``PLATE-MJD-FIBER`` (see :func:`dla_cnn.ids.format_sightline_id`)."""


@contextlib.contextmanager
def open_fits(path: str | Path) -> Iterator[fits.HDUList]:
    """Open a FITS file with every header read; failures become :class:`SpectrumReadError`.

    A file whose size does not match its headers (truncated) is refused here, so readers
    never see half an array.
    """
    path = str(path)
    if not Path(path).is_file():
        raise SpectrumReadError(path, "file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
        except READ_ERRORS as exc:
            raise SpectrumReadError(path, f"not a readable FITS file ({describe(exc)})") from None
    try:
        for w in caught:
            msg = str(w.message)
            if any(h in msg for h in _CORRUPT_HINTS):
                raise SpectrumReadError(path, f"truncated or corrupt FITS file ({' '.join(msg.split())[:200]})")
        yield hdul
    finally:
        hdul.close()


def hdu_index(hdul: fits.HDUList, name: str) -> int | None:
    """Index of the HDU called ``name`` (case-insensitive), or None."""
    name = name.upper()
    for i, hdu in enumerate(hdul):
        if hdu.name.upper() == name:
            return i
    return None


def hdu_data(hdul: fits.HDUList, key: int | str, path: str) -> Any:
    """The data of one HDU; missing or unreadable -> :class:`SpectrumReadError`."""
    idx = hdu_index(hdul, key) if isinstance(key, str) else (key if key < len(hdul) else None)
    if idx is None:
        raise SpectrumReadError(path, f"missing HDU {key}")
    try:
        data = hdul[idx].data
    except READ_ERRORS as exc:
        raise SpectrumReadError(path, f"HDU {key} is unreadable ({describe(exc)})") from None
    if data is None:
        raise SpectrumReadError(path, f"HDU {key} holds no data")
    return data


def require_column(data: Any, candidates: tuple[str, ...], path: str, where: str) -> np.ndarray:
    """A column (first of ``candidates``) as an ndarray, or :class:`SpectrumReadError`."""
    names = list(getattr(data, "names", None) or getattr(data, "colnames", None) or data.keys())
    name = find_name(names, candidates)
    if name is None:
        raise SpectrumReadError(path, f"{where} has no column {' or '.join(candidates)}")
    try:
        return np.asarray(data[name])
    except READ_ERRORS as exc:
        raise SpectrumReadError(path, f"column {name} of {where} is unreadable ({describe(exc)})") from None


def header_value(headers: Iterable[Mapping], keys: Iterable[str], default: Any = None) -> Any:
    """First value found for any of ``keys`` in the headers / meta dicts (case-insensitive)."""
    keys = list(keys)
    for hdr in headers:
        if hdr is None:
            continue
        name = find_name(list(hdr.keys()), keys)
        if name is not None:
            return hdr[name]
    return default


def as_int(value: Any, default: int = -1) -> int:
    try:
        out = int(np.asarray(value).item())
    except (TypeError, ValueError):
        return default
    return out


def as_float(value: Any, default: float = np.nan) -> float:
    try:
        out = float(np.asarray(value).item())
    except (TypeError, ValueError):
        return default
    return out


def _valid_z(z: Any) -> float | None:
    z = as_float(z)
    return z if np.isfinite(z) and z > 0 else None


def lookup(mapping: Mapping | None, keys: Iterable[Any]) -> float | None:
    """First valid redshift in ``mapping`` under any of ``keys`` (or their ``str``)."""
    if mapping is None:
        return None
    for key in keys:
        for k in (key, str(key)):
            try:
                if k in mapping:
                    z = _valid_z(mapping[k])
                    if z is not None:
                        return z
            except TypeError:  # unhashable / incomparable key
                continue
    return None


def resolve_redshift(
    source: str,
    keys: Iterable[Any],
    z_qso: RedshiftArg,
    zmap: Mapping | None,
    file_z: Any = None,
) -> tuple[float, str]:
    """Pick the quasar redshift: caller, then quasar catalog, then the file itself.

    Returns
    -------
    z, origin : float, str
        ``origin`` is ``"caller"``, ``"catalog"`` or ``"file"``.

    Raises
    ------
    MissingRedshiftError
        If none of the three gives one.
    """
    keys = list(keys)
    if z_qso is not None:
        if isinstance(z_qso, Mapping):
            z = lookup(z_qso, keys)
            if z is not None:
                return z, "caller"
        else:
            return as_float(z_qso), "caller"
    z = lookup(zmap, keys)
    if z is not None:
        return z, "catalog"
    z = _valid_z(file_z) if file_z is not None else None
    if z is not None:
        return z, "file"
    what = "the file carries none" if file_z is None else f"the file's value ({as_float(file_z):g}) is invalid"
    raise MissingRedshiftError(source, f"no quasar redshift ({what}); pass z_qso or a quasar catalog")


def build_sightline(
    source: str,
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray | None,
    **fields: Any,
) -> Sightline:
    """Sanity-check raw arrays, put them on the SDSS grid and make a validated Sightline.

    ``fields`` are passed to :class:`~dla_cnn.sightline.Sightline` (``sightline_id``,
    ``z_qso``, ``ra``, ..., ``provenance``).  Errors name ``source``.
    """
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    if flux.size == 0:
        raise InvalidSpectrumError(source, "spectrum has no pixels")
    if flux.shape != ivar.shape:
        raise InvalidSpectrumError(source, f"flux shape {flux.shape} differs from ivar shape {ivar.shape}")
    finite = np.isfinite(flux)
    if not finite.any():
        raise InvalidSpectrumError(source, "flux is NaN/inf everywhere")
    if not (np.isfinite(ivar) & (ivar > 0)).any():
        raise InvalidSpectrumError(source, "ivar is zero (or invalid) at every pixel")
    if not (finite & np.isfinite(ivar) & (ivar > 0)).any():
        raise InvalidSpectrumError(source, "no pixel has both finite flux and ivar > 0")
    try:
        start, f, iv, m = rebin_to_sdss_grid(wavelength, flux, ivar, mask)
    except ValueError as exc:
        raise InvalidSpectrumError(source, f"bad wavelength array ({describe(exc)})") from None
    sl = Sightline(start_index=start, flux=f, ivar=iv, mask=m, **fields)
    try:
        return sl.validate()
    except SightlineError as err:  # re-label with the precise source (file + fiber)
        raise type(err)(source, err.problem) from None
