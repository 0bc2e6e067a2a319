"""Train a preset on an HDF5 training set or on a stream of simulated sightlines, with checkpoints and resume.

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

``train(StreamSpec(recipe), ...)`` trains on sightlines simulated while it runs
(:mod:`dla_cnn.model.stream`): batch ``k`` of epoch ``e`` is seeded by ``(seed, e, k)``, so
no sightline repeats and the run is reproducible whatever the number of workers; the
state JSON records the stream's recipe and position, and a resumed run continues at the
next epoch's first batch.  Validation and test use fixed sets made once from the same
recipe (``NAME.heldout.h5``); the card records the recipe and seed instead of a file's sha256.

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
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from dla_cnn.assets import resolve_model, sha256_of
from dla_cnn.contract import FLUX_CLIP, LABEL_RADIUS_PX, InputContract
from dla_cnn.exceptions import AssetError, ConfigError, describe
from dla_cnn.model.card import save_model
from dla_cnn.model.data import TrainingData, training_set_attrs
from dla_cnn.model.loss import LossWeights, combined_loss
from dla_cnn.model.metrics import task_metrics
from dla_cnn.model.predict import evaluate
from dla_cnn.model.presets import ModelConfig, Parks2018Config, build_model, config_to_dict, preset_config
from dla_cnn.model.runstate import (  # noqa: F401  (run_files, devices, hardware: this module's interface too)
    ResumableEarlyStopping, RunState, devices, hardware, read_history, run_files, set_random_seed,
)
from dla_cnn.model.stream import StreamData, StreamEpochs, StreamSpec, open_stream


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
    train_path : path or StreamSpec
        HDF5 training set (with train/validation/test splits), or a
        :class:`dla_cnn.model.stream.StreamSpec`: sightlines simulated on the fly from a
        build-training recipe, seeded by ``seed``, never repeated (module docs).
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
        Batches per epoch (default: the whole train split; 1000 for a stream).
    log : callable
        Receives one line per epoch.
    loss_weights : LossWeights
        Task weights of the combined loss.
    validation_steps : int, optional
        Validation batches per epoch (default: the whole validation split).
    max_sightlines : int, optional
        Use only the first sightlines of each split (quick runs).
    test_sightlines : int, optional
        Test-split sightlines evaluated for the card (None: all); for a stream, the size of
        its generated test set (None: 2000).
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
    set_random_seed(seed)
    data = _open_data(train_path, out_path, cfg, batch_size, seed, steps_per_epoch, test_sightlines, log,
                      dict(preset=cfg, windows_per_sightline=windows_per_sightline, max_sightlines=max_sightlines,
                           workers=workers))
    try:
        model, state = _model_and_state(cfg, files, data, resume, init_from, log, seed,
                                        lambda m: _compile(m, lr, epochs * len(data.train), loss_weights))
        run_state = _fit(model, data, files, state, epochs, batch_size, patience, validation_steps, verbose, log)
    finally:
        data.train.close()
        data.val.close()

    test = evaluate(model, data.eval_path, "test", max_sightlines=test_sightlines)
    windowed = isinstance(cfg, Parks2018Config)
    settings = {"epochs_requested": epochs, "batch_size": batch_size, "learning_rate": lr,
                "schedule": "cosine decay to 5%", "patience": patience, "steps_per_epoch": len(data.train),
                "validation_steps": validation_steps, "max_sightlines": max_sightlines,
                "windows_per_sightline": windows_per_sightline if windowed else None}
    card = _card(cfg, model, data, run_state, int(state.get("epoch", 0)), settings, loss_weights, test)
    card.update(seed=seed, wall_time_s=round(time.perf_counter() - t_start, 2), history=read_history(files["csv"]),
                commands={"train": command} if command else {}, calibration={})
    save_model(model, out_path, card)
    from dla_cnn.model.card import read_card, write_card

    card = read_card(out_path)
    if calibrate:
        from dla_cnn.scan.calibrate import fit_calibration

        cal, summary = fit_calibration(model, data.eval_path, "validation")
        card["calibration"] = cal.to_dict()
        card["calibration_summary"] = summary
        write_card(out_path, card)
    return TrainResult(model, card)


def _card(cfg: ModelConfig, model: keras.Model, data: "_Data", run_state: RunState, start_epoch: int,
          settings: dict, loss_weights: LossWeights, test: dict) -> dict:
    """The model card of a finished run (without seed, wall time, history, commands, calibration)."""
    entry = dict(data.entry)
    if data.stream is not None:  # every sightline trained on was a new one
        entry["sightlines_trained"] = int(run_state.state["train_batches"]) * int(settings["batch_size"])
    radius = int(((data.config or {}).get("labels") or {}).get("radius", LABEL_RADIUS_PX))
    st = run_state.state
    return {
        "preset": cfg.name,
        "preset_config": config_to_dict(cfg),
        "loss_weights": asdict(getattr(model.loss, "weights", loss_weights)),
        "input_contract": InputContract(FLUX_CLIP, radius).to_dict(),
        "training_set": entry,
        "training": {**settings, "best_epoch": int(st.get("best_epoch", 0)) + 1, "best_val_loss": st.get("best"),
                     "resumed": bool(start_epoch), "init_from": st.get("init_from")},
        "epochs_run": int(st.get("epoch", start_epoch)),
        "backend": keras.backend.backend(),
        "devices": devices(),
        "hardware": hardware(),
        "training_time_s": round(st["train_seconds"], 2),
        "samples_per_s": round(run_state.samples_per_s, 2),
        "sample_unit": "windows" if isinstance(cfg, Parks2018Config) else "sightlines",
        "metrics_test": test,
        "metrics_validation_last": {k: v for k, v in st.get("logs", {}).items() if k.startswith("val_")},
    }


class _Data(NamedTuple):
    """The data of a run, from an HDF5 set or a stream."""

    train: keras.utils.PyDataset
    val: TrainingData
    eval_path: Path
    """Training set whose test split is evaluated and whose validation split calibrates."""
    entry: dict
    """The card's ``training_set`` entry."""
    config: dict | None
    """The recipe (build-training config) of the data."""
    stream: StreamData | None


