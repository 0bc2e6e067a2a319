"""The CNN package: presets, loss and metrics against numpy, streaming data, training with
resume, model cards, and a second Keras backend.  Everything runs on a tiny synthetic
training set (box-shaped absorbers) so the whole file stays fast on two CPU cores."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest

from dla_cnn.exceptions import AssetError, ConfigError
from dla_cnn.model import (
    FCNConfig, LossWeights, Parks2018Config, TrainingData, build_model, combined_loss, cut_windows, decode_outputs, evaluate,
    load_model, loss_terms, model_flops, pixel_metrics, predict_windows, read_card, receptive_field, save_model,
    sliding_windows, task_metrics,
)
from dla_cnn.model.presets import LOG_NHI_PIVOT

N_PIX = 1748
SMALL_FCN = FCNConfig(stem_filters=8, encoder_filters=(8,), core_filters=16, dilations=(1, 2), decoder_filters=(8, 8),
                      head_filters=8)
"""Few narrow layers: graph tracing dominates the cost of the training tests."""
SMALL_PARKS = Parks2018Config(conv_filters=(8, 8, 8), dense=16, head_units=(8, 8, 8))


# --------------------------------------------------------------------------- fixture
def write_tiny_set(path, n_rows: int = 48, seed: int = 0, chunk_rows: int = 16):
    """A training set in the generator's layout, with box-shaped 'absorbers' to learn."""
    rng = np.random.default_rng(seed)
    pix = np.arange(N_PIX)
    inputs = np.zeros((n_rows, N_PIX, 2), np.float32)
    cls = np.zeros((n_rows, N_PIX), np.int8)
    off = np.zeros((n_rows, N_PIX), np.float32)
    nhi = np.zeros((n_rows, N_PIX), np.float32)
    absorbers = np.full((n_rows, 6, 3), np.nan, np.float32)
    n_abs = np.zeros(n_rows, np.int16)
    for i in range(n_rows):
        flux = 1.0 + 0.1 * rng.standard_normal(N_PIX)
        weight = np.full(N_PIX, 1.0 / 1.1)
        centres, lognhis = [], []
        for _ in range(rng.integers(0, 3)):
            c = rng.uniform(100, N_PIX - 100)
            if all(abs(c - o) > 300 for o in centres):
                centres.append(c)
                lognhis.append(rng.uniform(20.0, 21.6))
        dist = np.full(N_PIX, np.inf)
        for c, lg in zip(centres, lognhis):
            half = 5 + 10 * (lg - 20.0)
            flux[np.abs(pix - c) < half] = 0.05 * rng.standard_normal()
            d = c - pix
            closer = np.abs(d) < np.abs(dist)
            dist = np.where(closer, d, dist)
            nhi[i] = np.where(closer, lg, nhi[i])
        near = np.abs(dist) <= 60
        cls[i] = np.where(near, 1, np.where(np.abs(dist) <= 120, -1, 0))
        off[i] = np.where(near, dist, 0.0)
        nhi[i] = np.where(near, nhi[i], 0.0)
        missing = pix < rng.integers(0, 80)
        inputs[i, :, 0] = np.where(missing, 0.0, flux)
        inputs[i, :, 1] = np.where(missing, 0.0, weight)
        n_abs[i] = len(centres)
        for k, (c, lg) in enumerate(zip(centres, lognhis)):
            absorbers[i, k] = (2.5 + c * 1e-4, lg, 30.0)
    split = rng.permutation(np.r_[np.zeros(n_rows - 16), np.ones(8), np.full(8, 2)]).astype(np.int8)
    data = {"inputs": inputs, "label_class": cls, "label_offset": off, "label_log_nhi": nhi, "split": split,
            "z_qso": np.full(n_rows, 3.0, np.float32), "snr": np.full(n_rows, 10.0, np.float32),
            "host_id": np.array([f"host-{i}".encode() for i in range(n_rows)]), "absorbers": absorbers,
            "n_absorbers": n_abs, "start_index": np.full(n_rows, 35500, np.int32)}
    with h5py.File(path, "w") as f:
        f.attrs["config"] = json.dumps({"n_sightlines": n_rows, "seed": seed, "kind": "test fixture"})
        f.attrs["dla_cnn_version"] = "test"
        f.attrs["n_window"] = N_PIX
        f.attrs["channels"] = ["flux", "weight"]
        for name, arr in data.items():
            f.create_dataset(name, data=arr, chunks=(chunk_rows, *arr.shape[1:]))
    return path


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return write_tiny_set(tmp_path_factory.mktemp("ts") / "tiny.h5")


