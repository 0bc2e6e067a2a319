"""Tests of dla_cnn.vet on crafted catalogs whose metrics are known by construction."""

from __future__ import annotations

import json
import math

import numpy as np
from scipy.stats import median_abs_deviation
import pytest
from astropy.table import Table

from dla_cnn import catalog, vet
from dla_cnn.exceptions import ConfigError

# Twelve ok sightlines, one error sightline.
IDS = [f"7001-57001-{f:04d}" for f in range(1, 13)]
ERR_ID = "7001-57001-0100"
SNR = [3.0] * 5 + [10.0] * 5 + [1.0] * 2
Z_TRUE = np.linspace(2.2, 3.3, 10)
LOGN_TRUE = np.array([20.4] * 5 + [21.2] * 5)
DZ = np.array([0.001, -0.002, 0.003, 0.0, 0.001, -0.001, 0.002, 0.004, -0.003, 0.0])
DLOGN = np.array([0.1, -0.05, 0.05, 0.0, 0.2, -0.05, 0.1, 0.0, -0.2, -1.1])  # last: recovered as SUBDLA
CONF = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55])
FP_CONF = [0.97, 0.3]


def _crafted():
    """10 true DLAs on sightlines 1-10: 9 found as DLA, 1 as SUBDLA; 2 false positives on
    sightlines 11-12 (11 also holds a missed true sub-DLA); one LYB; one error sightline
    with a true DLA and a detection (both excluded); one true DLA on a sightline that is
    not in the catalog."""
    truth_rows = [
        {"sightline_id": IDS[i], "z_abs": Z_TRUE[i], "log_nhi": LOGN_TRUE[i], "b": 30.0} for i in range(10)
    ]
    truth_rows += [
        {"sightline_id": IDS[10], "z_abs": 2.05, "log_nhi": 19.7, "b": 25.0},
        {"sightline_id": ERR_ID, "z_abs": 2.5, "log_nhi": 20.8, "b": 30.0},
        {"sightline_id": "9999-59999-0001", "z_abs": 2.5, "log_nhi": 20.8, "b": 30.0},
    ]
    truth = Table(rows=truth_rows)
    truth["b"].unit = "km / s"

    det = [
        {"sightline_id": IDS[i], "z_abs": Z_TRUE[i] + DZ[i], "log_nhi": LOGN_TRUE[i] + DLOGN[i],
         "confidence": CONF[i]}
        for i in range(10)
    ]
    det += [
        {"sightline_id": IDS[10], "z_abs": 2.6, "log_nhi": 20.5, "confidence": FP_CONF[0]},
        {"sightline_id": IDS[11], "z_abs": 2.9, "log_nhi": 20.9, "confidence": FP_CONF[1]},
        {"sightline_id": IDS[0], "z_abs": Z_TRUE[0] - 0.002, "log_nhi": 20.0, "type": "LYB", "confidence": 0.9},
        {"sightline_id": ERR_ID, "z_abs": 2.5, "log_nhi": 20.8, "confidence": 0.9},
    ]
    absorbers = catalog.absorber_table(det)
    sl = [{"sightline_id": IDS[i], "snr": SNR[i], "z_min": 2.0, "z_max": 3.5, "status": "ok"} for i in range(12)]
    sl.append({"sightline_id": ERR_ID, "snr": 20.0, "status": "error", "message": "bad file"})
    return absorbers, catalog.sightline_table(sl), truth


@pytest.fixture(scope="module")
def report():
    a, s, t = _crafted()
    return vet.vet(a, s, t)


# --------------------------------------------------------------------------- headline metrics
def test_counts_and_exclusions(report):
    assert report.n_sightlines == 13 and report.n_sightlines_ok == 12 and report.n_sightlines_not_ok == 1
    assert report.n_truth == 11 and report.n_true_dla == 10 and report.n_true_subdla == 1
    assert report.n_truth_not_ok == 1 and report.n_truth_not_in_catalog == 1 and report.n_truth_excluded == 2
    assert report.n_detections == 12 and report.n_detections_not_ok == 1 and report.n_lyb == 1
    assert report.n_pred_dla == 11 and report.n_pred_subdla == 1


