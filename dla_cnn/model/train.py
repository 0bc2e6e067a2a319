"""Train a preset on an HDF5 training set, with per-epoch checkpoints and resume.

Training runs on whatever device the Keras backend sees: a GPU under TensorFlow with
CUDA, or ``KERAS_BACKEND=jax`` / ``torch`` with their GPU builds; the CPU otherwise.  The
backend and its device list go into the model card.

Files written beside ``out_path`` (``NAME.keras``):

* ``NAME.ckpt.keras`` -- the compiled model after the last finished epoch (weights and
  optimizer state), rewritten every epoch;
* ``NAME.best.npz`` -- the weights of the best epoch so far (lowest validation loss);
* ``NAME.state.json`` -- the epoch reached, the early-stopping state and throughput;
* ``NAME.log.csv`` -- one row per epoch: loss, pixel accuracy, offset RMSE (px),
  N_HI RMSE (dex), for the training batches and the validation split (``val_*``);
* ``NAME.keras`` + ``NAME.card.json`` -- the final model (best weights) and its card.

``resume=True`` continues from ``NAME.ckpt.keras`` at the epoch recorded in
``NAME.state.json``, with the optimizer state, the learning-rate schedule position and
the early-stopping state of the interrupted run; the CSV log is appended to.

``init_from=MODEL.keras`` starts a new run from another model's weights (fine-tuning the
packaged model on a set built from real hosts, or growing a preset): layers are matched by
name and shape, and a residual block the source model lacks starts as the identity (zero
kernel), so the warm-started model first computes exactly what the source did.

Caveats
-------
* For ``parks2018`` the per-epoch ``val_*`` metrics are over balanced windows (half
  positive), not over all pixels; the card's test metrics are over all pixels.
* The first epoch's throughput includes graph tracing / compilation.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from dla_cnn.atomic import atomic_path, write_text_atomic
from dla_cnn.assets import resolve_model, sha256_of
from dla_cnn.contract import FLUX_CLIP, LABEL_RADIUS_PX, InputContract
from dla_cnn.exceptions import AssetError, ConfigError, describe
from dla_cnn.model.card import save_model
from dla_cnn.model.data import TrainingData, training_set_attrs
from dla_cnn.model.loss import LossWeights, combined_loss
from dla_cnn.model.metrics import task_metrics
from dla_cnn.model.predict import evaluate
from dla_cnn.model.presets import ModelConfig, Parks2018Config, build_model, config_to_dict, preset_config


class TrainResult(NamedTuple):
    """What :func:`train` returns; unpacks as ``model, card = train(...)``."""

    model: keras.Model
    """The final model (best-epoch weights)."""
    card: dict
    """Its model card (also written as ``NAME.card.json``)."""

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch logs of every epoch run so far, resumed runs included (``card["history"]``)."""
        return self.card["history"]


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


def _save_weights(path: Path, weights: list[np.ndarray]) -> None:
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, *weights)


def _load_weights(path: Path) -> list[np.ndarray]:
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
                self.best_weights = _load_weights(self._best_path)


class _RunState(keras.callbacks.Callback):
    """Checkpoint, best weights, resume state and training throughput, every epoch."""

    def __init__(self, files: dict[str, Path], stopper: ResumableEarlyStopping, batch_size: int,
                 state: dict, log: Callable[[str], None]):
        super().__init__()
        self.files, self.stopper, self.batch_size, self.log = files, stopper, batch_size, log
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
            self.state["train_seconds"] += time.perf_counter() - self._t0
            self.state["train_batches"] += self._batches
            self._t0 = None

    def on_test_begin(self, logs=None):  # validation starts: the epoch's training part is over
        self._close_train_time()

    def on_epoch_end(self, epoch, logs=None):
        self._close_train_time()
        logs = {k: float(v) for k, v in (logs or {}).items()}
        with atomic_path(self.files["ckpt"], ".keras") as tmp:
            self.model.save(tmp)
        if self.stopper.best_epoch == epoch and self.stopper.best_weights is not None:
            _save_weights(self.files["best"], self.stopper.best_weights)
        best = self.stopper.best
        self.state.update(epoch=epoch + 1, best=None if best is None else float(best),
                          best_epoch=int(self.stopper.best_epoch), wait=int(self.stopper.wait),
                          stopped=bool(self.model.stop_training), logs=logs)
        write_text_atomic(self.files["state"], json.dumps(self.state, indent=1) + "\n")
        self.log(f"epoch {epoch + 1}: loss {logs.get('loss', np.nan):.4f}, val_loss {logs.get('val_loss', np.nan):.4f}, "
                 f"val pixel accuracy {logs.get('val_pixel_accuracy', np.nan):.4f}, "
                 f"val offset RMSE {logs.get('val_offset_rmse_px', np.nan):.2f} px, "
                 f"val N_HI RMSE {logs.get('val_log_nhi_rmse_dex', np.nan):.3f} dex")

    @property
    def samples_per_s(self) -> float:
        s = self.state["train_seconds"]
        return self.state["train_batches"] * self.batch_size / s if s > 0 else float("nan")


