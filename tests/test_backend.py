"""Backend choice, quiet Keras import, fast model loading and packaged model names."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dla_cnn import backend
from dla_cnn.assets import default_model_path, packaged_models, resolve_model
from dla_cnn.exceptions import AssetError


def test_quiet_stderr_hides_fd2_output(capfd):
    with backend.quiet_stderr():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err
    assert "after" in err


def test_quiet_stderr_replays_output_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError):
        with backend.quiet_stderr():
            os.write(2, b"the reason the import failed\n")
            raise RuntimeError("boom")
    assert "the reason the import failed" in capfd.readouterr().err


def test_user_backend_choice_wins(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    assert backend.choose_inference_backend() == "torch"


def test_fastest_installed_backend_is_chosen_when_none_is_set(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setattr(backend.importlib.util, "find_spec", lambda name: object() if name == "tensorflow" else None)
    assert backend.choose_inference_backend() == "tensorflow"
    assert os.environ["KERAS_BACKEND"] == "tensorflow"


def test_placeholder_initializers_replace_every_initializer_only():
    config = {"class_name": "Conv1D", "config": {
        "filters": 8, "kernel_initializer": {"module": "keras.initializers", "class_name": "HeNormal",
                                             "config": {"seed": None}, "registered_name": None},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None},
        "layers": [{"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": None}]}}
    out = backend._placeholder_initializers(config)
    assert out["config"]["filters"] == 8
    assert out["config"]["kernel_initializer"]["registered_name"] == "dla_cnn>Placeholder"
    assert out["config"]["bias_initializer"]["class_name"] == "Placeholder"
    assert out["config"]["layers"][0]["class_name"] == "Placeholder"
    assert config["config"]["kernel_initializer"]["class_name"] == "HeNormal"  # the input is not changed


def test_packaged_model_names_resolve():
    models = packaged_models()
    assert {"dla_cnn_fcn", "dla_cnn_fcn_absorber"} <= set(models)
    assert resolve_model("dla_cnn_fcn") == default_model_path()
    assert resolve_model("dla_cnn_fcn.keras") == default_model_path()
    assert resolve_model(None) == default_model_path()
    assert resolve_model(str(default_model_path())) == default_model_path()
    with pytest.raises(AssetError, match="no packaged model of that name.*dla_cnn_fcn"):
        resolve_model("not_a_model")
    with pytest.raises(AssetError, match="no such model file"):
        resolve_model("some/dir/dla_cnn_fcn.keras")


_JAX_LOAD = """
import sys
from pathlib import Path
import numpy as np, keras
from dla_cnn.assets import asset_path
from dla_cnn.backend import load_saved_model
import dla_cnn.model, dla_cnn.absorber.model  # register the custom layers
for name in ("models/dla_cnn_fcn.keras", "models/dla_cnn_fcn_absorber.keras"):
    path = asset_path(name)
    fast, slow = load_saved_model(path), keras.saving.load_model(path, compile=False)
    assert len(fast.weights) == len(slow.weights) > 10
    for a, b in zip(fast.weights, slow.weights):
        assert a.path == b.path and np.array_equal(np.asarray(a), np.asarray(b)), a.path
    # saved again, it loads with plain Keras and has the same config as the slowly loaded one
    again_path = Path(sys.argv[1]) / "again.keras"
    fast.save(again_path)
    again = keras.saving.load_model(again_path, compile=False)
    assert again.get_config() == slow.get_config()
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again.weights, slow.weights))
print("ok", keras.backend.backend())
"""


@pytest.mark.slow
def test_fast_jax_loading_gives_the_stored_weights(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    res = subprocess.run([sys.executable, "-c", _JAX_LOAD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ok jax" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", ["tensorflow", "jax"])
def test_scan_prints_no_tensorflow_or_absl_lines(keras_backend, tmp_path):
    if keras_backend == "jax":
        pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env["KERAS_BACKEND"] = keras_backend
    sample = sorted(Path(default_model_path()).parents[1].glob("sample/spec-*.fits*"))[0]
    res = subprocess.run([sys.executable, "-m", "dla_cnn.cli", "scan", str(sample)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    text = res.stdout + res.stderr
    for noise in ("absl", "oneDNN", "cpu_feature_guard", "I0000", "W0000", "E0000"):
        assert noise not in text, text[-2000:]
    assert "absorbers found" in text or "no absorbers found" in text


@pytest.mark.slow
def test_training_preloads_tensorflow_quietly_under_jax():
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    code = ("import sys; from dla_cnn.backend import import_keras, preload_tensorflow; "
            "k = import_keras(); preload_tensorflow(); print(k.backend.backend(), 'tensorflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "jax"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["jax", "True"]
    for noise in ("absl", "oneDNN", "I0000"):
        assert noise not in res.stderr, res.stderr[-2000:]


def test_preload_tensorflow_leaves_a_broken_tensorflow_alone(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "tensorflow.py").write_text("raise ImportError('TensorFlow cannot load here')\n")
    code = "import sys; from dla_cnn.backend import preload_tensorflow; preload_tensorflow(); print('tensorflow' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(hide))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["False"]
