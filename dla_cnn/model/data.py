"""Streaming training data from the HDF5 training sets, as a ``keras.utils.PyDataset``.

A training set holds one row per sightline (layout in :mod:`dla_cnn.training.dataset`):
``inputs`` (N, 1748, 2), ``label_class`` / ``label_offset`` / ``label_log_nhi``
(N, 1748) and ``split`` (N,) with 0 train, 1 validation, 2 test.

:class:`TrainingData` never reads the whole set: each batch reads the few row chunks it
needs (the HDF5 chunk cache keeps recent chunks decompressed).  Batches come from a
stream of passes over the split; each pass shuffles the order of the row blocks (one block
per HDF5 chunk) and the rows within each block, seeded by ``(seed, pass)``, so runs are
reproducible and an epoch shorter than a pass simply continues the stream.

* ``fcn`` batches are whole sightlines: ``x`` (batch, 1748, 2), ``y`` (batch, 1748, 3).
* ``parks2018`` batches are 400-px flux windows cut on the fly: ``x`` (batch, 400, 1),
  ``y`` (batch, 3) = the labels of each window's central pixel.  Half of the windows of a
  batch are centred on positive pixels (spread evenly over the sightlines that have
  some), half on negative ones (spread evenly over all sightlines), so every sightline
  with an absorber contributes as many positive as negative windows; pixels labelled -1
  are never sampled.  Flux beyond the ends of a sightline is 0 (missing).
  If no sightline of a batch has a positive pixel, the batch is all negatives.

``y`` packs ``[class, offset, log_nhi]`` on its last axis (see :mod:`dla_cnn.model.loss`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import h5py
import keras
import numpy as np

from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.model.presets import ModelConfig, Parks2018Config, preset_config
from dla_cnn.training.dataset import SPLITS, read_attrs

REQUIRED = ("inputs", "label_class", "label_offset", "label_log_nhi", "split")
LABELS = ("label_class", "label_offset", "label_log_nhi")


def split_code(split: str) -> int:
    """The ``split`` dataset code of a split name."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    return SPLITS[split]


def open_training_set(path: str | Path, **kwargs) -> h5py.File:
    """Open a training set read-only, checking it has the datasets the model needs.

    Raises
    ------
    AssetError
        The file is missing, not HDF5, or lacks a required dataset.
    """
    path = Path(path)
    if not path.exists():
        raise AssetError(f"{path}: training set not found")
    try:
        f = h5py.File(path, "r", **kwargs)
    except OSError as err:
        raise AssetError(f"{path}: cannot read the training set ({' '.join(str(err).split())})") from None
    missing = [name for name in REQUIRED if name not in f]
    if missing:
        f.close()
        raise AssetError(f"{path}: not a dla-cnn training set (missing {', '.join(missing)})")
    return f


def training_set_attrs(path: str | Path) -> dict:
    """Root attributes of a training set (:func:`dla_cnn.training.dataset.read_attrs`) and its ``n_rows``."""
    attrs = read_attrs(path)
    with open_training_set(path) as f:
        attrs["n_rows"] = int(f["split"].shape[0])
    return attrs


def cut_windows(flux: np.ndarray, rows: np.ndarray, centres: np.ndarray, window: int = 400) -> np.ndarray:
    """Flux windows centred on given pixels.

    Parameters
    ----------
    flux : ndarray (n, length)
        Normalised flux of ``n`` sightlines (0 where missing).
    rows, centres : ndarray of int (m,)
        Sightline and central pixel of each window.
    window : int
        Window length; the centre sits at index ``window // 2``.

    Returns
    -------
    ndarray (m, window, 1), float32
        Pixels beyond the ends of a sightline are 0 (missing), never copies of real flux.
    """
    idx = np.asarray(centres)[:, None] + np.arange(window)
    return _zero_padded(flux, window)[np.asarray(rows)[:, None], idx][..., None]


