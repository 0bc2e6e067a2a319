"""Candidate-centred crops: what the absorber-level model sees of one candidate.

A candidate is a position on the sightline's search window (window pixel ``c``, the
Ly-alpha centre of a possible absorber).  Its crop has three aligned segments taken from
the *extended view* of the sightline (the search window plus :data:`EXT_BLUE` pixels
blueward, so the Lyman series and limit of absorbers near the quasar's Lyman limit are
still covered where the spectrum has data):

* ``lya``  -- :data:`LYA_HALF` pixels either side of ``c``: the core and the damping wings
  of log N_HI = 22.5 (rest equivalent width ~130 A, about +-230 px);
* ``lyb``  -- :data:`SIDE_HALF` pixels either side of the same absorber's Ly-beta;
* ``ll``   -- :data:`SIDE_HALF` pixels either side of its Lyman limit (911.76 A rest).

The ``lya`` segment carries five channels: normalised flux, weight ``1 / (1 + sigma)``
(0 = no data), and the per-pixel network's probability, vote mass and log N_HI - 20.5
(0 outside the window); the side segments carry flux and weight.  A vector of scalars
adds the sightline S/N, where the candidate sits between the quasar's Lyman limit and
Ly-alpha emission, and the first stage's own vote mass and log N_HI at the candidate.

Caveats
-------
* Crops are cut at the integer pixel nearest ``c``; the fractional part is a scalar input,
  so the offset head measures from ``c`` itself.
* Pixels outside the data are zero in every channel (weight 0 marks them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_cnn import grid
from dla_cnn.constants import LOG_NHI_PIVOT
from dla_cnn.sightline import Sightline, window_channels

EXT_BLUE = 1320
"""Extra pixels blueward of the search window in the extended view (down to ~690 A rest)."""
N_EXT = grid.N_WINDOW + EXT_BLUE
LYA_HALF = 256
SIDE_HALF = 64
LYB_SHIFT = int(round(np.log10(grid.LYB_REST / grid.LYA_REST) / grid.DLOGLAM))  # -738 px
LL_SHIFT = int(round(np.log10(grid.LYMAN_LIMIT_REST / grid.LYA_REST) / grid.DLOGLAM))  # -1249 px
N_SCALARS = 6


@dataclass
class ExtendedView:
    """A sightline's normalised flux and weight over the window plus :data:`EXT_BLUE` px.

    Attributes
    ----------
    channels : ndarray (N_EXT, 2) float32
        Normalised flux and weight; index ``EXT_BLUE + k`` is window pixel ``k``.
    window_start : int
        Universal-grid index of window pixel 0.
    z_qso, snr : float
    """

    channels: np.ndarray
    window_start: int
    z_qso: float
    snr: float

    @property
    def window_channels(self) -> np.ndarray:
        """The search window's model inputs (1748, 2): the same normalisation, a slice of the view."""
        return self.channels[EXT_BLUE:]

    @property
    def window_valid(self) -> np.ndarray:
        """Window pixels with data (weight > 0)."""
        return self.channels[EXT_BLUE:, 1] > 0


def z_to_window_px(z: np.ndarray | float, window_start: int) -> np.ndarray:
    """Window pixel (sub-pixel) of the Ly-alpha line of absorbers at redshift ``z``.

    Parameters
    ----------
    z : float or ndarray
        Absorber redshift(s).
    window_start : int
        Universal-grid index of window pixel 0.

    Returns
    -------
    ndarray
        Window pixels (NaN where ``z`` is NaN).
    """
    with np.errstate(invalid="ignore"):
        return np.log10(grid.LYA_REST * (1.0 + np.asarray(z, dtype=float))) / grid.DLOGLAM - window_start


