"""Running a per-pixel network on sightline windows, whatever runs it (no Keras here).

The network may be a Keras model or an :class:`dla_cnn.runtime.OnnxNetwork`: both offer
``predict_on_batch`` and ``output_shape``.  :func:`decode_outputs` states what the raw
outputs mean; :func:`predict_raw` batches inputs with padded shapes.

Caveats
-------
* Batches are padded up to a power of two (at most ``batch_size``) so a compiled predict
  function sees few distinct shapes; the padding rows are discarded.
"""

from __future__ import annotations

import numpy as np

from dla_cnn.constants import LOG_NHI_PIVOT


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, written with tanh (no overflow for large ``|x|``)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def decode_outputs(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Raw model outputs ``[..., 3]`` -> ``prob``, ``offset`` (px) and ``log_nhi`` (dex).

    Parameters
    ----------
    raw : ndarray (..., 3)
        Raw outputs ``[logit, offset_px, log_nhi - 20.5]`` of either preset.

    Returns
    -------
    dict of str to ndarray
        ``prob`` (sigmoid of the logit), ``offset`` (centre minus pixel, pixels) and
        ``log_nhi`` (log10 cm^-2, the pivot 20.5 added back), each float32 with the
        shape of ``raw`` without its last axis.
    """
    raw = np.asarray(raw, dtype=np.float32)
    return {"prob": sigmoid(raw[..., 0]), "offset": raw[..., 1], "log_nhi": raw[..., 2] + np.float32(LOG_NHI_PIVOT)}


def _bucket(n: int, cap: int) -> int:
    return min(cap, 1 << max(0, int(n - 1).bit_length()))


def predict_raw(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Raw outputs of ``model`` on ``x`` in batches (padded to few shapes, no eager loop).

    Parameters
    ----------
    model : keras.Model or dla_cnn.runtime.OnnxNetwork
        Anything with ``predict_on_batch`` and ``output_shape``.
    x : ndarray
        Inputs, first axis the batch.
    batch_size : int
        Largest batch handed to the model.

    Returns
    -------
    ndarray, float32
        One raw output per input row.
    """
    n = len(x)
    if n == 0:
        return np.empty((0, *model.output_shape[1:]), dtype=np.float32)
    out = []
    for i in range(0, n, batch_size):
        xb = x[i: i + batch_size]
        size = _bucket(len(xb), batch_size)
        if size > len(xb):
            xb = np.concatenate([xb, np.zeros((size - len(xb), *xb.shape[1:]), dtype=xb.dtype)])
        out.append(np.asarray(model.predict_on_batch(xb))[: min(batch_size, n - i)])
    return np.concatenate(out).astype(np.float32, copy=False)


def predict_pixels(model, inputs: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-pixel ``prob``, ``offset`` and ``log_nhi`` of a per-pixel (``fcn``) network.

    Parameters
    ----------
    model : keras.Model or dla_cnn.runtime.OnnxNetwork
        A network with one output per pixel.
    inputs : ndarray (n, pixels, 2)
        Window channels.
    batch_size : int
        Largest batch handed to the network.

    Returns
    -------
    dict
        :func:`decode_outputs` of the raw outputs, each (n, pixels).
    """
    return decode_outputs(predict_raw(model, np.asarray(inputs, dtype=np.float32), batch_size))
