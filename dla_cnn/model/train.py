"""``dla-cnn train``: fit a preset on an HDF5 training set, with checkpoints and resume.

Training uses whatever device the Keras backend sees: a GPU under TensorFlow with CUDA, or
``KERAS_BACKEND=jax`` / ``torch`` with their GPU builds; the CPU otherwise.  Every epoch it
validates, logs pixel accuracy, offset RMSE (px) and N_HI RMSE (dex) to a CSV file, and
checkpoints the model and the epoch reached, so ``resume=True`` continues a killed run.
Early stopping restores the best weights.  The final model gets a model card with the
test-split metrics.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from dla_cnn.model.card import save_model
from dla_cnn.model.data import SightlineData
from dla_cnn.model.loss import LossWeights, combined_loss
from dla_cnn.model.predict import evaluate, pixel_metrics, predict_windows
from dla_cnn.model.presets import build_model, config_to_dict, preset_config


def devices() -> list[str]:
    """Accelerators (or CPUs) the active backend sees."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices()]
        if backend == "torch":
            import torch

            return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]
    except Exception:  # pragma: no cover - diagnostics only
        return ["unknown"]


class _EpochReport(keras.callbacks.Callback):
    """Validation metrics per epoch, checkpoint and resume state."""

    def __init__(self, data: SightlineData, ckpt: Path, state: Path, log: Callable[[str], None], max_batches: int = 20):
        super().__init__()
        self.data, self.ckpt, self.state, self.log, self.max_batches = data, ckpt, state, log, max_batches
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        xs, ys = [], []
        for i in range(min(len(self.data), self.max_batches)):
            x, y = self.data[i]
            xs.append(x)
            ys.append(y)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if x.ndim == 3 and x.shape[-1] == 1:  # windows: predict the central pixel
            from keras import ops

            raw = ops.convert_to_numpy(self.model(x, training=False))
            pred = {"prob": 1 / (1 + np.exp(-raw[:, 0])), "offset": raw[:, 1], "log_nhi": raw[:, 2] + 20.5}
        else:
            pred = predict_windows(self.model, x)
        m = pixel_metrics(pred, y[..., 0], y[..., 1], y[..., 2])
        logs.update({"val_pixel_accuracy": m["pixel_accuracy"], "val_offset_rmse_px": m["offset_rmse_px"],
                     "val_log_nhi_rmse_dex": m["log_nhi_rmse_dex"]})
        self.model.save(self.ckpt)
        self.state.write_text(json.dumps({"epoch": epoch + 1, "logs": {k: float(v) for k, v in logs.items()}}))
        self.log(f"epoch {epoch + 1}: loss {logs.get('loss', np.nan):.4f} val_loss {logs.get('val_loss', np.nan):.4f} "
                 f"pixel accuracy {m['pixel_accuracy']:.4f} offset RMSE {m['offset_rmse_px']:.2f} px "
                 f"N_HI RMSE {m['log_nhi_rmse_dex']:.3f} dex")


def train(
    train_path: str | Path,
    out_path: str | Path,
    preset: str = "fcn",
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    resume: bool = False,
    patience: int = 4,
    steps_per_epoch: int | None = None,
    max_sightlines: int | None = None,
    loss_weights: LossWeights = LossWeights(),
    log: Callable[[str], None] = print,
    command: str = "",
) -> tuple[keras.Model, dict]:
    """Train a model and save it with its card.

    Parameters
    ----------
    train_path : path
        HDF5 training set (train/validation/test splits inside).
    out_path : path
        Output ``.keras`` file; ``.ckpt.keras``, ``.state.json`` and ``.log.csv`` go beside it.
    preset : str
        ``fcn`` or ``parks2018``.
    epochs, batch_size, lr, seed, patience : training settings.
    resume : bool
        Continue from the last checkpoint of a previous run with the same ``out_path``.
    steps_per_epoch, max_sightlines : int, optional
        Limit the work per epoch / the sightlines used (quick runs, tests).

    Returns
    -------
    model : keras.Model
    card : dict
    """
    from dla_cnn.assets import sha256_of
    from dla_cnn.training.dataset import read_attrs

    attrs = read_attrs(train_path)
    keras.utils.set_random_seed(seed)
    out_path = Path(out_path)
    stem = out_path.with_suffix("")
    ckpt, state, csv = (Path(f"{stem}.ckpt.keras"), Path(f"{stem}.state.json"), Path(f"{stem}.log.csv"))
    cfg = preset_config(preset)
    windowed = preset == "parks2018"
    bs = batch_size if not windowed else max(batch_size, 64)
    train_data = SightlineData(str(train_path), "train", bs, windowed, seed=seed, max_sightlines=max_sightlines)
    val_data = SightlineData(str(train_path), "validation", bs, windowed, seed=seed + 1, shuffle=False,
                             max_sightlines=max_sightlines)
    start_epoch = 0
    if resume and ckpt.exists() and state.exists():
        model = keras.saving.load_model(ckpt, compile=False)
        start_epoch = int(json.loads(state.read_text())["epoch"])
        log(f"resuming from epoch {start_epoch} ({ckpt})")
    else:
        model = build_model(cfg)
        csv.unlink(missing_ok=True)
    steps = steps_per_epoch or len(train_data)
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=combined_loss(loss_weights))
    if start_epoch:
        model.optimizer.iterations.assign(start_epoch * steps)
    callbacks = [
        _EpochReport(val_data, ckpt, state, log),
        keras.callbacks.CSVLogger(str(csv), append=True),
        keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True),
    ]
    t0 = time.perf_counter()
    history = model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=start_epoch,
                        steps_per_epoch=steps_per_epoch, validation_steps=min(len(val_data), 50),
                        callbacks=callbacks, verbose=2)
    seconds = time.perf_counter() - t0
    n_epochs = len(history.history.get("loss", []))
    samples = n_epochs * steps * bs
    test = evaluate(model, train_path, "test", max_sightlines=max_sightlines or 3000)
    card = {
        "preset": preset,
        "preset_config": config_to_dict(cfg),
        "loss_weights": asdict(loss_weights),
        "training_set": {"path": str(train_path), "sha256": sha256_of(train_path), "config": attrs.get("config"),
                         "n_sightlines": int(attrs.get("n_sightlines", 0))},
        "seed": seed, "epochs_run": start_epoch + n_epochs, "batch_size": bs, "learning_rate": lr,
        "backend": keras.backend.backend(), "devices": devices(),
        "hardware": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "training_time_s": round(seconds, 1), "samples_per_s": round(samples / max(seconds, 1e-9), 1),
        "metrics_test": test, "commands": {"train": command} if command else {},
        "calibration": {},
    }
    save_model(model, out_path, card)
    return model, card
