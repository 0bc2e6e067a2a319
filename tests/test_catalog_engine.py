"""Catalog runs read spectra with fitsio (``DLA_CNN_FITS_ENGINE``), and reader processes read
ahead: neither changes a single value of the catalog."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest
from astropy.io import fits

import dla_cnn.io.dispatch as dispatch
from dla_cnn.exceptions import ConfigError
from dla_cnn.io import write_boss_spec
from dla_cnn.io._fits import FITS_ENGINE_ENV, fitsio_available, open_fitsio
from dla_cnn.scan.builder import build_catalog
from test_io import make_sightline
from test_io_fitsio import SAMPLES, _odd_files, assert_same_catalog


@pytest.mark.skipif(not fitsio_available(), reason="fitsio is not installed")
def test_catalog_is_the_same_with_either_engine(tmp_path, monkeypatch):
    d = tmp_path / "spectra"
    d.mkdir()
    for p in SAMPLES[:10]:
        shutil.copy(p, d / p.name)
        (d / p.name[: -len(".gz")]).write_bytes(gzip.decompress(p.read_bytes()))  # plain copies, other ids
        with fits.open(d / p.name[: -len(".gz")], mode="update") as h:
            h[0].header["FIBERID"] += 500
            h["SPALL"].data["FIBERID"][0] += 500
    (d / "spec-0001-50000-0001.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    (tmp_path / "odd").mkdir()
    files = _odd_files(tmp_path / "odd")
    shutil.copy(files["trailing-text.fits"], d / "spec-0002-50000-0002.fits")
    shutil.copy(files["scaled"], d / "spec-0003-50000-0003.fits")
    opened = []
    monkeypatch.setattr(dispatch, "open_fitsio", lambda path: opened.append(path) or open_fitsio(path))
    for engine in ("astropy", "fitsio"):
        monkeypatch.setenv(FITS_ENGINE_ENV, engine)
        res = build_catalog(d, tmp_path / f"cat-{engine}.fits", shard_size=7)
        assert res["n_sightlines"] == 23 and res["n_error"] == 2
        assert (len(opened) > 20) == (engine == "fitsio")  # the run read with the engine named
    assert_same_catalog(tmp_path / "cat-astropy.fits", tmp_path / "cat-fitsio.fits")


def test_unknown_engine_stops_the_run_before_it_starts(tmp_path, monkeypatch):
    path = write_boss_spec(make_sightline(), tmp_path / "spec-7001-57001-0012.fits")
    monkeypatch.setenv(FITS_ENGINE_ENV, "specutils")
    with pytest.raises(ConfigError, match=FITS_ENGINE_ENV):
        build_catalog(path, tmp_path / "cat.fits")
    assert not (tmp_path / "cat.fits.parts").exists()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnx", "keras"])
def test_catalog_with_reader_processes_is_the_same(tmp_path, engine):
    d = tmp_path / "spectra"
    d.mkdir()
    for p in SAMPLES[:20]:
        (d / p.name[: -len(".gz")]).write_bytes(gzip.decompress(p.read_bytes()))
    one, two = tmp_path / "one.fits", tmp_path / "two.fits"
    build_catalog(d, one, shard_size=6, engine=engine)
    # the next shard is read while one is scanned; on ONNX the readers also run the per-pixel network
    build_catalog(d, two, shard_size=6, workers=2, engine=engine)
    assert_same_catalog(one, two)
    from astropy.io import fits

    assert fits.getheader(two, "ABSORBERS").get("ENGINE", fits.getheader(two, 0).get("ENGINE")) == engine


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_catalog_runs_advise_each_file_once_two_shards_ahead(tmp_path, monkeypatch, workers):
    import dla_cnn.scan.builder as builder

    d = tmp_path / "spectra"
    d.mkdir()
    for p in SAMPLES[:11]:
        shutil.copy(p, d / p.name)
    advised, scanned = [], []
    real_rows = builder._shard_rows
    monkeypatch.setattr(builder, "advise_read_ahead", lambda tasks: advised.append([t.file for t in tasks]))
    monkeypatch.setattr(builder, "_shard_rows", lambda scanner, prepared: scanned.append(len(advised)) or
                        real_rows(scanner, prepared))
    res = build_catalog(d, tmp_path / "cat.fits", shard_size=3, workers=workers)
    assert res["n_sightlines"] == 11
    files = [str(p) for p in sorted(d.iterdir())]
    assert [f for shard in advised for f in shard] == files  # every file once, in the order of the work list
    assert [len(s) for s in advised] == [3, 3, 3, 2]
    # when shard k is scanned, shards up to k + 2 have been advised
    assert scanned == [3, 4, 4, 4]


def test_read_ahead_hint_leaves_missing_and_unreadable_files_to_the_reader(tmp_path):
    from dla_cnn.scan.builder import Task, advise_read_ahead, prepare_task

    good = tmp_path / "spec-0001-51234-0001.fits"
    good.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    fifo = tmp_path / "spec-0002-51234-0001.fits"
    os.mkfifo(fifo)  # opening a FIFO for reading would wait for a writer: the hint must not
    tasks = [Task(str(tmp_path / "missing.fits")), Task(str(tmp_path)), Task(str(good))]
    advise_read_ahead(tasks + [Task(str(fifo))])  # a hint only: nothing raised, nothing read or changed
    assert good.read_bytes().startswith(b"SIMPLE")
    rows = [p.row for t in tasks for p in prepare_task(t)]
    assert [r["status"] for r in rows] == ["error"] * 3 and all(r["n_dla"] == -1 for r in rows)
    assert "missing.fits" in rows[0]["file"]
