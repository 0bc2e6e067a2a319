"""The CNN: presets, loss against numpy, data pipeline, a training run with resume, model cards."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.model import LossWeights, build_model, combined_loss, load_model, predict_windows, save_model
from dla_cnn.model.data import SightlineData
from dla_cnn.model.predict import sliding_windows
from dla_cnn.training import BuildConfig, build_training_set


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "tiny.h5"
    return build_training_set(path, BuildConfig(n_sightlines=96, seed=7, chunk_rows=32), workers=1)


def test_parks2018_shapes_and_parameter_count():
    m = build_model("parks2018")
    assert m.input_shape == (None, 400, 1) and m.output_shape == (None, 3)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in m.layers}
    assert shapes["conv1"] == (134, 100) and shapes["pool1"] == (34, 100)
    assert shapes["conv2"] == (34, 96) and shapes["pool2"] == (9, 96)
    assert shapes["conv3"] == (9, 96) and shapes["pool3"] == (3, 96)
    assert shapes["flatten"] == (288,) and shapes["fc"] == (350,)
    assert m.count_params() == 652_101


def test_fcn_predicts_every_pixel():
    m = build_model("fcn")
    assert m.input_shape == (None, 1748, 2) and m.output_shape == (None, 1748, 3)
    assert 50_000 < m.count_params() < 600_000
    out = predict_windows(m, np.random.default_rng(0).random((2, 1748, 2)).astype("float32"))
    assert out["prob"].shape == (2, 1748) and ((out["prob"] > 0) & (out["prob"] < 1)).all()


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown model preset"):
        build_model("resnet")


def _numpy_loss(y, p, w: LossWeights):
    cls, off, nhi = y[..., 0], y[..., 1], y[..., 2]
    valid, pos = cls >= 0, cls == 1
    prob = 1 / (1 + np.exp(-p[..., 0]))
    bce = -(pos * np.log(prob) + (~pos) * np.log(1 - prob))
    lc = bce[valid].mean()
    lo = (((off - p[..., 1]) / w.offset_scale) ** 2)[pos].mean()
    lh = ((nhi - 20.5 - p[..., 2]) ** 2)[pos].mean()
    return w.classification * lc + w.offset * lo + w.log_nhi * lh


def test_loss_matches_numpy():
    rng = np.random.default_rng(1)
    y = np.zeros((3, 50, 3), dtype="float32")
    y[..., 0] = rng.choice([-1, 0, 1], size=(3, 50), p=[0.2, 0.5, 0.3])
    y[..., 1] = np.where(y[..., 0] == 1, rng.uniform(-60, 60, (3, 50)), 0)
    y[..., 2] = np.where(y[..., 0] == 1, rng.uniform(19.3, 22.5, (3, 50)), 0)
    p = rng.normal(0, 2, (3, 50, 3)).astype("float32")
    w = LossWeights(classification=1.0, offset=0.7, log_nhi=3.0)
    got = float(keras.ops.convert_to_numpy(combined_loss(w)(keras.ops.convert_to_tensor(y), keras.ops.convert_to_tensor(p))))
    assert got == pytest.approx(_numpy_loss(y, p, w), rel=1e-5)
    # ignored pixels do not matter at all
    p2 = p.copy()
    p2[y[..., 0] == -1] = 99.0
    got2 = float(keras.ops.convert_to_numpy(combined_loss(w)(keras.ops.convert_to_tensor(y), keras.ops.convert_to_tensor(p2))))
    assert got2 == pytest.approx(got, rel=1e-6)


def test_pydataset_streams_and_balances_windows(tiny_set):
    d = SightlineData(str(tiny_set), "train", batch_size=16)
    x, y = d[0]
    assert x.shape == (16, 1748, 2) and y.shape == (16, 1748, 3)
    w = SightlineData(str(tiny_set), "train", batch_size=64, windowed=True, windows_per_sightline=16)
    xs, ys = w[0]
    assert xs.shape[1:] == (400, 1) and ys.shape[1] == 3
    frac_pos = (ys[:, 0] == 1).mean()
    assert 0.2 < frac_pos <= 0.5
    assert not (ys[:, 0] == -1).any()


def test_sliding_windows_pad_with_missing():
    flux = np.arange(10, dtype="float32")[None, :] + 1
    w = sliding_windows(flux, window=4)
    assert w.shape == (10, 4, 1)
    np.testing.assert_array_equal(w[0, :, 0], [0, 0, 1, 2])
    np.testing.assert_array_equal(w[9, :, 0], [8, 9, 10, 0])


def test_train_checkpoint_resume_and_card(tiny_set, tmp_path):
    from dla_cnn.model.train import train

    out = tmp_path / "m.keras"
    model, card = train(tiny_set, out, "fcn", epochs=1, batch_size=8, steps_per_epoch=2, log=lambda s: None)
    assert out.exists() and (tmp_path / "m.ckpt.keras").exists() and (tmp_path / "m.log.csv").exists()
    assert json.loads((tmp_path / "m.state.json").read_text())["epoch"] == 1
    model2, card2 = train(tiny_set, out, "fcn", epochs=2, batch_size=8, steps_per_epoch=2, resume=True, log=lambda s: None)
    assert json.loads((tmp_path / "m.state.json").read_text())["epoch"] == 2
    assert card2["epochs_run"] == 2
    lines = (tmp_path / "m.log.csv").read_text().strip().splitlines()
    assert len(lines) == 3  # header + two epochs
    for k in ("pixel_accuracy", "offset_rmse_px", "log_nhi_rmse_dex"):
        assert np.isfinite(card2["metrics_test"][k])
    loaded, c = load_model(out)
    assert c["preset"] == "fcn" and c["training_set"]["sha256"] and c["backend"] == keras.backend.backend()
    x = np.random.default_rng(0).random((1, 1748, 2)).astype("float32")
    np.testing.assert_allclose(predict_windows(loaded, x)["prob"], predict_windows(model2, x)["prob"], rtol=1e-5)


def test_parks2018_train_step(tiny_set, tmp_path):
    from dla_cnn.model.train import train

    model, card = train(tiny_set, tmp_path / "p.keras", "parks2018", epochs=1, batch_size=64, steps_per_epoch=1,
                        max_sightlines=24, log=lambda s: None)
    pred = predict_windows(model, np.zeros((1, 1748, 2), "float32"))
    assert pred["offset"].shape == (1, 1748)


def test_load_errors(tmp_path):
    m = build_model("fcn")
    path = save_model(m, tmp_path / "a.keras", {"preset": "fcn"})
    load_model(path)
    with pytest.raises(AssetError, match="not found"):
        load_model(tmp_path / "missing.keras")
    card = json.loads((tmp_path / "a.card.json").read_text())
    card["sha256"] = "0" * 64
    (tmp_path / "a.card.json").write_text(json.dumps(card))
    with pytest.raises(AssetError, match="sha256"):
        load_model(path)
    (tmp_path / "a.card.json").write_text("{not json")
    with pytest.raises(AssetError, match="corrupt model card"):
        load_model(path)
    bad = tmp_path / "b.keras"
    bad.write_bytes(b"PK not really a zip")
    (tmp_path / "b.card.json").write_text(json.dumps({"preset": "fcn"}))
    with pytest.raises(AssetError, match="cannot load"):
        load_model(bad)
    other = save_model(build_model("parks2018"), tmp_path / "c.keras", {"preset": "fcn"})
    with pytest.raises(AssetError, match="does not match preset"):
        load_model(other)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_forward_and_train_step(backend):
    pytest.importorskip(backend)
    code = (
        "import numpy as np, keras\n"
        "from dla_cnn.model import build_model, combined_loss\n"
        "m = build_model('fcn'); m.compile(optimizer='adam', loss=combined_loss())\n"
        "x = np.random.rand(2, 1748, 2).astype('float32'); y = np.zeros((2, 1748, 3), 'float32')\n"
        "h = m.fit(x, y, epochs=1, verbose=0); assert np.isfinite(h.history['loss'][0])\n"
        "assert m.predict(x, verbose=0).shape == (2, 1748, 3); print(keras.backend.backend())\n"
    )
    env = dict(os.environ, KERAS_BACKEND=backend)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith(backend)
