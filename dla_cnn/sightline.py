"""The one internal spectrum type: :class:`Sightline`.

Every reader returns a :class:`Sightline` on the universal SDSS log-lambda grid
(``loglam = k * 1e-4``).  Flux is in the survey's units (1e-17 erg/s/cm^2/A for SDSS);
the model sees it normalised by the median flux at 1420-1480 A rest (a robust red-side
median when that range is not covered).

Caveats
-------
* Pixels with ``ivar <= 0``, a non-finite flux or a set ``mask`` are *missing*: the model
  gets zero flux and zero weight there, no flux is invented.
* The normalisation is a single number per sightline; broad absorption-line quasars and
  strongly reddened quasars are not treated specially.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dla_cnn import grid
from dla_cnn.contract import FLUX_CLIP
from dla_cnn.exceptions import InvalidSpectrumError, NotSearchableError
from dla_cnn.median import median_1d

MIN_GOOD_WINDOW_PIXELS = 200
"""A sightline needs at least this many good pixels in its searched path."""


@dataclass
class WindowInputs:
    """The model's view of one sightline: the 1748-pixel search window.

    Attributes
    ----------
    start_index : int
        Universal-grid index of window pixel 0.
    flux : ndarray (1748,)
        Normalised flux, 0 where missing.
    sigma : ndarray (1748,)
        Normalised 1-sigma error, ``inf`` where missing.
    valid : ndarray of bool (1748,)
        True where the pixel has data.
    norm : float
        The normalising flux (survey units).
    """

    start_index: int
    flux: np.ndarray
    sigma: np.ndarray
    valid: np.ndarray
    norm: float

    @property
    def loglam(self) -> np.ndarray:
        return (self.start_index + np.arange(grid.N_WINDOW)) * grid.DLOGLAM

    def channels(self) -> np.ndarray:
        """Model input channels, shape (1748, 2), float32.

        Channel 0 is the normalised flux (0 where missing); channel 1 is the pixel weight
        ``1 / (1 + sigma)``, which is 0 where a pixel is missing and near 1 at high S/N.
        """
        return window_channels(self.flux, self.sigma, self.valid)


def window_channels(flux: np.ndarray, sigma: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Stack normalised flux and weight into the model's input channels (..., 2)."""
    valid = np.asarray(valid, dtype=bool)
    f = np.where(valid, np.clip(flux, *FLUX_CLIP), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(valid, 1.0 / (1.0 + np.abs(sigma)), 0.0)
    return np.stack([f, w], axis=-1).astype(np.float32)


@dataclass
class Sightline:
    """One quasar spectrum on the universal SDSS log-lambda grid.

    Parameters
    ----------
    sightline_id : str
        ``PLATE-MJD-FIBER`` for SDSS/BOSS (e.g. ``7001-57001-0012``), else a file-derived id.
    z_qso : float
        Quasar redshift.
    start_index : int
        Universal-grid index of the first pixel (``loglam[0] = start_index * 1e-4``).
    flux, ivar : ndarray
        Flux (survey units) and inverse variance per pixel.
    mask : ndarray of bool, optional
        True where a pixel is bad (e.g. a non-zero SDSS ``and_mask``).
    ra, dec : float
        Position (ICRS, degrees); NaN when the file has none.
    plate, mjd, fiber : int
        SDSS/BOSS identifiers, -1 when unknown.
    provenance : dict
        Where the spectrum came from (``file``, ``format``, ``z_source``, ...).
    thing_id : int
        SDSS/BOSS photometric object id (SPALL or quasar-catalog ``THING_ID``), -1 when unknown.
    targetid : int
        DESI ``TARGETID``, -1 when unknown.
    """

    sightline_id: str
    z_qso: float
    start_index: int
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray | None = None
    ra: float = np.nan
    dec: float = np.nan
    plate: int = -1
    mjd: int = -1
    fiber: int = -1
    provenance: dict = field(default_factory=dict)
    thing_id: int = -1
    targetid: int = -1

    def __post_init__(self) -> None:
        self.flux = np.asarray(self.flux, dtype=np.float64)
        self.ivar = np.asarray(self.ivar, dtype=np.float64)
        self.mask = (
            np.zeros(self.flux.shape, dtype=bool) if self.mask is None else np.asarray(self.mask, dtype=bool)
        )
        self.start_index = int(self.start_index)
        self.z_qso = float(self.z_qso)
        self.thing_id = int(self.thing_id)
        self.targetid = int(self.targetid)

    # ------------------------------------------------------------------ basic views
    @property
    def source(self) -> str:
        """File (or id) this sightline came from, for error messages."""
        return str(self.provenance.get("file", self.sightline_id))

    @property
    def npix(self) -> int:
        return int(self.flux.size)

    @property
    def loglam(self) -> np.ndarray:
        return (self.start_index + np.arange(self.npix)) * grid.DLOGLAM

    @property
    def wavelength(self) -> np.ndarray:
        """Observed vacuum wavelength, Angstrom."""
        return 10.0**self.loglam

    @property
    def good(self) -> np.ndarray:
        """True where the pixel carries data."""
        return (self.ivar > 0) & np.isfinite(self.flux) & np.isfinite(self.ivar) & ~self.mask

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Sightline":
        """Check the sightline is usable; raise a :class:`SightlineError` if not.

        Returns the sightline itself so readers can ``return sl.validate()``.
        """
        src = self.source
        if self.flux.ndim != 1 or self.flux.shape != self.ivar.shape or self.flux.shape != self.mask.shape:
            raise InvalidSpectrumError(src, f"flux, ivar and mask shapes differ: {self.flux.shape}, "
                                            f"{self.ivar.shape}, {self.mask.shape}")
        if self.npix < 10:
            raise InvalidSpectrumError(src, f"only {self.npix} pixels")
        if not np.isfinite(self.z_qso) or self.z_qso <= 0:
            raise InvalidSpectrumError(src, f"invalid quasar redshift z_qso={self.z_qso}")
        finite = np.isfinite(self.flux)
        if not finite.any():
            raise InvalidSpectrumError(src, "flux is NaN/inf everywhere")
        if not (np.isfinite(self.ivar) & (self.ivar > 0)).any():
            raise InvalidSpectrumError(src, "ivar is zero (or invalid) at every pixel")
        if not self.good.any():
            raise InvalidSpectrumError(src, "no pixel has both finite flux and ivar > 0")
        return self

    def check_searchable(self) -> "Sightline":
        """Raise :class:`NotSearchableError` if the forest is not covered by good data."""
        z_min, z_max = self.search_z_range()
        if z_min >= z_max:
            lam0 = self.wavelength[self.good][0] if self.good.any() else float("nan")
            raise NotSearchableError(
                self.source,
                f"z_qso={self.z_qso:.3f} is too low for Lyman-alpha forest coverage "
                f"(data start at {lam0:.0f} A; Ly-alpha emission at {grid.LYA_REST * (1 + self.z_qso):.0f} A)",
            )
        lo = grid.loglam_to_index(np.log10(grid.LYA_REST * (1 + z_min))) - self.start_index
        hi = grid.loglam_to_index(np.log10(grid.LYA_REST * (1 + z_max))) - self.start_index
        n_good = int(self.good[max(lo, 0): max(hi, 0)].sum())
        if n_good < MIN_GOOD_WINDOW_PIXELS:
            raise NotSearchableError(self.source, f"only {n_good} good pixels in the searched path "
                                                  f"(need {MIN_GOOD_WINDOW_PIXELS})")
        return self

    # ------------------------------------------------------------------ science views
    def search_z_range(self) -> tuple[float, float]:
        """Redshift path searched for absorbers (see :func:`dla_cnn.grid.search_z_range`)."""
        good = self.good
        lam_min = self.wavelength[good][0] if good.any() else np.inf
        return grid.search_z_range(self.z_qso, lam_min)

    def _rest_slice(self, lo: float, hi: float) -> slice:
        i0 = grid.loglam_to_index(np.log10(lo * (1 + self.z_qso))) - self.start_index
        i1 = grid.loglam_to_index(np.log10(hi * (1 + self.z_qso))) - self.start_index
        return slice(max(i0, 0), max(i1, 0))

    def norm_flux(self) -> float:
        """Median flux at 1420-1480 A rest; a robust red-side median if that is not covered."""
        good = self.good
        sl = self._rest_slice(*grid.NORM_REST)
        sel = good[sl]
        if sel.sum() >= 20:
            norm = median_1d(self.flux[sl][sel])
        else:  # robust fallback: the red side of Ly-alpha (1270-1700 A), else all good pixels
            sl = self._rest_slice(1270.0, 1700.0)
            sel = good[sl]
            vals = self.flux[sl][sel] if sel.sum() >= 20 else self.flux[good]
            norm = median_1d(vals)
        if not np.isfinite(norm) or norm <= 0:
            raise InvalidSpectrumError(self.source, f"non-positive continuum level ({norm:.3g}) red of Ly-alpha; "
                                                    "cannot normalise")
        return norm

    def snr(self) -> float:
        """Median S/N per pixel at 1420-1480 A rest (red-side fallback), 0 if undefined."""
        good = self.good
        for lo, hi in (grid.NORM_REST, (1270.0, 1700.0), (grid.WINDOW_REST_MIN, 2000.0)):
            sl = self._rest_slice(lo, hi)
            sel = good[sl]
            if sel.sum() >= 20:
                return median_1d(self.flux[sl][sel] * np.sqrt(self.ivar[sl][sel]))
        return 0.0

    def normalised(self, start: int, npix: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Normalised flux, its 1-sigma error and validity on grid pixels ``start .. start+npix-1``.

        Flux and error are divided by :meth:`norm_flux`; pixels without data (outside the
        spectrum, ivar = 0 or masked) have flux 0, error ``inf`` and ``valid`` False.

        Returns
        -------
        flux, sigma, valid : ndarray (npix,)
        norm : float
        """
        flux = np.zeros(npix)
        sigma = np.full(npix, np.inf)
        valid = np.zeros(npix, dtype=bool)
        off = start - self.start_index
        w0, w1 = max(0, -off), min(npix, self.npix - off)
        norm = self.norm_flux()
        if w1 > w0:
            d = slice(w0 + off, w1 + off)
            good = self.good[d]
            valid[w0:w1] = good
            flux[w0:w1] = np.where(good, self.flux[d] / norm, 0.0)
            with np.errstate(divide="ignore"):
                sigma[w0:w1] = np.where(good, 1.0 / np.sqrt(np.where(good, self.ivar[d], 1.0)) / norm, np.inf)
        return flux, sigma, valid, norm

    def window(self) -> WindowInputs:
        """Normalised flux and error on the 1748-pixel search window."""
        start = grid.window_start_index(self.z_qso)
        flux, sigma, valid, norm = self.normalised(start, grid.N_WINDOW)
        return WindowInputs(start_index=start, flux=flux, sigma=sigma, valid=valid, norm=norm)
