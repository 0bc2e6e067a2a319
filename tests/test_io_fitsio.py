"""Reading with fitsio (``engine="fitsio"``, what catalog runs use) gives exactly what astropy gives.

Every packaged sample and every kind of file the reader tests build is read both ways and
compared field by field (pixels, ids, redshift, position, provenance); every bad file
gives the same error, word for word; and a catalog built with either engine is the same.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import dla_cnn.io._fits as fits_engines
import dla_cnn.io.boss as boss
import dla_cnn.io.dispatch as dispatch
from dla_cnn.assets import sample_spectra_dir
from dla_cnn.exceptions import ConfigError, SightlineError
from dla_cnn.io import iter_sightlines, read_boss_spec, read_spectrum, write_boss_spec
from dla_cnn.io._fits import FITS_ENGINE_ENV, fits_engine, fitsio_available
from dla_cnn.scan.pipeline import Scanner
from dla_cnn.sightline import Sightline
from test_io import (
    _bad_cases,
    _plate_arrays,
    desi_arrays,
    make_sightline,
    write_boss_by_hand,
    write_desi,
    write_spplate,
    write_spspec,
)

needs_fitsio = pytest.mark.skipif(not fitsio_available(), reason="fitsio is not installed")

SAMPLES = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))


# ============================================================================== helpers
def assert_same(a, b, what="") -> None:
    """Two sightlines (or errors) equal field by field: values, dtypes and types."""
    assert type(a) is type(b), f"{what}: {a!r} vs {b!r}"
    if isinstance(a, SightlineError):
        assert str(a) == str(b), what
        return
    for f in dataclasses.fields(Sightline):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {f.name}"
            assert np.array_equal(x, y), f"{what}: {f.name}"
        elif isinstance(x, float) and np.isnan(x):
            assert isinstance(y, float) and np.isnan(y), f"{what}: {f.name}"
        else:
            assert type(x) is type(y) and x == y, f"{what}: {f.name}: {x!r} vs {y!r}"
    assert {k: type(v) for k, v in a.provenance.items()} == {k: type(v) for k, v in b.provenance.items()}


def read_both(path, **kw) -> tuple[list, list]:
    """Everything ``iter_sightlines`` yields for ``path`` with astropy, then with fitsio."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = list(iter_sightlines(path, engine="astropy", **kw))
        got = list(iter_sightlines(path, engine="fitsio", **kw))
    return ref, got


def assert_engines_agree(path, **kw) -> list:
    ref, got = read_both(path, **kw)
    assert len(ref) == len(got), path
    for a, b in zip(ref, got):
        assert_same(a, b, str(path))
    return ref


def forbid_astropy(monkeypatch) -> None:
    """From now on, fail if the dispatcher or the BOSS reader opens a file with astropy."""
    def refuse(*a, **k):
        raise AssertionError("read with astropy, not fitsio")

    monkeypatch.setattr(dispatch, "open_fits", refuse)
    monkeypatch.setattr(boss, "open_fits", refuse)
    monkeypatch.setattr(boss, "read_boss_hdul", refuse)


# ============================================================================== samples
@needs_fitsio
@pytest.mark.parametrize("z_qso", [None, 3.0], ids=["z-from-file", "z-given"])
def test_every_packaged_sample_reads_the_same(z_qso, monkeypatch):
    assert len(SAMPLES) == 40
    ref = [read_spectrum(p, z_qso=z_qso, engine="astropy")[0] for p in SAMPLES]
    spec = [read_spectrum(p, z_qso=z_qso)[0] for p in SAMPLES[:3]]  # the specutils engine too
    for a, s in zip(ref, spec):
        assert a.sightline_id == s.sightline_id and a.z_qso == s.z_qso
        np.testing.assert_array_equal(a.ivar, s.ivar)
    forbid_astropy(monkeypatch)  # gzipped files are read by fitsio itself
    for p, a in zip(SAMPLES, ref):
        assert_same(a, read_spectrum(p, z_qso=z_qso, engine="fitsio")[0], p.name)
        assert_same(a, read_boss_spec(p, z_qso=z_qso, engine="fitsio"), p.name)


