"""The SDSS/BOSS log-wavelength grid and the search window.

All spectra are put on the universal grid ``loglam = k * 1e-4`` (k integer, log10 of
vacuum Angstrom), i.e. 69.03 km/s per pixel.  The search window is the quasar rest-frame
range 900-1346 A: 1748 pixels starting at the grid pixel nearest to ``900 (1 + z_qso)``.
"""

from __future__ import annotations

import numpy as np

from dla_cnn.constants import C_KMS, LYA_REST, LYB_REST, LYMAN_LIMIT_REST  # noqa: F401 - re-exported

DLOGLAM = 1e-4
"""Pixel size in log10(lambda)."""
PIXEL_KMS = C_KMS * np.log(10.0) * DLOGLAM  # 69.03 km/s

WINDOW_REST_MIN = 900.0
WINDOW_REST_MAX = 1346.0
N_WINDOW = 1748
"""Pixels in the search window (900-1346 A rest)."""

NORM_REST = (1420.0, 1480.0)
"""Rest-frame range whose median flux normalises a sightline."""

SEARCH_REST_MIN = 912.0
"""Blue end of the absorber search (Lyman limit of the quasar), rest A."""
SEARCH_LYA_VELOCITY_KMS = 3000.0
"""The search stops this far blueward of the quasar's Ly-alpha emission."""


def loglam_to_index(loglam: np.ndarray | float) -> np.ndarray | int:
    """Nearest universal-grid index of log10 wavelength(s)."""
    out = np.rint(np.asarray(loglam, dtype=float) / DLOGLAM).astype(np.int64)
    return out if out.ndim else int(out)


def index_to_loglam(index: np.ndarray | int) -> np.ndarray | float:
    """log10 wavelength of universal-grid index(es)."""
    return np.asarray(index, dtype=float) * DLOGLAM


def window_start_index(z_qso: float) -> int:
    """Universal-grid index of the first pixel of a sightline's search window."""
    return int(np.rint(np.log10(WINDOW_REST_MIN * (1.0 + z_qso)) / DLOGLAM))


def search_z_range(z_qso: float, lambda_min_obs: float) -> tuple[float, float]:
    """Absorber redshift range searched along a sightline.

    From the Lyman limit of the quasar (912 A rest) or the blue end of the data, whichever
    is redder, up to 3000 km/s blueward of Ly-alpha emission.

    Parameters
    ----------
    z_qso : float
        Quasar redshift.
    lambda_min_obs : float
        Bluest observed wavelength with good data, Angstrom.

    Returns
    -------
    z_min, z_max : float
        ``z_min >= z_max`` means the sightline has no searchable path.
    """
    z_min = max(SEARCH_REST_MIN * (1.0 + z_qso) / LYA_REST - 1.0, lambda_min_obs / LYA_REST - 1.0)
    beta = SEARCH_LYA_VELOCITY_KMS / C_KMS
    z_max = (1.0 + z_qso) * np.sqrt((1.0 - beta) / (1.0 + beta)) - 1.0
    return float(z_min), float(z_max)