def _labels(path, split):
    with h5py.File(path) as f:
        rows = np.flatnonzero(f["split"][:] == {"train": 0, "validation": 1, "test": 2}[split])
        return rows, f["inputs"][:][rows], np.stack([f[k][:][rows] for k in
                                                     ("label_class", "label_offset", "label_log_nhi")], -1)


# --------------------------------------------------------------------------- presets
def test_parks2018_layer_shapes_and_exact_parameter_count():
    m = build_model("parks2018")
    assert m.input_shape == (None, 400, 1) and m.output_shape == (None, 3)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in m.layers}
    assert shapes["conv1"] == (134, 100) and shapes["pool1"] == (34, 100)
    assert shapes["conv2"] == (34, 96) and shapes["pool2"] == (9, 96)
    assert shapes["conv3"] == (9, 96) and shapes["pool3"] == (3, 96)
    assert shapes["flatten"] == (288,) and shapes["fc"] == (350,)
    assert shapes["classification_hidden"] == (200,) and shapes["offset_hidden"] == (350,)
    assert shapes["log_nhi_hidden"] == (150,)
    # conv 3,300 + 153,696 + 147,552; fc 101,150; heads 70,401 + 123,201 + 52,801
    assert m.count_params() == 652_101


def test_fcn_shapes_cost_and_receptive_field():
    m = build_model("fcn")
    assert m.name == "fcn" and m.input_shape == (None, N_PIX, 2) and m.output_shape == (None, N_PIX, 3)
    assert 200_000 <= m.count_params() <= 600_000
    assert 30e6 < model_flops(m) < 80e6
    assert receptive_field(FCNConfig()) >= 500
    x = np.random.default_rng(0).random((2, N_PIX, 2)).astype("float32")
    raw = np.asarray(m.predict_on_batch(x))
    assert raw.shape == (2, N_PIX, 3)
    # the heads start near their priors: p ~ 0.1, log N_HI ~ 20.5
    pred = decode_outputs(raw)
    assert 0.01 < np.median(pred["prob"]) < 0.5 and abs(np.median(pred["log_nhi"]) - LOG_NHI_PIVOT) < 1


def test_fcn_any_length():
    m = build_model(FCNConfig(length=None))
    assert m.input_shape == (None, None, 2)
    for n in (333, 1000):
        assert np.asarray(m(np.zeros((1, n, 2), "float32"))).shape == (1, n, 3)


def test_preset_errors():
    with pytest.raises(ConfigError, match="unknown model preset"):
        build_model("resnet")
    with pytest.raises(ConfigError, match="decoder widths"):
        FCNConfig(decoder_filters=(32, 16))


# --------------------------------------------------------------------------- loss, metrics
def _random_batch(shape, seed=1):
    rng = np.random.default_rng(seed)
    y = np.zeros((*shape, 3), "float32")
    y[..., 0] = rng.choice([-1, 0, 1], size=shape, p=[0.2, 0.5, 0.3])
    y[..., 1] = np.where(y[..., 0] == 1, rng.uniform(-60, 60, shape), 0)
    y[..., 2] = np.where(y[..., 0] == 1, rng.uniform(19.3, 22.5, shape), 0)
    p = rng.normal(0, 2, (*shape, 3)).astype("float32")
    return y, p


def _numpy_loss(y, p, w: LossWeights):
    cls, off, nhi = y[..., 0], y[..., 1], y[..., 2]
    valid, pos = cls >= 0, cls == 1
    prob = 1 / (1 + np.exp(-p[..., 0].astype(np.float64)))
    bce = -(pos * np.log(prob) + (~pos) * np.log(1 - prob))
    lc = bce[valid].mean()
    lo = (((off - p[..., 1]) / w.offset_scale) ** 2)[pos].mean()
    lh = ((nhi - LOG_NHI_PIVOT - p[..., 2]) ** 2)[pos].mean()
    return w.classification * lc + w.offset * lo + w.log_nhi * lh


