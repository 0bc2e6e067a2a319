"""Streaming training data from the HDF5 sets as ``keras.utils.PyDataset`` (any backend).

Rows are read block by block (blocks aligned with the file's 64-row chunks); the block
order is shuffled every epoch and rows are shuffled within a block, so the whole file is
never in memory.  ``fcn`` gets whole sightlines; ``parks2018`` gets 400-px windows cut on
the fly around sampled pixels, balanced 50/50 between positive and negative pixels of
each sightline (ignored pixels are never sampled), labelled by their central pixel.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np

from dla_cnn.model.predict import sliding_windows
from dla_cnn.training.dataset import CHUNK_ROWS, SPLITS


class SightlineData(keras.utils.PyDataset):
    """Batches of ``(inputs, labels)`` from one split of a training set.

    Parameters
    ----------
    path : str
        HDF5 training set.
    split : {"train", "validation", "test"}
    batch_size : int
        Sightlines per batch (fcn) or windows per batch (parks2018).
    windowed : bool
        Cut 400-px windows for the parks2018 preset.
    windows_per_sightline : int
        Windows sampled per sightline (half positive where it has positives).
    seed : int
    shuffle : bool
    max_sightlines : int, optional
        Use only the first rows of the split (quick runs).
    """

    def __init__(self, path: str, split: str = "train", batch_size: int = 32, windowed: bool = False,
                 windows_per_sightline: int = 16, seed: int = 0, shuffle: bool = True,
                 max_sightlines: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.path = str(path)
        with h5py.File(self.path, "r") as f:
            rows = np.flatnonzero(f["split"][:] == SPLITS[split])
        if max_sightlines:
            rows = rows[:max_sightlines]
        self.rows = rows
        self.batch_size = batch_size
        self.windowed = windowed
        self.windows_per_sightline = windows_per_sightline
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        block = CHUNK_ROWS if not windowed else max(1, batch_size // windows_per_sightline)
        self.rows_per_batch = batch_size if not windowed else block
        self._batches = [rows[i: i + self.rows_per_batch] for i in range(0, rows.size, self.rows_per_batch)]
        self._order = np.arange(len(self._batches))
        self._file = None
        self.on_epoch_end()

    def __len__(self) -> int:
        return len(self._batches)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self._batches))
        self.epoch += 1

    def _read(self, idx: np.ndarray):
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        f = self._file
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        sel = idx - lo
        x = f["inputs"][lo:hi][sel]
        y = np.stack([f["label_class"][lo:hi][sel], f["label_offset"][lo:hi][sel], f["label_log_nhi"][lo:hi][sel]],
                     axis=-1).astype(np.float32)
        return x, y

    def __getitem__(self, i: int):
        idx = self._batches[int(self._order[i])]
        x, y = self._read(idx)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.shuffle:
            perm = rng.permutation(len(idx))
            x, y = x[perm], y[perm]
        if not self.windowed:
            return x, y
        return self._windows(x, y, rng)

    def _windows(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        k = self.windows_per_sightline
        xs, ys = [], []
        for j in range(len(x)):
            cls = y[j, :, 0]
            pos, neg = np.flatnonzero(cls == 1), np.flatnonzero(cls == 0)
            n_pos = min(k // 2, pos.size)
            pick = []
            if n_pos:
                pick.append(rng.choice(pos, n_pos, replace=pos.size < n_pos))
            if neg.size:
                pick.append(rng.choice(neg, k - n_pos, replace=neg.size < k - n_pos))
            if not pick:
                continue
            pix = np.concatenate(pick)
            w = sliding_windows(x[j:j + 1, :, 0])[pix]
            xs.append(w)
            ys.append(y[j, pix])
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys)