def test_completeness_purity_false_positives(report):
    assert report.completeness_dla == pytest.approx(0.9)
    assert report.completeness_any == pytest.approx(1.0)
    assert report.purity == pytest.approx(9 / 11)
    assert report.n_false_positive == 2
    assert report.fp_per_sightline == pytest.approx(2 / 12)
    assert report.lyb_per_sightline == pytest.approx(1 / 12)
    assert report.n_unmatched == 2


def test_residual_bias_and_scatter(report):
    dz, dn = DZ, DLOGN
    assert report.dz_mean == pytest.approx(dz.mean(), abs=1e-12)
    assert report.dz_median == pytest.approx(np.median(dz), abs=1e-12)
    assert report.dz_std == pytest.approx(dz.std(), abs=1e-12)
    assert report.dz_mad_std == pytest.approx(median_abs_deviation(dz, scale="normal"), abs=1e-12)
    assert report.dlogn_mean == pytest.approx(dn.mean(), abs=1e-12)
    assert report.dlogn_median == pytest.approx(np.median(dn), abs=1e-12)
    assert report.dlogn_std == pytest.approx(dn.std(), abs=1e-12)
    assert report.dlogn_mad_std == pytest.approx(median_abs_deviation(dn, scale="normal"), abs=1e-12)
    # by construction: median dz = 0.0005, MAD = 0.0015
    assert report.dz_median == pytest.approx(0.0005) and report.dz_mad_std == pytest.approx(1.4826 * 0.0015, rel=1e-4)
    assert len(report.matches) == 10


def test_confusion_matrix(report):
    np.testing.assert_array_equal(report.confusion, [[9, 1, 0], [0, 0, 1], [2, 0, 0]])


def test_confidence_threshold(report):
    # 99% of 10 true DLAs -> all 10 must pass: the lowest matched confidence
    assert report.threshold == pytest.approx(0.55)
    assert report.completeness_at_threshold == pytest.approx(1.0)
    # predicted DLAs with confidence >= 0.55: the 9 pure ones and the 0.97 false positive
    assert report.purity_at_threshold == pytest.approx(0.9)
    a, s, t = _crafted()
    r90 = vet.vet(a, s, t, target_completeness=0.9)
    assert r90.threshold == pytest.approx(0.6) and r90.purity_at_threshold == pytest.approx(0.9)
    curve = report.confidence_curve
    row = curve[np.isclose(curve["threshold"], 0.8)][0]
    assert row["completeness_dla"] == pytest.approx(0.5)  # 0.99 .. 0.8
    assert row["completeness_any"] == pytest.approx(0.5)
    assert row["purity"] == pytest.approx(5 / 6)
    assert row["n_pred_dla"] == 6
    assert curve["completeness_any"][0] == pytest.approx(1.0)
    assert np.all(np.diff(curve["completeness_any"]) <= 0)


def test_unreachable_threshold_is_nan():
    a, s, t = _crafted()
    keep = np.ones(len(a), dtype=bool)
    keep[0] = False  # one true DLA missed altogether: 90% at best
    r = vet.vet(a[keep], s, t)
    assert r.completeness_any == pytest.approx(0.9)
    assert math.isnan(r.threshold) and math.isnan(r.purity_at_threshold)


# --------------------------------------------------------------------------- binned
def test_binned_by_snr(report):
    b = report.by_snr
    assert list(b["lo"]) == [0, 2, 4, 7, 12] and math.isinf(b["hi"][-1])
    low, mid, high = b[0], b[1], b[3]
    assert (low["n_true"], low["n_sightlines"], low["n_pred_dla"]) == (0, 2, 2)
    assert low["purity"] == 0.0 and low["fp_per_sightline"] == pytest.approx(1.0)
    assert math.isnan(low["completeness_dla"])
    assert (mid["n_true"], mid["completeness_dla"], mid["completeness_any"], mid["purity"]) == (5, 1.0, 1.0, 1.0)
    assert (high["n_true"], high["completeness_dla"], high["completeness_any"]) == (5, 0.8, 1.0)
    assert mid["dz_mean"] == pytest.approx(DZ[:5].mean())
    assert high["dlogn_median"] == pytest.approx(np.median(DLOGN[5:]))
    assert b[4]["n_sightlines"] == 0  # the error sightline (S/N 20) does not count