def _open_data(source: str | Path | StreamSpec, out_path: Path, cfg: ModelConfig, batch_size: int, seed: int,
               steps_per_epoch: int | None, test_sightlines: int | None, log: Callable[[str], None],
               data_kw: dict) -> _Data:
    """Train and validation data of an HDF5 set, or of a stream (:mod:`dla_cnn.model.stream`)."""
    if isinstance(source, StreamSpec):
        if isinstance(cfg, Parks2018Config):
            raise ConfigError("the training stream gives whole sightlines: stream with the fcn preset")
        if data_kw.get("max_sightlines"):
            raise ConfigError("max_sightlines limits an HDF5 set; a stream has none")
        run = open_stream(source, out_path, batch_size, seed, steps_per_epoch, test_sightlines, log)
        return _Data(run.train_data, run.val_data, run.heldout_path, run.card_entry, run.card_entry["config"],
                     run.train_data)
    attrs = training_set_attrs(source)
    train_data = TrainingData(source, "train", batch_size, seed=seed, steps_per_epoch=steps_per_epoch, **data_kw)
    val_data = TrainingData(source, "validation", batch_size, seed=seed + 1, shuffle=False, **data_kw)
    entry = {"path": str(Path(source).resolve()), "sha256": sha256_of(source), "config": attrs.get("config"),
             "n_rows": attrs.get("n_rows"), "dla_cnn_version": attrs.get("dla_cnn_version")}
    return _Data(train_data, val_data, Path(source), entry, attrs.get("config"), None)


