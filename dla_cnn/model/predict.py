"""Inference for both presets, and the held-out metrics of spec section 7.

:func:`predict_windows` is the one entry point the scanner uses: per-pixel probability,
offset and log N_HI for stacks of 1748-px sightline windows, whatever the preset.

Caveats
-------
* ``parks2018`` evaluates 1748 windows of 400 px per sightline (~13 G multiply-adds):
  correct, but about two orders of magnitude slower than ``fcn``.
* Batches are padded up to a power of two (at most ``batch_size``) so a compiled predict
  function sees few distinct shapes; the padding rows are discarded.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from dla_cnn.exceptions import ConfigError
from dla_cnn.inference import decode_outputs, predict_raw  # noqa: F401 - re-exported
from dla_cnn.model.data import LABELS, open_training_set, sliding_windows, split_code


def is_windowed(model: keras.Model) -> bool:
    """True for sliding-window models (``parks2018``: one prediction per input), False for ``fcn``."""
    return len(model.output_shape) == 2


def predict_windows(model: keras.Model, inputs: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-pixel predictions for sightline windows, with either preset.

    Parameters
    ----------
    model : keras.Model
        A ``fcn`` or ``parks2018`` model.
    inputs : ndarray (n, 1748, 2)
        Window channels (normalised flux, weight), see
        :meth:`dla_cnn.sightline.WindowInputs.channels`.
    batch_size : int
        Sightlines per batch for ``fcn``; for ``parks2018`` each batch is the 1748
        windows of one sightline and this argument is not used.

    Returns
    -------
    dict
        ``prob`` (probability that an absorber centre is within 60 px), ``offset``
        (centre minus pixel, px) and ``log_nhi`` (dex), each (n, 1748) float32.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or inputs.shape[-1] != 2:
        raise ConfigError(f"predict_windows: inputs must be (n, pixels, 2), got {inputs.shape}")
    n, length = inputs.shape[:2]
    if is_windowed(model):
        window = int(model.input_shape[1])
        raw = np.empty((n, length, 3), dtype=np.float32)
        for i in range(n):
            windows = sliding_windows(inputs[i: i + 1, :, 0], window)
            raw[i] = predict_raw(model, windows, batch_size=length)
    else:
        raw = predict_raw(model, inputs, batch_size)
    return decode_outputs(raw)


class MetricSums:
    """Accumulates the three held-out metrics over batches of predictions."""

    def __init__(self):
        self.correct = 0
        self.valid = 0
        self.off2 = 0.0
        self.nhi2 = 0.0
        self.pos = 0
        self.n = 0

    def add(self, pred: dict[str, np.ndarray], label_class: np.ndarray, label_offset: np.ndarray,
            label_log_nhi: np.ndarray) -> None:
        valid, pos = label_class >= 0, label_class == 1
        self.correct += int(np.sum((pred["prob"][valid] >= 0.5) == pos[valid]))
        self.valid += int(valid.sum())
        self.off2 += float(np.sum((pred["offset"][pos] - label_offset[pos]).astype(np.float64) ** 2))
        self.nhi2 += float(np.sum((pred["log_nhi"][pos] - label_log_nhi[pos]).astype(np.float64) ** 2))
        self.pos += int(pos.sum())
        self.n += len(label_class)

    def result(self) -> dict[str, float]:
        nan = float("nan")
        return {
            "pixel_accuracy": self.correct / self.valid if self.valid else nan,
            "offset_rmse_px": float(np.sqrt(self.off2 / self.pos)) if self.pos else nan,
            "log_nhi_rmse_dex": float(np.sqrt(self.nhi2 / self.pos)) if self.pos else nan,
            "n_sightlines": self.n, "n_pixels": self.valid, "n_positive_pixels": self.pos,
        }


def pixel_metrics(pred: dict[str, np.ndarray], label_class: np.ndarray, label_offset: np.ndarray,
                  label_log_nhi: np.ndarray) -> dict[str, float]:
    """Pixel accuracy (non-ignored pixels), offset RMSE (px) and log N_HI RMSE (dex, positives).

    Parameters
    ----------
    pred : dict of str to ndarray
        Predictions as from :func:`decode_outputs` / :func:`predict_windows`: ``prob``,
        ``offset`` (pixels) and ``log_nhi`` (log10 cm^-2), each (n, pixels).
    label_class : ndarray (n, pixels)
        1 (positive), 0 (negative) or -1 (ignored).
    label_offset : ndarray (n, pixels)
        True centre minus pixel, pixels (used on positives only).
    label_log_nhi : ndarray (n, pixels)
        True log N_HI, log10 cm^-2 (used on positives only).

    Returns
    -------
    dict
        ``pixel_accuracy`` (share of non-ignored pixels with ``prob >= 0.5`` exactly
        where positive), ``offset_rmse_px``, ``log_nhi_rmse_dex`` (NaN when there is no
        valid / positive pixel), and the counts ``n_sightlines``, ``n_pixels``
        (non-ignored) and ``n_positive_pixels``.
    """
    sums = MetricSums()
    sums.add(pred, label_class, label_offset, label_log_nhi)
    return sums.result()


SNR_BINS = (0.0, 2.0, 4.0, 8.0, 15.0, 1000.0)
"""S/N bin edges of the per-bin held-out metrics (the first and last bins are open-ended)."""
LOG_NHI_BINS = (19.3, 19.8, 20.3, 20.8, 21.5, 22.6)
"""log N_HI bin edges (of the positive pixel's absorber) of the per-bin held-out metrics."""


def _binned(sums: list[MetricSums], edges: tuple[float, ...], what: str) -> list[dict]:
    return [{what: [edges[i], edges[i + 1]], **{k: v for k, v in s.result().items() if k != "n_sightlines"}}
            for i, s in enumerate(sums)]


def evaluate(model: keras.Model, h5_path: str | Path, split: str = "test", max_sightlines: int | None = None,
             batch_size: int = 64, block_rows: int = 512) -> dict:
    """The held-out metrics of a model on one split of a training set.

    Parameters
    ----------
    model : keras.Model
    h5_path : path
        Training set.
    split : {"test", "validation", "train"}
    max_sightlines : int, optional
        Evaluate only the first rows of the split.
    batch_size : int
        Inference batch (sightlines).
    block_rows : int
        Rows read from the file at a time (the set is never loaded whole).

    Returns
    -------
    dict
        ``pixel_accuracy`` over non-ignored pixels, ``offset_rmse_px`` and
        ``log_nhi_rmse_dex`` over positive pixels, and the counts behind them; ``by_snr``
        (the same per sightline S/N bin, :data:`SNR_BINS`) and ``by_log_nhi`` (positive
        pixels by their absorber's log N_HI, :data:`LOG_NHI_BINS`; there ``pixel_accuracy``
        is the share of positives called positive).
    """
    sums = MetricSums()
    by_snr = [MetricSums() for _ in SNR_BINS[1:]]
    by_nhi = [MetricSums() for _ in LOG_NHI_BINS[1:]]
    with open_training_set(h5_path) as f:
        rows = np.flatnonzero(f["split"][:] == split_code(split))
        if max_sightlines:
            rows = rows[: int(max_sightlines)]
        for b0 in range(0, rows.size, block_rows):
            idx = rows[b0: b0 + block_rows]
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            sel = idx - lo
            x = f["inputs"][lo:hi][sel]
            labels = [f[name][lo:hi][sel] for name in LABELS]
            pred = predict_windows(model, x, batch_size)
            sums.add(pred, *labels)
            cls, off, nhi = labels
            snr_bin = np.digitize(f["snr"][lo:hi][sel], SNR_BINS[1:-1])
            nhi_bin = np.where(cls == 1, np.digitize(nhi, LOG_NHI_BINS[1:-1]), -1)
            for k, acc in enumerate(by_snr):
                keep = snr_bin == k
                if keep.any():
                    acc.add({key: v[keep] for key, v in pred.items()}, cls[keep], off[keep], nhi[keep])
            for k, acc in enumerate(by_nhi):
                acc.add(pred, np.where(nhi_bin == k, cls, -1), off, nhi)
    return {"split": split, **sums.result(), "by_snr": _binned(by_snr, SNR_BINS, "snr"),
            "by_log_nhi": _binned(by_nhi, LOG_NHI_BINS, "log_nhi")}


__all__ = ["decode_outputs", "evaluate", "is_windowed", "pixel_metrics", "predict_raw", "predict_windows",
           "sliding_windows"]
