"""Tests of the catalog contract (dla_cnn.catalog)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import dla_cnn
from dla_cnn import catalog
from dla_cnn.exceptions import ConfigError

LONG_COMMAND = "dla-cnn scan " + " ".join(f"/data/boss/spectra/v5_13_0/spec-7001-57001-{i:04d}.fits" for i in range(8))
SHA = "0123456789abcdef" * 4


def _tables():
    absorbers = catalog.absorber_table(
        [
            {
                "sightline_id": "7001-57001-0012",
                "ra": 150.25 * u.deg,
                "dec": 2.5,
                "z_qso": 3.1,
                "z_abs": 2.6,
                "z_abs_err": 0.002,
                "log_nhi": 20.71,
                "log_nhi_err": 0.15,
                "confidence": 0.97,
                "snr": 8.2,
            },
            {"sightline_id": "7001-57001-0012", "z_abs": 2.2, "log_nhi": 19.8, "confidence": 0.6},
            {"sightline_id": "7001-57001-0012", "z_abs": 2.0, "log_nhi": 20.3, "type": "LYB"},
        ]
    )
    sightlines = catalog.sightline_table(
        [
            {"sightline_id": "7001-57001-0012", "file": "spec-7001-57001-0012.fits", "z_qso": 3.1, "snr": 8.2,
             "z_min": 1.9, "z_max": 3.0, "n_dla": 1, "n_subdla": 1, "status": "ok"},
            {"sightline_id": "7001-57001-0013", "file": "spec-7001-57001-0013.fits", "z_qso": 2.5, "snr": 5.0,
             "z_min": 1.8, "z_max": 2.4, "n_dla": 0, "n_subdla": 0, "status": "ok"},
            {"sightline_id": "7001-57001-0014", "status": "skipped", "message": "no Lyman-alpha forest coverage"},
            {"sightline_id": "7001-57001-0015", "file": "spec-7001-57001-0015.fits", "status": "error",
             "message": "truncated file: missing HDU 1"},
        ]
    )
    meta = {
        "model_name": "parks2018-boss",
        "model_sha256": SHA,
        "command": LONG_COMMAND,
        "thresholds": {"confidence_min": 0.2, "dla_min": 20.3},
        "seed": 7,
    }
    return absorbers, sightlines, meta


# --------------------------------------------------------------------------- schema
def test_schema_lists_every_spec_column_in_order():
    assert [c.name for c in catalog.ABSORBER_COLUMNS] == [
        "sightline_id", "plate", "mjd", "fiber", "thing_id", "targetid", "ra", "dec", "z_qso", "z_abs",
        "z_abs_err", "log_nhi", "log_nhi_err", "confidence", "type", "lambda_obs", "snr",
    ]
    assert [c.name for c in catalog.SIGHTLINE_COLUMNS] == [
        "sightline_id", "plate", "mjd", "fiber", "thing_id", "targetid", "ra", "dec", "file", "z_qso",
        "snr", "z_min", "z_max", "n_dla", "n_subdla", "status", "message",
    ]
    units = {c.name: c.unit for c in catalog.ABSORBER_COLUMNS}
    assert units["ra"] == u.deg and units["dec"] == u.deg and units["lambda_obs"] == u.AA
    assert "cm^-2" in {c.name: c.description for c in catalog.ABSORBER_COLUMNS}["log_nhi"]
    assert set(catalog.STATUS_VALUES) == {"ok", "error", "skipped"}


def test_empty_tables_have_full_schema():
    a, s = catalog.empty_absorber_table(), catalog.empty_sightline_table()
    assert len(a) == 0 and len(s) == 0
    assert a.colnames == [c.name for c in catalog.ABSORBER_COLUMNS]
    assert s.colnames == [c.name for c in catalog.SIGHTLINE_COLUMNS]
    assert a["ra"].unit == u.deg and a["plate"].dtype == np.int32


def test_row_defaults():
    a, s, _ = _tables()
    assert (a["plate"][1], a["mjd"][1], a["fiber"][1]) == (7001, 57001, 12)
    assert np.isnan(a["ra"][1]) and np.isnan(a["snr"][1])
    assert a["ra"][0] == 150.25
    assert list(a["type"]) == ["DLA", "SUBDLA", "LYB"]
    assert a["lambda_obs"][0] == pytest.approx(1215.6701 * 3.6)
    other = catalog.absorber_table([{"sightline_id": "J1234+5678", "z_abs": 2.0, "log_nhi": 21.0}])
    assert (other["plate"][0], other["mjd"][0], other["fiber"][0]) == (-1, -1, -1)
    assert s["n_dla"][2] == -1 and s["file"][2] == "" and np.isnan(s["z_min"][3])


@pytest.mark.parametrize(
    "rows, builder",
    [
        ([{"sightline_id": "a", "z_abs": 2.0, "log_nhi": 20.0, "nhi": 1}], catalog.absorber_table),
        ([{"sightline_id": "a", "z_abs": 2.0, "log_nhi": 20.0, "type": "LLS"}], catalog.absorber_table),
        ([{"sightline_id": "a", "z_abs": 2.0}], catalog.absorber_table),
        ([{"sightline_id": "a"}], catalog.sightline_table),
        ([{"sightline_id": "a", "status": "failed"}], catalog.sightline_table),
    ],
)
def test_bad_rows_raise(rows, builder):
    with pytest.raises(ValueError):
        builder(rows)


def test_sightline_id_format():
    assert catalog.format_sightline_id(7001, 57001, 12) == "7001-57001-0012"
    assert catalog.format_sightline_id(266, 51630, 3) == "0266-51630-0003"
    assert catalog.parse_sightline_id("7001-57001-0012") == (7001, 57001, 12)
    assert catalog.parse_sightline_id("J1234+5678") is None


# --------------------------------------------------------------------------- round trips
def _check_round_trip(a_in, s_in, meta_in, a, s, meta):
    for got, want in ((a, a_in), (s, s_in)):
        assert got.colnames == want.colnames
        for name in want.colnames:
            assert got[name].unit == want[name].unit, name
            assert got[name].dtype.kind == want[name].dtype.kind, name
            if want[name].dtype.kind == "f":
                np.testing.assert_array_equal(got[name], want[name])
            else:
                assert list(got[name]) == list(want[name]), name
    assert meta["dlacnn_version"] == dla_cnn.__version__
    assert meta["model_name"] == meta_in["model_name"]
    assert meta["model_sha256"] == SHA
    assert meta["command"] == LONG_COMMAND
    assert meta["thresholds"] == meta_in["thresholds"]
    assert meta["seed"] == 7
    assert len(meta["created"]) == 19 and meta["created"][10] == "T"
    assert a.meta["model_sha256"] == SHA


def test_fits_round_trip(tmp_path):
    a_in, s_in, meta_in = _tables()
    path = tmp_path / "cat.fits"
    assert catalog.write_catalog(path, a_in, s_in, meta_in) == [path]
    a, s, meta = catalog.read_catalog(path)
    _check_round_trip(a_in, s_in, meta_in, a, s, meta)
    assert a["log_nhi"].description == "log10 of the H I column density in cm^-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.fits"]  # no temporary left

    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "ABSORBERS", "SIGHTLINES"]
        assert hdul[0].data is None
        assert hdul[0].header["DLACNN_V"] == dla_cnn.__version__
        assert hdul["ABSORBERS"].header["COMMAND"] == LONG_COMMAND


def test_plain_table_read_keeps_units(tmp_path):
    a_in, s_in, meta_in = _tables()
    path = tmp_path / "cat.fits"
    catalog.write_catalog(path, a_in, s_in, meta_in)
    a = Table.read(path, hdu="ABSORBERS")
    s = Table.read(path, hdu="SIGHTLINES")
    assert len(a) == 3 and len(s) == 4
    assert a["ra"].unit == u.deg and a["dec"].unit == u.deg and a["lambda_obs"].unit == u.AA
    assert s["ra"].unit == u.deg
    assert a.meta["DLACNN_V"] == dla_cnn.__version__ and a.meta["MODELSHA"] == SHA
    assert s.meta["COMMAND"] == LONG_COMMAND
    assert a.meta["DLACNN THRESH dla_min"] == 20.3
    assert catalog.column_density(a).unit == u.cm**-2


def test_ecsv_round_trip(tmp_path):
    a_in, s_in, meta_in = _tables()
    written = catalog.write_catalog(tmp_path / "cat.ecsv", a_in, s_in, meta_in, format="ecsv")
    assert [p.name for p in written] == ["cat.absorbers.ecsv", "cat.sightlines.ecsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.absorbers.ecsv", "cat.sightlines.ecsv"]
    for name in ("cat", "cat.ecsv", "cat.absorbers.ecsv", "cat.sightlines.ecsv"):
        a, s, meta = catalog.read_catalog(tmp_path / name)
        _check_round_trip(a_in, s_in, meta_in, a, s, meta)
    assert Table.read(written[0])["lambda_obs"].unit == u.AA


def test_empty_catalog_round_trip(tmp_path):
    a_in, s_in = catalog.empty_absorber_table(), catalog.empty_sightline_table()
    for fmt in ("fits", "ecsv"):
        catalog.write_catalog(tmp_path / "empty", a_in, s_in, {}, format=fmt)
    a, s, meta = catalog.read_catalog(tmp_path / "empty")
    assert len(a) == 0 and len(s) == 0 and a["ra"].unit == u.deg
    assert meta["thresholds"] == {}


def test_units_converted_and_ascii_in_fits(tmp_path):
    a_in, s_in, meta_in = _tables()
    a_in["ra"] = a_in["ra"].quantity.to(u.rad)
    s_in["message"][3] = "unreadable: café.fits"
    catalog.write_catalog(tmp_path / "cat.fits", a_in, s_in, meta_in)
    a, s, _ = catalog.read_catalog(tmp_path / "cat.fits")
    assert a["ra"].unit == u.deg and a["ra"][0] == pytest.approx(150.25)
    assert s["message"][3] == "unreadable: caf\\xe9.fits"


def test_overwrite_and_failed_write_keep_old_file(tmp_path):
    a_in, s_in, meta_in = _tables()
    path = tmp_path / "cat.fits"
    catalog.write_catalog(path, a_in, s_in, meta_in)
    catalog.write_catalog(path, a_in[:1], s_in, meta_in)
    assert len(catalog.read_catalog(path)[0]) == 1
    with pytest.raises(ValueError):
        catalog.write_catalog(path, a_in, s_in, meta_in, format="votable")
    bad = s_in.copy()
    bad.remove_column("status")
    with pytest.raises(ValueError, match="status"):
        catalog.write_catalog(path, a_in, bad, meta_in)
    assert len(catalog.read_catalog(path)[0]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.fits"]


# --------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        catalog.read_catalog(tmp_path / "nope.fits")


def test_missing_hdu(tmp_path):
    a_in, s_in, meta_in = _tables()
    path = tmp_path / "cat.fits"
    catalog.write_catalog(path, a_in, s_in, meta_in)
    with fits.open(path) as hdul:
        fits.HDUList([hdul[0].copy(), hdul["ABSORBERS"].copy()]).writeto(tmp_path / "half.fits")
    with pytest.raises(ConfigError, match="no SIGHTLINES HDU") as err:
        catalog.read_catalog(tmp_path / "half.fits")
    assert "\n" not in str(err.value)


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_missing_column_and_foreign_files(tmp_path):
    t = Table({"sightline_id": ["a"], "z_abs": [2.0]})
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(t), fits.table_to_hdu(t)])
    hdus[1].name, hdus[2].name = "ABSORBERS", "SIGHTLINES"
    hdus.writeto(tmp_path / "foreign.fits")
    with pytest.raises(ConfigError, match="not a dla-cnn catalog.*missing column"):
        catalog.read_catalog(tmp_path / "foreign.fits")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ConfigError, match="not a dla-cnn catalog"):
        catalog.read_catalog(tmp_path / "notes.txt")
    (tmp_path / "trunc.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    with pytest.raises(ConfigError):
        catalog.read_catalog(tmp_path / "trunc.fits")


# --------------------------------------------------------------------------- statistics
def test_searched_path_and_dn_dz_use_ok_rows_only():
    a, s, _ = _tables()
    s["z_min"][3], s["z_max"][3] = 2.0, 3.0  # an error row with a path must not count
    assert catalog.searched_path(s) == pytest.approx(1.1 + 0.6)
    assert catalog.searched_path(s, z_range=(2.0, 2.5)) == pytest.approx(0.5 + 0.4)
    inc = catalog.dn_dz(a, s)
    assert inc.n == 1 and inc.dn_dz == pytest.approx(1 / 1.7)
    # 68.3% Poisson interval of one event (Gehrels 1986: 0.173 .. 3.300), not 1 +- 1
    assert inc.lower == pytest.approx(0.1727 / 1.7, rel=1e-3) and inc.upper == pytest.approx(3.2995 / 1.7, rel=1e-3)
    assert inc.error == pytest.approx((inc.upper - inc.lower) / 2)
    assert catalog.dn_dz(a, s, kind="any").n == 2
    assert catalog.dn_dz(a, s, kind="DLA", z_range=(2.0, 2.5)).n == 0
    with pytest.raises(ValueError):
        catalog.dn_dz(a, s, kind="LLS")
