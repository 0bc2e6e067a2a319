"""The command line: thin, one-line errors, non-zero exits, no tracebacks."""

import shutil

import pytest
from astropy.table import Table
from typer.testing import CliRunner

from dla_cnn.assets import sample_spectra_dir
from dla_cnn.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_scan_prints_absorbers_and_writes_catalog(tmp_path):
    files = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[:4]
    res = _run("scan", *files, "--out", tmp_path / "c.fits", "--plot", tmp_path / "plots")
    assert res.exit_code == 0, res.output
    assert f"wrote {tmp_path / 'c.fits'}" in res.output
    assert len(Table.read(tmp_path / "c.fits", hdu="SIGHTLINES")) == 4
    assert len(list((tmp_path / "plots").glob("*.png"))) == 4


def test_scan_prints_full_ids_to_a_pipe_and_names_every_written_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # a narrow terminal
    files = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[:6]
    res = _run("scan", *files, "--out", tmp_path / "c.ecsv")
    assert res.exit_code == 0, res.output
    ids = set(Table.read(tmp_path / "c.absorbers.ecsv")["sightline_id"])
    assert ids, "the sample sightlines hold absorbers"
    lines = res.output.splitlines()
    for sid in ids:  # every id in full, at the start of a line, never cut or wrapped by the printer
        assert any(ln.startswith(sid + " ") for ln in lines), (sid, res.output)
    assert f"wrote {tmp_path / 'c.absorbers.ecsv'}, {tmp_path / 'c.sightlines.ecsv'}" in res.output


def test_catalog_of_only_bad_files_exits_nonzero(tmp_path):
    d = tmp_path / "spectra"
    d.mkdir()
    for i in (1, 2):
        (d / f"spec-000{i}-50000-000{i}.fits").write_bytes(b"SIMPLE  =  T" + b" " * 60)
    res = _run("catalog", d, "--out", tmp_path / "c.fits")
    assert res.exit_code == 1, res.output
    assert "every row is an error" in res.output
    assert len(Table.read(tmp_path / "c.fits", hdu="SIGHTLINES")) == 2  # the error rows are still written


@pytest.mark.parametrize("content,needle", [(b"not a fits file at all", "spectrum"), (b"SIMPLE  =  T", "not a readable fits file")])
def test_scan_bad_file_is_one_line_and_nonzero(tmp_path, content, needle):
    bad = tmp_path / "spec-0001-50000-0001.fits"
    bad.write_bytes(content)
    res = _run("scan", bad)
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if "spec-0001-50000-0001" in ln]
    assert errors and needle in res.output.lower()


def test_scan_mixed_good_and_bad_exits_2_but_reports_good(tmp_path):
    good = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[0]
    shutil.copy(good, tmp_path / good.name)
    (tmp_path / "spec-0001-50000-0001.fits").write_bytes(b"garbage")
    res = _run("scan", tmp_path, "--out", tmp_path / "c.fits")
    assert res.exit_code == 2
    sl = Table.read(tmp_path / "c.fits", hdu="SIGHTLINES")
    assert sorted(sl["status"]) == ["error", "ok"]


def test_missing_model_is_a_run_error(tmp_path):
    good = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[0]
    res = _run("scan", good, "--model", tmp_path / "nope.keras")
    assert res.exit_code == 1 and "nope.keras" in res.output and "Traceback" not in res.output


def test_simulate_build_and_vet_commands(tmp_path):
    res = _run("simulate", 3, "--seed", 1, "--dla-rate", 2.0, "--out", tmp_path / "sims")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "sims").glob("spec-*.fits"))) == 3
    res = _run("build-training", "-n", 20, "--seed", 3, "--out", tmp_path / "t.h5")
    assert res.exit_code == 0 and (tmp_path / "t.h5").exists()
    res = _run("build-training", "-n", 0, "--out", tmp_path / "t0.h5")
    assert res.exit_code != 0 and "n-sightlines" in res.output
    res = _run("catalog", tmp_path / "sims", "--out", tmp_path / "cat.fits")
    assert res.exit_code == 0, res.output
    res = _run("vet", tmp_path / "cat.fits", tmp_path / "sims" / "truth.ecsv", "--plots", tmp_path / "vp")
    assert res.exit_code == 0, res.output
    assert "completeness" in res.output
    res = _run("plot", "--summary", tmp_path / "cat.fits", "--out", tmp_path / "s.png")
    assert res.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 10000