def test_binned_by_nhi(report):
    b = report.by_nhi
    assert list(b["lo"]) == [19.0, 19.5, 20.3, 20.6, 21.0, 21.5]
    sub, low, high = b[1], b[2], b[4]
    assert (sub["n_true"], sub["completeness_any"]) == (1, 0.0)
    assert (low["n_true"], low["completeness_dla"]) == (5, 1.0)
    assert (high["n_true"], high["completeness_dla"], high["completeness_any"]) == (5, 0.8, 1.0)
    assert high["dz_std"] == pytest.approx(DZ[5:].std())


# --------------------------------------------------------------------------- output
def test_summary_and_json(report):
    table = report.summary_table()
    values = dict(zip(table["metric"], table["value"]))
    assert values["completeness (as DLA)"] == pytest.approx(0.9)
    assert values["purity"] == pytest.approx(9 / 11)
    d = json.loads(report.to_json())
    assert d["confusion"]["counts"] == [[9, 1, 0], [0, 0, 1], [2, 0, 0]]
    assert d["by_snr"][-1]["hi"] == "inf"
    assert d["by_snr"][0]["completeness_dla"] is None
    assert d["n_truth_excluded"] == 2
    assert "matches" not in d and len(report.to_dict(include_matches=True)["matches"]) == 10


def test_vet_reports_the_ceiling_of_its_own_log_n_scatter():
    a, s, t = _crafted()
    r = vet.vet(a, s, t)
    expected = vet.typing_ceiling([20.4] * 5 + [21.2] * 5 + [19.7], r.dlogn_mad_std)
    assert r.completeness_ceiling == pytest.approx(expected.completeness)
    assert r.purity_ceiling == pytest.approx(expected.purity)
    assert 0.5 < r.completeness_ceiling < 1.0
    rows = {row[0]: row for row in r.summary_rows()}
    assert "completeness ceiling of the log N scatter" in rows
    # per true-log N bin: true DLAs at 20.4 and 21.2, none elsewhere
    from scipy.stats import norm

    ceiling = dict(zip(zip(r.by_nhi["lo"], r.by_nhi["hi"]), r.by_nhi["completeness_ceiling"]))
    assert ceiling[(20.3, 20.6)] == pytest.approx(norm.cdf(0.1 / r.dlogn_mad_std))
    assert ceiling[(21.0, 21.5)] == pytest.approx(norm.cdf(0.9 / r.dlogn_mad_std))
    assert all(math.isnan(v) for k, v in ceiling.items() if k not in ((20.3, 20.6), (21.0, 21.5)))


def test_plots(report, tmp_path):
    paths = vet.vet_plots(report, tmp_path / "plots")
    assert len(paths) == 6
    assert (tmp_path / "plots" / "reliability.png") in paths
    for p in paths:
        assert p.suffix == ".png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vet_files(tmp_path):
    a, s, t = _crafted()
    catalog.write_catalog(tmp_path / "cat.fits", a, s, {"model_name": "m"})
    t.write(tmp_path / "truth.ecsv")
    r = vet.vet_files(tmp_path / "cat.fits", tmp_path / "truth.ecsv")
    assert r.purity == pytest.approx(9 / 11) and r.n_truth_excluded == 2


def test_empty_catalog_gives_nan_not_errors():
    _, s, t = _crafted()
    r = vet.vet(catalog.empty_absorber_table(), s, t)
    assert r.completeness_dla == 0.0 and math.isnan(r.purity) and r.fp_per_sightline == 0.0
    assert math.isnan(r.dz_mean) and math.isnan(r.threshold)


