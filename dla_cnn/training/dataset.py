"""Labelled training sets in HDF5, written and read row-chunk by row-chunk.

Layout (one row per sightline, the common 1748-pixel window)::

    /inputs          (N, 1748, 2) float32   normalised flux, weight 1/(1+sigma) (0 = missing)
    /label_class     (N, 1748) int8         1 positive, 0 negative, -1 ignored
    /label_offset    (N, 1748) float32      absorber centre - pixel (px), positives only
    /label_log_nhi   (N, 1748) float32      log N_HI, positives only
    /absorbers       (N, 6, 3) float32      z, log N_HI, b (km/s) of every labelled absorber, NaN padded
    /n_absorbers     (N,) int16
    /z_qso, /snr     (N,) float32
    /start_index     (N,) int32             universal-grid index of window pixel 0
    /host_id         (N,) bytes             the host quasar (train/validation/test split by host)
    /split           (N,) int8              0 train, 1 validation, 2 test

Root attributes: ``config`` (JSON of the generation config), ``recipe_version`` (of the
generation code, :data:`dla_cnn.training.build.RECIPE_VERSION`), ``dla_cnn_version``,
``n_window``, ``channels``, ``seed``, ``command``.  Datasets are chunked by rows and
compressed (lzf), and carry no timestamps, so the same seed gives a byte-identical file.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from dla_cnn import __version__, grid
from dla_cnn.exceptions import AssetError

MAX_ABSORBERS = 6
CHUNK_ROWS = 64
SPLITS = {"train": 0, "validation": 1, "test": 2}

_FIELDS = {
    "inputs": ((grid.N_WINDOW, 2), np.float32),
    "label_class": ((grid.N_WINDOW,), np.int8),
    "label_offset": ((grid.N_WINDOW,), np.float32),
    "label_log_nhi": ((grid.N_WINDOW,), np.float32),
    "absorbers": ((MAX_ABSORBERS, 3), np.float32),
    "n_absorbers": ((), np.int16),
    "z_qso": ((), np.float32),
    "snr": ((), np.float32),
    "start_index": ((), np.int32),
    "host_id": ((), "S40"),
    "split": ((), np.int8),
}


class TrainingSetWriter:
    """Append-only writer of a training set; use as a context manager.

    Parameters
    ----------
    path : str or Path
        Output HDF5 file (overwritten).
    attrs : dict
        Root attributes; dicts are stored as JSON strings.
    """

    def __init__(self, path: str | Path, attrs: dict):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w", libver=("earliest", "v110"), track_order=False)
        for key, value in attrs.items():
            self._file.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
        self._file.attrs["dla_cnn_version"] = __version__
        self._file.attrs["n_window"] = grid.N_WINDOW
        self._file.attrs["channels"] = ["flux", "weight"]
        for name, (shape, dtype) in _FIELDS.items():
            self._file.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                chunks=(CHUNK_ROWS, *shape), compression="lzf" if len(shape) else None, track_times=False,
            )
        self.n_rows = 0

    def append(self, rows: dict[str, np.ndarray]) -> None:
        """Append a block of rows (a dict with every field of the layout)."""
        n = len(rows["z_qso"])
        for name in _FIELDS:
            ds = self._file[name]
            ds.resize(self.n_rows + n, axis=0)
            ds[self.n_rows:] = rows[name]
        self.n_rows += n

    def close(self) -> None:
        self._file.attrs["n_sightlines"] = self.n_rows
        self._file.close()

    def __enter__(self) -> "TrainingSetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def empty_rows(n: int) -> dict[str, np.ndarray]:
    """A block of ``n`` rows to fill, with the layout's shapes and dtypes."""
    rows = {name: np.zeros((n, *shape), dtype=dtype) for name, (shape, dtype) in _FIELDS.items()}
    rows["absorbers"][:] = np.nan
    return rows


def read_attrs(path: str | Path) -> dict:
    """Root attributes of a training set (``config`` decoded from JSON).

    Parameters
    ----------
    path : str or Path
        HDF5 training set written by :class:`TrainingSetWriter`.

    Returns
    -------
    dict
        The file's root attributes, byte strings decoded to str and ``config`` (when
        stored as a JSON string) decoded to a dict.

    Raises
    ------
    AssetError
        If the file is missing, not readable HDF5, or lacks the training-set datasets.
    """
    path = Path(path)
    if not path.exists():
        raise AssetError(f"{path}: training set not found")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            missing = [k for k in _FIELDS if k not in f]
    except OSError as err:
        raise AssetError(f"{path}: not a readable HDF5 training set ({err})") from None
    if missing:
        raise AssetError(f"{path}: not a dla-cnn training set (missing datasets: {', '.join(missing)})")
    if isinstance(attrs.get("config"), str):
        attrs["config"] = json.loads(attrs["config"])
    return attrs


def split_of(host_id: str, fractions: tuple[float, float] = (0.8, 0.1)) -> int:
    """Deterministic train/validation/test split of a host quasar from a hash of its id."""
    import zlib

    u = zlib.crc32(host_id.encode()) / 2**32
    if u < fractions[0]:
        return SPLITS["train"]
    if u < fractions[0] + fractions[1]:
        return SPLITS["validation"]
    return SPLITS["test"]
