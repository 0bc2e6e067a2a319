"""The on-the-fly training stream: recipes, seeding, worker independence, held-out sets, resumed
runs, ``dla-cnn train --stream`` and the GPU benchmark script in its tiny CPU configuration."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dla_cnn.exceptions import ConfigError
from dla_cnn.model import FCNConfig
from dla_cnn.training.build import BuildConfig
from dla_cnn.training.stream import (
    RowPool, block_seed, load_recipe, recipe_dict, recipe_from_dict, stream_batch, stream_rows, write_heldout,
)

REPO = Path(__file__).resolve().parents[1]
RECIPE = BuildConfig(seed=5)
SMALL_FCN = FCNConfig(stem_filters=8, encoder_filters=(8,), core_filters=16, dilations=(1, 2), decoder_filters=(8, 8),
                      head_filters=8)


def _same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


# --------------------------------------------------------------------------- recipes
def test_recipe_files_round_trip():
    cfg = load_recipe(REPO / "training_sets" / "sim60k.json")
    assert cfg.seed == 1 and cfg.simulator.z_qso_min == 2.2 and cfg.injection.pair_separation_px == (30, 120)
    assert recipe_from_dict(recipe_dict(cfg)) == cfg
    assert load_recipe(None) == BuildConfig()


def test_recipe_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting.*bogus"):
        recipe_from_dict({"injection": {"bogus": 1}})
    bad = tmp_path / "real.json"
    bad.write_text(json.dumps({"source": "my_spectra/"}))
    with pytest.raises(ConfigError, match="only simulated hosts"):
        load_recipe(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_recipe(tmp_path / "missing.json")


# --------------------------------------------------------------------------- seeding
def test_blocks_are_seeded_by_seed_part_epoch_and_batch():
    seeds = {block_seed(s, p, a) for s in (0, 1) for p in (0, 1, 2) for a in (0, 1, 2)}
    assert len(seeds) == 18
    x00, y00 = stream_batch(RECIPE, 0, 0, 2)
    assert x00.shape == (2, 1748, 2) and y00.shape == (2, 1748, 3) and x00.dtype == y00.dtype == np.float32
    assert _same((x00, y00), stream_batch(RECIPE, 0, 0, 2))  # same seed, same batch
    rows = [stream_rows(RECIPE, 0, a, b, 2) for a, b in ((0, 0), (0, 1), (1, 0))]
    z = np.concatenate([r["z_qso"] for r in rows])
    assert len(set(z.tolist())) == 6  # other batches, other epochs: other sightlines
    other = stream_batch(dataclasses.replace(RECIPE, seed=6), 0, 0, 2)
    assert not np.array_equal(other[0], x00)
    assert (rows[0]["split"] == 0).all() and (stream_rows(RECIPE, 2, 0, 0, 1)["split"] == 2).all()


def test_stream_data_is_the_same_whatever_the_workers():
    from dla_cnn.model.stream import StreamData

    made = {}
    for workers in (0, 2):
        data = StreamData(RECIPE, batch_size=2, steps_per_epoch=2, workers=workers)
        try:
            got = [data[0], data[1]]
            data.on_epoch_end()
            got.append(data[0])  # asked ahead across the end of the epoch when workers > 0
        finally:
            data.close()
        made[workers] = got
    for a, b in zip(made[0], made[2]):
        assert _same(a, b)
    assert _same(made[0][2], stream_batch(RECIPE, 1, 0, 2))  # epoch 1's first batch
    assert not np.array_equal(made[0][0][0], made[0][2][0])
    resumed = StreamData(RECIPE, batch_size=2, steps_per_epoch=2, workers=0, epoch=1)
    assert resumed.position == {"epoch": 1, "batch": 0} and _same(resumed[0], made[0][2])
    with pytest.raises(IndexError):
        resumed[2]
    with pytest.raises(ConfigError):
        StreamData(RECIPE, batch_size=0, steps_per_epoch=2)


def test_heldout_sets_are_made_once(tmp_path):
    from dla_cnn.model.data import TrainingData

    pool = RowPool(0)
    path, made = write_heldout(tmp_path / "h.h5", RECIPE, 3, 2, pool)
    assert made and write_heldout(path, RECIPE, 3, 2, pool) == (path, False)
    with h5py.File(path) as f:
        assert f["split"][:].tolist() == [1, 1, 1, 2, 2]
        first = f["inputs"][0]
    assert np.array_equal(first, stream_rows(RECIPE, 1, 0, 0, 1)["inputs"][0])  # a prefix of the 64-row chunk
    x, y = TrainingData(path, "validation", 4, shuffle=False)[0]
    assert x.shape == (3, 1748, 2) and y.shape == (3, 1748, 3)
    _, made = write_heldout(path, dataclasses.replace(RECIPE, seed=9), 3, 2, pool)
    assert made  # another seed: other sets
    with pytest.raises(ConfigError):
        write_heldout(path, RECIPE, 0, 2, pool)


# --------------------------------------------------------------------------- training
@pytest.mark.slow
def test_streamed_run_resumes_at_the_next_epoch(tmp_path, monkeypatch):
    import dla_cnn.model.stream as stream_mod
    from dla_cnn.model.stream import StreamSpec
    from dla_cnn.model.train import run_files, train

    asked: list[tuple[int, int]] = []

    def recording(cfg, a, b, count):
        asked.append((a, b))
        return stream_batch(cfg, a, b, count)

    monkeypatch.setattr(stream_mod, "stream_batch", recording)
    spec = StreamSpec(RECIPE, workers=0, validation_sightlines=4)
    out = tmp_path / "s.keras"
    kw = dict(batch_size=2, steps_per_epoch=2, validation_steps=1, test_sightlines=3, log=lambda s: None,
              calibrate=False, seed=3)
    train(spec, out, SMALL_FCN, epochs=1, **kw)
    assert sorted(set(asked)) == [(0, 0), (0, 1)]
    state = json.loads(run_files(out)["state"].read_text())
    assert state["stream_position"] == {"epoch": 1, "batch": 0} and state["stream_recipe"]["seed"] == 3
    asked.clear()
    res = train(spec, out, SMALL_FCN, epochs=2, resume=True, **kw)
    assert sorted(set(asked)) == [(1, 0), (1, 1)]  # the next epoch's batches, none repeated
    ts = res.card["training_set"]
    assert ts["stream"]["seed"] == 3 and ts["stream"]["recipe"]["injection"] == recipe_dict(RECIPE)["injection"]
    assert ts["sightlines_trained"] == 8 and "sha256" not in ts and ts["heldout"]["n_test"] == 3
    assert res.card["metrics_test"]["n_sightlines"] == 3
    with pytest.raises(ConfigError, match="other data"):
        train(spec, out, SMALL_FCN, epochs=3, resume=True, **{**kw, "seed": 4})


@pytest.mark.slow
def test_cli_train_stream_writes_a_loadable_model_with_its_card(tmp_path):
    out = tmp_path / "m.keras"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-m", "dla_cnn.cli", "train", "--stream", "--out", str(out), "--epochs", "2",
                          "--steps-per-epoch", "3", "--batch-size", "4", "--stream-workers", "1",
                          "--validation-sightlines", "8", "--test-sightlines", "8", "--seed", "2"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"wrote {out}" in res.stdout.replace("\n", " ")
    from dla_cnn.model import load_model

    model, card = load_model(out)
    assert model.count_params() > 0 and card["epochs_run"] == 2 and card["training"]["steps_per_epoch"] == 3
    stream = card["training_set"]["stream"]
    assert stream["seed"] == 2 and stream["recipe"]["seed"] == 2 and stream["steps_per_epoch"] == 3
    assert card["training_set"]["sightlines_trained"] == 24 and card["calibration"]
    assert "train --stream" in card["commands"]["train"]


@pytest.mark.slow
def test_gpu_benchmark_script_runs_tiny_on_the_cpu_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "tensorflow.py").write_text("raise ImportError('no TensorFlow on the GPU machine')\n")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(hide), DLA_CNN_GPU_EPOCHS="1", DLA_CNN_GPU_STEPS="2",
               DLA_CNN_GPU_BATCH="4", DLA_CNN_GPU_WORKERS="1", DLA_CNN_GPU_VAL="8", DLA_CNN_GPU_TEST="8",
               DLA_CNN_GPU_HELDOUT="6", DLA_CNN_GPU_INFER_N="32", DLA_CNN_GPU_INFER_BATCHES="16",
               DLA_CNN_GPU_INFER_REPS="1", DLA_CNN_GPU_OUT=str(tmp_path / "run"), PYTHON=sys.executable)
    res = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "run.sh")], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    lines = res.stdout.split("== summary ==")[1].splitlines()
    starts = ("devices:", "train:", "heldout per-pixel", "heldout detection", "inference:")
    for start in starts:
        assert any(ln.startswith(start) for ln in lines), (start, lines)
    assert "tensorflow imported: False" in res.stdout
    train_line = next(ln for ln in lines if ln.startswith("train:"))
    assert "samples/s" in train_line and "wall" in train_line and "8 sightlines" in train_line
    assert "sightlines/s" in next(ln for ln in lines if ln.startswith("inference:"))
    assert json.loads((tmp_path / "run" / "infer.json").read_text())["by_batch"][0]["batch"] == 16
