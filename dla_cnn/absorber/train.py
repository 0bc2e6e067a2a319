"""Training the absorber-level model on crop sets (``.npz`` from :mod:`.data`).

Crops are small (~6 kB each as float16), so a set of ~10^5 candidates sits in memory and
the model trains on a 2-core CPU in minutes per epoch (JAX backend recommended there), or
on a GPU when one is visible.  Every epoch writes a checkpoint and a CSV log line; a run
started again with the same output resumes from its last completed epoch.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from dla_cnn.backend import import_keras, load_saved_model

import_keras()  # before keras itself: keeps TensorFlow's C++ start-up lines quiet

import keras  # noqa: E402
import numpy as np

from dla_cnn.exceptions import ConfigError
from dla_cnn.model.runstate import set_random_seed
from dla_cnn.absorber.augment import CropAugment
from dla_cnn.absorber.model import INPUT_NAMES, AbsorberConfig, AbsorberLoss, build_absorber_model


def _npz_shapes(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an ``.npz`` file, read from the headers only."""
    import zipfile

    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
            out[member[:-len(".npy")]] = (shape, dtype)
    return out


def load_crop_set(path: str | Path | list) -> tuple[list[np.ndarray], np.ndarray]:
    """Inputs (lya, lyb, ll, scalars) and labels (k, 4) of one crop set, or of several concatenated.

    Several sets are copied one at a time into arrays allocated once from the files'
    headers, so the peak memory is the total plus one set (not twice the total).
    """
    if not isinstance(path, (list, tuple)):
        with np.load(path) as f:
            return [f[name] for name in INPUT_NAMES], f["labels"].astype(np.float32)
    shapes = [_npz_shapes(p) for p in path]
    sizes = [sh["labels"][0][0] for sh in shapes]
    inputs = [np.empty((sum(sizes), *shapes[0][name][0][1:]), shapes[0][name][1]) for name in INPUT_NAMES]
    labels = np.empty((sum(sizes), *shapes[0]["labels"][0][1:]), np.float32)
    start = 0
    for p, n in zip(path, sizes):
        x, y = load_crop_set(p)
        for dest, part in zip(inputs, x):
            dest[start:start + n] = part
        labels[start:start + n] = y
        start += n
    return inputs, labels


