"""ONNX Runtime engine: export, checks against the card, and scans that match Keras's."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dla_cnn.assets import default_model_path
from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.modelcard import read_card
from dla_cnn.runtime import choose_engine, load_onnx_finder, onnxruntime_installed

pytestmark = pytest.mark.skipif(not onnxruntime_installed(), reason="onnxruntime not installed")

SAMPLE = sorted(Path(default_model_path()).parents[1].glob("sample/spec-*.fits.gz"))


def _copy_finder(tmp_path: Path) -> Path:
    src = Path(default_model_path())
    stem = src.name[: -len(".keras")]
    for f in src.parent.glob(f"{stem}*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / src.name


def test_engine_choice_follows_the_card_and_the_request(tmp_path):
    card = {"preset": "fcn", "onnx": {"stage1": {"file": "x.onnx"}}}
    assert choose_engine("auto", card, "m") == "onnx"
    assert choose_engine("keras", card, "m") == "keras"
    assert choose_engine("auto", {"preset": "fcn"}, "m") == "keras"  # no export: Keras, silently
    assert choose_engine("auto", {"preset": "parks2018", "onnx": card["onnx"]}, "m") == "keras"
    with pytest.raises(AssetError, match="no ONNX export"):
        choose_engine("onnx", {"preset": "fcn"}, "m.keras")
    with pytest.raises(ConfigError, match="unknown inference engine 'tpu'"):
        choose_engine("tpu", card, "m")
    os.environ["DLA_CNN_ENGINE"] = "keras"
    try:
        assert choose_engine(None, card, "m") == "keras"
    finally:
        del os.environ["DLA_CNN_ENGINE"]


def test_packaged_finder_has_an_export_that_scans_like_keras():
    from dla_cnn.io import read_spectrum
    from dla_cnn.scan.pipeline import Scanner

    card = read_card(default_model_path())
    assert card["onnx"]["stage1"]["source_sha256"] == card["sha256"]
    assert card["onnx"]["stage2"]["source_sha256"] == card["stage2"]["sha256"]
    items = [s for f in SAMPLE for s in read_spectrum(f)]
    fast, ref = Scanner(engine="onnx"), Scanner(engine="keras")
    assert (fast.engine, ref.engine) == ("onnx", "keras")
    a, b = list(fast.scan(items)), list(ref.scan(items))
    n = 0
    for ra, rb in zip(a, b):
        assert ra.status == rb.status
        assert len(ra.detections) == len(rb.detections), ra.row["sightline_id"]
        for x, y in zip(ra.detections, rb.detections):
            n += 1
            assert x.type == y.type
            assert x.z_abs == pytest.approx(y.z_abs, abs=1e-6)
            assert x.log_nhi == pytest.approx(y.log_nhi, abs=1e-3)
            assert x.confidence == pytest.approx(y.confidence, abs=1e-3)
    assert n >= 5
    assert fast.catalog_meta()["engine"] == "onnx"


def test_cli_scan_on_onnx_does_not_import_keras(tmp_path):
    code = ("import sys; from dla_cnn.cli import app; "
            "sys.argv = ['dla-cnn', 'scan', sys.argv[1], '--engine', 'onnx']\n"
            "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
            "print('KERAS', 'keras' in sys.modules, 'TF', 'tensorflow' in sys.modules, 'JAX', 'jax' in sys.modules)\n"
            "sys.exit(code)")
    res = subprocess.run([sys.executable, "-c", code, str(SAMPLE[0])], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "KERAS False TF False JAX False" in res.stdout
    assert "absorbers found" in res.stdout or "no absorbers found" in res.stdout


def test_altered_or_stale_graphs_are_refused(tmp_path):
    model = _copy_finder(tmp_path)
    card = read_card(model)
    load_onnx_finder(model, card)  # the copy loads
    graph = tmp_path / card["onnx"]["stage2"]["file"]
    data = graph.read_bytes()
    graph.write_bytes(data + b"\0")
    with pytest.raises(AssetError, match="sha256 differs"):
        load_onnx_finder(model, card)
    graph.write_bytes(data)
    stale = json.loads(json.dumps(card))
    stale["sha256"] = "0" * 64  # the card now describes another Keras file
    with pytest.raises(AssetError, match="exported from another"):
        load_onnx_finder(model, stale)
    (tmp_path / card["onnx"]["stage1"]["file"]).unlink()
    with pytest.raises(AssetError, match="not found"):
        load_onnx_finder(model, card)


@pytest.mark.parametrize("length", [100, 96])  # padded to a multiple of 8 and cropped back, or not
def test_channels_first_fcn_graph_matches_the_keras_model(tmp_path, length):
    onnx = pytest.importorskip("onnx")
    import keras

    from dla_cnn.model.onnx_fcn import fcn_graph
    from dla_cnn.model.presets import FCNConfig, build_model
    from dla_cnn.runtime import OnnxNetwork

    cfg = FCNConfig(length=length, stem_filters=4, encoder_filters=(6, 8), core_filters=8, dilations=(1, 2, 4),
                    decoder_filters=(8, 6, 4), head_filters=4)
    keras.utils.set_random_seed(3)
    model = build_model(cfg)
    rng = np.random.default_rng(4)
    for w in model.weights:  # random biases too, so a bias in the wrong place shows
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    graph = fcn_graph(model, cfg)
    onnx.checker.check_model(graph)
    path = tmp_path / "fcn.onnx"
    path.write_bytes(graph.SerializeToString())
    x = rng.normal(1.0, 0.5, (3, length, 2)).astype(np.float32)
    want = np.asarray(model.predict_on_batch(x))
    got = OnnxNetwork(path, threads=1).predict_on_batch(x)
    assert got.shape == want.shape == (3, length, 3)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_channels_first_absorber_graph_matches_the_keras_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    import keras

    from dla_cnn.absorber.crops import CROP_SHAPES
    from dla_cnn.absorber.model import AbsorberConfig, build_absorber_model
    from dla_cnn.absorber.onnx_graph import absorber_graph
    from dla_cnn.absorber.outputs import INPUT_NAMES
    from dla_cnn.runtime import OnnxNetwork

    cfg = AbsorberConfig(lya_filters=(4, 6), side_filters=(3, 5), dense=16)
    keras.utils.set_random_seed(5)
    model = build_absorber_model(cfg)
    rng = np.random.default_rng(6)
    for w in model.weights:  # random normalisation statistics too, so a fold in the wrong place shows
        value = rng.normal(0, 0.3, w.shape)
        w.assign((np.abs(value) + 0.5 if "variance" in w.path else value).astype("float32"))
    graph = absorber_graph(model, cfg)
    onnx.checker.check_model(graph)
    path = tmp_path / "absorber.onnx"
    path.write_bytes(graph.SerializeToString())
    x = [rng.normal(1.0, 0.5, (5, *shape)).astype(np.float32) for shape in CROP_SHAPES]
    want = np.asarray(model.predict_on_batch(x))
    got = OnnxNetwork(path, input_order=INPUT_NAMES, threads=1).predict_on_batch(x)
    assert got.shape == want.shape == (5, 6)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_export_writes_checked_graphs_into_the_card(tmp_path):
    pytest.importorskip("onnx")
    from dla_cnn.model.export import export_onnx
    from dla_cnn.scan.pipeline import Scanner

    model = _copy_finder(tmp_path)
    for f in tmp_path.glob("*.onnx"):
        f.unlink()
    card = read_card(model)
    del card["onnx"]
    (tmp_path / model.name.replace(".keras", ".card.json")).write_text(json.dumps(card))
    assert Scanner(model).engine == "keras"  # no export yet: auto falls back
    section = export_onnx(model)
    assert section["stage1"]["max_abs_diff"] < 1e-3 and section["stage2"]["max_abs_diff"] < 1e-3
    assert read_card(model)["onnx"]["stage1"]["sha256"] == section["stage1"]["sha256"]
    assert Scanner(model).engine == "onnx"
    x = np.ones((2, 1748, 2), np.float32)
    net, _ = load_onnx_finder(model, read_card(model))
    assert net.predict_on_batch(x).shape == (2, 1748, 3)


def test_cli_rejects_an_unknown_engine(tmp_path):
    from typer.testing import CliRunner

    from dla_cnn.cli import app

    res = CliRunner().invoke(app, ["scan", str(SAMPLE[0]), "--engine", "tpu"])
    assert res.exit_code != 0
    assert "unknown inference engine 'tpu'" in res.output