def test_demo_runs_the_packaged_model_on_the_packaged_sample(tmp_path):
    res = _run("demo", "--out", tmp_path / "demo.fits", "--plots", tmp_path / "plots")
    assert res.exit_code == 0, res.output
    assert "completeness" in res.output and "purity" in res.output
    sl = Table.read(tmp_path / "demo.fits", hdu="SIGHTLINES")
    assert len(sl) == 40 and (sl["status"] == "ok").sum() >= 38
    assert (tmp_path / "plots" / "summary.png").exists()


@pytest.mark.slow
def test_train_and_calibrate_commands_write_a_loadable_model(tmp_path):
    import json

    from dla_cnn.model import load_model

    assert _run("build-training", "-n", 64, "--seed", 5, "--out", tmp_path / "t.h5").exit_code == 0
    res = _run("train", tmp_path / "t.h5", "--out", tmp_path / "m.keras", "--epochs", 1, "--steps-per-epoch", 2,
               "--batch-size", 8)
    assert res.exit_code == 0, res.output
    assert "pixel accuracy" in res.output
    model, card = load_model(tmp_path / "m.keras")
    assert card["preset"] == "fcn" and "calibration" in card and card["commands"]["train"].startswith("dla-cnn")
    res = _run("train", tmp_path / "t.h5", "--out", tmp_path / "ft.keras", "--epochs", 1, "--steps-per-epoch", 1,
               "--batch-size", 8, "--validation-steps", 1, "--init-from", tmp_path / "m.keras", "--no-calibrate")
    assert res.exit_code == 0, res.output
    ft = load_model(tmp_path / "ft.keras")[1]
    assert ft["training"]["init_from"]["sha256"] == card["sha256"] and ft["training"]["validation_steps"] == 1
    res = _run("calibrate", tmp_path / "m.keras", tmp_path / "t.h5", "--max-sightlines", 20)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m.card.json").read_text())["calibration_summary"]["n_sightlines"] <= 20
    res = _run("train", tmp_path / "missing.h5", "--out", tmp_path / "x.keras")
    assert res.exit_code == 1 and "missing.h5" in res.output


