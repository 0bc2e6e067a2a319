"""On-the-fly training data: simulate -> inject -> label in worker processes, never stored.

The rows are made by the very code of ``dla-cnn build-training``
(:func:`dla_cnn.training.build._run_chunk`, one labelled row per simulated sightline); only
their seeds differ.  A block of rows is named by a key ``(part, a, b)``:

* ``part`` 0 (train), 1 (validation) or 2 (test);
* for the train stream ``a`` is the epoch and ``b`` the batch index within it; for the fixed
  validation / test sets ``a`` is 0 and ``b`` the 64-row chunk.

Its rows come from ``numpy.random.default_rng([s, b])`` where
``s = SeedSequence([seed, STREAM_TAG, part, a])`` (its first 64 bits), so batch ``b`` of
epoch ``a`` is the same whatever the number of workers or the order in which blocks are
made, every (epoch, batch) gets sightlines of its own, and none of them is a sightline of a
``build-training`` set (whose rows are seeded by ``[seed, chunk]`` with small integers).

Nothing here imports Keras: the worker processes (``spawn``) import only this module and
the simulator.  :class:`dla_cnn.model.stream.StreamData` is the Keras side.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dla_cnn.atomic import atomic_path
from dla_cnn.exceptions import DATA_ERRORS, AssetError, ConfigError
from dla_cnn.training.build import BuildConfig, _run_chunk
from dla_cnn.training.dataset import CHUNK_ROWS, SPLITS, TrainingSetWriter, read_attrs

STREAM_TAG = 0x73747265
"""Mixed into every stream seed, keeping stream sightlines apart from build-training's."""
PARTS = SPLITS
"""Stream parts: ``train`` 0, ``validation`` 1, ``test`` 2 (the split codes of the HDF5 sets)."""


# --------------------------------------------------------------------------- recipes
def _from_dict(cls: type, d: dict, where: str) -> Any:
    """A (nested, frozen) dataclass from its ``asdict`` form; lists become tuples.

    Fields the dataclass sets itself (``init=False``, such as a recipe version) are skipped.
    """
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}")
    kwargs = {}
    for name, value in d.items():
        if not fields[name].init:  # recorded by the code (a recipe version), not a setting
            continue
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def recipe_from_dict(d: dict) -> BuildConfig:
    """A :class:`BuildConfig` from its dict form (``BuildConfig.to_dict``, a set's ``config`` attribute).

    Parameters
    ----------
    d : dict
        Settings; missing ones take their defaults.

    Returns
    -------
    BuildConfig

    Raises
    ------
    ConfigError
        An unknown setting or a bad value.
    """
    return _from_dict(BuildConfig, d, "recipe")


def load_recipe(path: str | Path | None) -> BuildConfig:
    """The training-data recipe of a JSON file (a BuildConfig, e.g. ``training_sets/sim60k.json``).

    Parameters
    ----------
    path : path, optional
        JSON file; None gives the ``build-training`` defaults.

    Returns
    -------
    BuildConfig
        Only the simulator source can be streamed.

    Raises
    ------
    ConfigError
        Unreadable file, unknown setting, or a source other than the simulator.
    """
    if path is None:
        return BuildConfig()
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the recipe ({err})") from None
    cfg = recipe_from_dict(d)
    if cfg.source != "simulator":
        raise ConfigError(f"{path}: only simulated hosts can be streamed (source {cfg.source!r})")
    return cfg


def recipe_dict(cfg: BuildConfig) -> dict:
    """The recipe as stored in cards and run states.

    Parameters
    ----------
    cfg : BuildConfig

    Returns
    -------
    dict
        ``cfg.to_dict()`` in JSON types (tuples as lists), so it compares equal to a stored copy.
    """
    return json.loads(json.dumps(cfg.to_dict()))


# --------------------------------------------------------------------------- rows
def block_seed(seed: int, part: int, a: int) -> int:
    """The 64-bit seed of the blocks ``(part, a, *)`` of a stream seeded with ``seed``.

    Parameters
    ----------
    seed : int
        The stream's seed.
    part : int
        0 train, 1 validation, 2 test.
    a : int
        Epoch (train) or 0 (validation / test).

    Returns
    -------
    int
        The first 64 bits of ``SeedSequence([seed, STREAM_TAG, part, a])``.
    """
    state = np.random.SeedSequence([int(seed), STREAM_TAG, int(part), int(a)]).generate_state(1, np.uint64)
    return int(state[0])


def stream_rows(cfg: BuildConfig, part: int, a: int, b: int, count: int, start: int | None = None) -> dict[str, np.ndarray]:
    """The labelled rows of block ``(part, a, b)`` of the stream seeded with ``cfg.seed``.

    Parameters
    ----------
    cfg : BuildConfig
        The recipe; its ``seed`` seeds the stream.
    part : int
        0 train, 1 validation, 2 test (:data:`PARTS`).
    a, b : int
        Epoch and batch (train), or 0 and chunk (validation / test).
    count : int
        Rows in the block.  The rows are drawn one after the other from the block's
        generator, so a shorter block is a prefix of a longer one.
    start : int, optional
        Number of the first row in the ``host_id`` strings (default ``b * count``).

    Returns
    -------
    dict of str to ndarray
        Rows in the layout of :mod:`dla_cnn.training.dataset`; ``split`` is ``part``.
    """
    sub = dataclasses.replace(cfg, seed=block_seed(cfg.seed, part, a))
    start = int(b) * int(count) if start is None else int(start)
    rows = _run_chunk((sub, int(b), start, int(count), None))
    rows["split"][:] = part
    return rows