@needs_fitsio
def test_uncompressed_samples_read_the_same(tmp_path, monkeypatch):
    plain = [tmp_path / p.name[: -len(".gz")] for p in SAMPLES[:8]]
    for p, q in zip(SAMPLES, plain):
        q.write_bytes(gzip.decompress(p.read_bytes()))
    ref = [read_spectrum(q, engine="astropy")[0] for q in plain]
    forbid_astropy(monkeypatch)
    for q, a in zip(plain, ref):
        assert_same(a, read_spectrum(q, engine="fitsio")[0], q.name)


# ============================================================================== test fixtures
def _boss_files(tmp_path) -> dict:
    n = 500
    flux = np.linspace(1, 3, n)
    flux[20:23] = np.nan
    flux[30] = np.inf
    ivar = np.full(n, 2.0)
    ivar[40:45] = 0.0
    and_mask = np.zeros(n, np.int32)
    and_mask[10] = 1 << 23
    files = {
        "by-hand": write_boss_by_hand(tmp_path / "spec-4216-55477-0042.fits", flux, ivar, and_mask, start=36000),
        "no-spall-z": write_boss_by_hand(tmp_path / "noz.fits", flux, ivar, and_mask, spall_drop=("Z",)),
        "spall-ids-only": write_boss_by_hand(tmp_path / "ids.fits", flux, ivar, and_mask,
                                             spall_drop=("PLATE", "MJD", "THING_ID", "PLUG_RA", "CLASS")),
        "written": write_boss_spec(make_sightline(z=3.2, provenance={"thing_id": 99}),
                                   tmp_path / "spec-7001-57001-0012.fits"),
        "non-sdss-id": write_boss_spec(Sightline("sim-42-7", 2.75, 35563, np.full(500, 3.0), np.ones(500)),
                                       tmp_path / "sim.fits"),
    }
    # HDU1 not named COADD, no SPALL: ids and redshift from the primary header and the caller
    with fits.open(files["written"]) as h:
        h[1].name = "SPECTRUM"
        fits.HDUList([h[0], h[1]]).writeto(tmp_path / "unnamed.fits")
    files["unnamed-hdu1"] = tmp_path / "unnamed.fits"
    # upper-case column names, extra keywords, a real-survey-like long primary header
    with fits.open(files["by-hand"]) as h:
        cols = h[1].columns
        for c in cols:
            c.name = c.name.upper()
        coadd = fits.BinTableHDU.from_columns(cols, name="COADD")
        for i in range(300):
            h[0].header[f"KEY{i}"] = (i * 0.5, "filler")
        h[0].header.add_history("a history card")
        fits.HDUList([h[0], coadd, h[2]]).writeto(tmp_path / "upper.fits")
    files["upper-case-columns"] = tmp_path / "upper.fits"
    return files


@needs_fitsio
def test_boss_fixtures_read_the_same(tmp_path, monkeypatch):
    files = _boss_files(tmp_path)
    cat = Table({"PLATE": [4216], "MJD": [55477], "FIBERID": [42], "RA": [1.0], "DEC": [2.0], "Z": [3.3],
                 "THING_ID": [5]})
    for name, path in files.items():
        for kw in ({}, {"z_qso": 2.9}, {"z_qso": {"4216-55477-0042": 3.1}}, {"quasar_catalog": cat}):
            items = assert_engines_agree(path, **kw)
            assert items, name
    forbid_astropy(monkeypatch)  # fitsio reads every one of them itself
    for name, path in files.items():
        for kw in ({}, {"z_qso": 2.9}):
            list(iter_sightlines(path, engine="fitsio", **kw))


