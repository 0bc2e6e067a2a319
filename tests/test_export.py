"""``dla-cnn export --format picca``: picca's DLA catalog (HDU DLACAT), read back by picca itself."""

from __future__ import annotations

from configparser import ConfigParser

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from typer.testing import CliRunner

from dla_cnn import catalog
from dla_cnn.catalog.export import PICCA_HDU, export_picca
from dla_cnn.cli import app
from dla_cnn.exceptions import ConfigError

BIG = 39627652596861748  # a DESI-sized TARGETID (> 2**53)


def _boss_catalog(path):
    """Two BOSS sightlines: three DLAs, a sub-DLA, a Ly-beta row and a low-confidence DLA."""
    rows = [
        {"sightline_id": "7001-57001-0012", "thing_id": 501, "z_qso": 3.2, "z_abs": 2.61, "log_nhi": 20.9,
         "confidence": 0.97, "z_abs_err": 0.001, "log_nhi_err": 0.1, "ra": 150.25, "dec": 2.5},
        {"sightline_id": "7001-57001-0012", "thing_id": 501, "z_qso": 3.2, "z_abs": 2.35, "log_nhi": 21.4,
         "confidence": 0.88},
        {"sightline_id": "7001-57001-0012", "thing_id": 501, "z_qso": 3.2, "z_abs": 2.05, "log_nhi": 20.9,
         "confidence": 0.97, "type": "LYB"},
        {"sightline_id": "7001-57001-0013", "thing_id": 502, "z_qso": 2.9, "z_abs": 2.40, "log_nhi": 19.8,
         "confidence": 0.9},
        {"sightline_id": "7001-57001-0013", "thing_id": 502, "z_qso": 2.9, "z_abs": 2.20, "log_nhi": 20.5,
         "confidence": 0.55},
    ]
    sightlines = [{"sightline_id": f"7001-57001-00{f}", "thing_id": t, "status": "ok"}
                  for f, t in ((12, 501), (13, 502), (14, 503))]
    catalog.write_catalog(path, catalog.absorber_table(rows), catalog.sightline_table(sightlines),
                          {"model_name": "dla_cnn_fcn"})
    return path


def _desi_tables():
    rows = [{"sightline_id": str(BIG), "targetid": BIG, "z_qso": 3.0, "z_abs": 2.5, "log_nhi": 20.6, "confidence": 0.9},
            {"sightline_id": "17", "targetid": 17, "z_qso": 2.5, "z_abs": 2.1, "log_nhi": 21.1, "confidence": 0.8}]
    return catalog.absorber_table(rows), catalog.sightline_table(
        [{"sightline_id": str(BIG), "targetid": BIG, "status": "ok"}, {"sightline_id": "17", "targetid": 17, "status": "ok"}])


def test_picca_export_content(tmp_path):
    cat = _boss_catalog(tmp_path / "cat.fits")
    res = export_picca(cat, tmp_path / "dlacat.fits")
    assert (res.n_dla, res.n_los, res.id_column) == (3, 2, "THING_ID")
    with fits.open(res.path, checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", PICCA_HDU]
        hdr = hdul[PICCA_HDU].header
        assert hdr["LOSID"] == "THING_ID" and hdr["MINLOGN"] == 20.3 and hdr["MODEL"] == "dla_cnn_fcn"
        assert "MINCONF" not in hdr
    t = Table.read(res.path, hdu=PICCA_HDU)
    assert t.colnames[:7] == ["THING_ID", "Z", "NHI", "DLAID", "Z_QSO", "CONFIDENCE", "TYPE"]
    assert "TARGETID" not in t.colnames
    assert [t[c].dtype.str[1:] for c in ("THING_ID", "DLAID", "Z", "NHI")] == ["i8", "i8", "f8", "f8"]
    # sorted by line of sight, then redshift; LYB rows and the sub-DLA left out
    assert list(t["THING_ID"]) == [501, 501, 502]
    np.testing.assert_allclose(t["Z"], [2.35, 2.61, 2.20])
    np.testing.assert_allclose(t["NHI"], [21.4, 20.9, 20.5])
    assert list(t["DLAID"]) == [1, 2, 3]
    assert list(t["TYPE"]) == ["DLA"] * 3
    np.testing.assert_allclose(t["Z_QSO"], [3.2, 3.2, 2.9])
    np.testing.assert_allclose(t["CONFIDENCE"], [0.88, 0.97, 0.55])
    assert t["RA"].unit == "deg" and t["RA"][1] == 150.25 and list(t["FIBERID"]) == [12, 12, 13]
    assert "cm^-2" in t["NHI"].description and t["DLAID"].description


def test_picca_export_cuts(tmp_path):
    cat = _boss_catalog(tmp_path / "cat.fits")
    t = Table.read(export_picca(cat, tmp_path / "a.fits", min_log_nhi=19.5).path, hdu=PICCA_HDU)
    assert len(t) == 4 and "SUBDLA" in list(t["TYPE"]) and "LYB" not in list(t["TYPE"])
    assert len(np.unique(t["DLAID"])) == len(t)
    res = export_picca(cat, tmp_path / "b.fits", min_confidence=0.9)
    t = Table.read(res.path, hdu=PICCA_HDU)
    assert list(t["THING_ID"]) == [501] and list(t["Z"]) == [2.61] and res.n_los == 1
    assert fits.getheader(res.path, PICCA_HDU)["MINCONF"] == 0.9
    res = export_picca(cat, tmp_path / "c.fits", min_log_nhi=22.0)  # nothing left: an empty, valid DLACAT
    t = Table.read(res.path, hdu=PICCA_HDU)
    assert res.n_dla == 0 and len(t) == 0 and t.colnames[0] == "THING_ID"


def test_picca_export_chooses_targetid_for_desi(tmp_path):
    absorbers, sightlines = _desi_tables()
    catalog.write_catalog(tmp_path / "desi.ecsv", absorbers, sightlines, format="ecsv")
    for source in (tmp_path / "desi.ecsv", (absorbers, sightlines), absorbers):
        res = export_picca(source, tmp_path / "dlacat.fits")
        t = Table.read(res.path, hdu=PICCA_HDU)
        assert res.id_column == "TARGETID" and "THING_ID" not in t.colnames
        assert list(t["TARGETID"]) == [17, BIG] and t["TARGETID"].dtype.str[1:] == "i8"


def test_picca_export_refuses_rows_without_ids(tmp_path):
    absorbers = catalog.absorber_table([
        {"sightline_id": "7001-57001-0012", "thing_id": 501, "z_abs": 2.6, "log_nhi": 20.9},
        {"sightline_id": "7001-57001-0013", "z_abs": 2.4, "log_nhi": 20.8},
        {"sightline_id": "sim-3", "z_abs": 2.2, "log_nhi": 19.5},  # below the cut: not exported, not a problem
    ])
    out = tmp_path / "dlacat.fits"
    with pytest.raises(ConfigError, match="1 of 2 absorbers to export have no THING_ID.*7001-57001-0013") as err:
        export_picca(absorbers, out)
    assert "\n" not in str(err.value) and "7001-57001-0012" not in str(err.value)
    with pytest.raises(ConfigError, match="no TARGETID"):
        export_picca(absorbers[:1], out, id_column="TARGETID")
    with pytest.raises(ConfigError, match="no THING_ID or TARGETID for any of the 1 absorbers.*7001-57001-0013"):
        export_picca(absorbers[1:], out)
    with pytest.raises(ConfigError, match="id column"):
        export_picca(absorbers[:1], out, id_column="MOCKID")
    with pytest.raises(ConfigError, match="min-confidence"):
        export_picca(absorbers[:1], out, min_confidence=1.5)
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))
    assert export_picca(absorbers[:1], out, id_column="thing_id").n_dla == 1