@pytest.mark.parametrize("shape", [(3, 50), (40,)])
def test_loss_matches_numpy(shape):
    y, p = _random_batch(shape)
    w = LossWeights(classification=1.0, offset=0.7, log_nhi=3.0)
    loss = combined_loss(w)
    got = float(keras.ops.convert_to_numpy(loss(y, p)))
    assert got == pytest.approx(_numpy_loss(y, p, w), rel=1e-5)
    # predictions at ignored pixels do not matter, nor regression outputs at negatives
    p2 = p.copy()
    p2[y[..., 0] == -1] = 99.0
    p2[..., 1:][y[..., 0] == 0] = -50.0
    assert float(keras.ops.convert_to_numpy(loss(y, p2))) == pytest.approx(got, rel=1e-6)
    # a mean, not a sum: repeating the batch leaves the loss unchanged
    y4, p4 = np.concatenate([y] * 4), np.concatenate([p] * 4)
    assert float(keras.ops.convert_to_numpy(loss(y4, p4))) == pytest.approx(got, rel=1e-5)
    lc, lo, lh = (float(keras.ops.convert_to_numpy(t)) for t in loss_terms(y, p, w.offset_scale))
    assert got == pytest.approx(lc + 0.7 * lo + 3.0 * lh, rel=1e-6)


def test_loss_without_positives_is_finite():
    y = np.zeros((2, 10, 3), "float32")
    y[0, :3, 0] = -1
    p = np.zeros((2, 10, 3), "float32")
    assert float(keras.ops.convert_to_numpy(combined_loss()(y, p))) == pytest.approx(np.log(2), rel=1e-5)


def test_loss_config_round_trip():
    loss = combined_loss(LossWeights(offset=0.25))
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.weights == LossWeights(offset=0.25)


def test_metrics_match_numpy():
    y, p = _random_batch((4, 60), seed=3)
    metrics = task_metrics()
    for m in metrics:  # two updates: the metrics accumulate sums, not means of batch means
        m.update_state(y[:1], p[:1])
        m.update_state(y[1:], p[1:])
    got = {m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics}
    want = pixel_metrics(decode_outputs(p), y[..., 0], y[..., 1], y[..., 2])
    for k in ("pixel_accuracy", "offset_rmse_px", "log_nhi_rmse_dex"):
        assert got[k] == pytest.approx(want[k], rel=1e-5)


# --------------------------------------------------------------------------- data
def test_windows_are_centred_and_zero_padded():
    flux = (np.arange(10, dtype="float32") + 1)[None, :]
    w = sliding_windows(flux, window=4)
    assert w.shape == (10, 4, 1)
    np.testing.assert_array_equal(w[0, :, 0], [0, 0, 1, 2])
    np.testing.assert_array_equal(w[9, :, 0], [8, 9, 10, 0])
    cut = cut_windows(flux, np.array([0, 0]), np.array([0, 9]), window=4)
    np.testing.assert_array_equal(cut, w[[0, 9]])


def test_fcn_data_streams_whole_sightlines(tiny_set):
    rows, x_all, y_all = _labels(tiny_set, "train")
    d = TrainingData(tiny_set, "train", batch_size=8, seed=5, drop_remainder=False)
    assert len(d) == 4 and d.chunk_rows == 16
    seen, batches = [], []
    for i in range(len(d)):
        x, y = d[i]
        assert x.shape == (8, N_PIX, 2) and y.shape == (8, N_PIX, 3) and x.dtype == y.dtype == np.float32
        batches.append((x, y))
        seen.extend(d._order[i * 8: (i + 1) * 8])
    assert sorted(seen) == sorted(rows)  # every train row exactly once, no other split
    j = int(np.flatnonzero(rows == d._order[0])[0])
    np.testing.assert_array_equal(batches[0][0][0], x_all[j])
    np.testing.assert_array_equal(batches[0][1][0], y_all[j])
    assert not np.array_equal(d._order, np.sort(rows))  # shuffled
    first = d._order.copy()
    d.on_epoch_end()
    d[0]  # the next pass is shuffled when its first batch is read
    assert sorted(d._order) == sorted(first) and not np.array_equal(d._order, first)
    again = TrainingData(tiny_set, "train", batch_size=8, seed=5, drop_remainder=False)
    np.testing.assert_array_equal(again._order, first)  # seeded
    val = TrainingData(tiny_set, "validation", batch_size=5)
    assert len(val) == 2 and val[1][0].shape == (3, N_PIX, 2)  # no shuffle, keeps the remainder