def _compile(model: keras.Model, lr: float, total_steps: int, loss_weights: LossWeights) -> None:
    """Adam with a cosine decay to 5% over the run, the combined loss and the task metrics."""
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=combined_loss(loss_weights), metrics=task_metrics())


def _model_and_state(cfg: ModelConfig, files: dict[str, Path], data: _Data, resume: bool,
                     init_from: str | Path | None, log: Callable[[str], None], seed: int,
                     compile_fn: Callable[[keras.Model], None]) -> tuple[keras.Model, dict]:
    """The checkpointed model and run state of a resumed run, or a new (warm-started) model."""
    recipe = data.entry["stream"]["recipe"] if data.stream is not None else None
    if resume and files["ckpt"].exists() and files["state"].exists():
        try:
            state = json.loads(files["state"].read_text())
            model = keras.saving.load_model(files["ckpt"])
        except Exception as err:
            raise AssetError(f"{files['ckpt']}: cannot resume from the checkpoint ({describe(err, 160)})") from None
        if state.get("preset") != cfg.name:
            raise ConfigError(f"{files['state']}: checkpoint of preset {state.get('preset')!r}, asked for {cfg.name!r}")
        if state.get("stream_recipe") != recipe or (recipe is not None and state.get("seed") != seed):
            raise ConfigError(f"{files['state']}: the checkpoint was trained on other data (another stream recipe "
                              "or seed, or an HDF5 set instead of a stream); resume with the same data")
        log(f"resuming from epoch {state['epoch']} ({files['ckpt']})")
        return model, state
    if resume:
        log(f"no checkpoint at {files['ckpt']}: starting a new run")
    for key in ("ckpt", "best", "state", "csv"):
        files[key].unlink(missing_ok=True)
    model = build_model(cfg)
    state = {"preset": cfg.name, "train_path": "stream" if recipe else str(data.entry["path"]), "seed": seed,
             "epoch": 0}
    if recipe is not None:
        state["stream_recipe"] = recipe
    if init_from is not None:
        init_from = resolve_model(init_from)
        warm = warm_start(model, init_from)
        log(f"warm start from {init_from}: {len(warm['copied'])} layers copied, "
            f"{len(warm['identity'])} new residual blocks as identity, {len(warm['fresh'])} fresh")
        state["init_from"] = {"path": str(init_from), "sha256": sha256_of(init_from), **warm}
    compile_fn(model)
    return model, state


def _fit(model: keras.Model, data: _Data, files: dict[str, Path], state: dict, epochs: int, batch_size: int,
         patience: int, validation_steps: int | None, verbose: int, log: Callable[[str], None]) -> RunState:
    """``model.fit`` from the state's epoch on, with checkpoints, early stopping and the CSV log."""
    start_epoch = int(state.get("epoch", 0))
    stopper = ResumableEarlyStopping(patience, state, files["best"])
    extra = None
    callbacks: list[keras.callbacks.Callback] = [stopper]
    if data.stream is not None:  # batches are keyed by (epoch, batch): a resumed run continues the stream
        data.stream.epoch = int((state.get("stream_position") or {}).get("epoch", start_epoch))
        callbacks.append(StreamEpochs(data.stream))
        extra = lambda epoch: {"stream_position": {"epoch": epoch + 1, "batch": 0}}  # noqa: E731
    else:
        data.train.epoch = start_epoch  # a resumed run continues the data stream where it stopped
    run_state = RunState(files, stopper, batch_size, state, log, extra)
    callbacks += [run_state, keras.callbacks.CSVLogger(str(files["csv"]), append=True)]
    if state.get("stopped"):
        log(f"the run stopped early at epoch {start_epoch}: nothing left to train")
    model.fit(data.train, validation_data=data.val, epochs=start_epoch if state.get("stopped") else epochs,
              initial_epoch=start_epoch, validation_steps=validation_steps, callbacks=callbacks, verbose=verbose,
              shuffle=data.stream is None)
    return run_state
