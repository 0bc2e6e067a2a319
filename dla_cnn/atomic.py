"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

Every file the package writes for others to read (catalogs, shard checkpoints, model files
and cards, training checkpoints, training and crop sets) goes through :func:`atomic_path`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block succeeds.

    The temporary file is hidden, in the same directory (so the final ``os.replace`` is an
    atomic rename on one file system) and flushed to disk before the rename; if the block
    raises, it is removed and ``target`` is left as it was.

    Parameters
    ----------
    target : path
        The file to write; its directory is created if needed.
    suffix : str
        Ending of the temporary name, for writers that insist on one (``.keras``, ``.npz``).

    Yields
    ------
    Path
        Where the block writes.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp{suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)
