"""Survey object ids (SDSS/BOSS THING_ID, DESI TARGETID) from the spectra to both catalog tables.

Also: column descriptions that survive FITS and ECSV, and catalogs written before the id
columns existed.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dla_cnn import catalog
from dla_cnn.assets import sample_spectra_dir
from dla_cnn.io import read_boss_spec, read_desi_coadd, read_spectrum, read_spspec, write_boss_spec
from dla_cnn.scan.builder import enumerate_tasks, prepare_task
from dla_cnn.scan.detect import Detection
from dla_cnn.scan.pipeline import SightlineResult, error_row, prepare
from dla_cnn.exceptions import InvalidSpectrumError
from dla_cnn.sightline import Sightline

START = 35563  # loglam 3.5563, about 3600 A
NPIX = 3000
BIG_TARGETID = 39627652596861748  # a DESI-sized TARGETID (> 2**53)


def _sightline(sid="7001-57001-0012", z=3.0, **kw) -> Sightline:
    rng = np.random.default_rng(0)
    fields = dict(ra=150.25, dec=2.5, plate=7001, mjd=57001, fiber=12)
    fields.update(kw)
    return Sightline(sid, z, START, 5.0 + rng.normal(0, 0.5, NPIX), np.full(NPIX, 4.0), **fields)


def _boss_by_hand(path, thing_id=77, z=2.8):
    """A BOSS spec file built with astropy alone, SPALL carrying THING_ID."""
    n = 2000
    coadd = Table({"flux": np.full(n, 3.0, np.float32), "loglam": ((36000 + np.arange(n)) * 1e-4).astype(np.float32),
                   "ivar": np.full(n, 2.0, np.float32), "and_mask": np.zeros(n, np.int32)})
    spall = Table({"PLATE": [4216], "MJD": [55477], "FIBERID": [42], "Z": [z], "CLASS": ["QSO"],
                   "THING_ID": [thing_id], "PLUG_RA": [10.5], "PLUG_DEC": [-1.25]})
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(coadd, name="COADD"),
                  fits.BinTableHDU(spall, name="SPALL")]).writeto(path)
    return path


def _desi(path, targetids):
    wave = np.linspace(3600.0, 5800.0, 2000)
    n = len(targetids)
    hdus = [fits.PrimaryHDU(),
            fits.ImageHDU(wave, name="B_WAVELENGTH"), fits.ImageHDU(np.full((n, wave.size), 3.0), name="B_FLUX"),
            fits.ImageHDU(np.full((n, wave.size), 4.0), name="B_IVAR"),
            fits.BinTableHDU(Table({"TARGETID": np.asarray(targetids, np.int64), "TARGET_RA": 200.0 + np.arange(n),
                                    "TARGET_DEC": 10.0 + np.arange(n)}), name="FIBERMAP")]
    fits.HDUList(hdus).writeto(path)
    return path


def _spspec(path, z=3.1):
    n = 3000
    img = np.zeros((4, n), np.float32)
    img[0], img[2] = 5.0, 0.5
    hdr = fits.Header()
    hdr["COEFF0"], hdr["COEFF1"], hdr["Z"] = 3.58, 1e-4, z
    hdr["PLATEID"], hdr["MJD"], hdr["FIBERID"] = 266, 51630, 7
    fits.PrimaryHDU(img, header=hdr).writeto(path)
    return path


# ============================================================================== readers
def test_boss_spec_thing_id_from_spall(tmp_path):
    sl = read_boss_spec(_boss_by_hand(tmp_path / "spec-4216-55477-0042.fits"))
    assert (sl.thing_id, sl.targetid) == (77, -1)
    assert (sl.ra, sl.dec) == (10.5, -1.25)
    assert read_spectrum(tmp_path / "spec-4216-55477-0042.fits", engine="astropy")[0].thing_id == 77


def test_boss_writer_round_trips_thing_id(tmp_path):
    path = write_boss_spec(_sightline(thing_id=123456789), tmp_path / "spec-7001-57001-0012.fits")
    with fits.open(path) as hdul:
        assert hdul["SPALL"].data["THING_ID"][0] == 123456789
    back = read_boss_spec(path)
    assert back.thing_id == 123456789 and back.targetid == -1
    unknown = read_boss_spec(write_boss_spec(_sightline(), tmp_path / "spec-7001-57001-0013.fits"))
    assert unknown.thing_id == -1


def test_packaged_samples_have_no_thing_id():
    sl = read_spectrum(sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[0])[0]
    assert (sl.thing_id, sl.targetid) == (-1, -1)
    assert np.isfinite(sl.ra) and np.isfinite(sl.dec)


def test_desi_targetid(tmp_path):
    path = _desi(tmp_path / "coadd-1.fits", [BIG_TARGETID, 12])
    sls = read_desi_coadd(path, redshifts={BIG_TARGETID: 2.9, 12: 3.1})
    assert [s.targetid for s in sls] == [BIG_TARGETID, 12]
    assert [s.thing_id for s in sls] == [-1, -1]
    assert sls[0].sightline_id == str(BIG_TARGETID) and sls[1].ra == 201.0


def test_spspec_without_ids_and_with_a_quasar_catalog(tmp_path):
    path = _spspec(tmp_path / "spSpec-51630-0266-007.fit")
    assert read_spspec(path).thing_id == -1
    qso = Table({"PLATE": [266, 266], "MJD": [51630, 51630], "FIBERID": [7, 8], "Z_VI": [3.05, 2.5],
                 "THING_ID": [4242, 4243], "RA": [1.5, 2.5], "DEC": [-3.5, 4.5]})
    qso.write(tmp_path / "DR12Q.fits")
    for sl in (read_spspec(path, quasar_catalog=qso), read_spectrum(path, quasar_catalog=tmp_path / "DR12Q.fits")[0]):
        assert sl.thing_id == 4242 and sl.targetid == -1
        assert sl.z_qso == pytest.approx(3.05)
        assert (sl.ra, sl.dec) == (1.5, -3.5)  # the file has none: the catalog's


def test_quasar_catalog_does_not_override_the_file(tmp_path):
    path = _boss_by_hand(tmp_path / "spec-4216-55477-0042.fits", thing_id=77)
    qso = Table({"PLATE": [4216], "MJD": [55477], "FIBERID": [42], "Z": [2.9], "THING_ID": [99],
                 "RA": [0.0], "DEC": [0.0]})
    sl = read_spectrum(path, quasar_catalog=qso)[0]
    assert sl.thing_id == 77 and (sl.ra, sl.dec) == (10.5, -1.25) and sl.z_qso == pytest.approx(2.9)


def test_table_spectrum_ids_from_meta(tmp_path):
    from dla_cnn.io import read_table_spectrum

    t = Table({"wavelength": 10 ** ((START + np.arange(NPIX)) * 1e-4), "flux": np.full(NPIX, 3.0),
               "ivar": np.full(NPIX, 4.0)}, meta={"z_qso": 3.0, "TARGETID": 5, "THING_ID": 6})
    t.write(tmp_path / "s.ecsv")
    sl = read_table_spectrum(tmp_path / "s.ecsv")
    assert (sl.thing_id, sl.targetid) == (6, 5)


# ============================================================================== scan rows
def test_scan_rows_carry_the_ids():
    p = prepare(_sightline(thing_id=55, targetid=-1))
    assert p.row["status"] == "ok" and (p.row["thing_id"], p.row["targetid"]) == (55, -1)
    det = Detection(0.0, 2.5, 0.001, 20.8, 0.1, 0.9, "DLA", 4254.8, 0.0, 0.0, 0.0, 0.0)
    rows = SightlineResult(p.row, [det]).absorber_rows()
    assert rows[0]["thing_id"] == 55 and rows[0]["targetid"] == -1
    absorbers = catalog.absorber_table(rows)
    assert absorbers["thing_id"][0] == 55 and absorbers["thing_id"].dtype == np.int64
    d = prepare(_sightline(sid=str(BIG_TARGETID), targetid=BIG_TARGETID, plate=-1, mjd=-1, fiber=-1))
    assert d.row["targetid"] == BIG_TARGETID and d.row["thing_id"] == -1


def test_error_rows_keep_what_is_known():
    row = error_row(InvalidSpectrumError("/data/coadd-1.fits[TARGETID 1234]", "flux is NaN everywhere"))
    assert (row["sightline_id"], row["targetid"], row["thing_id"]) == ("1234", 1234, -1)
    row = error_row(InvalidSpectrumError("/d/spec-4216-55477-0042.fits", "truncated"), thing_id=88)
    assert (row["sightline_id"], row["thing_id"], row["targetid"]) == ("4216-55477-0042", 88, -1)
    assert catalog.sightline_table([row])["thing_id"][0] == 88


def test_catalog_run_from_a_quasar_table_takes_its_thing_ids(tmp_path):
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    write_boss_spec(_sightline(), spectra / "spec-7001-57001-0012.fits")  # SPALL THING_ID -1
    qso = Table({"PLATE": [7001, 7001], "MJD": [57001, 57001], "FIBERID": [12, 13], "Z": [3.0, 2.5],
                 "THING_ID": [31337, 31338], "RA": [150.25, 1.0], "DEC": [2.5, 1.0]})
    qso.write(tmp_path / "DR16Q.fits")
    tasks = enumerate_tasks(tmp_path / "DR16Q.fits", spectra)
    assert [t.thing_id for t in tasks] == [31337, 31338] and [t.targetid for t in tasks] == [-1, -1]
    ok, missing = (prepare_task(t)[0].row for t in tasks)
    assert ok["status"] == "ok" and ok["thing_id"] == 31337
    assert missing["status"] == "error" and missing["thing_id"] == 31338 and missing["ra"] == 1.0


# ============================================================================== catalogs
def _catalog_tables():
    absorbers = catalog.absorber_table([
        {"sightline_id": "7001-57001-0012", "thing_id": 55, "z_abs": 2.5, "log_nhi": 20.7, "confidence": 0.9},
        {"sightline_id": str(BIG_TARGETID), "targetid": BIG_TARGETID, "z_abs": 2.2, "log_nhi": 21.0},
    ])
    sightlines = catalog.sightline_table([
        {"sightline_id": "7001-57001-0012", "thing_id": 55, "status": "ok"},
        {"sightline_id": str(BIG_TARGETID), "targetid": BIG_TARGETID, "status": "ok"},
        {"sightline_id": "J1234+5678", "status": "error", "message": "unreadable"},
    ])
    return absorbers, sightlines


@pytest.mark.parametrize("name", ["cat.fits", "cat.ecsv"])
def test_ids_and_descriptions_survive_both_formats(tmp_path, name):
    absorbers, sightlines = _catalog_tables()
    paths = catalog.write_catalog(tmp_path / name, absorbers, sightlines, format=name.split(".")[1])
    a, s, _ = catalog.read_catalog(tmp_path / name)
    assert list(a["thing_id"]) == [55, -1] and list(a["targetid"]) == [-1, BIG_TARGETID]
    assert list(s["thing_id"]) == [55, -1, -1] and list(s["targetid"]) == [-1, BIG_TARGETID, -1]
    # plain astropy, without dla-cnn: every column has its description (and the units)
    if name.endswith(".fits"):
        plain = [Table.read(paths[0], hdu=h) for h in ("ABSORBERS", "SIGHTLINES")]
    else:
        plain = [Table.read(p) for p in paths]
    for table, specs in zip(plain, (catalog.ABSORBER_COLUMNS, catalog.SIGHTLINE_COLUMNS)):
        for spec in specs:
            assert table[spec.name].description == spec.description, spec.name
            assert table[spec.name].unit == spec.unit, spec.name
    desc = plain[0]["log_nhi"].description
    assert "log10" in desc and "cm^-2" in desc  # log_nhi has no astropy unit: dex(cm-2) does not survive FITS
    assert plain[0]["targetid"][1] == BIG_TARGETID


@pytest.mark.parametrize("name", ["old.fits", "old.ecsv"])
def test_catalogs_without_the_id_columns_still_read(tmp_path, name):
    absorbers, sightlines = _catalog_tables()
    old = [t.copy() for t in (absorbers, sightlines)]
    for t in old:
        t.remove_columns(["thing_id", "targetid"])
    if name.endswith(".fits"):
        fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(old[0]), fits.table_to_hdu(old[1])]).writeto(tmp_path / name)
        with fits.open(tmp_path / name, mode="update") as hdul:
            hdul[1].name, hdul[2].name = "ABSORBERS", "SIGHTLINES"
    else:
        for t, part in zip(old, ("absorbers", "sightlines")):
            t.write(tmp_path / f"old.{part}.ecsv")
    a, s, _ = catalog.read_catalog(tmp_path / name)
    assert a.colnames == [c.name for c in catalog.ABSORBER_COLUMNS]
    assert list(a["thing_id"]) == [-1, -1] and list(s["targetid"]) == [-1, -1, -1]
    assert a["thing_id"].dtype == np.int64
