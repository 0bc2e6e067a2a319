"""Per-pixel training labels on the 1748-pixel search window (spec section 6).

For every window pixel: *positive* if it lies within ``radius`` (60) pixels of an absorber's
Ly-alpha centre, the offset label is ``centre - pixel`` (sub-pixel) and the N_HI label is
that absorber's log N_HI.  Where absorbers overlap, the nearest centre wins.  Pixels
61-120 px from an absorber and within +-60 px of its Ly-beta are *ignored* (label -1), as
are pixels near absorbers in the ambiguous range 19.0 <= log N < 19.3.  Everything else is
negative.  All slices are clipped to the window: an absorber near (or just beyond) an edge
labels only the pixels that exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_cnn import grid
from dla_cnn.contract import LABEL_RADIUS_PX

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


@dataclass(frozen=True)
class LabelConfig:
    """Label geometry, in pixels, and the column-density threshold of a positive."""

    radius: int = LABEL_RADIUS_PX
    ignore_radius: int = 120
    lyb_radius: int = 60
    min_log_nhi: float = 19.3
    ambiguous_log_nhi: float = 19.0


def absorber_centre(z_abs: np.ndarray | float, start_index: int, rest: float = grid.LYA_REST) -> np.ndarray:
    """Sub-pixel window position of an absorber's line (Ly-alpha by default).

    Parameters
    ----------
    z_abs : float or ndarray
        Absorber redshift(s).
    start_index : int
        Universal-grid index of window pixel 0.
    rest : float
        Rest wavelength of the line, Angstrom (default Ly-alpha, 1215.6701).

    Returns
    -------
    ndarray or float
        Position of the observed line centre ``rest * (1 + z_abs)`` on the window, in
        pixels (fractional; may fall outside ``0 .. n_pix - 1``), same shape as ``z_abs``.
    """
    return np.log10(rest * (1.0 + np.asarray(z_abs, dtype=float))) / grid.DLOGLAM - start_index


def pixel_to_z(position: np.ndarray | float, start_index: int) -> np.ndarray | float:
    """Inverse of :func:`absorber_centre`: Ly-alpha absorber redshift at a (sub-)pixel position.

    Parameters
    ----------
    position : float or ndarray
        Window position(s), pixels (fractional allowed).
    start_index : int
        Universal-grid index of window pixel 0.

    Returns
    -------
    float or ndarray
        Redshift at which Ly-alpha falls on ``position``, same shape as ``position``.
    """
    return 10.0 ** ((np.asarray(position, dtype=float) + start_index) * grid.DLOGLAM) / grid.LYA_REST - 1.0


def make_labels(
    start_index: int,
    z_abs: np.ndarray,
    log_nhi: np.ndarray,
    n_pix: int = grid.N_WINDOW,
    cfg: LabelConfig = LabelConfig(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classification, offset and log N_HI labels of one sightline.

    Parameters
    ----------
    start_index : int
        Universal-grid index of window pixel 0.
    z_abs, log_nhi : ndarray
        All absorbers on the sightline (any column density; weak ones are ignored).
    n_pix : int
        Window length.

    Returns
    -------
    label_class : int8 (n_pix,)  1 / 0 / -1
    label_offset : float32 (n_pix,)  centre - pixel for positives, else 0
    label_log_nhi : float32 (n_pix,)  for positives, else 0
    """
    z_abs = np.atleast_1d(np.asarray(z_abs, dtype=float))
    log_nhi = np.atleast_1d(np.asarray(log_nhi, dtype=float))
    cls = np.zeros(n_pix, dtype=np.int8)
    offset = np.zeros(n_pix, dtype=np.float32)
    nhi = np.zeros(n_pix, dtype=np.float32)
    pix = np.arange(n_pix, dtype=float)
    strong = log_nhi >= cfg.min_log_nhi
    ambiguous = (log_nhi >= cfg.ambiguous_log_nhi) & ~strong
    ignore = np.zeros(n_pix, dtype=bool)
    if ambiguous.any():
        c = absorber_centre(z_abs[ambiguous], start_index)
        ignore |= (np.abs(pix[None, :] - c[:, None]) <= cfg.ignore_radius).any(axis=0)
    if strong.any():
        c = absorber_centre(z_abs[strong], start_index)
        c_lyb = absorber_centre(z_abs[strong], start_index, grid.LYB_REST)
        dist = pix[None, :] - c[:, None]  # (n_abs, n_pix)
        adist = np.abs(dist)
        ignore |= (adist <= cfg.ignore_radius).any(axis=0)
        ignore |= (np.abs(pix[None, :] - c_lyb[:, None]) <= cfg.lyb_radius).any(axis=0)
        nearest = np.argmin(adist, axis=0)
        near_d = adist[nearest, np.arange(n_pix)]
        pos = near_d <= cfg.radius
        cls[ignore] = IGNORE
        cls[pos] = POSITIVE
        offset[pos] = (c[nearest] - pix)[pos]
        nhi[pos] = log_nhi[strong][nearest][pos]
    else:
        cls[ignore] = IGNORE
    return cls, offset, nhi
