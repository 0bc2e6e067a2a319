"""Export a finder's networks to ONNX, for scanning on ONNX Runtime (:mod:`dla_cnn.runtime`).

:func:`export_onnx` writes ``NAME.onnx`` and, for a two-stage finder, ``NAME_absorber.onnx``
beside ``NAME.keras``, runs both graphs and the Keras models on the same inputs (windows of
real-looking sightlines and the crops of their candidates), refuses an export whose raw
outputs differ by more than ``tolerance``, and records in the card each graph's file,
sha256, the sha256 of the Keras file it came from and the largest difference seen.

The per-pixel network is written by :func:`dla_cnn.model.onnx_fcn.fcn_graph` (channels-first
convolutions, about twice as fast on ONNX Runtime as a generic conversion); the absorber-level
network by Keras's own ONNX export (tf2onnx).

Caveats
-------
* A two-stage finder needs the TensorFlow backend (``KERAS_BACKEND=tensorflow``) and the
  ``tf2onnx`` package for its absorber-level network; the exported graphs run anywhere ONNX
  Runtime does.
* Only ``fcn`` per-pixel models are exported.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

from dla_cnn.absorber.outputs import INPUT_NAMES
from dla_cnn.assets import sha256_of
from dla_cnn.constants import LOG_NHI_PIVOT
from dla_cnn.atomic import atomic_path
from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.model.card import load_model, write_card


def _export_one(model, out: Path) -> None:
    """One Keras model to one ONNX graph (atomic; the model is called once first, as Keras asks)."""
    inputs = model.inputs
    dummy = [np.zeros((1, *t.shape[1:]), np.float32) for t in inputs]
    model(dummy if len(dummy) > 1 else dummy[0])
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_path = Path(tmp) / out.name
        with warnings.catch_warnings():  # the converter's own numpy deprecation notices
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            model.export(str(tmp_path), format="onnx", verbose=False)
        with atomic_path(out) as dest:
            Path(dest).write_bytes(tmp_path.read_bytes())


def _export_fcn(model, card: dict, out: Path) -> None:
    """The per-pixel ``fcn`` network as its channels-first graph (atomic)."""
    import onnx

    from dla_cnn.model.onnx_fcn import fcn_graph
    from dla_cnn.model.presets import config_from_dict

    graph = fcn_graph(model, config_from_dict(card["preset_config"]))
    onnx.checker.check_model(graph)
    with atomic_path(out) as dest:
        Path(dest).write_bytes(graph.SerializeToString())


def _check_inputs(n: int, seed: int) -> tuple[np.ndarray, dict]:
    """Windows and candidate crops of simulated sightlines, as a scan would feed the networks."""
    from dla_cnn.absorber.crops import concat_crops, cut_crops, stage1_channels
    from dla_cnn.absorber.data import CropSetConfig, simulate_view

    rng = np.random.default_rng(seed)
    views = [simulate_view(rng, CropSetConfig(seed=seed)) for _ in range(n)]
    windows = np.stack([v.window for v in views]).astype(np.float32)
    parts = []
    for v in views:
        curves = stage1_channels(rng.random(v.window.shape[0]), rng.random(v.window.shape[0]),
                                 LOG_NHI_PIVOT + rng.normal(0, 0.5, v.window.shape[0]))
        parts.append(cut_crops(v.view, curves, rng.uniform(100, v.window.shape[0] - 100, 4)))
    return windows, concat_crops(parts)


def export_onnx(model_path: str | Path, tolerance: float = 1e-3, n_check: int = 16, seed: int = 0) -> dict:
    """Export a finder's networks to ONNX and record them in its card.

    Parameters
    ----------
    model_path : str or Path
        The finder's ``NAME.keras`` (its card and, if any, ``NAME_absorber.keras`` beside it).
    tolerance : float
        Largest accepted difference between the raw outputs of a graph and its Keras model.
    n_check : int
        Simulated sightlines whose windows and candidate crops are compared.
    seed : int
        Seed of those sightlines.

    Returns
    -------
    dict
        The card's new ``onnx`` section.

    Raises
    ------
    ConfigError
        A two-stage finder not on the TensorFlow backend, tf2onnx or onnx missing, or a preset
        that is not exported.
    AssetError
        The finder does not load, or a graph differs from its model by more than ``tolerance``.
    """
    from dla_cnn.absorber.load import load_stage
    from dla_cnn.runtime import OnnxNetwork, onnxruntime_installed

    model_path = Path(model_path)
    model, card = load_model(model_path)
    if card["preset"] != "fcn":
        raise ConfigError(f"{model_path}: only fcn models are exported (preset {card['preset']!r})")
    stage = load_stage(model_path, card)
    if stage is not None and keras.backend.backend() != "tensorflow":
        raise ConfigError("export-onnx of a two-stage finder runs on the TensorFlow backend: "
                          "set KERAS_BACKEND=tensorflow")
    for package in ("onnx", "onnxruntime") + (("tf2onnx",) if stage is not None else ()):
        if importlib.util.find_spec(package) is None or (package == "onnxruntime" and not onnxruntime_installed()):
            raise ConfigError(f"export-onnx needs the {package} package (pip install {package})")
    stem = model_path.name[: -len(".keras")] if model_path.name.endswith(".keras") else model_path.name
    windows, crops = _check_inputs(n_check, seed)
    section: dict = {"format": "onnx", "tolerance": tolerance,
                     "exported_with": {"keras": keras.__version__, "onnx": _version("onnx"),
                                       "tf2onnx": _version("tf2onnx"), "onnxruntime": _version("onnxruntime")}}
    targets = [("stage1", model, model_path.with_name(f"{stem}.onnx"), card["sha256"], [windows], None)]
    if stage is not None:
        targets.append(("stage2", stage.model, model_path.with_name(f"{stem}_absorber.onnx"), card["stage2"]["sha256"],
                        [crops[k] for k in INPUT_NAMES], INPUT_NAMES))
    for key, net, out, source_sha, x, order in targets:
        if key == "stage1":
            _export_fcn(net, card, out)
        else:
            _export_one(net, out)
        graph = OnnxNetwork(out, input_order=order)
        want = np.asarray(net.predict_on_batch(x if len(x) > 1 else x[0]))
        got = graph.predict_on_batch(x)
        diff = float(np.max(np.abs(got - want)))
        if not np.isfinite(diff) or diff > tolerance:
            out.unlink(missing_ok=True)
            raise AssetError(f"{out}: ONNX outputs differ from the Keras model's by {diff:.3g} (> {tolerance:g})")
        section[key] = {"file": out.name, "sha256": sha256_of(out), "source_sha256": source_sha, "max_abs_diff": diff}
    card["onnx"] = section
    write_card(model_path, card)
    return section


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""