def test_short_epochs_stream_through_the_passes_without_running_out(tiny_set):
    rows = _labels(tiny_set, "train")[0]
    d = TrainingData(tiny_set, "train", batch_size=8, seed=2, steps_per_epoch=3)
    assert len(d) == 3 and d.batches_per_pass == 4 == rows.size // 8
    def first_rows(x):  # identify a batch by its sightlines' flux
        return [int(np.flatnonzero((x_all[:, :, 0] == xi[:, 0]).all(axis=1))[0]) for xi in x]
    _, x_all, _ = _labels(tiny_set, "train")
    stream = []
    for epoch in range(4):  # 12 batches = 3 whole passes
        for i in range(len(d)):
            stream.append(first_rows(d[i][0]))
        d.on_epoch_end()
    assert d.locate(0) == (3, 0)
    for p in range(3):
        seen = sum(stream[4 * p: 4 * p + 4], [])
        assert sorted(seen) == list(range(rows.size))  # each pass: every row once
    assert stream[:4] != stream[4:8]  # passes are reshuffled
    # the stream is a function of (seed, epoch): a resumed reader at epoch 1 continues it
    resumed = TrainingData(tiny_set, "train", batch_size=8, seed=2, steps_per_epoch=3)
    resumed.epoch = 1
    assert first_rows(resumed[0][0]) == stream[3] and first_rows(resumed[1][0]) == stream[4]
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        TrainingData(tiny_set, "train", steps_per_epoch=0)


def test_parks2018_windows_are_balanced(tiny_set):
    d = TrainingData(tiny_set, "train", batch_size=64, preset="parks2018", windows_per_sightline=16, seed=1)
    assert d.rows_per_batch == 4
    n_pos = []
    for i in range(len(d)):
        x, y = d[i]
        assert x.shape == (64, 400, 1) and y.shape == (64, 3)
        assert not (y[:, 0] == -1).any()
        assert np.all(np.abs(y[:, 1]) <= 60) and np.all((y[:, 0] == 1) | (y[:, 1] == 0))
        n_pos.append(int((y[:, 0] == 1).sum()))
    assert all(k in (0, 32) for k in n_pos) and max(n_pos) == 32
    # a window holds the flux around its centre: check one against the file
    rows, x_all, y_all = _labels(tiny_set, "train")
    x, y = d[0]
    sl = d._order[:4]
    for w, lab in zip(x[:8], y[:8]):
        hits = [(r, c) for r in sl for c in range(N_PIX)
                if np.array_equal(y_all[np.flatnonzero(rows == r)[0], c], lab)
                and np.array_equal(sliding_windows(x_all[np.flatnonzero(rows == r)[0]][None, :, 0])[c], w)]
        assert hits


