"""Training on a stream of freshly simulated sightlines: the Keras side.

:class:`StreamData` is a ``keras.utils.PyDataset`` whose batch ``k`` of epoch ``e`` is made
by worker processes from the recipe of ``dla-cnn build-training``, seeded by
``(seed, e, k)`` (:mod:`dla_cnn.training.stream`): the same batch whatever the number of
workers, and no sightline is ever seen twice.  Keras asks for the batches of an epoch in
order (``fit(..., shuffle=False)``); the dataset keeps the next few in the workers' hands,
across the end of the epoch too.

:func:`open_stream` prepares a streamed run for :func:`dla_cnn.model.train.train`: the
train stream, the fixed validation and test sets (made once from the same recipe and seed,
written beside the run as ``NAME.heldout.h5`` and reused while they match, or the splits of
an HDF5 set given instead), and the card's ``training_set`` entry (recipe and seed instead
of a file's sha256).

Caveats
-------
* Whole sightlines only (the ``fcn`` preset); ``parks2018`` trains from HDF5 sets.
* The workers are started with ``spawn``: a script that trains on a stream with workers
  needs the ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from dla_cnn.assets import sha256_of
from dla_cnn.exceptions import ConfigError
from dla_cnn.model.data import TrainingData, training_set_attrs
from dla_cnn.training.build import BuildConfig
from dla_cnn.training.stream import RowPool, recipe_dict, stream_batch, write_heldout


def default_workers() -> int:
    """Stream workers when none are asked for: every core but one (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class StreamSpec:
    """How a run streams its training data (pass it to ``train()`` instead of an HDF5 path)."""

    recipe: BuildConfig = field(default_factory=BuildConfig)
    """The build-training recipe; its ``seed`` and ``n_sightlines`` are not used (``train(seed=)`` seeds)."""
    workers: int = field(default_factory=default_workers)
    """Worker processes making batches (0: in the training process)."""
    validation_sightlines: int = 2000
    """Size of the fixed validation set (the test set's is ``train(test_sightlines=)``)."""
    heldout: str | None = None
    """An HDF5 training set whose validation and test splits replace the generated sets."""
    prefetch: int | None = None
    """Batches made ahead of the one Keras asks for (default: two per worker)."""


class StreamData(keras.utils.PyDataset):
    """Batches ``(x (batch, 1748, 2), y (batch, 1748, 3))`` of freshly simulated sightlines.

    Parameters
    ----------
    recipe : BuildConfig
        What to simulate, inject and label; ``recipe.seed`` seeds the stream.
    batch_size : int
        Sightlines per batch.
    steps_per_epoch : int
        Batches per Keras epoch.
    workers : int
        Worker processes (``spawn``); 0 makes each batch in the calling process.
    prefetch : int, optional
        Batches kept in the making ahead of the one asked for (default ``2 * workers``).
    epoch : int
        The stream's epoch (a resumed run sets the epoch it continues at).
    """

    def __init__(self, recipe: BuildConfig, batch_size: int, steps_per_epoch: int, workers: int = 1,
                 prefetch: int | None = None, epoch: int = 0):
        super().__init__()  # one reader in the training process: Keras calls __getitem__ in order
        if batch_size < 1 or steps_per_epoch < 1:
            raise ConfigError(f"the stream needs batch_size and steps_per_epoch >= 1 "
                              f"(got {batch_size}, {steps_per_epoch})")
        self.recipe, self.batch_size, self.steps = recipe, int(batch_size), int(steps_per_epoch)
        self.pool = RowPool(workers)
        self.prefetch = 2 * self.pool.workers if prefetch is None else max(0, int(prefetch))
        self.epoch = int(epoch)
        self._pending: dict[tuple[int, int], Any] = {}
        self._done: OrderedDict[tuple[int, int], tuple] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.steps

    @property
    def position(self) -> dict[str, int]:
        """The next batch the stream gives: ``{"epoch": e, "batch": 0}`` between epochs."""
        return {"epoch": self.epoch, "batch": 0}

    def _key(self, epoch: int, index: int) -> tuple[int, int]:
        extra, index = divmod(index, self.steps)
        return epoch + extra, index

    def _submit(self, key: tuple[int, int]) -> None:
        if key not in self._pending and key not in self._done:
            self._pending[key] = self.pool.submit(stream_batch, self.recipe, key[0], key[1], self.batch_size)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of stream epoch ``epoch`` (made now if not already in the making)."""
        key = self._key(epoch, index)
        with self._lock:
            if key in self._done:
                return self._done[key]
            self._submit(key)
            for ahead in range(1, self.prefetch + 1):
                self._submit(self._key(epoch, index + ahead))
            handle = self._pending.pop(key)
        out = handle.get()
        with self._lock:
            self._done[key] = out
            while len(self._done) > 4:  # Keras (TensorFlow) may ask for the first batches twice
                self._done.popitem(last=False)
        return out

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} out of range ({self.steps} batches)")
        return self.batch(self.epoch, index)

    def on_epoch_end(self) -> None:
        with self._lock:
            self.epoch += 1
            # batches of past epochs that were asked ahead are no longer wanted
            self._pending = {k: v for k, v in self._pending.items() if k[0] >= self.epoch}

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.close()
        self._pending.clear()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class StreamEpochs(keras.callbacks.Callback):
    """Keeps a :class:`StreamData`'s epoch on Keras' epoch (batches are keyed by it).

    Parameters
    ----------
    data : StreamData
        The train stream of the run.
    """

    def __init__(self, data: StreamData):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        with self.data._lock:
            self.data.epoch = int(epoch)


class StreamRun(NamedTuple):
    """What :func:`open_stream` sets up for a streamed training run."""

    train_data: StreamData
    val_data: TrainingData
    heldout_path: Path
    """HDF5 file with the validation and test splits (evaluation and calibration read it)."""
    card_entry: dict
    """The card's ``training_set`` entry, without the run's own counts."""


def open_stream(spec: StreamSpec, out_path: Path, batch_size: int, seed: int, steps_per_epoch: int | None,
                test_sightlines: int | None, log: Callable[[str], None] = print) -> StreamRun:
    """The train stream, validation data and held-out file of a streamed run.

    Parameters
    ----------
    spec : StreamSpec
        Recipe, workers, validation size, or an HDF5 set for validation and test.
    out_path : path
        The run's model ``NAME.keras``; the generated sets go to ``NAME.heldout.h5``.
    batch_size : int
        Sightlines per batch.
    seed : int
        Seeds the stream and the generated validation / test sets.
    steps_per_epoch : int, optional
        Batches per epoch (default 1000).
    test_sightlines : int, optional
        Size of the generated test set (default 2000).
    log : callable
        Receives a line when the held-out sets are generated.

    Returns
    -------
    StreamRun
    """
    recipe = replace(spec.recipe, seed=int(seed))
    if recipe.source != "simulator":
        raise ConfigError(f"only simulated hosts can be streamed (source {recipe.source!r})")
    train_data = StreamData(recipe, batch_size, steps_per_epoch or 1000, spec.workers, spec.prefetch)
    entry: dict = {"stream": {"recipe": recipe_dict(recipe), "seed": int(seed), "workers": spec.workers,
                              "steps_per_epoch": train_data.steps, "batch_size": int(batch_size)},
                   "config": recipe_dict(recipe)}
    if spec.heldout is not None:
        path = Path(spec.heldout)
        attrs = training_set_attrs(path)
        entry["heldout"] = {"path": str(path.resolve()), "sha256": sha256_of(path), "generated": False,
                            "config": attrs.get("config")}
    else:
        name = out_path.name[: -len(".keras")] if out_path.name.endswith(".keras") else out_path.name
        n_val, n_test = int(spec.validation_sightlines), int(test_sightlines or 2000)
        path, made = write_heldout(out_path.with_name(name + ".heldout.h5"), recipe, n_val, n_test, train_data.pool)
        log(f"{'generated' if made else 'reusing'} the stream's held-out sets: {n_val} validation and "
            f"{n_test} test sightlines ({path})")
        entry["heldout"] = {"path": str(path.resolve()), "sha256": sha256_of(path), "generated": True,
                            "n_validation": n_val, "n_test": n_test}
    val_data = TrainingData(path, "validation", batch_size, seed=seed + 1, shuffle=False)
    return StreamRun(train_data, val_data, path, entry)


__all__ = ["StreamData", "StreamEpochs", "StreamRun", "StreamSpec", "default_workers", "open_stream"]