def _read_history(csv_path: Path) -> dict[str, list[float]]:
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


def warm_start(model: keras.Model, source: str | Path) -> dict[str, list[str]]:
    """Copy a saved model's weights into ``model``, layer by layer (matched by name and shape).

    Parameters
    ----------
    model : keras.Model
        The freshly built model (modified in place).
    source : path
        A model saved by :func:`dla_cnn.model.card.save_model` (its card is checked).

    Returns
    -------
    dict
        Layer names ``copied``, set to the ``identity`` (residual convolutions named
        ``core*`` that the source lacks: zero kernel and bias) and left ``fresh``.

    Raises
    ------
    AssetError
        Unreadable source, or a layer of the same name with different weight shapes.
    """
    from dla_cnn.model.card import load_model

    src, _card = load_model(source)
    by_name = {layer.name: layer for layer in src.layers}
    out: dict[str, list[str]] = {"copied": [], "identity": [], "fresh": []}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = by_name.get(layer.name)
        if other is not None:
            theirs = other.get_weights()
            if [w.shape for w in theirs] != [w.shape for w in weights]:
                raise AssetError(f"{source}: layer {layer.name!r} has weights "
                                 f"{[w.shape for w in theirs]}, the new model {[w.shape for w in weights]}")
            layer.set_weights(theirs)
            out["copied"].append(layer.name)
        elif layer.name.startswith("core") and isinstance(layer, keras.layers.Conv1D):
            layer.set_weights([np.zeros_like(w) for w in weights])
            out["identity"].append(layer.name)
        else:
            out["fresh"].append(layer.name)
    return out