def test_cli_export(tmp_path):
    cat = _boss_catalog(tmp_path / "cat.fits")
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(cat), "--format", "picca", "--out", str(tmp_path / "d.fits"),
                              "--min-log-nhi", "19.5", "--min-confidence", "0.6"])
    assert res.exit_code == 0, res.output
    assert "3 absorbers on 2 lines of sight" in res.output and "THING_ID" in res.output
    assert len(Table.read(tmp_path / "d.fits", hdu=PICCA_HDU)) == 3
    res = runner.invoke(app, ["export", str(cat), "--format", "votable", "--out", str(tmp_path / "e.fits")])
    assert res.exit_code == 1 and "unknown export format 'votable'" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "nope.fits"), "--out", str(tmp_path / "e.fits")])
    assert res.exit_code == 1 and "nope.fits" in res.output and not (tmp_path / "e.fits").exists()


# ============================================================================== picca itself
def _dla_mask(path, los_id_name):
    dla_mask = pytest.importorskip("picca.delta_extraction.masks.dla_mask",
                                   reason="picca is not installed (pip install 'dla-cnn[picca]')")
    config = ConfigParser()
    config.read_dict({"mask": {"filename": str(path), "los_id name": los_id_name, "keep pixels": False}})
    for key, value in dla_mask.defaults.items():  # as picca's own tests build it
        if key not in config["mask"]:
            config["mask"][key] = str(value)
    return dla_mask.DlaMask(config["mask"])


def test_picca_dla_mask_reads_the_export(tmp_path, monkeypatch):
    res = export_picca(_boss_catalog(tmp_path / "cat.fits"), tmp_path / "dlacat.fits", min_log_nhi=19.5)
    mask = _dla_mask(res.path, "THING_ID")
    got = {int(k): [(float(z), float(n)) for z, n in v] for k, v in mask.los_ids.items()}
    assert got == {501: [(2.35, 21.4), (2.61, 20.9)], 502: [(2.2, 20.5), (2.4, 19.8)]}

    # picca masks the forest pixels of line of sight 501 around its DLAs, and leaves 503 alone
    from types import SimpleNamespace

    from picca.delta_extraction.astronomical_objects.forest import Forest

    monkeypatch.setattr(Forest, "mask_fields", ["flux", "ivar", "transmission_correction", "log_lambda"])
    log_lambda = np.arange(3.56, 3.70, 1e-4)
    forests = {los: SimpleNamespace(los_id=los, log_lambda=log_lambda.copy(), flux=np.ones(log_lambda.size),
                                    ivar=np.ones(log_lambda.size), transmission_correction=np.ones(log_lambda.size))
               for los in (501, 503)}
    for forest in forests.values():
        mask.apply_mask(forest)
    lam = 10 ** forests[501].log_lambda
    assert forests[501].flux.size < log_lambda.size
    for z in (2.35, 2.61):
        assert np.min(np.abs(lam - 1215.67 * (1 + z))) > 5.0  # the DLA cores are gone
    assert forests[503].flux.size == log_lambda.size


def test_picca_dla_mask_reads_a_desi_export(tmp_path):
    res = export_picca(_desi_tables(), tmp_path / "dlacat.fits")
    mask = _dla_mask(res.path, "TARGETID")
    got = {int(k): [(float(z), float(n)) for z, n in v] for k, v in mask.los_ids.items()}
    assert got == {BIG: [(2.5, 20.6)], 17: [(2.1, 21.1)]}