# --------------------------------------------------------------------------- matching
def test_match_is_greedy_and_one_to_one():
    truth = Table({"sightline_id": ["7001-57001-0001"] * 2, "z_abs": [2.000, 2.010]})
    det = Table({"sightline_id": ["7001-57001-0001"] * 2, "z_abs": [2.006, 2.012]})
    di, ti = vet.match(det, truth)
    assert list(zip(di, ti)) == [(0, 0), (1, 1)]
    # one truth, two candidates: the closer one wins, the other stays unmatched
    di, ti = vet.match(Table({"sightline_id": ["a", "a"], "z_abs": [2.004, 2.001]}),
                       Table({"sightline_id": ["a"], "z_abs": [2.0]}))
    assert list(zip(di, ti)) == [(1, 0)]


def test_match_window_and_sightlines():
    truth = Table({"sightline_id": ["7001-57001-0012", "7001-57001-0013", "x"], "z_abs": [2.0, 2.0, 3.0]})
    det = Table({"sightline_id": ["7001-57001-12", "7001-57001-0013", "x", "y"], "z_abs": [2.0149, 2.0151, 3.0, 3.0]})
    di, ti = vet.match(det, truth)
    assert list(zip(di, ti)) == [(0, 0), (2, 2)]
    di, ti = vet.match(det, truth, dz=0.02)
    assert list(zip(di, ti)) == [(0, 0), (1, 1), (2, 2)]
    assert len(vet.match(det[:0], truth)[0]) == 0


# --------------------------------------------------------------------------- truth readers
def test_dlacnn_truth_file(tmp_path):
    t = Table({"sightline_id": ["7001-57001-12", "7001-57001-0013"], "z_abs": [2.5, 2.7],
               "log_nhi": [20.5, 19.6], "b": [30.0, 25.0], "z_qso": [3.0, 3.1], "snr": [5.0, 9.0]})
    t["b"].unit = "km / s"
    t.write(tmp_path / "truth.ecsv")
    out = vet.read_truth(tmp_path / "truth.ecsv")
    assert out.meta["truth_format"] == "dlacnn"
    assert out.colnames == ["sightline_id", "z_abs", "log_nhi", "z_qso", "snr", "b"]
    assert list(out["sightline_id"]) == ["7001-57001-0012", "7001-57001-0013"]
    assert str(out["b"].unit) == "km / s"


def test_prochaska_dr5_truth():
    by_name = Table({"QSO": ["J000150.0-102825", "J001115.2+144601"], "zem": [2.5, 4.9],
                     "zabs": [2.11, 3.45], "NHI": [20.40, 21.15]})
    out = vet.normalise_truth(by_name)
    assert out.meta["truth_format"] == "prochaska_dr5"
    assert list(out["sightline_id"]) == ["J000150.0-102825", "J001115.2+144601"]
    assert list(out["z_qso"]) == [2.5, 4.9] and list(out["log_nhi"]) == [20.40, 21.15]
    by_pmf = Table({"Plate": [266, 7001], "MJD": [51630, 57001], "Fiber": [3, 12], "zem": [2.5, 3.0],
                    "zabs": [2.11, 2.6], "NHI": [20.4, 20.9]})
    out = vet.normalise_truth(by_pmf)
    assert out.meta["truth_format"] == "prochaska_dr5"
    assert list(out["sightline_id"]) == ["0266-51630-0003", "7001-57001-0012"]


@pytest.mark.parametrize("nhi_name", ["LOG.NHI", "log_NHI"])
def test_noterdaeme_truth(tmp_path, nhi_name):
    t = Table({"PLATE": [7001, 7002], "MJD": [57001, 57002], "FIBER": [12, 900], "Z_QSO": [3.0, 2.8],
               "Z_ABS": [2.6, 2.3], nhi_name: [20.5, 21.0]})
    t.write(tmp_path / "n.fits")
    out = vet.read_truth(tmp_path / "n.fits")
    assert out.meta["truth_format"] == "noterdaeme"
    assert list(out["sightline_id"]) == ["7001-57001-0012", "7002-57002-0900"]
    assert list(out["log_nhi"]) == [20.5, 21.0] and list(out["z_qso"]) == [3.0, 2.8]


