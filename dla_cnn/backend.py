"""Choosing and importing the Keras backend.

Keras reads its backend once, when it is first imported (``KERAS_BACKEND``, else
``~/.keras/keras.json``, which Keras itself writes with "tensorflow" on its first import,
so only the environment variable says what a user chose).  Two things here:

* :func:`choose_inference_backend` picks the fastest installed backend for *inference*
  when the user has not chosen one: JAX when it is installed (it imports in about half the
  time of TensorFlow and runs the packaged models faster on a CPU), else TensorFlow.
  The command line calls it before scanning; a backend set by the user always wins.
* :func:`import_keras` imports Keras with the C++ start-up chatter of TensorFlow (absl's
  "All log messages before absl::InitializeLog()", oneDNN notices) kept off the terminal.
  Those lines are written straight to file descriptor 2 by C++ code, so no Python logging
  setting removes them; the import runs with descriptor 2 pointed at a temporary file, whose
  content is replayed only if the import fails.

Caveat: a Python warning raised *during* the Keras import is also swallowed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
from typing import Iterator

#: Backends the package runs on, fastest first for CPU inference.
INFERENCE_PREFERENCE = ("jax", "tensorflow", "torch")


def choose_inference_backend() -> str:
    """Select the fastest installed Keras backend for inference, unless one is chosen already.

    Returns
    -------
    str
        The backend Keras will use: the one already imported, else the user's choice
        (``KERAS_BACKEND``), else the first installed of
        :data:`INFERENCE_PREFERENCE` (which is then written to ``KERAS_BACKEND`` so that
        worker processes use it too).
    """
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    for name in INFERENCE_PREFERENCE:
        if importlib.util.find_spec(name) is not None:
            os.environ["KERAS_BACKEND"] = name
            return name
    return "tensorflow"


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at a temporary file; replay it only if the block raises."""
    fd = 2  # C++ code writes to descriptor 2 whatever sys.stderr is
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            os.write(fd, sink.read())
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def import_keras():
    """Import Keras (and its backend) without TensorFlow's C++ start-up lines on stderr.

    Returns
    -------
    module
        The ``keras`` module.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        import keras
        keras.backend.backend()  # the backend module is loaded by now
        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401  (its second batch of C++ lines comes on first use)
    return keras



def preload_tensorflow() -> None:
    """Import TensorFlow now, quietly, if it is installed and Keras runs on another backend.

    Keras imports TensorFlow on its own when it saves a model (and TensorFlow's C++ start-up
    lines then reach the terminal in the middle of training); training commands call this
    first.  Scanning does not: it never saves, and the import costs seconds.  A TensorFlow
    that is present but fails to import is left alone: Keras on JAX or PyTorch does not
    need it.
    """
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            return


def _placeholder_initializers(config):
    """A copy of a Keras config with every initializer replaced by ``dla_cnn>Placeholder``
    (which keeps the original's config, to be restored after loading)."""
    if isinstance(config, dict):
        if config.get("module") == "keras.initializers":
            return {"module": None, "class_name": "Placeholder", "config": {"original": config},
                    "registered_name": "dla_cnn>Placeholder"}
        return {key: _placeholder_initializers(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_placeholder_initializers(value) for value in config]
    return config


def load_saved_model(path, custom_objects: dict | None = None):
    """Load a ``.keras`` file for inference (uncompiled), fast on every backend.

    Keras rebuilds a saved model by running every layer's initializer before it reads the
    stored weights.  On JAX each random initializer of a new shape is a separate XLA
    compilation (~0.3-1 s each: tens of seconds for one model on 2 cores); the values are
    overwritten at once, so on JAX the architecture is rebuilt with plain numpy zeros as
    initial values and the stored weights are then loaded into it; the layers then get
    their saved initializers back, so the model saves again as a loadable file.  A file
    whose weights do not fit the architecture still fails to load.

    Parameters
    ----------
    path : path
        The ``.keras`` file.
    custom_objects : dict, optional
        Passed on to Keras.

    Returns
    -------
    keras.Model
    """
    keras = import_keras()
    if keras.backend.backend() != "jax":
        return keras.saving.load_model(path, compile=False, custom_objects=custom_objects)
    import zipfile

    import numpy as np

    class Placeholder(keras.initializers.Initializer):
        def __init__(self, original: dict | None = None):
            self.original = original

        def __call__(self, shape, dtype=None):
            return np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype or "float32"))

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    objects = {**(custom_objects or {}), "dla_cnn>Placeholder": Placeholder}
    with keras.saving.custom_object_scope(objects):
        model = keras.saving.deserialize_keras_object(_placeholder_initializers(config))
    model.load_weights(path)
    # the layers get their saved initializers back (creating one compiles nothing), so the
    # model saves and clones like one Keras loaded itself
    for layer in model._flatten_layers():
        for attr, value in list(vars(layer).items()):
            if isinstance(value, Placeholder) and value.original is not None:
                setattr(layer, attr, keras.initializers.deserialize(value.original))
    return model
