"""Export a finder's networks to ONNX, for scanning on ONNX Runtime (:mod:`dla_cnn.runtime`).

:func:`export_onnx` writes ``NAME.onnx`` and, for a two-stage finder, ``NAME_absorber.onnx``
beside ``NAME.keras``, runs both graphs and the Keras models on the same inputs (windows of
real-looking sightlines and the crops of their candidates), refuses an export whose raw
outputs differ by more than ``tolerance``, and records in the card each graph's file,
sha256, the sha256 of the Keras file it came from and the largest difference seen.

Both graphs are written directly from the Keras weights in channels-first layout
(:func:`dla_cnn.model.onnx_fcn.fcn_graph`, :func:`dla_cnn.absorber.onnx_graph.absorber_graph`):
ONNX Runtime runs them about twice (per-pixel) and 1.5-1.8 times (absorber-level) as fast as
a generic conversion, and the export works on every Keras backend.

Caveats
-------
* Needs the ``onnx`` and ``onnxruntime`` packages; the graphs run anywhere ONNX Runtime does.
* Only ``fcn`` per-pixel models and :func:`dla_cnn.absorber.model.build_absorber_model`
  absorber-level models are exported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np

from dla_cnn.absorber.outputs import INPUT_NAMES
from dla_cnn.assets import sha256_of
from dla_cnn.constants import LOG_NHI_PIVOT
from dla_cnn.atomic import atomic_path
from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.model.card import load_model, write_card


def _write_graph(graph, out: Path) -> None:
    """Check an ONNX model and write it (atomic)."""
    import onnx

    onnx.checker.check_model(graph)
    with atomic_path(out) as dest:
        Path(dest).write_bytes(graph.SerializeToString())


def _graph_of(key: str, net, card: dict):
    """The channels-first ONNX model of the finder's ``stage1`` or ``stage2`` network."""
    if key == "stage1":
        from dla_cnn.model.onnx_fcn import fcn_graph
        from dla_cnn.model.presets import config_from_dict

        return fcn_graph(net, config_from_dict(card["preset_config"]))
    from dla_cnn.absorber.model import AbsorberConfig
    from dla_cnn.absorber.onnx_graph import absorber_graph

    return absorber_graph(net, AbsorberConfig.from_dict(card["stage2"]["config"]))


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
        onnx or onnxruntime missing, or a preset that is not exported.
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
    for package in ("onnx", "onnxruntime"):
        if importlib.util.find_spec(package) is None or (package == "onnxruntime" and not onnxruntime_installed()):
            raise ConfigError(f"export-onnx needs the {package} package (pip install {package})")
    stem = model_path.name[: -len(".keras")] if model_path.name.endswith(".keras") else model_path.name
    windows, crops = _check_inputs(n_check, seed)
    section: dict = {"format": "onnx", "tolerance": tolerance,
                     "exported_with": {"keras": keras.__version__, "onnx": _version("onnx"),
                                       "onnxruntime": _version("onnxruntime")}}
    targets = [("stage1", model, model_path.with_name(f"{stem}.onnx"), card["sha256"], [windows], None)]
    if stage is not None:
        targets.append(("stage2", stage.model, model_path.with_name(f"{stem}_absorber.onnx"), card["stage2"]["sha256"],
                        [crops[k] for k in INPUT_NAMES], INPUT_NAMES))
    for key, net, out, source_sha, x, order in targets:
        _write_graph(_graph_of(key, net, card), out)
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