def test_gp_truth_vector_columns():
    t = Table({
        "plates": [7001, 7001, 7002],
        "mjds": [57001, 57001, 57002],
        "fiber_ids": [1, 2, 3],
        "z_qsos": [3.0, 3.2, 2.9],
        "snrs": [4.0, 6.0, 8.0],
        "p_dlas": [0.9, 0.4, 0.51],
        "z_dlas": [[2.5, 2.7], [2.4, np.nan], [2.3, np.nan]],
        "log_nhis": [[20.5, 21.0], [20.4, np.nan], [20.6, np.nan]],
    })
    out = vet.normalise_truth(t)
    assert out.meta["truth_format"] == "gp"
    assert list(out["sightline_id"]) == ["7001-57001-0001", "7001-57001-0001", "7002-57002-0003"]
    assert list(out["z_abs"]) == [2.5, 2.7, 2.3] and list(out["snr"]) == [4.0, 4.0, 8.0]
    everything = vet.normalise_truth(t, min_confidence=-np.inf)
    assert len(everything) == 4
    per_dla = Table({"plate": [7001], "mjd": [57001], "fiber_id": [1], "dla_confidences": [[0.95, 0.2]],
                     "z_dlas": [[2.5, 2.7]], "log_nhis": [[20.5, 21.0]]})
    out = vet.normalise_truth(per_dla)
    assert list(out["z_abs"]) == [2.5] and list(out["confidence"]) == [0.95]


def test_parks_truth():
    t = Table({"plate": [7001, 7001, 7002], "mjd": [57001, 57001, 57002], "fiber": [5, 5, 6],
               "z_dla": [2.5, 2.2, 2.9], "log_column_density": [20.6, 20.0, 19.8],
               "dla_confidence": [0.98, 0.9, 0.4], "type": ["DLA", "LYB", "SUBDLA"]})
    out = vet.normalise_truth(t)
    assert out.meta["truth_format"] == "parks"
    assert list(out["z_abs"]) == [2.5, 2.9]  # LYB dropped, no confidence cut by default
    assert len(vet.normalise_truth(t, min_confidence=0.5)) == 1
    linear = Table({"PLATE": [7001], "MJD": [57001], "FIBER": [5], "ZABS": [2.5], "NHI": [10**20.5],
                    "DLA_CONFIDENCE": [0.9]})
    out = vet.normalise_truth(linear)
    assert out.meta["truth_format"] == "parks" and out["log_nhi"][0] == pytest.approx(20.5)


def test_truth_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        vet.read_truth(tmp_path / "missing.ecsv")
    with pytest.raises(ConfigError, match="no known format"):
        vet.normalise_truth(Table({"ra": [1.0], "dec": [2.0]}))
    with pytest.raises(ConfigError, match="unknown truth format"):
        vet.normalise_truth(Table({"ra": [1.0]}), kind="sdss")


def test_truth_formats_are_asked_in_order_of_priority():
    from dla_cnn.vet import truth

    builtin = sorted(truth._REGISTRY.values(), key=lambda f: f.priority)
    assert [f.name for f in builtin] == ["dlacnn", "gp", "parks", "noterdaeme", "prochaska_dr5"]
    assert list(vet.TRUTH_FORMATS) == ["dlacnn", "prochaska_dr5", "noterdaeme", "gp", "parks"]
    # a new format is one registration; a lower priority number wins over a looser format
    t = Table({"sightline_id": ["a"], "z_abs": [2.5], "log_nhi": [20.5], "survey": ["toy"]})
    try:
        truth.register_truth_format("toy", "toy survey", priority=60, identify=lambda tab: "survey" in tab.colnames)
        assert vet.detect_truth_format(t) == "dlacnn"
        truth.register_truth_format("toy", "toy survey", priority=5, identify=lambda tab: "survey" in tab.colnames)
        assert vet.detect_truth_format(t) == "toy" and "toy" in vet.TRUTH_FORMATS
        out = vet.normalise_truth(t)
        assert out.meta["truth_format"] == "toy" and list(out["z_abs"]) == [2.5]
    finally:
        truth.unregister_truth_format("toy")
    assert vet.detect_truth_format(t) == "dlacnn" and "toy" not in vet.TRUTH_FORMATS