def train(
    train_path: str | Path,
    out_path: str | Path,
    preset: str | ModelConfig = "fcn",
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    resume: bool = False,
    patience: int = 4,
    steps_per_epoch: int | None = None,
    log: Callable[[str], None] = print,
    *,
    loss_weights: LossWeights = LossWeights(),
    validation_steps: int | None = None,
    max_sightlines: int | None = None,
    test_sightlines: int | None = 2000,
    windows_per_sightline: int = 16,
    workers: int = 1,
    command: str = "",
    verbose: int = 0,
    init_from: str | Path | None = None,
    calibrate: bool = True,
) -> TrainResult:
    """Train a model, checkpointing every epoch, and save it with its model card.

    Parameters
    ----------
    train_path : path
        HDF5 training set (with train/validation/test splits).
    out_path : path
        Output model ``NAME.keras``; checkpoints and logs go beside it (module docs).
    preset : str or config
        ``"fcn"`` (default) or ``"parks2018"``, or a config dataclass.
    epochs : int
        Total epochs (a resumed run counts the epochs already done).
    batch_size : int
        Sightlines (``fcn``) or windows (``parks2018``) per batch.
    lr : float
        Peak Adam learning rate; cosine decay to 5% over ``epochs``.
    seed : int
        Seeds Keras (``keras.utils.set_random_seed``), NumPy and the data order.
    resume : bool
        Continue the run whose checkpoint sits beside ``out_path``.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping; the best
        epoch's weights are restored.
    steps_per_epoch : int, optional
        Batches per epoch (default: the whole train split).
    log : callable
        Receives one line per epoch.
    loss_weights : LossWeights
        Task weights of the combined loss.
    validation_steps : int, optional
        Validation batches per epoch (default: the whole validation split).
    max_sightlines : int, optional
        Use only the first sightlines of each split (quick runs).
    test_sightlines : int, optional
        Test-split sightlines evaluated for the card (None: all).
    windows_per_sightline : int
        ``parks2018`` only: windows cut from each sightline of a batch.
    workers : int
        ``PyDataset`` reader threads.
    command : str
        The command line, recorded in the card.
    verbose : int
        Keras ``fit`` verbosity.
    init_from : path, optional
        A saved model (with its card), or a packaged model's name, whose weights start a
        new run (module docs); ignored when resuming.
    calibrate : bool
        Fit the N_HI calibration, error scales and confidence map on the validation split
        (:func:`dla_cnn.scan.calibrate.fit_calibration`) and store them in the card, so a
        model trained from Python is the one the command line makes.

    Returns
    -------
    TrainResult
        ``(model, card)``, with the per-epoch logs as ``.history`` (also in the card).
    """
    t_start = time.perf_counter()
    cfg = preset_config(preset)
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    files = run_files(out_path)
    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise ConfigError(f"{out_path}: the output model must end in .keras")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    attrs = training_set_attrs(train_path)
    keras.utils.set_random_seed(seed)

    data_kw = dict(preset=cfg, windows_per_sightline=windows_per_sightline, max_sightlines=max_sightlines,
                   workers=workers)
    train_data = TrainingData(train_path, "train", batch_size, seed=seed, steps_per_epoch=steps_per_epoch, **data_kw)
    val_data = TrainingData(train_path, "validation", batch_size, seed=seed + 1, shuffle=False, **data_kw)
    steps = len(train_data)

    state: dict = {}
    if resume and files["ckpt"].exists() and files["state"].exists():
        try:
            state = json.loads(files["state"].read_text())
            model = keras.saving.load_model(files["ckpt"])
        except Exception as err:
            raise AssetError(f"{files['ckpt']}: cannot resume from the checkpoint ({describe(err, 160)})") from None
        if state.get("preset") != cfg.name:
            raise ConfigError(f"{files['state']}: checkpoint of preset {state.get('preset')!r}, asked for {cfg.name!r}")
        log(f"resuming from epoch {state['epoch']} ({files['ckpt']})")
    else:
        if resume:
            log(f"no checkpoint at {files['ckpt']}: starting a new run")
        for key in ("ckpt", "best", "state", "csv"):
            files[key].unlink(missing_ok=True)
        model = build_model(cfg)
        if init_from is not None:
            init_from = resolve_model(init_from)
            warm = warm_start(model, init_from)
            log(f"warm start from {init_from}: {len(warm['copied'])} layers copied, "
                f"{len(warm['identity'])} new residual blocks as identity, {len(warm['fresh'])} fresh")
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=combined_loss(loss_weights),
                      metrics=task_metrics())
        state = {"preset": cfg.name, "train_path": str(train_path), "seed": seed, "epoch": 0}
        if init_from is not None:
            state["init_from"] = {"path": str(init_from), "sha256": sha256_of(init_from), **warm}
    start_epoch = int(state.get("epoch", 0))
    train_data.epoch = start_epoch  # a resumed run continues the data stream where it stopped

    stopper = ResumableEarlyStopping(patience, state, files["best"])
    run_state = _RunState(files, stopper, batch_size, state, log)
    callbacks = [stopper, run_state, keras.callbacks.CSVLogger(str(files["csv"]), append=True)]
    if state.get("stopped"):
        log(f"the run stopped early at epoch {start_epoch}: nothing left to train")
    model.fit(train_data, validation_data=val_data, epochs=start_epoch if state.get("stopped") else epochs,
              initial_epoch=start_epoch,
              validation_steps=validation_steps, callbacks=callbacks,
              verbose=verbose)
    train_data.close()
    val_data.close()

    test = evaluate(model, train_path, "test", max_sightlines=test_sightlines)
    history = _read_history(files["csv"])
    sample_unit = "windows" if isinstance(cfg, Parks2018Config) else "sightlines"
    card = {
        "preset": cfg.name,
        "preset_config": config_to_dict(cfg),
        "loss_weights": asdict(getattr(model.loss, "weights", loss_weights)),
        "input_contract": InputContract(FLUX_CLIP, int(((attrs.get("config") or {}).get("labels") or {}).get(
            "radius", LABEL_RADIUS_PX))).to_dict(),
        "training_set": {"path": str(Path(train_path).resolve()), "sha256": sha256_of(train_path),
                         "config": attrs.get("config"), "n_rows": attrs.get("n_rows"),
                         "dla_cnn_version": attrs.get("dla_cnn_version")},
        "training": {"epochs_requested": epochs, "batch_size": batch_size, "learning_rate": lr,
                     "schedule": "cosine decay to 5%", "patience": patience, "steps_per_epoch": steps,
                     "validation_steps": validation_steps, "max_sightlines": max_sightlines,
                     "windows_per_sightline": windows_per_sightline if sample_unit == "windows" else None,
                     "best_epoch": int(run_state.state.get("best_epoch", 0)) + 1,
                     "best_val_loss": run_state.state.get("best"), "resumed": bool(start_epoch),
                     "init_from": run_state.state.get("init_from")},
        "seed": seed,
        "epochs_run": int(run_state.state.get("epoch", start_epoch)),
        "backend": keras.backend.backend(),
        "devices": devices(),
        "hardware": hardware(),
        "training_time_s": round(run_state.state["train_seconds"], 2),
        "wall_time_s": round(time.perf_counter() - t_start, 2),
        "samples_per_s": round(run_state.samples_per_s, 2),
        "sample_unit": sample_unit,
        "metrics_test": test,
        "history": history,
        "metrics_validation_last": {k: v for k, v in run_state.state.get("logs", {}).items() if k.startswith("val_")},
        "commands": {"train": command} if command else {},
        "calibration": {},
    }
    save_model(model, out_path, card)
    from dla_cnn.model.card import read_card, write_card

    card = read_card(out_path)
    if calibrate:
        from dla_cnn.scan.calibrate import fit_calibration

        cal, summary = fit_calibration(model, train_path, "validation")
        card["calibration"] = cal.to_dict()
        card["calibration_summary"] = summary
        write_card(out_path, card)
    return TrainResult(model, card)