@needs_fitsio
def test_other_formats_read_the_same(tmp_path, monkeypatch):
    n = 400
    rng = np.random.default_rng(7)
    flux = rng.uniform(1, 5, n).astype(np.float32)
    err = rng.uniform(0.2, 1.0, n).astype(np.float32)
    err[5] = 0.0
    mask = np.zeros(n)
    mask[8], mask[9] = float(1 << 30), float(1 << 18)
    spspec = write_spspec(tmp_path / "spSpec-51630-0266-007.fit", flux, err, mask)
    assert_engines_agree(spspec)
    assert_engines_agree(spspec, z_qso=2.5)
    assert_engines_agree(write_spspec(tmp_path / "off.fit", flux, err, mask, coeff0=3.58003, rows=5))
    pflux, pivar, pmask = _plate_arrays()
    plate = write_spplate(tmp_path / "spPlate-3586-55181.fits", pflux, pivar, pmask)
    assert len(assert_engines_agree(plate, z_qso={1: 2.5, 3: 3.1})) == 2
    desi = write_desi(tmp_path / "coadd-main-dark-1234.fits", desi_arrays(nspec=3), [10, 11, 12])
    assert len(assert_engines_agree(desi, quasar_catalog=Table({"TARGETID": [12, 11], "Z": [2.7, 3.0]}))) == 2
    k = 35563 + np.arange(300)
    Table({"loglam": k * 1e-4, "flux": np.linspace(1, 2, 300), "ivar": np.full(300, 4.0)}).write(tmp_path / "t.fits")
    assert_engines_agree(tmp_path / "t.fits", z_qso=2.6)
    # spSpec files are read by fitsio itself
    monkeypatch.setattr(dispatch, "open_fits", lambda *a, **k: pytest.fail("opened with astropy"))
    assert read_spectrum(spspec, engine="fitsio")[0].provenance["format"] == "spspec"