def test_truth_files_are_told_apart_by_content(tmp_path):
    t = Table({"PLATE": [7001], "MJD": [57001], "FIBER": [12], "Z_ABS": [2.6], "LOG.NHI": [20.5]})
    t.write(tmp_path / "noterdaeme.txt", format="ascii.csv")
    t.write(tmp_path / "noterdaeme.dat", format="fits")
    t.write(tmp_path / "noterdaeme.ecsv.csv", format="ascii.ecsv")
    for name in ("noterdaeme.txt", "noterdaeme.dat", "noterdaeme.ecsv.csv"):
        out = vet.read_truth(tmp_path / name)
        assert out.meta["truth_format"] == "noterdaeme" and list(out["sightline_id"]) == ["7001-57001-0012"]


@pytest.mark.slow
def test_vet_imports_no_plotting():
    import subprocess
    import sys

    code = "import sys, dla_cnn.vet; print('matplotlib' in sys.modules, 'dla_cnn.plots' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["False", "False"]
    from dla_cnn.plots.vet import vet_plots

    assert vet.vet_plots is vet_plots


def test_empty_truth_table_vets_to_zero_completeness_denominators():
    from astropy.table import Table

    from dla_cnn.catalog import absorber_table, sightline_table
    from dla_cnn.vet import vet

    truth = Table(names=("sightline_id", "z_abs", "log_nhi"), dtype=("U20", "f8", "f8"))
    sl = sightline_table([{"sightline_id": "1-2-0003", "status": "ok", "z_qso": 3.0, "snr": 5.0,
                           "z_min": 2.0, "z_max": 2.9}])
    ab = absorber_table([{"sightline_id": "1-2-0003", "z_abs": 2.5, "log_nhi": 20.6, "confidence": 0.9}])
    rep = vet(ab, sl, truth)
    assert rep.n_true_dla == 0 and rep.fp_per_sightline == 1.0 and rep.purity == 0.0