def sliding_windows(flux: np.ndarray, window: int = 400) -> np.ndarray:
    """The window of every pixel of ``(n, length)`` sightlines -> ``(n * length, window, 1)``.

    Same convention as :func:`cut_windows` (centre at ``window // 2``, zeros outside).

    Parameters
    ----------
    flux : ndarray (n, length)
        Normalised flux of ``n`` sightlines (0 where missing).
    window : int
        Window length, pixels.

    Returns
    -------
    ndarray (n * length, window, 1), float32
        Row ``i * length + p`` is the window of sightline ``i`` centred on pixel ``p``;
        pixels beyond the ends of a sightline are 0.
    """
    n, length = flux.shape
    view = np.lib.stride_tricks.sliding_window_view(_zero_padded(flux, window), window, axis=1)[:, :length]
    return view.reshape(n * length, window, 1)


def _zero_padded(flux: np.ndarray, window: int) -> np.ndarray:
    """``(n, length)`` flux with ``window // 2`` zeros before it and the rest of ``window`` after."""
    n, length = flux.shape
    half = window // 2
    padded = np.zeros((n, length + window), dtype=np.float32)
    padded[:, half: half + length] = flux
    return padded


class TrainingData(keras.utils.PyDataset):
    """Batches of ``(inputs, labels)`` from one split of a training set.

    Parameters
    ----------
    path : str or Path
        HDF5 training set.
    split : {"train", "validation", "test"}
    batch_size : int
        Sightlines per batch (``fcn``) or windows per batch (``parks2018``).
    preset : str or config
        ``"fcn"`` (whole sightlines) or ``"parks2018"`` (windows).
    windows_per_sightline : int
        ``parks2018`` only: windows cut per sightline, so a batch reads
        ``batch_size // windows_per_sightline`` sightlines.
    seed : int
        Seeds the shuffles and the window sampling (with the epoch number).
    shuffle : bool, optional
        Shuffle blocks and rows every epoch; default True for ``train`` only.
    drop_remainder : bool, optional
        Drop the last incomplete batch (fixed shapes, no recompilation); default
        ``shuffle``.  A split smaller than one batch still gives one batch.
    max_sightlines : int, optional
        Use only the first rows of the split (quick runs, tests).
    steps_per_epoch : int, optional
        Batches per Keras epoch.  The batches then come from one endless stream of shuffled
        passes over the split (pass ``k`` shuffled with ``(seed, k)``), so an epoch shorter
        than a pass continues where the last one stopped and never runs out of data.
        Default: one pass per epoch.
    **kwargs
        ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
    """

    def __init__(self, path: str | Path, split: str = "train", batch_size: int = 32,
                 preset: str | ModelConfig = "fcn", windows_per_sightline: int = 16, seed: int = 0,
                 shuffle: bool | None = None, drop_remainder: bool | None = None,
                 max_sightlines: int | None = None, steps_per_epoch: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        cfg = preset_config(preset)
        self.path = str(path)
        self.split = split
        self.windowed = isinstance(cfg, Parks2018Config)
        self.window = cfg.window if self.windowed else None
        self.batch_size = int(batch_size)
        self.windows_per_sightline = max(1, min(int(windows_per_sightline), self.batch_size))
        self.seed = int(seed)
        self.shuffle = (split == "train") if shuffle is None else bool(shuffle)
        self.drop_remainder = self.shuffle if drop_remainder is None else bool(drop_remainder)
        code = split_code(split)
        with open_training_set(self.path) as f:
            rows = np.flatnonzero(f["split"][:] == code)
            chunks = f["inputs"].chunks
            self.length = int(f["inputs"].shape[1])
        self.chunk_rows = int(chunks[0]) if chunks else 64
        if max_sightlines:
            rows = rows[: int(max_sightlines)]
        if rows.size == 0:
            raise ConfigError(f"{self.path}: the {split!r} split is empty")
        self.rows = rows
        self.rows_per_batch = (max(1, self.batch_size // self.windows_per_sightline) if self.windowed
                               else self.batch_size)
        if steps_per_epoch is not None and steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch) if steps_per_epoch else None
        self.epoch = 0
        self._file: h5py.File | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pass, self._order = 0, self._pass_order(0)

    # ------------------------------------------------------------------ epoch layout
    @property
    def batches_per_pass(self) -> int:
        """Batches in one pass over the split."""
        n, k = self.rows.size, self.rows_per_batch
        if self.drop_remainder:
            return max(1, n // k)
        return -(-n // k)

    def __len__(self) -> int:
        return self.steps_per_epoch or self.batches_per_pass

    def _pass_order(self, pass_no: int) -> np.ndarray:
        """Row order of one pass: chunk-sized blocks in random order, rows shuffled within."""
        if not self.shuffle:
            return self.rows
        rng = np.random.default_rng([self.seed, pass_no, 0])
        blocks = self.rows // self.chunk_rows
        edges = np.flatnonzero(np.diff(blocks)) + 1
        groups = np.split(self.rows, edges)
        return np.concatenate([rng.permutation(groups[i]) for i in rng.permutation(len(groups))])

    def locate(self, index: int) -> tuple[int, int]:
        """``(pass, batch within the pass)`` of batch ``index`` of the current epoch."""
        return divmod(self.epoch * len(self) + index, self.batches_per_pass)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    # ------------------------------------------------------------------ reading
    def _h5(self) -> h5py.File:
        if self._file is not None and self._pid != os.getpid():  # a forked worker: never share the handle
            self._file = None
        if self._file is None:
            self._pid = os.getpid()
            # a chunk cache of 16 MB keeps the blocks of consecutive batches decompressed
            self._file = open_training_set(self.path, rdcc_nbytes=16 * 2**20, rdcc_nslots=1009)
        return self._file

    def read_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (n, L, 2) and packed labels (n, L, 3) of file rows, in the given order."""
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        x = np.empty((rows.size, self.length, 2), dtype=np.float32)
        y = np.empty((rows.size, self.length, 3), dtype=np.float32)
        blocks = srt // self.chunk_rows
        starts = np.r_[0, np.flatnonzero(np.diff(blocks)) + 1, srt.size]
        with self._lock:
            f = self._h5()
            for a, b in zip(starts[:-1], starts[1:]):
                lo, hi = int(srt[a]), int(srt[b - 1]) + 1
                sel = srt[a:b] - lo
                dest = order[a:b]
                x[dest] = f["inputs"][lo:hi][sel]
                for k, name in enumerate(LABELS):
                    y[dest, :, k] = f[name][lo:hi][sel]
        return x, y

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range ({len(self)} batches)")
        k = self.rows_per_batch
        pass_no, batch = self.locate(index)
        with self._lock:
            if pass_no != self._pass:
                self._pass, self._order = pass_no, self._pass_order(pass_no)
            order = self._order
        rows = order[batch * k: (batch + 1) * k]
        x, y = self.read_rows(rows)
        if not self.windowed:
            return x, y
        rng = np.random.default_rng([self.seed, pass_no, batch + 1])
        return self._windows(x, y, rng)

    # ------------------------------------------------------------------ parks2018 windows
    def _windows(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        cls = y[..., 0]
        pos = [np.flatnonzero(c == 1) for c in cls]
        neg = [np.flatnonzero(c == 0) for c in cls]
        with_pos = [j for j, p in enumerate(pos) if p.size]
        with_neg = [j for j, n in enumerate(neg) if n.size]
        n_pos = self.batch_size // 2 if with_pos else 0
        if not with_neg:
            n_pos = self.batch_size if with_pos else 0
        if n_pos == 0 and not with_neg:
            raise ConfigError(f"{self.path}: a batch of the {self.split!r} split has only ignored pixels")
        rows, centres = [], []
        for pool, members, total in ((pos, with_pos, n_pos), (neg, with_neg, self.batch_size - n_pos)):
            if total == 0:
                continue
            quota = np.full(len(members), total // len(members))
            quota[rng.permutation(len(members))[: total % len(members)]] += 1
            for j, q in zip(members, quota):
                if q:
                    cand = pool[j]
                    centres.append(rng.choice(cand, q, replace=q > cand.size))
                    rows.append(np.full(q, j))
        rows, centres = np.concatenate(rows), np.concatenate(centres)
        perm = rng.permutation(rows.size)
        rows, centres = rows[perm], centres[perm]
        windows = cut_windows(x[..., 0], rows, centres, self.window)
        return windows, y[rows, centres]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HDF5 file (it reopens on the next read)."""
        with self._lock:
            if self._file is not None and self._pid == os.getpid():
                self._file.close()
            self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