def rows_to_xy(rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs and packed labels of a block of rows.

    Parameters
    ----------
    rows : dict of str to ndarray
        Rows in the layout of :mod:`dla_cnn.training.dataset`.

    Returns
    -------
    x : ndarray (n, L, 2), float32
    y : ndarray (n, L, 3), float32
        Class, offset (px) and log N_HI per pixel, as :class:`dla_cnn.model.data.TrainingData` packs them.
    """
    y = np.stack([rows["label_class"], rows["label_offset"], rows["label_log_nhi"]], axis=-1).astype(np.float32)
    return rows["inputs"].astype(np.float32, copy=False), y


def stream_batch(cfg: BuildConfig, a: int, b: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``b`` of epoch ``a`` of the train stream.

    Parameters
    ----------
    cfg : BuildConfig
        The recipe; its ``seed`` seeds the stream.
    a, b : int
        Epoch and batch index.
    count : int
        Sightlines in the batch.

    Returns
    -------
    (x, y)
        As :func:`rows_to_xy`.
    """
    return rows_to_xy(stream_rows(cfg, PARTS["train"], a, b, count))


class _Ready:
    """A result made in the calling process, with the interface of ``AsyncResult``."""

    def __init__(self, value: Any):
        self.value = value

    def get(self, timeout: float | None = None) -> Any:
        return self.value


class RowPool:
    """Worker processes (``spawn``) that make blocks of the stream; 0 workers works in-process.

    Parameters
    ----------
    workers : int
        Processes; 0 makes every block in the calling process when asked for.
    """

    def __init__(self, workers: int = 1):
        if workers < 0:
            raise ConfigError(f"stream workers must be >= 0 (got {workers})")
        self.workers = int(workers)
        self._pool = None

    def submit(self, fn: Callable, *args) -> Any:
        """Run ``fn(*args)`` in a worker; returns an object whose ``get()`` gives the result."""
        if self.workers == 0:
            return _Ready(fn(*args))
        if self._pool is None:
            self._pool = mp.get_context("spawn").Pool(self.workers)
        return self._pool.apply_async(fn, args)

    def close(self) -> None:
        """Stop the workers (blocks still being made are dropped)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __getstate__(self) -> dict:
        return {"workers": self.workers, "_pool": None}


# --------------------------------------------------------------------------- fixed held-out sets
def heldout_attrs(cfg: BuildConfig, n_validation: int, n_test: int) -> dict:
    """Root attributes identifying the fixed validation / test sets of a stream.

    Parameters
    ----------
    cfg : BuildConfig
        The recipe with the stream's seed.
    n_validation, n_test : int
        Sizes of the two sets.

    Returns
    -------
    dict
        ``config``, ``seed``, ``source`` and ``stream`` (seed and sizes).
    """
    return {"config": recipe_dict(cfg), "seed": int(cfg.seed), "source": "stream held-out sets",
            "stream": {"seed": int(cfg.seed), "n_validation": int(n_validation), "n_test": int(n_test)}}


def _matches(path: Path, attrs: dict) -> bool:
    """Whether the held-out sets at ``path`` were made with this recipe (an unreadable file: no)."""
    if not path.exists():
        return False
    try:
        have = read_attrs(path)
    except (AssetError, *DATA_ERRORS):  # a half-written or corrupt file is rebuilt
        return False
    stream = have.get("stream")
    stream = json.loads(stream) if isinstance(stream, str) else stream
    return have.get("config") == attrs["config"] and stream == attrs["stream"]


def write_heldout(path: str | Path, cfg: BuildConfig, n_validation: int, n_test: int, pool: RowPool,
                  progress: Callable[[int], None] | None = None) -> tuple[Path, bool]:
    """The stream's fixed validation and test sets, as a training set with those two splits.

    Parameters
    ----------
    path : path
        HDF5 file; kept when it already holds the same sets (same recipe, seed and sizes).
    cfg : BuildConfig
        The recipe; its ``seed`` seeds the sets (keys ``(1, 0, chunk)`` and ``(2, 0, chunk)``).
    n_validation, n_test : int
        Sightlines in each set.
    pool : RowPool
        Makes the 64-row chunks.
    progress : callable, optional
        Called with the number of rows written.

    Returns
    -------
    (Path, bool)
        The file, and whether it was written now (False: reused).
    """
    if n_validation < 1 or n_test < 1:
        raise ConfigError(f"the stream needs >= 1 validation and test sightline (got {n_validation}, {n_test})")
    path = Path(path)
    attrs = heldout_attrs(cfg, n_validation, n_test)
    if _matches(path, attrs):
        return path, False
    tasks = []
    for part, n in ((PARTS["validation"], n_validation), (PARTS["test"], n_test)):
        for chunk, start in enumerate(range(0, n, CHUNK_ROWS)):
            tasks.append(pool.submit(stream_rows, cfg, part, 0, chunk, min(CHUNK_ROWS, n - start), start))
    done = 0
    with atomic_path(path, ".h5") as tmp, TrainingSetWriter(tmp, attrs) as writer:
        for task in tasks:
            rows = task.get()
            writer.append(rows)
            done += len(rows["z_qso"])
            if progress:
                progress(done)
    return path, True


__all__ = ["PARTS", "RowPool", "STREAM_TAG", "block_seed", "heldout_attrs", "load_recipe", "recipe_dict",
           "recipe_from_dict", "rows_to_xy", "stream_batch", "stream_rows", "write_heldout"]