def extended_view(sightline: Sightline, snr: float | None = None) -> ExtendedView:
    """The extended view of a validated sightline (normalised as its search window).

    Parameters
    ----------
    sightline : Sightline
        A validated sightline with its quasar redshift.
    snr : float, optional
        The sightline's S/N when already measured (default: :meth:`Sightline.snr`).

    Returns
    -------
    ExtendedView
        Normalised flux and weight on :data:`N_EXT` pixels (the search window plus
        :data:`EXT_BLUE` pixels blueward; 0 where there is no data), the window's
        universal-grid start index, ``z_qso`` and the sightline's median S/N per pixel.
    """
    start = grid.window_start_index(sightline.z_qso) - EXT_BLUE
    flux, sigma, valid, _ = sightline.normalised(start, N_EXT)
    return ExtendedView(window_channels(flux, sigma, valid), start + EXT_BLUE, float(sightline.z_qso),
                        float(sightline.snr() if snr is None else snr))


def _take(arr: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``arr[s : s + length]`` for each start, zero outside ``arr`` (arr is (n, ch))."""
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = (idx >= 0) & (idx < arr.shape[0])
    out = arr[np.clip(idx, 0, arr.shape[0] - 1)]
    out[~inside] = 0.0
    return out


def stage1_channels(prob: np.ndarray, vote_mass: np.ndarray, log_nhi: np.ndarray) -> np.ndarray:
    """The first stage's per-pixel curves on the extended grid, (N_EXT, 3) float32."""
    out = np.zeros((N_EXT, 3), dtype=np.float32)
    out[EXT_BLUE:, 0] = prob
    out[EXT_BLUE:, 1] = np.clip(vote_mass, 0.0, 2.0)
    out[EXT_BLUE:, 2] = np.clip(log_nhi - LOG_NHI_PIVOT, -3.0, 3.0)
    return out


def cut_crops(view: ExtendedView, curves: np.ndarray, centres: np.ndarray) -> dict[str, np.ndarray]:
    """Crops of candidates at window pixels ``centres`` (float).

    Parameters
    ----------
    view : ExtendedView
    curves : ndarray (N_EXT, 3)
        :func:`stage1_channels` of the same sightline.
    centres : ndarray (k,)
        Candidate Ly-alpha centres in window pixels (sub-pixel).

    Returns
    -------
    dict
        ``lya`` (k, 512, 5), ``lyb`` (k, 128, 2), ``ll`` (k, 128, 2), ``scalars`` (k, 6),
        all float32.
    """
    centres = np.asarray(centres, dtype=float)
    ci = np.rint(centres).astype(np.int64)
    e = ci + EXT_BLUE
    full = np.concatenate([view.channels, curves], axis=1)
    lya = _take(full, e - LYA_HALF, 2 * LYA_HALF)
    lyb = _take(view.channels, e + LYB_SHIFT - SIDE_HALF, 2 * SIDE_HALF)
    ll = _take(view.channels, e + LL_SHIFT - SIDE_HALF, 2 * SIDE_HALF)
    loglam = (view.window_start + centres) * grid.DLOGLAM
    rest = 10.0**loglam / (1.0 + view.z_qso)
    e_safe = np.clip(e, 0, N_EXT - 1)
    scalars = np.column_stack([
        np.full(centres.size, np.log10(1.0 + max(view.snr, 0.0))),
        (rest - grid.SEARCH_REST_MIN) / (grid.LYA_REST - grid.SEARCH_REST_MIN),
        centres - ci,
        curves[e_safe, 1],
        curves[e_safe, 2],
        np.full(centres.size, (view.z_qso - 3.0) / 1.0),
    ])
    return {"lya": lya.astype(np.float32), "lyb": lyb.astype(np.float32), "ll": ll.astype(np.float32),
            "scalars": scalars.astype(np.float32)}


def concat_crops(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack crop dicts along the candidate axis."""
    keys = ("lya", "lyb", "ll", "scalars")
    if not parts:
        return {k: np.empty((0,) + s, dtype=np.float32) for k, s in zip(keys, CROP_SHAPES)}
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


CROP_SHAPES = ((2 * LYA_HALF, 5), (2 * SIDE_HALF, 2), (2 * SIDE_HALF, 2), (N_SCALARS,))
"""Per-candidate shapes of ``lya``, ``lyb``, ``ll`` and ``scalars``."""