class CropBatches(keras.utils.PyDataset):
    """Shuffled batches of an in-memory crop set (float16 crops become float32 per batch).

    With ``augment``, a share of each batch's crops is changed by
    :meth:`~dla_cnn.absorber.augment.CropAugment.apply`, seeded by the seed, the epoch and
    the batch index (the same run draws the same changes).
    """

    def __init__(self, inputs: list[np.ndarray], labels: np.ndarray, batch_size: int = 128, seed: int = 0,
                 shuffle: bool = True, augment: CropAugment | None = None, **kwargs):
        super().__init__(**kwargs)
        self.inputs, self.labels, self.augment = inputs, labels, augment
        self.batch_size, self.seed, self.shuffle = int(batch_size), int(seed), shuffle
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        n = len(self.labels)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        return max(1, len(self.labels) // self.batch_size) if self.shuffle else -(-len(self.labels) // self.batch_size)

    def __getitem__(self, i: int):
        idx = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
        x = [x[idx].astype(np.float32) for x in self.inputs]
        if self.augment is not None:
            x = self.augment.apply(x, np.random.default_rng([self.seed, self.epoch, i, 1]))
        return tuple(x), self.labels[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy the weights of ``source``'s layers into ``target``'s layers of the same name and shapes.

    Parameters
    ----------
    source, target : keras.Model
        Built models; ``target`` may have another architecture (e.g. a wider shared layer).

    Returns
    -------
    list of str
        Names of the layers copied (layers without weights are not listed).  Layers of
        ``target`` that ``source`` lacks, or whose weight shapes differ, keep their
        initialisation.
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        src = by_name.get(layer.name)
        if src is None or not layer.weights:
            continue
        w = src.get_weights()
        if len(w) == len(layer.weights) and all(a.shape == tuple(b.shape) for a, b in zip(w, layer.weights)):
            layer.set_weights(w)
            copied.append(layer.name)
    return copied


@dataclass(frozen=True)
class AbsorberTrainConfig:
    """Optimisation settings of the absorber-level model."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


def _completed_epochs(log: Path) -> int:
    if not log.exists():
        return 0
    with open(log) as fh:
        return sum(1 for _ in csv.DictReader(fh))


def train_absorber_model(train_set: str | Path | list, val_set: str | Path, out: str | Path,
                         cfg: AbsorberTrainConfig = AbsorberTrainConfig(),
                         model_cfg: AbsorberConfig = AbsorberConfig(), verbose: int = 2,
                         init_weights: str | Path | None = None, augment: CropAugment | None = None) -> dict:
    """Train (or resume) the absorber-level model; returns a summary dict.

    Parameters
    ----------
    train_set : path or list of paths
        Crop set(s) of :func:`dla_cnn.absorber.data.build_crop_set`; several are concatenated.
    val_set : path
        Crop set for validation (another seed).
    out : path
        ``NAME.keras``; files written beside it: ``NAME.ckpt.weights.h5`` after every epoch,
        ``NAME.best.weights.h5`` (lowest validation loss) and ``NAME.log.csv``.
    cfg, model_cfg : AbsorberTrainConfig, AbsorberConfig
    verbose : int
        Keras verbosity.
    init_weights : path, optional
        Start from these weights (a fine-tune) instead of a random initialisation: a
        ``.weights.h5`` file of the same architecture, or a ``.keras`` model, whose layers
        are copied where name and shapes match (:func:`transfer_weights`; all of them for
        the same architecture).
    augment : CropAugment, optional
        Change a share of each training batch's crops (continuum errors, extra noise,
        mis-reported errors); the validation crops stay as they are.

    Returns
    -------
    dict
        ``model`` (best weights loaded), ``seconds``, ``n_train``, ``n_val``, ``epochs``, ``log``,
        ``transferred`` (layers copied from a ``.keras`` ``init_weights``; else empty).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.name[:-len(".keras")] if out.name.endswith(".keras") else out.stem
    ckpt, best, log = (out.with_name(f"{stem}.ckpt.weights.h5"), out.with_name(f"{stem}.best.weights.h5"),
                       out.with_name(f"{stem}.log.csv"))
    set_random_seed(cfg.seed)  # without importing TensorFlow under JAX
    x_tr, y_tr = load_crop_set(train_set)
    x_va, y_va = load_crop_set(val_set)
    model = build_absorber_model(model_cfg)
    transferred: list[str] = []
    if init_weights is not None:
        init_weights = Path(init_weights)
        if init_weights.suffix == ".keras":
            transferred = transfer_weights(load_saved_model(init_weights), model)
            if not transferred:
                raise ConfigError(f"{init_weights}: no layer matches the {model_cfg.name} architecture")
        else:
            model.load_weights(init_weights)
    steps = len(y_tr) // cfg.batch_size
    schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=max(1, cfg.epochs * steps), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=AbsorberLoss())
    start = _completed_epochs(log)
    if start and ckpt.exists():
        model.fit(CropBatches([x[:cfg.batch_size] for x in x_tr], y_tr[:cfg.batch_size], cfg.batch_size), epochs=1,
                  verbose=0)  # build the optimizer, then restore
        model.load_weights(ckpt)
        model.optimizer.iterations.assign(start * steps)
    t0 = time.time()
    if start < cfg.epochs:
        train_data = CropBatches(x_tr, y_tr, cfg.batch_size, cfg.seed, augment=augment)
        train_data.epoch = start
        train_data.order = train_data._order()
        model.fit(
            train_data, validation_data=CropBatches(x_va, y_va, 512, shuffle=False), initial_epoch=start,
            epochs=cfg.epochs, verbose=verbose,
            callbacks=[keras.callbacks.ModelCheckpoint(str(ckpt), save_weights_only=True),
                       keras.callbacks.ModelCheckpoint(str(best), save_weights_only=True, save_best_only=True,
                                                       monitor="val_loss"),
                       keras.callbacks.CSVLogger(str(log), append=True)],
        )
    if best.exists():
        model.load_weights(best)
    return {"model": model, "seconds": time.time() - t0, "n_train": int(len(y_tr)), "n_val": int(len(y_va)),
            "epochs": cfg.epochs, "log": str(log), "transferred": transferred}
