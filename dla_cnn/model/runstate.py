"""Run state of a training run: file names, checkpoints, early stopping that resumes, throughput.

:func:`run_files` names the files a run keeps beside its model; :class:`RunState` rewrites
the checkpoint, the best weights and the state JSON after every epoch, and
:class:`ResumableEarlyStopping` takes the early-stopping state of an interrupted run over.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from dla_cnn.atomic import atomic_path, write_text_atomic


def run_files(out_path: str | Path) -> dict[str, Path]:
    """The checkpoint, best-weights, state and CSV-log paths of a training run."""
    out_path = Path(out_path)
    stem = out_path.name[: -len(".keras")] if out_path.name.endswith(".keras") else out_path.name
    return {k: out_path.with_name(stem + suffix) for k, suffix in
            (("ckpt", ".ckpt.keras"), ("best", ".best.npz"), ("state", ".state.json"), ("csv", ".log.csv"))}


def devices() -> list[str]:
    """The devices the active Keras backend computes on."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices()]
        if backend == "torch":
            import torch

            return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())] or ["cpu"]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_logical_devices()]
        return [backend]
    except Exception as err:  # pragma: no cover - diagnostics only
        return [f"unknown ({type(err).__name__})"]


def hardware() -> dict:
    """Host description for the model card."""
    return {"machine": platform.machine(), "processor": platform.processor() or "", "system": platform.system(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "keras": keras.__version__,
            "backend": keras.backend.backend(), "devices": devices()}


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``, without importing TensorFlow under another backend.

    Keras' own function seeds TensorFlow whenever it is installed, which imports it (seconds
    and hundreds of MB) in a JAX or PyTorch run.
    """
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
    except ImportError:  # pragma: no cover - another Keras layout
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute("global_random_seed", int(seed))
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def save_weights(path: Path, weights: list[np.ndarray]) -> None:
    """Write a model's weight list to ``.npz`` (atomically)."""
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, *weights)


def load_weights(path: Path) -> list[np.ndarray]:
    """The weight list written by :func:`save_weights`."""
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on ``val_loss`` (best weights restored) that can take over a saved state."""

    def __init__(self, patience: int, state: dict | None = None, best_path: Path | None = None):
        super().__init__(monitor="val_loss", mode="min", patience=patience, restore_best_weights=True)
        self._resume_state = state or {}
        self._best_path = best_path

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        st = self._resume_state
        if st.get("best") is not None:
            self.best = float(st["best"])
            self.best_epoch = int(st.get("best_epoch", 0))
            self.wait = int(st.get("wait", 0))
            if self._best_path is not None and self._best_path.exists():
                self.best_weights = load_weights(self._best_path)


class RunState(keras.callbacks.Callback):
    """Checkpoint, best weights, resume state and training throughput, every epoch."""

    def __init__(self, files: dict[str, Path], stopper: ResumableEarlyStopping, batch_size: int,
                 state: dict, log: Callable[[str], None], extra: Callable[[int], dict] | None = None):
        super().__init__()
        self.files, self.stopper, self.batch_size, self.log = files, stopper, batch_size, log
        self.extra = extra  # more state to record after epoch ``epoch`` (the data stream's position)
        self.state = dict(state)
        self.state.setdefault("train_seconds", 0.0)
        self.state.setdefault("train_batches", 0)
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1

    def _close_train_time(self):
        if self._t0 is not None:
            seconds = time.perf_counter() - self._t0
            self.state["train_seconds"] += seconds
            self.state["train_batches"] += self._batches
            # per epoch: the first one includes compilation, later ones give the steady rate
            self.state.setdefault("epoch_train", []).append([round(seconds, 3), self._batches])
            self._t0 = None

    def on_test_begin(self, logs=None):  # validation starts: the epoch's training part is over
        self._close_train_time()

    def on_epoch_end(self, epoch, logs=None):
        self._close_train_time()
        logs = {k: float(v) for k, v in (logs or {}).items()}
        with atomic_path(self.files["ckpt"], ".keras") as tmp:
            self.model.save(tmp)
        if self.stopper.best_epoch == epoch and self.stopper.best_weights is not None:
            save_weights(self.files["best"], self.stopper.best_weights)
        best = self.stopper.best
        self.state.update(epoch=epoch + 1, best=None if best is None else float(best),
                          best_epoch=int(self.stopper.best_epoch), wait=int(self.stopper.wait),
                          stopped=bool(self.model.stop_training), logs=logs)
        if self.extra is not None:
            self.state.update(self.extra(epoch))
        write_text_atomic(self.files["state"], json.dumps(self.state, indent=1) + "\n")
        self.log(f"epoch {epoch + 1}: loss {logs.get('loss', np.nan):.4f}, val_loss {logs.get('val_loss', np.nan):.4f}, "
                 f"val pixel accuracy {logs.get('val_pixel_accuracy', np.nan):.4f}, "
                 f"val offset RMSE {logs.get('val_offset_rmse_px', np.nan):.2f} px, "
                 f"val N_HI RMSE {logs.get('val_log_nhi_rmse_dex', np.nan):.3f} dex")

    @property
    def samples_per_s(self) -> float:
        s = self.state["train_seconds"]
        return self.state["train_batches"] * self.batch_size / s if s > 0 else float("nan")


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The per-epoch columns of a run's CSV log (empty when there is none yet)."""
    if not csv_path.exists():
        return {}
    lines = [ln for ln in csv_path.read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    keys = lines[0].split(",")
    cols: dict[str, list[float]] = {k: [] for k in keys}
    for ln in lines[1:]:
        for k, v in zip(keys, ln.split(",")):
            try:
                cols[k].append(float(v))
            except ValueError:
                cols[k].append(float("nan"))
    return cols