# ============================================================================== bad input
@needs_fitsio
def test_bad_inputs_give_the_same_errors(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = _bad_cases(tmp_path)
    seen = 0
    for name, path, _, _ in cases:
        ref, got = read_both(path)
        for a, b in zip(ref, got):
            assert_same(a, b, name)
        seen += any(isinstance(a, SightlineError) for a in ref)
    assert seen >= len(cases) - 1


def _odd_files(tmp_path) -> dict:
    """Files fitsio must hand to astropy: their errors (or values) come from astropy."""
    n = 400
    good = write_boss_by_hand(tmp_path / "good.fits", np.full(n, 2.0), np.ones(n), np.zeros(n, np.int32))
    data = good.read_bytes()
    out = {}

    def put(name, content):
        out[name] = tmp_path / name
        out[name].write_bytes(content)

    put("trailing-text.fits", data + b"some bytes after the last HDU")
    put("trailing-zeros.fits", data + b"\0" * 100)
    put("trailing-block.fits", data + b"\0" * 2880)
    put("truncated-in-data.fits", data[: len(data) - 100])
    put("truncated-at-hdu.fits", data[: len(data) - 2 * 2880])
    put("truncated-header.fits", data[: 2880 + 800])
    put("gz-truncated.fits.gz", gzip.compress(data)[:-100])
    put("gz-trailing.fits.gz", gzip.compress(data + b"xyz"))
    put("gz-two-members.fits.gz", gzip.compress(data[:5760]) + gzip.compress(data[5760:]))
    zipped = bytearray(gzip.compress(data))
    zipped[len(zipped) // 2: len(zipped) // 2 + 8] = b"\x00\xff" * 4
    put("gz-corrupt.fits.gz", bytes(zipped))
    put("gz-good.fits.gz", gzip.compress(data))
    bad_header = bytearray(data)
    bad_header[2880 + 80 * 3: 2880 + 80 * 3 + 8] = b"\xff\xfeBAD\x00 ="  # unprintable keyword in HDU1
    put("bad-header.fits", bytes(bad_header))
    shutil.copy(good, tmp_path / "with [brackets].fits")
    out["brackets"] = tmp_path / "with [brackets].fits"
    shutil.copy(good, tmp_path / "ext+1.fits")
    out["plus"] = tmp_path / "ext+1.fits"
    # scaled, vector and case-duplicate columns, empty tables
    with fits.open(good) as h:
        cols = h[1].columns
        scaled = fits.BinTableHDU.from_columns(
            [fits.Column(name="flux", format="I", array=np.full(n, 100, np.int16))]
            + [c for c in cols if c.name != "flux"], name="COADD")
        fits.HDUList([h[0], scaled, h[2]]).writeto(tmp_path / "scaled.fits")
        fits.setval(tmp_path / "scaled.fits", "TSCAL1", value=0.01, ext=1)  # flux = 0.01 * stored + 1
        fits.setval(tmp_path / "scaled.fits", "TZERO1", value=1.0, ext=1)
        out["scaled"] = tmp_path / "scaled.fits"
        fits.setval(good, "TSCAL1", value=1.5, ext=1)
        shutil.copy(good, tmp_path / "float-scaled.fits")
        out["float-scaled"] = tmp_path / "float-scaled.fits"
        fits.delval(good, "TSCAL1", ext=1)
        vec = fits.BinTableHDU.from_columns(
            [fits.Column(name="flux", format="2E", array=np.tile(h[1].data["flux"][:, None], 2))]
            + [c for c in cols if c.name != "flux"], name="COADD")
        fits.HDUList([h[0], vec, h[2]]).writeto(tmp_path / "vector.fits")
        out["vector"] = tmp_path / "vector.fits"
        dup = fits.BinTableHDU.from_columns(list(cols) + [fits.Column(name="FLUX", format="E",
                                                                      array=np.zeros(n, np.float32))], name="COADD")
        fits.HDUList([h[0], dup, h[2]]).writeto(tmp_path / "dup.fits")
        out["duplicate-names"] = tmp_path / "dup.fits"
        empty = fits.BinTableHDU(Table(h[2].data)[:0], name="SPALL")
        fits.HDUList([h[0], h[1], empty]).writeto(tmp_path / "spall-empty.fits")
        out["spall-empty"] = tmp_path / "spall-empty.fits"
        empty = fits.BinTableHDU(Table(h[1].data)[:0], name="COADD")
        fits.HDUList([h[0], empty, h[2]]).writeto(tmp_path / "coadd-empty.fits")
        out["coadd-empty"] = tmp_path / "coadd-empty.fits"
        fits.HDUList([h[0], fits.ImageHDU(np.zeros((3, 3)), name="COADD"), h[2]]).writeto(tmp_path / "image.fits")
        out["coadd-image"] = tmp_path / "image.fits"
    return out


@needs_fitsio
def test_odd_and_corrupt_files_go_to_astropy(tmp_path):
    files = _odd_files(tmp_path)
    for name, path in files.items():
        for kw in ({}, {"z_qso": 2.9}, {"format": "boss"}):
            try:
                ref, got = read_both(path, **kw)
            except AttributeError as exc:  # astropy's own failure on an image named COADD
                with pytest.raises(type(exc)):
                    read_both(path, **kw)
                continue
            assert len(ref) == len(got), name
            for a, b in zip(ref, got):
                assert_same(a, b, f"{name} {kw}")
    # corrupt files are errors either way, not spectra
    for name in ("trailing-text.fits", "truncated-in-data.fits", "truncated-header.fits", "gz-truncated.fits.gz"):
        ref, _ = read_both(files[name])
        assert isinstance(ref[0], SightlineError), name
    # astropy reads past the end, cfitsio would see a part, or the path means more to cfitsio
    for name in ("trailing-zeros.fits", "trailing-block.fits", "gz-two-members.fits.gz", "gz-corrupt.fits.gz",
                 "gz-trailing.fits.gz", "brackets", "plus"):
        assert fits_engines.open_fitsio(str(files[name])) is None, name
    for name in ("good.fits", "gz-good.fits.gz"):
        with fits_engines.open_fitsio(str(tmp_path / name)) as fio:
            assert boss.read_boss_fitsio(fio, name) is not None
    for name in ("scaled", "float-scaled", "vector", "duplicate-names", "spall-empty", "coadd-empty"):
        with fits_engines.open_fitsio(str(files[name])) as fio:
            assert boss.read_boss_fitsio(fio, name) is None, name


def test_without_fitsio_the_fitsio_engine_reads_with_astropy(tmp_path, monkeypatch):
    monkeypatch.setattr(fits_engines, "_fitsio", lambda: None)
    assert not fits_engines.fitsio_available()
    path = write_boss_spec(make_sightline(z=3.2), tmp_path / "spec-7001-57001-0012.fits")
    assert_same(read_spectrum(path, engine="astropy")[0], read_spectrum(path, engine="fitsio")[0])
    assert_same(read_boss_spec(path, engine="astropy"), read_boss_spec(path, engine="fitsio"))


def test_engine_names_are_checked(tmp_path, monkeypatch):
    path = write_boss_spec(make_sightline(), tmp_path / "spec-7001-57001-0012.fits")
    with pytest.raises(ConfigError, match="unknown reading engine 'cfitsio'"):
        read_spectrum(path, engine="cfitsio")
    monkeypatch.delenv(FITS_ENGINE_ENV, raising=False)
    assert fits_engine() == "fitsio"
    monkeypatch.setenv(FITS_ENGINE_ENV, " Astropy ")
    assert fits_engine() == "astropy"
    monkeypatch.setenv(FITS_ENGINE_ENV, "specutils")
    with pytest.raises(ConfigError, match=FITS_ENGINE_ENV):
        fits_engine()


# ============================================================================== catalogs
@needs_fitsio
def test_scan_results_are_the_same_with_either_engine(tmp_path):
    """What the finder reports (rows and absorbers) from sightlines read either way."""
    d = tmp_path / "spectra"
    d.mkdir()
    for p in SAMPLES[:12]:
        (d / p.name[: -len(".gz")]).write_bytes(gzip.decompress(p.read_bytes()))
    files = sorted(d.glob("*.fits")) + SAMPLES[12:16]
    scanner = Scanner()
    results = {}
    for engine in ("astropy", "fitsio"):
        items = [item for f in files for item in iter_sightlines(f, engine=engine)]
        results[engine] = list(scanner.scan(items))
    assert sum(r.status == "ok" for r in results["astropy"]) >= 12
    assert sum(len(r.detections) for r in results["astropy"]) > 0
    for a, b in zip(results["astropy"], results["fitsio"], strict=True):
        assert a.row.keys() == b.row.keys()
        for k, v in a.row.items():
            assert v == b.row[k] or (v != v and b.row[k] != b.row[k]), k
        assert a.detections == b.detections


def assert_same_catalog(one, two) -> None:
    """Two catalog files hold the same rows, value for value."""
    for hdu in ("SIGHTLINES", "ABSORBERS"):
        a, b = Table.read(one, hdu=hdu), Table.read(two, hdu=hdu)
        assert a.colnames == b.colnames and len(a) == len(b) > 0
        for c in a.colnames:
            x, y = np.asarray(a[c]), np.asarray(b[c])
            if x.dtype.kind == "f":
                np.testing.assert_array_equal(x, y, err_msg=c)
            else:
                assert x.tolist() == y.tolist(), c


@pytest.mark.slow
def test_reader_processes_do_not_import_keras():
    """Reader processes import the readers and the preparation, not Keras (seconds of start-up each)."""
    import subprocess
    import sys

    code = "import sys, dla_cnn.scan.builder; sys.exit('keras' in sys.modules or 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