# --------------------------------------------------------------------------- reliability
def _synthetic(power: float, n: int = 20000, seed: int = 20240611):
    """Confidences uniform on [0, 1]; a detection is real with probability conf**power."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.0, 1.0, n)
    return conf, rng.uniform(0.0, 1.0, n) < conf**power


def test_reliability_of_calibrated_confidence():
    conf, real = _synthetic(1.0)
    table = vet.reliability(conf, real)
    assert table.colnames == ["conf_lo", "conf_hi", "n", "n_real", "mean_confidence", "fraction_real",
                              "fraction_real_lo", "fraction_real_hi"]
    np.testing.assert_allclose(table["conf_lo"], np.arange(10) / 10)
    np.testing.assert_allclose(table["conf_hi"], np.arange(1, 11) / 10)
    assert table["n"].sum() == 20000 and table["n_real"].sum() == real.sum()
    assert np.all((table["conf_lo"] <= table["mean_confidence"]) & (table["mean_confidence"] < table["conf_hi"]))
    assert np.all(table["fraction_real_lo"] <= table["fraction_real"])
    assert np.all(table["fraction_real"] <= table["fraction_real_hi"])
    assert vet.expected_calibration_error(table) < 0.03
    # 68.3% intervals: about 7 of 10 bins should hold their mean confidence
    covered = (table["fraction_real_lo"] <= table["mean_confidence"]) & (
        table["mean_confidence"] <= table["fraction_real_hi"])
    assert covered.sum() >= 6


def test_reliability_of_overconfident_confidence():
    conf, real = _synthetic(3.0)
    table = vet.reliability(conf, real)
    assert vet.expected_calibration_error(table) > 0.1
    # the observed fraction falls below the diagonal at mid confidence, beyond its interval
    mid = table[(table["conf_lo"] >= 0.3) & (table["conf_hi"] <= 0.8)]
    assert np.all(mid["fraction_real_hi"] < mid["mean_confidence"])


def test_reliability_interval_is_wilson_68():
    from astropy.stats import binom_conf_interval

    conf = np.array([0.05, 0.05, 0.05, 0.05, 0.95])
    real = np.array([True, False, False, False, True])
    row = vet.reliability(conf, real, n_bins=2)[0]
    lo, hi = binom_conf_interval(1, 4, confidence_level=0.683, interval="wilson")
    assert (row["n"], row["n_real"], row["fraction_real"]) == (4, 1, 0.25)
    assert (row["fraction_real_lo"], row["fraction_real_hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert 0.0 < lo < 0.25 < hi < 1.0


def test_reliability_empty_bins_edges_and_nan():
    conf = np.array([0.0, 0.1, 0.3, 0.7, 1.0, np.nan])
    real = np.array([False, False, True, True, True, True])
    table = vet.reliability(conf, real)
    assert list(table["n"]) == [1, 1, 0, 1, 0, 0, 0, 1, 0, 1]  # [lo, hi) bins, 1.0 in the last, NaN left out
    assert list(table["n_real"]) == [0, 0, 0, 1, 0, 0, 0, 1, 0, 1]
    empty = table[table["n"] == 0]
    for col in ("mean_confidence", "fraction_real", "fraction_real_lo", "fraction_real_hi"):
        assert np.all(np.isnan(empty[col]))
    assert vet.expected_calibration_error(table) == pytest.approx((0.0 + 0.1 + 0.7 + 0.3 + 0.0) / 5)
    nothing = vet.reliability(np.array([np.nan]), np.array([True]), n_bins=4)
    assert len(nothing) == 4 and nothing["n"].sum() == 0
    assert math.isnan(vet.expected_calibration_error(nothing))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vet.reliability(np.array([1.5]), np.array([True]))
    with pytest.raises(ValueError, match="shape"):
        vet.reliability(np.array([0.5, 0.6]), np.array([True]))


def test_vet_reliability(report):
    rel = report.reliability
    # 12 non-LYB detections on ok sightlines: 10 matched (real), the 0.97 and 0.3 false positives
    assert rel["n"].sum() == report.n_detections == 12
    assert rel["n_real"].sum() == 10
    top = rel[-1]  # 0.99, 0.97, 0.95, 0.9: three real
    assert (top["n"], top["n_real"]) == (4, 3)
    assert top["mean_confidence"] == pytest.approx((0.99 + 0.97 + 0.95 + 0.9) / 4)
    assert (rel[3]["n"], rel[3]["n_real"]) == (1, 0)  # the 0.3 false positive
    gaps = [0.3, 0.45, 2 * 0.375, 2 * 0.275, 2 * 0.175, 4 * abs(0.75 - 0.9525)]
    assert report.ece == pytest.approx(sum(gaps) / 12)
    d = json.loads(report.to_json())
    assert d["ece"] == pytest.approx(report.ece)
    assert len(d["reliability"]) == 10 and d["reliability"][0]["n"] == 0
    assert d["reliability"][0]["fraction_real"] is None
    values = dict(zip(report.summary_table()["metric"], report.summary_table()["value"]))
    assert values["expected calibration error (ece)"] == pytest.approx(report.ece)


def test_vet_reliability_counts_finite_confidence_only():
    a, s, t = _crafted()
    a["confidence"][1] = np.nan  # a matched detection without a confidence
    r = vet.vet(a, s, t, reliability_bins=5)
    assert len(r.reliability) == 5
    assert r.reliability["n"].sum() == int(np.isfinite(a["confidence"][:12]).sum()) == 11
    assert r.reliability["n_real"].sum() == 9
    # a second detection of a true absorber is not real: one-to-one matching
    extra = catalog.absorber_table([{"sightline_id": IDS[2], "z_abs": Z_TRUE[2] + 0.005, "log_nhi": 20.5,
                                     "confidence": 0.45}])
    from astropy.table import vstack

    r2 = vet.vet(vstack([a, extra]), s, t, reliability_bins=5)
    assert r2.reliability["n"].sum() == 12 and r2.reliability["n_real"].sum() == 9
