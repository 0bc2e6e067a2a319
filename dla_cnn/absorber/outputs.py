"""What the absorber-level model's six raw outputs mean (no Keras: scanners import this).

One vector per candidate::

    [real_logit, dla_logit, offset / 10 px, log_sigma_offset, log_nhi - 20.5, log_sigma_log_nhi]

:func:`decode_absorber_outputs` turns them into probabilities and measurements with their
1-sigma errors; :mod:`dla_cnn.absorber.model` builds and trains the network.
"""

from __future__ import annotations

import numpy as np

from dla_cnn.constants import LOG_NHI_PIVOT
from dla_cnn.inference import sigmoid

REAL_RADIUS_PX = 30.0
"""A candidate is real when a true absorber's Ly-alpha centre is within this many pixels."""
REAL_MIN_LOG_NHI = 19.0
"""Real absorbers have at least this log N_HI."""
OFFSET_SCALE = 10.0
"""The offset head works in units of this many pixels."""
INPUT_NAMES = ("lya", "lyb", "ll", "scalars")
"""The model's inputs, in order (the crops of :mod:`dla_cnn.absorber.crops`)."""


def decode_absorber_outputs(raw) -> dict:
    """Raw outputs (k, 6) -> probabilities, offset (px), log N_HI (dex) and their 1-sigma errors.

    Parameters
    ----------
    raw : array-like (k, 6)
        Raw model outputs ``[real_logit, dla_logit, offset / 10 px, log_sigma_offset,
        log_nhi - 20.5, log_sigma_log_nhi]`` of ``k`` candidates.

    Returns
    -------
    dict of str to ndarray (k,), float64
        ``p_real`` (probability of a real absorber within :data:`REAL_RADIUS_PX`),
        ``p_dla`` (probability that it is a DLA, trained on real candidates only),
        ``offset`` and ``offset_err`` (absorber centre minus candidate and its 1-sigma
        error, pixels), ``log_nhi`` and ``log_nhi_err`` (log10 cm^-2 and its 1-sigma
        error, dex).  The log sigmas are clipped to [-4, 3] as in the loss.
    """
    raw = np.asarray(raw, dtype=np.float64)
    return {
        "p_real": sigmoid(raw[:, 0]), "p_dla": sigmoid(raw[:, 1]),
        "offset": raw[:, 2] * OFFSET_SCALE, "offset_err": np.exp(np.clip(raw[:, 3], -4, 3)) * OFFSET_SCALE,
        "log_nhi": raw[:, 4] + LOG_NHI_PIVOT, "log_nhi_err": np.exp(np.clip(raw[:, 5], -4, 3)),
    }
