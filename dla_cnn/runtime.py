"""The finder's networks on ONNX Runtime: scanning without importing Keras.

A finder exported with ``dla-cnn export-onnx`` (:func:`dla_cnn.model.export.export_onnx`)
carries ``NAME.onnx`` (the per-pixel network) and ``NAME_absorber.onnx`` (the
absorber-level network) beside its ``.keras`` files, and an ``onnx`` section in its card
with the sha256 of each graph and of the Keras file it was exported from.  Scanning a
spectrum or two then costs an ONNX Runtime session (~0.2 s) instead of importing Keras and
a backend and compiling the networks (several seconds); on CPUs it is also the faster engine.

Engines (:data:`ENGINES`): ``keras`` always works; ``onnx`` needs the ``onnxruntime``
package and an exported finder; ``auto`` (the default) takes ``onnx`` where both are there.
The environment variable ``DLA_CNN_ENGINE`` sets the default of the scanner.

Caveats
-------
* Only ``fcn`` per-pixel models are exported (``parks2018`` runs on Keras).
* ONNX Runtime runs on the CPU here; on a GPU use the Keras engine (JAX backend).
* The graphs agree with the Keras models to ~1e-4 in the raw outputs (checked at export
  and recorded in the card), not bit for bit.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from dla_cnn.exceptions import AssetError, ConfigError

ENGINES = ("auto", "keras", "onnx")
"""Inference engines of the scanner."""
ENGINE_ENV = "DLA_CNN_ENGINE"
"""Environment variable with the scanner's default engine."""


def onnxruntime_installed() -> bool:
    """True when the ``onnxruntime`` package can be imported."""
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxNetwork:
    """One exported network in an ONNX Runtime session, used as a Keras model is for inference.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` graph.
    input_order : sequence of str, optional
        Names of the inputs in the order :meth:`predict_on_batch` receives them (default:
        the graph's own order).
    threads : int, optional
        Intra-op threads (default: all cores).
    """

    def __init__(self, path: str | Path, input_order: tuple[str, ...] | None = None, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # idle threads sleep instead of spinning: catalog runs share the cores with reader processes
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for a bad graph
            raise AssetError(f"{path}: cannot load the ONNX graph ({str(err).splitlines()[0][:160]})") from None
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if input_order is not None and sorted(input_order) == sorted(names):
            names = list(input_order)
        self.input_names = names
        by_name = {i.name: i for i in inputs}
        self.input_shape = tuple(d if isinstance(d, int) else None for d in by_name[names[0]].shape)
        self.output_shape = tuple(d if isinstance(d, int) else None for d in self.session.get_outputs()[0].shape)

    any_batch_size = True
    """Batches of any size run without recompiling (a Keras model compiles one program per shape)."""

    def predict_on_batch(self, x) -> np.ndarray:
        """Raw outputs for one batch (an array, or a list of arrays in ``input_names`` order)."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        feeds = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.input_names, xs)}
        return self.session.run(None, feeds)[0]


def _section(card: dict) -> dict | None:
    section = card.get("onnx")
    return section if isinstance(section, dict) and section.get("stage1") else None


def choose_engine(engine: str | None, card: dict, model_path: str | Path) -> str:
    """``keras`` or ``onnx`` for a model, from the requested ``engine``.

    Parameters
    ----------
    engine : str, optional
        One of :data:`ENGINES`; None reads :data:`ENGINE_ENV` (default ``auto``).
    card : dict
        The model's card.
    model_path : str or Path
        For messages.

    Raises
    ------
    ConfigError
        An unknown engine, or ``onnx`` without the onnxruntime package.
    AssetError
        ``onnx`` for a model that has no ONNX export.
    """
    engine = engine or os.environ.get(ENGINE_ENV) or "auto"
    if engine not in ENGINES:
        raise ConfigError(f"unknown inference engine {engine!r} (choose from {', '.join(ENGINES)})")
    exported = _section(card) is not None and card.get("preset") == "fcn"
    if engine == "keras":
        return "keras"
    if engine == "onnx":
        if not onnxruntime_installed():
            raise ConfigError("the onnx engine needs the onnxruntime package (pip install onnxruntime)")
        if not exported:
            raise AssetError(f"{model_path}: no ONNX export in its card (run dla-cnn export-onnx on it)")
        return "onnx"
    return "onnx" if exported and onnxruntime_installed() else "keras"


def _checked_graph(model_path: Path, entry: dict, source_sha: str | None, what: str) -> Path:
    from dla_cnn.assets import sha256_of

    path = model_path.parent / str(entry.get("file", ""))
    if not path.is_file():
        raise AssetError(f"{path}: ONNX graph of the {what} named by the card of {model_path.name} not found")
    if sha256_of(path) != entry.get("sha256"):
        raise AssetError(f"{path}: sha256 differs from the onnx section of its model card")
    if source_sha is not None and entry.get("source_sha256") != source_sha:
        raise AssetError(f"{path}: exported from another {what} than the card's (export again with dla-cnn export-onnx)")
    return path


def load_onnx_finder(model_path: str | Path, card: dict) -> tuple[OnnxNetwork, OnnxNetwork | None]:
    """The exported per-pixel and absorber-level networks of a finder (the second None for one stage).

    Each graph is checked against its card: present, its sha256, and exported from the
    Keras file the card describes now.

    Raises
    ------
    AssetError
        A missing, altered or stale graph, or one whose input does not match the card.
    """
    from dla_cnn.absorber.outputs import INPUT_NAMES

    model_path = Path(model_path)
    section = _section(card)
    if section is None:
        raise AssetError(f"{model_path}: no ONNX export in its card (run dla-cnn export-onnx on it)")
    stage1 = OnnxNetwork(_checked_graph(model_path, section["stage1"], card.get("sha256"), "per-pixel model"))
    length = (card.get("preset_config") or {}).get("length")
    if stage1.input_shape[1:] != (length, 2) and length is not None:
        raise AssetError(f"{model_path}: ONNX input {stage1.input_shape[1:]} does not match the card's ({length}, 2)")
    stage2 = None
    if card.get("stage2") and section.get("stage2"):
        path = _checked_graph(model_path, section["stage2"], card["stage2"].get("sha256"), "absorber-level model")
        stage2 = OnnxNetwork(path, input_order=INPUT_NAMES)
    elif card.get("stage2"):
        raise AssetError(f"{model_path}: its card names a second stage but the ONNX export has none")
    return stage1, stage2