@pytest.mark.slow
def test_build_crops_and_train_absorber_write_a_two_stage_finder_that_scans(tmp_path):
    import json

    import numpy as np

    from dla_cnn.scan.pipeline import Scanner

    for name, seed, crowded in (("train", 1, 0.5), ("val", 2, 0.0)):
        res = _run("build-crops", "-n", 24, "--seed", seed, "--workers", 1, "--p-crowded", crowded,
                   "--out", tmp_path / f"{name}.npz")
        assert res.exit_code == 0, res.output
    with np.load(tmp_path / "train.npz") as f:
        assert f["lya"].shape[1:] == (512, 5) and len(f["labels"]) > 24 and 0 < f["labels"][:, 0].mean() < 1
        recipe = json.loads(str(f["recipe"]))
        assert recipe["p_crowded"] == 0.5 and recipe["seed"] == 1 and recipe["sky"] == "train"
    res = _run("build-crops", "-n", 4, "--p-crowded", 1.5, "--out", tmp_path / "bad.npz")
    assert res.exit_code == 1 and "--p-crowded must lie in [0, 1], got 1.5" in res.output
    assert not (tmp_path / "bad.npz").exists()
    out = tmp_path / "finder.keras"
    res = _run("train-absorber", tmp_path / "train.npz", "--val", tmp_path / "val.npz", "--out", out, "--epochs", 1,
               "--calibration-sightlines", 24, "--min-confidence", 0.4, "--preset", "absorber-small")
    assert res.exit_code == 0, res.output
    # a wider head can start from that model's towers; the card says which layers came over
    wide = tmp_path / "wide.keras"
    res = _run("train-absorber", tmp_path / "train.npz", "--val", tmp_path / "val.npz", "--out", wide, "--epochs", 1,
               "--calibration-sightlines", 24, "--preset", "absorber-small-wide",
               "--init-from", tmp_path / "finder_absorber.keras", "--augment")
    assert res.exit_code == 0, res.output
    assert "started 38 of 43 layers" in res.output
    training = json.loads((tmp_path / "wide.card.json").read_text())["stage2"]["training"]
    assert "lya_conv4b" in training["init_layers"] and "shared" not in training["init_layers"]
    assert training["augment"]["p"] == 0.5 and training["augment"]["extra_noise"] == [1.0, 1.3]
    card = json.loads((tmp_path / "finder.card.json").read_text())
    assert card["stage2"]["file"] == "finder_absorber.keras" and card["stage2"]["stage_config"]["min_confidence"] == 0.4
    assert card["stage2"]["calibration"]["fitted"] and card["stage2"]["training"]["n_train"] > 24
    assert card["stage2"]["training"]["augment"] is None
    assert "onnx" not in card  # the packaged per-pixel model's export does not describe the new finder
    scanner = Scanner(out)
    assert scanner.engine == "keras"
    assert scanner.stage is not None and scanner.min_confidence == 0.4
    files = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[:3]
    from dla_cnn.io import iter_spectra

    results = list(scanner.scan(iter_spectra([str(f) for f in files])))
    assert [r.status for r in results] == ["ok"] * 3
    assert all(d.confidence >= 0.4 for r in results for d in r.detections)
    # a missing crop set is a one-line error, not a traceback
    res = _run("train-absorber", tmp_path / "nope.npz", "--val", tmp_path / "val.npz", "--out", out)
    assert res.exit_code != 0 and "nope.npz" in res.output and "Traceback" not in res.output
    # calibrate-absorber refits the card's calibration in place and records the command
    before = card["stage2"]["calibration"]
    res = _run("calibrate-absorber", out, "--sightlines", 30, "--seed", 9, "--workers", 1, "--no-cells")
    assert res.exit_code == 0, res.output
    assert "z error scale" in res.output and "log N error scale" in res.output
    card = json.loads((tmp_path / "finder.card.json").read_text())
    summary = card["stage2"]["calibration_summary"]
    assert summary["n_sightlines"] == 30 and summary["seed"] == 9 and summary["cells"] == []
    assert card["stage2"]["commands"]["calibrate"]  # the command line (sys.argv; here pytest's)
    assert card["stage2"]["calibration"]["fitted"] and card["stage2"]["calibration"] != before
    assert Scanner(out).stage is not None  # the finder still loads (its files are unchanged)
    assert summary["snr_kind"] == card["stage2"]["calibration"]["snr_kind"] == "sightline"
    # bins of each candidate's local S/N on request; an unknown kind is a one-line error
    res = _run("calibrate-absorber", out, "--sightlines", 30, "--seed", 9, "--workers", 1, "--no-cells",
               "--snr-bins", "local")
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "finder.card.json").read_text())
    assert card["stage2"]["calibration_summary"]["snr_kind"] == card["stage2"]["calibration"]["snr_kind"] == "local"
    assert Scanner(out).stage.calibration.snr_kind == "local"
    res = _run("calibrate-absorber", out, "--snr-bins", "pixel")
    assert res.exit_code == 1 and "--snr-bins" in res.output and "Traceback" not in res.output
    res = _run("calibrate-absorber", out, "--err-snr-bins", "pixel")
    assert res.exit_code == 1 and "--err-snr-bins" in res.output and "Traceback" not in res.output
    # the maps by the sightline's S/N, the error scales by the local S/N
    res = _run("calibrate-absorber", out, "--sightlines", 30, "--seed", 9, "--workers", 1, "--no-cells",
               "--err-snr-bins", "local")
    assert res.exit_code == 0, res.output
    cal = json.loads((tmp_path / "finder.card.json").read_text())["stage2"]["calibration"]
    assert cal["snr_kind"] == "sightline" and cal["err_snr_kind"] == "local"
    # a one-stage model has no absorber stage to calibrate: one line, exit 1
    import shutil

    shutil.copy(out, tmp_path / "one.keras")
    (tmp_path / "one.card.json").write_text(json.dumps({k: v for k, v in card.items() if k != "stage2"}))
    res = _run("calibrate-absorber", tmp_path / "one.keras")
    assert res.exit_code == 1 and "one-stage" in res.output and "Traceback" not in res.output


def test_vet_says_not_reached_instead_of_nan(tmp_path):
    from dla_cnn.catalog import absorber_table, sightline_table, write_catalog

    sl = sightline_table([{"sightline_id": "0266-51602-0003", "plate": 266, "mjd": 51602, "fiber": 3, "z_qso": 3.0,
                           "snr": 5.0, "z_min": 2.2, "z_max": 2.95, "status": "ok", "n_dla": 0, "n_subdla": 0}])
    write_catalog(tmp_path / "cat.fits", absorber_table([]), sl, {"model_name": "x"})
    Table({"sightline_id": ["0266-51602-0003"], "z_abs": [2.5], "log_nhi": [20.8]}).write(tmp_path / "truth.ecsv")
    res = _run("vet", tmp_path / "cat.fits", tmp_path / "truth.ecsv")
    assert res.exit_code == 0, res.output
    assert "not reached" in res.output and "nan" not in res.output.lower()


def test_version_prints_and_exits_zero():
    from dla_cnn import __version__

    res = _run("--version")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"dla-cnn {__version__}"