def test_bad_training_set(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        TrainingData(tmp_path / "none.h5")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(AssetError, match="cannot read"):
        TrainingData(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["split"] = np.zeros(3, np.int8)
    with pytest.raises(AssetError, match="missing inputs"):
        TrainingData(tmp_path / "empty.h5")


# --------------------------------------------------------------------------- training
@pytest.mark.slow
def test_train_checkpoint_resume_and_card(tiny_set, tmp_path):
    from dla_cnn.model.train import run_files, train

    out = tmp_path / "m.keras"
    files = run_files(out)
    lines = []
    kw = dict(batch_size=8, steps_per_epoch=2, validation_steps=1, log=lines.append)
    res = train(tiny_set, out, SMALL_FCN, epochs=2, calibrate=False, **kw)
    assert res.card["calibration"] == {} and "calibration_summary" not in res.card
    assert out.exists() and files["ckpt"].exists() and files["csv"].exists() and files["best"].exists()
    assert json.loads(files["state"].read_text())["epoch"] == 2 and len(lines) == 2
    header = files["csv"].read_text().splitlines()[0].split(",")
    for k in ("epoch", "loss", "val_loss", "val_pixel_accuracy", "val_offset_rmse_px", "val_log_nhi_rmse_dex"):
        assert k in header
    assert len(res.history["loss"]) == 2 and np.isfinite(res.history["loss"]).all()
    assert np.isfinite(res.history["pixel_accuracy"]).all()

    res2 = train(tiny_set, out, SMALL_FCN, epochs=3, resume=True, **kw)
    assert lines[2].startswith("resuming from epoch 2")
    assert json.loads(files["state"].read_text())["epoch"] == 3
    assert res2.history["epoch"] == [0.0, 1.0, 2.0]  # the CSV log continues
    ckpt = keras.saving.load_model(files["ckpt"])
    assert int(keras.ops.convert_to_numpy(ckpt.optimizer.iterations)) == 6  # optimizer state carried over
    card = res2.card
    assert card["epochs_run"] == 3 and card["training"]["resumed"] and card["preset"] == "fcn"
    assert card["training_set"]["config"]["kind"] == "test fixture" and len(card["training_set"]["sha256"]) == 64
    assert card["backend"] == keras.backend.backend() and card["devices"] and card["samples_per_s"] > 0
    for k in ("pixel_accuracy", "offset_rmse_px", "log_nhi_rmse_dex"):
        assert np.isfinite(card["metrics_test"][k])
    # the library's train() fits the calibration the command line used to add afterwards
    assert {"nhi_poly", "conf_x", "z_err_scale"} <= set(card["calibration"]) and "calibration_summary" in card

    loaded, c = load_model(out)
    assert c == read_card(out)
    x = np.random.default_rng(0).random((3, N_PIX, 2)).astype("float32")
    np.testing.assert_allclose(predict_windows(loaded, x)["prob"], predict_windows(res2.model, x)["prob"],
                               rtol=1e-5, atol=1e-6)
    m = evaluate(loaded, tiny_set, "test")
    assert m["n_sightlines"] == 8 and m["pixel_accuracy"] == pytest.approx(card["metrics_test"]["pixel_accuracy"])
    # per-bin figures partition the totals: every fixture row has S/N 10, log N_HI 20.0-21.6
    assert [b["n_pixels"] for b in m["by_snr"]] == [0, 0, 0, m["n_pixels"], 0]
    assert m["by_snr"][3]["offset_rmse_px"] == pytest.approx(m["offset_rmse_px"])
    assert sum(b["n_positive_pixels"] for b in m["by_log_nhi"]) == m["n_positive_pixels"]
    assert m["by_log_nhi"][0]["n_positive_pixels"] == 0 and m["by_log_nhi"][0]["offset_rmse_px"] != m["by_log_nhi"][0]["offset_rmse_px"]
    sq = sum(b["offset_rmse_px"] ** 2 * b["n_positive_pixels"] for b in m["by_log_nhi"] if b["n_positive_pixels"])
    assert np.sqrt(sq / m["n_positive_pixels"]) == pytest.approx(m["offset_rmse_px"], rel=1e-6)
    assert card["metrics_test"]["by_log_nhi"][0]["offset_rmse_px"] is None  # NaN is written as null


@pytest.mark.slow
def test_warm_start_grows_the_core_as_identity_and_records_its_source(tiny_set, tmp_path):
    from dla_cnn.model.train import train, warm_start

    src = tmp_path / "src.keras"
    train(tiny_set, src, SMALL_FCN, epochs=1, batch_size=8, steps_per_epoch=1, validation_steps=1,
          test_sightlines=4, log=lambda s: None)
    grown_cfg = dataclasses.replace(SMALL_FCN, dilations=(1, 2, 4))
    grown = build_model(grown_cfg)
    info = warm_start(grown, src)
    assert info["identity"] == ["core3_d4"] and info["fresh"] == [] and "stem" in info["copied"]
    x = np.random.default_rng(3).random((2, N_PIX, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(grown.predict_on_batch(x)),
                               np.asarray(load_model(src)[0].predict_on_batch(x)), rtol=1e-5, atol=1e-5)
    with pytest.raises(AssetError, match="layer .down2. has weights"):  # same name, other shape
        warm_start(build_model(dataclasses.replace(SMALL_FCN, core_filters=24)), src)

    lines = []
    res = train(tiny_set, tmp_path / "ft.keras", grown_cfg, epochs=1, batch_size=8, steps_per_epoch=1,
                validation_steps=1, test_sightlines=4, log=lines.append, init_from=src)
    assert lines[0].startswith("warm start from") and "1 new residual blocks as identity" in lines[0]
    init = res.card["training"]["init_from"]
    assert init["path"] == str(src) and len(init["sha256"]) == 64 and init["identity"] == ["core3_d4"]


@pytest.mark.slow
def test_parks2018_train_and_predict(tiny_set, tmp_path):
    from dla_cnn.model.train import train

    res = train(tiny_set, tmp_path / "p.keras", SMALL_PARKS, epochs=1, batch_size=32, steps_per_epoch=1,
                validation_steps=1, test_sightlines=1, log=lambda s: None)
    assert res.card["sample_unit"] == "windows" and res.card["metrics_test"]["n_sightlines"] == 1
    assert np.isfinite(res.history["loss"]).all()
    assert load_model(tmp_path / "p.keras")[1]["preset_config"]["dense"] == 16
    x = np.zeros((2, N_PIX, 2), "float32")
    x[1, :, 0] = 1.0
    pred = predict_windows(res.model, x)
    assert pred["offset"].shape == (2, N_PIX)
    # the prediction of pixel k is the model's output on the window centred on k
    raw = np.asarray(res.model.predict_on_batch(sliding_windows(x[1:, :, 0])[[0, 900, N_PIX - 1]]))
    np.testing.assert_allclose(pred["log_nhi"][1, [0, 900, N_PIX - 1]], raw[:, 2] + LOG_NHI_PIVOT, rtol=1e-5)


# --------------------------------------------------------------------------- model files
def test_save_load_round_trip_and_refusals(tmp_path):
    m = build_model(dataclasses.replace(FCNConfig(), core_filters=32, dilations=(1, 2)))
    path = save_model(m, tmp_path / "a.keras", {"preset": "fcn", "preset_config": dataclasses.asdict(
        dataclasses.replace(FCNConfig(), core_filters=32, dilations=(1, 2))), "calibration": {"nhi_poly": [1, 0]}})
    loaded, card = load_model(path)
    assert card["calibration"] == {"nhi_poly": [1, 0]} and card["sha256"]
    x = np.random.default_rng(1).random((2, N_PIX, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)), np.asarray(m.predict_on_batch(x)), rtol=1e-5)

    with pytest.raises(AssetError, match="not found"):
        load_model(tmp_path / "missing.keras")
    good = (tmp_path / "a.card.json").read_text()
    card = json.loads(good)
    card["sha256"] = "0" * 64
    (tmp_path / "a.card.json").write_text(json.dumps(card))
    with pytest.raises(AssetError, match="sha256 differs"):
        load_model(path)
    (tmp_path / "a.card.json").write_text("{not json")
    with pytest.raises(AssetError, match="corrupt model card"):
        load_model(path)
    (tmp_path / "a.card.json").unlink()
    with pytest.raises(AssetError, match="card missing"):
        load_model(path)

    # a corrupted .keras: caught by the sha256, and by the loader when the card matches the bad file
    (tmp_path / "a.card.json").write_text(good)
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\0" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(AssetError, match="sha256 differs"):
        load_model(path)
    from dla_cnn.assets import sha256_of

    card = json.loads(good)
    card["sha256"] = sha256_of(path)
    (tmp_path / "a.card.json").write_text(json.dumps(card))
    with pytest.raises(AssetError, match="cannot load the model"):
        load_model(path)

    # a parks2018 model under an fcn card
    other = save_model(build_model("parks2018"), tmp_path / "c.keras", {"preset": "parks2018"})
    card = read_card(other)
    card["preset"] = "fcn"
    (tmp_path / "c.card.json").write_text(json.dumps(card))
    with pytest.raises(AssetError, match="does not match preset fcn"):
        load_model(other)
    with pytest.raises(ConfigError, match="no known preset"):
        save_model(m, tmp_path / "d.keras", {"preset": "unet"})


# --------------------------------------------------------------------------- other backends
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backend_forward_and_train_step(backend, tiny_set, tmp_path):
    pytest.importorskip(backend)
    code = textwrap.dedent(f"""
        import numpy as np, keras
        from dla_cnn.model import (FCNConfig, Parks2018Config, TrainingData, build_model, combined_loss, load_model,
                                   predict_windows, save_model, task_metrics)
        assert keras.backend.backend() == {backend!r}
        x = np.random.rand(2, 1748, 2).astype("float32")
        m = build_model({SMALL_FCN!r})  # the fcn builder with few layers: JAX initialises each variable slowly
        p = predict_windows(m, x)
        assert p["prob"].shape == (2, 1748) and np.isfinite(p["log_nhi"]).all()
        card = {{"preset": "fcn", "preset_config": {dataclasses.asdict(SMALL_FCN)!r}}}
        path = save_model(m, {str(tmp_path / 'b.keras')!r}, card)
        np.testing.assert_allclose(predict_windows(load_model(path)[0], x)["prob"], p["prob"], rtol=1e-5)
        for preset, bs in (({SMALL_FCN!r}, 4), ({SMALL_PARKS!r}, 32)):
            m = build_model(preset) if preset.name == "parks2018" else m
            m.compile(optimizer="adam", loss=combined_loss(), metrics=task_metrics())
            x, y = TrainingData({str(tiny_set)!r}, "train", bs, preset=preset)[0]
            logs = m.train_on_batch(x, y, return_dict=True)
            assert np.isfinite(logs["loss"]), logs
        print("ok", keras.backend.backend())
    """)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if backend == "jax":  # unoptimised XLA compiles ~10x faster: this test checks results, not speed
        env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith(f"ok {backend}")


@pytest.mark.slow
def test_a_short_training_run_learns_and_finds_a_planted_absorber(tmp_path):
    """Loss falls over a few epochs, and the trained network marks a planted trough and points at it."""
    from dla_cnn.model.train import train

    data = write_tiny_set(tmp_path / "learn.h5", n_rows=96, seed=5)
    # SMALL_FCN sees 49 px, less than the +-60 px label radius: give it the reach to learn offsets
    cfg = dataclasses.replace(SMALL_FCN, dilations=(1, 2, 4, 8))
    assert receptive_field(cfg) > 2 * 60
    res = train(data, tmp_path / "learn.keras", cfg, epochs=8, batch_size=8, steps_per_epoch=60,
                validation_steps=2, lr=3e-3, seed=2, patience=6, calibrate=False, log=lambda s: None)
    loss = np.asarray(res.history["loss"])
    assert loss[-1] < 0.2 * loss[0]

    pix = np.arange(N_PIX)
    flux = 1.0 + 0.1 * np.random.default_rng(11).standard_normal(N_PIX)
    centre = 900.0
    flux[np.abs(pix - centre) < 15] = 0.0  # a box trough like the fixture's log N ~ 21 absorbers
    x = np.stack([flux, np.full(N_PIX, 1 / 1.1)], -1)[None].astype("float32")
    pred = predict_windows(res.model, x)
    prob, offset = pred["prob"][0], pred["offset"][0]
    near = np.abs(pix - centre) <= 60
    assert prob[near].mean() > 0.3 and np.median(prob[np.abs(pix - centre) > 300]) < 0.05
    # the offsets around the trough point at its centre: the votes pile up within a few pixels of it
    voters = np.flatnonzero(near & (prob > 0.2))
    votes = pix[voters] + offset[voters]
    assert voters.size > 40 and abs(np.median(votes) - centre) < 4
    assert np.mean(np.abs(votes - centre) < 10) > 0.6
