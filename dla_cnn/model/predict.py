"""Inference for both presets, and the held-out metrics of spec section 7."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from dla_cnn import grid
from dla_cnn.model.presets import LOG_NHI_PIVOT


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def is_windowed(model) -> bool:
    """True for sliding-window models (parks2018), False for per-pixel ones (fcn)."""
    return len(model.input_shape) == 3 and model.input_shape[1] != grid.N_WINDOW and len(model.output_shape) == 2


def sliding_windows(flux: np.ndarray, window: int = 400) -> np.ndarray:
    """All ``window``-px flux windows centred on each pixel of (n, L) sightlines -> (n*L, window, 1).

    Pixels beyond the sightline are 0 (missing), never a copy of real flux.
    """
    n, length = flux.shape
    half = window // 2
    padded = np.zeros((n, length + window), dtype=np.float32)
    padded[:, half: half + length] = flux
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, :length]
    return view.reshape(n * length, window, 1)


def _raw_predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    from keras import ops

    outs = []
    for i in range(0, len(x), batch_size):
        outs.append(ops.convert_to_numpy(model(x[i: i + batch_size], training=False)))
    return np.concatenate(outs) if outs else np.empty((0,) + tuple(model.output_shape[1:]))


def predict_windows(model, inputs: np.ndarray, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Per-pixel predictions for sightline windows.

    Parameters
    ----------
    model : keras.Model
        A ``fcn`` or ``parks2018`` model.
    inputs : ndarray (n, 1748, 2)
        Window channels (normalised flux, weight).
    batch_size : int
        Sightlines per batch (fcn) or sightlines per batch of 1748 windows each (parks2018,
        capped at 4).

    Returns
    -------
    dict with ``prob``, ``offset`` (px) and ``log_nhi``, each (n, 1748).
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    if is_windowed(model):
        window = int(model.input_shape[1])
        out = []
        step = max(1, min(batch_size, 4))
        for i in range(0, len(inputs), step):
            w = sliding_windows(inputs[i: i + step, :, 0], window)
            out.append(_raw_predict(model, w, 2048).reshape(-1, inputs.shape[1], 3))
        raw = np.concatenate(out) if out else np.empty((0, inputs.shape[1], 3))
    else:
        raw = _raw_predict(model, inputs, batch_size)
    return {"prob": _sigmoid(raw[..., 0]), "offset": raw[..., 1], "log_nhi": raw[..., 2] + LOG_NHI_PIVOT}


def pixel_metrics(pred: dict[str, np.ndarray], label_class: np.ndarray, label_offset: np.ndarray,
                  label_log_nhi: np.ndarray) -> dict[str, float]:
    """Pixel accuracy (non-ignored pixels), offset RMSE (px) and log N_HI RMSE (dex) on positives."""
    valid = label_class >= 0
    pos = label_class == 1
    acc = float(np.mean((pred["prob"][valid] >= 0.5) == pos[valid])) if valid.any() else float("nan")
    off = float(np.sqrt(np.mean((pred["offset"][pos] - label_offset[pos]) ** 2))) if pos.any() else float("nan")
    nhi = float(np.sqrt(np.mean((pred["log_nhi"][pos] - label_log_nhi[pos]) ** 2))) if pos.any() else float("nan")
    return {"pixel_accuracy": acc, "offset_rmse_px": off, "log_nhi_rmse_dex": nhi,
            "n_pixels": int(valid.sum()), "n_positive_pixels": int(pos.sum())}


def evaluate(model, h5_path: str | Path, split: str = "test", max_sightlines: int | None = None,
             batch_size: int = 128) -> dict[str, float]:
    """The held-out metrics of a model on one split of a training set.

    Returns pixel accuracy, offset RMSE (px) and log N_HI RMSE (dex) on positive pixels,
    accumulated chunk by chunk (the set is never loaded whole).
    """
    from dla_cnn.training.dataset import SPLITS

    sums = {"correct": 0.0, "valid": 0, "off2": 0.0, "nhi2": 0.0, "pos": 0, "n": 0}
    with h5py.File(h5_path, "r") as f:
        rows = np.flatnonzero(f["split"][:] == SPLITS[split])
        if max_sightlines:
            rows = rows[:max_sightlines]
        for b0 in range(0, rows.size, 512):
            idx = rows[b0: b0 + 512]
            lo, hi = idx[0], idx[-1] + 1
            sel = idx - lo
            x = f["inputs"][lo:hi][sel]
            cls, off, nhi = f["label_class"][lo:hi][sel], f["label_offset"][lo:hi][sel], f["label_log_nhi"][lo:hi][sel]
            p = predict_windows(model, x, batch_size)
            valid, pos = cls >= 0, cls == 1
            sums["correct"] += float(np.sum((p["prob"][valid] >= 0.5) == pos[valid]))
            sums["valid"] += int(valid.sum())
            sums["off2"] += float(np.sum((p["offset"][pos] - off[pos]) ** 2))
            sums["nhi2"] += float(np.sum((p["log_nhi"][pos] - nhi[pos]) ** 2))
            sums["pos"] += int(pos.sum())
            sums["n"] += len(idx)
    return {"split": split, "n_sightlines": sums["n"],
            "pixel_accuracy": sums["correct"] / max(sums["valid"], 1),
            "offset_rmse_px": float(np.sqrt(sums["off2"] / max(sums["pos"], 1))),
            "log_nhi_rmse_dex": float(np.sqrt(sums["nhi2"] / max(sums["pos"], 1)))}
