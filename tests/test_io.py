"""Spectrum readers, writer, rebinning and format sniffing (dla_cnn.io).

Every test writes small files with astropy / numpy into ``tmp_path`` and reads them
back, comparing pixel by pixel.
"""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dla_cnn import grid
from dla_cnn.exceptions import (
    ConfigError,
    InvalidSpectrumError,
    MissingRedshiftError,
    NotSearchableError,
    SightlineError,
    SpectrumReadError,
    UnknownFormatError,
)
from dla_cnn.io import (
    catalog_redshift,
    coadd_on_grid,
    iter_sightlines,
    iter_spectra,
    read_boss_spec,
    read_desi_coadd,
    read_quasar_catalog,
    read_spectrum,
    read_spplate,
    read_spspec,
    read_table_spectrum,
    rebin_to_sdss_grid,
    redshift_lookup,
    sniff_format,
    write_boss_spec,
)
from dla_cnn.sightline import Sightline

try:
    from specutils import Spectrum
except ImportError:  # pragma: no cover
    from specutils import Spectrum1D as Spectrum

START = 35563  # loglam 3.5563, about 3600 A
NPIX = 3000


# ============================================================================== helpers
def make_sightline(z=3.0, npix=NPIX, start=START, seed=0, **kw) -> Sightline:
    rng = np.random.default_rng(seed)
    flux = 5.0 + rng.normal(0, 0.5, npix)
    ivar = rng.uniform(2.0, 6.0, npix)
    mask = np.zeros(npix, dtype=bool)
    mask[100:110] = True
    ivar[200:205] = 0.0
    fields = dict(ra=150.25, dec=2.5, plate=7001, mjd=57001, fiber=12)
    fields.update(kw)
    return Sightline("7001-57001-0012", z, start, flux, ivar, mask, **fields)


def edges(loglam: np.ndarray) -> np.ndarray:
    """Pixel edges (Angstrom) half-way in log lambda, as the rebinning assumes."""
    mid = 0.5 * (loglam[1:] + loglam[:-1])
    return 10 ** np.concatenate([[2 * loglam[0] - mid[0]], mid, [2 * loglam[-1] - mid[-1]]])


def write_boss_by_hand(path, flux, ivar, and_mask, start=START, z=2.8, drop=(), spall_drop=(), bunit=None):
    """A BOSS spec file built with astropy alone (layout of the survey's files)."""
    n = flux.size
    cols = {
        "flux": flux.astype(np.float32),
        "loglam": ((start + np.arange(n)) * 1e-4).astype(np.float32),
        "ivar": ivar.astype(np.float32),
        "and_mask": and_mask.astype(np.int32),
        "or_mask": and_mask.astype(np.int32),
        "wdisp": np.ones(n, np.float32),
        "sky": np.zeros(n, np.float32),
        "model": np.zeros(n, np.float32),
    }
    coadd = Table({k: v for k, v in cols.items() if k not in drop})
    spall = {"PLATE": [4216], "MJD": [55477], "FIBERID": [42], "Z": [z], "CLASS": ["QSO"],
             "THING_ID": [77], "PLUG_RA": [10.5], "PLUG_DEC": [-1.25]}
    spall = Table({k: v for k, v in spall.items() if k not in spall_drop})
    hdr = fits.Header()
    hdr["TELESCOP"] = "SDSS 2.5-M"
    hdr["VERS2D"] = "v5_7_0"
    hdr["FIBERID"] = 42
    hdr["BUNIT"] = bunit or "1E-17 erg/cm^2/s/Ang"
    hdus = [fits.PrimaryHDU(header=hdr)]
    if "COADD" not in drop:
        hdus.append(fits.BinTableHDU(coadd, name="COADD"))
    hdus.append(fits.BinTableHDU(spall, name="SPALL"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def write_spspec(path, flux, err, mask, coeff0=3.5800, z=3.1, rows=4):
    n = flux.size
    img = np.zeros((rows, n), np.float32)
    img[0], img[1], img[2], img[3] = flux, flux - 1.0, err, mask
    hdr = fits.Header()
    hdr["TELESCOP"] = "SDSS 2.5-M"
    hdr["COEFF0"] = coeff0
    hdr["COEFF1"] = 1e-4
    hdr["CRVAL1"] = coeff0
    hdr["CD1_1"] = 1e-4
    hdr["CRPIX1"] = 1.0
    hdr["CTYPE1"] = "LINEAR"
    hdr["DC-FLAG"] = 1
    hdr["Z"] = z
    hdr["PLATEID"] = 266
    hdr["MJD"] = 51630
    hdr["FIBERID"] = 7
    hdr["RAOBJ"] = 146.1
    hdr["DECOBJ"] = -0.6
    fits.PrimaryHDU(img, header=hdr).writeto(path, overwrite=True)
    return path


def write_spplate(path, flux, ivar, and_mask, coeff0=3.5600, plate=3586, mjd=55181):
    nfib, n = flux.shape
    hdr = fits.Header()
    hdr["TELESCOP"] = "SDSS 2.5-M"
    hdr["COEFF0"] = coeff0
    hdr["COEFF1"] = 1e-4
    hdr["CRVAL1"] = coeff0
    hdr["CD1_1"] = 1e-4
    hdr["CRPIX1"] = 1.0
    hdr["CTYPE1"] = "LINEAR"
    hdr["DC-FLAG"] = 1
    hdr["PLATEID"] = plate
    hdr["MJD"] = mjd
    plug = Table({
        "FIBERID": np.arange(1, nfib + 1, dtype=np.int32),
        "RA": 30.0 + np.arange(nfib),
        "DEC": -5.0 - np.arange(nfib),
        "OBJTYPE": ["QSO"] * nfib,
    })
    fits.HDUList([
        fits.PrimaryHDU(flux.astype(np.float32), header=hdr),
        fits.ImageHDU(ivar.astype(np.float32), name="IVAR"),
        fits.ImageHDU(and_mask.astype(np.int32), name="ANDMASK"),
        fits.ImageHDU(np.zeros_like(and_mask, np.int32), name="ORMASK"),
        fits.ImageHDU(np.ones_like(flux, np.float32), name="WAVEDISP"),
        fits.BinTableHDU(plug, name="PLUGMAP"),
    ]).writeto(path, overwrite=True)
    return path


DESI_CAMS = {"B": (3600.0, 4000.0), "R": (3950.0, 4400.0)}  # overlap 3950-4000 A


def desi_arrays(nspec=3, seed=1):
    rng = np.random.default_rng(seed)
    out = {}
    for cam, (lo, hi) in DESI_CAMS.items():
        wave = np.arange(lo, hi, 0.8)
        flux = 3.0 + rng.normal(0, 0.2, (nspec, wave.size))
        ivar = np.full((nspec, wave.size), 4.0 if cam == "B" else 9.0)
        mask = np.zeros((nspec, wave.size), np.int32)
        out[cam] = (wave, flux, ivar, mask)
    return out


def write_desi(path, arrays, targetids, drop=()):
    hdus = [fits.PrimaryHDU()]
    for cam, (wave, flux, ivar, mask) in arrays.items():
        for name, data in (("WAVELENGTH", wave), ("FLUX", flux), ("IVAR", ivar), ("MASK", mask)):
            if f"{cam}_{name}" not in drop:
                hdus.append(fits.ImageHDU(data, name=f"{cam}_{name}"))
    if "FIBERMAP" not in drop:
        fmap = Table({"TARGETID": np.asarray(targetids, np.int64),
                      "TARGET_RA": 200.0 + np.arange(len(targetids)),
                      "TARGET_DEC": 10.0 + np.arange(len(targetids))})
        hdus.append(fits.BinTableHDU(fmap, name="FIBERMAP"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def assert_one_line_naming(err: BaseException, path) -> None:
    text = str(err)
    assert "\n" not in text
    assert str(path).split("/")[-1] in text


# ============================================================================== rebinning
def test_rebin_two_to_one_flux_and_ivar():
    k = np.arange(35600, 35610)
    loglam = (np.repeat(k, 2) + np.tile([-0.25, 0.25], k.size)) * 1e-4
    flux = np.arange(20.0) + 1.0
    ivar = np.full(20, 1.0)
    start, f, iv, m = rebin_to_sdss_grid(10**loglam, flux, ivar)
    assert start == 35600 and f.size == 10
    dl = np.diff(edges(loglam))
    expect = (flux[0::2] * dl[0::2] + flux[1::2] * dl[1::2]) / (dl[0::2] + dl[1::2])
    np.testing.assert_allclose(f, expect, rtol=1e-9)
    # variance of the weighted mean of two unit-variance pixels of (nearly) equal width
    expect_ivar = (dl[0::2] + dl[1::2]) ** 2 / (dl[0::2] ** 2 + dl[1::2] ** 2)
    np.testing.assert_allclose(iv, expect_ivar, rtol=1e-9)
    np.testing.assert_allclose(iv, 2.0, rtol=1e-6)
    assert not m.any()
    # total flux conserved
    out_dl = np.diff(10 ** ((np.arange(start, start + 11) - 0.5) * 1e-4))
    np.testing.assert_allclose((f * out_dl).sum(), (flux * dl).sum(), rtol=1e-10)


def test_rebin_conserves_flux_on_arbitrary_grid():
    rng = np.random.default_rng(3)
    wave = np.cumsum(rng.uniform(0.5, 1.5, 600)) + 4000.0
    flux = rng.uniform(1.0, 10.0, wave.size)
    ivar = rng.uniform(1.0, 3.0, wave.size)
    start, f, iv, m = rebin_to_sdss_grid(wave, flux, ivar)
    in_edges = edges(np.log10(wave))
    cum = np.concatenate([[0.0], np.cumsum(flux * np.diff(in_edges))])
    out_edges = 10 ** ((start + np.arange(f.size + 1) - 0.5) * 1e-4)
    inner = slice(1, f.size - 1)  # fully covered output pixels
    integral = np.interp(out_edges[1:-1], in_edges, cum)
    np.testing.assert_allclose(f[inner] * np.diff(out_edges)[inner], np.diff(integral), rtol=1e-10)
    assert np.all(iv > 0) and not m.any()
    # start index: the grid pixel holding the first input edge
    assert start == int(np.floor(np.log10(in_edges[0]) / 1e-4 + 0.5))


def test_rebin_passes_on_grid_input_through():
    k = START + np.arange(50)
    flux = np.linspace(1, 2, 50)
    ivar = np.full(50, 3.0)
    mask = np.zeros(50, bool)
    mask[7] = True
    start, f, iv, m = rebin_to_sdss_grid(10 ** (k * 1e-4 + 3e-7), flux, ivar, mask)
    assert start == START
    np.testing.assert_array_equal(f, flux)
    np.testing.assert_array_equal(iv, ivar)
    np.testing.assert_array_equal(m, mask)
    # on-grid with a gap: the gap becomes missing pixels
    keep = np.r_[0:20, 25:50]
    start, f, iv, m = rebin_to_sdss_grid(10 ** (k[keep] * 1e-4), flux[keep], ivar[keep])
    assert start == START and f.size == 50
    np.testing.assert_array_equal(iv[20:25], 0.0)
    np.testing.assert_array_equal(f[keep], flux[keep])


def test_rebin_missing_and_masked_pixels():
    k = np.arange(35600, 35606)
    loglam = (np.repeat(k, 2) + np.tile([-0.25, 0.25], k.size)) * 1e-4
    flux = np.full(12, 4.0)
    ivar = np.ones(12)
    mask = np.zeros(12, bool)
    flux[0] = np.nan                      # pixel 0: one half NaN -> the other half only
    flux[2:4] = np.nan                    # pixel 1: NaN everywhere -> missing
    ivar[4:6] = 0.0                       # pixel 2: ivar 0 everywhere -> missing
    mask[6:8] = True                      # pixel 3: masked only -> value kept, flagged
    mask[8] = True                        # pixel 4: half masked -> unflagged half only
    flux[8] = 100.0
    start, f, iv, m = rebin_to_sdss_grid(10**loglam, flux, ivar, mask)
    assert start == 35600
    np.testing.assert_allclose(f[[0, 2, 3, 4, 5]], 4.0)
    assert f[1] == 0.0
    np.testing.assert_allclose(iv[[0, 4]], 1.0)
    np.testing.assert_array_equal(iv[[1, 2]], 0.0)
    np.testing.assert_allclose(iv[[3, 5]], 2.0, rtol=1e-6)
    np.testing.assert_array_equal(m, [False, False, False, True, False, False])
    assert np.all(np.isfinite(f))


def test_rebin_many_spectra_at_once_matches_one_by_one():
    rng = np.random.default_rng(5)
    wave = np.arange(3700.0, 3900.0, 0.8)
    flux = rng.normal(2, 1, (3, wave.size))
    ivar = rng.uniform(0.5, 2, (3, wave.size))
    ivar[1, 10:40] = 0
    s, f, iv, m = rebin_to_sdss_grid(wave, flux, ivar)
    for i in range(3):
        s1, f1, iv1, m1 = rebin_to_sdss_grid(wave, flux[i], ivar[i])
        assert s1 == s
        np.testing.assert_allclose(f1, f[i])
        np.testing.assert_allclose(iv1, iv[i])


def test_rebin_rejects_bad_wavelengths():
    with pytest.raises(ValueError):
        rebin_to_sdss_grid([4000.0, 4000.0, 4001.0], [1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError):
        rebin_to_sdss_grid([4000.0, np.nan, 4001.0], [1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError):
        rebin_to_sdss_grid([4000.0, 4001.0], [1, 1, 1], [1, 1, 1])


def test_rebin_accepts_decreasing_wavelengths():
    wave = np.arange(4000.0, 4100.0, 0.7)
    flux = np.sin(wave / 7.0) + 2.0
    ivar = np.linspace(1, 2, wave.size)
    fwd = rebin_to_sdss_grid(wave, flux, ivar)
    rev = rebin_to_sdss_grid(wave[::-1], flux[::-1], ivar[::-1])
    assert fwd[0] == rev[0]
    for a, b in zip(fwd[1:], rev[1:]):
        np.testing.assert_array_equal(a, b)


def test_coadd_on_grid_inverse_variance_weights():
    a = (100, np.full(5, 2.0), np.full(5, 1.0), np.zeros(5, bool))
    b = (103, np.full(4, 6.0), np.full(4, 3.0), np.zeros(4, bool))
    start, f, iv, m = coadd_on_grid([a, b])
    assert start == 100 and f.size == 7
    np.testing.assert_allclose(f, [2, 2, 2, 5, 5, 6, 6])
    np.testing.assert_allclose(iv, [1, 1, 1, 4, 4, 3, 3])
    assert not m.any()


# ============================================================================== BOSS
def test_boss_writer_round_trip(tmp_path):
    sl = make_sightline(z=3.2, provenance={"thing_id": 99})
    sl.flux[300] = np.nan
    path = write_boss_spec(sl, tmp_path / "spec-7001-57001-0012.fits", wdisp=1.1)
    back = read_boss_spec(path)
    assert back.sightline_id == "7001-57001-0012"
    assert (back.plate, back.mjd, back.fiber) == (7001, 57001, 12)
    assert back.start_index == START and back.npix == NPIX
    assert back.z_qso == pytest.approx(3.2, abs=1e-6)
    assert back.ra == pytest.approx(150.25) and back.dec == pytest.approx(2.5)
    good = np.isfinite(sl.flux)
    np.testing.assert_array_equal(back.flux[good], sl.flux[good].astype(np.float32))
    expect_ivar = np.where(good, sl.ivar, 0.0).astype(np.float32)
    np.testing.assert_array_equal(back.ivar, expect_ivar)
    np.testing.assert_array_equal(back.mask, sl.mask)
    assert back.ivar[300] == 0.0 and back.flux[300] == 0.0
    assert back.provenance["format"] == "boss-spec"
    assert back.provenance["file"] == str(path)
    assert back.provenance["hdu"] == 1
    assert back.provenance["thing_id"] == 99
    assert back.provenance["z_source"] == "file"
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "COADD", "SPALL", "SPZLINE"]
        assert list(hdul["COADD"].columns.names) == ["flux", "loglam", "ivar", "and_mask", "or_mask",
                                                      "wdisp", "sky", "model"]
        np.testing.assert_allclose(hdul["COADD"].data["wdisp"], 1.1, rtol=1e-6)
        spall = hdul["SPALL"].data
        assert spall["CLASS"][0] == "QSO" and spall["THING_ID"][0] == 99


def test_boss_writer_keeps_non_sdss_ids(tmp_path):
    sl = Sightline("sim-42-7", 2.75, START, np.full(500, 3.0), np.ones(500))
    path = write_boss_spec(sl, tmp_path / "sim.fits")
    back = read_spectrum(path)[0]
    assert back.sightline_id == "sim-42-7"
    assert (back.plate, back.mjd, back.fiber) == (-1, -1, -1)
    assert back.z_qso == 2.75 and np.isnan(back.ra)
    spec = Spectrum.read(str(path), format="SDSS-III/IV spec")
    np.testing.assert_allclose(spec.flux.value, 3.0)


def test_boss_written_file_reads_with_specutils(tmp_path):
    sl = make_sightline()
    path = write_boss_spec(sl, tmp_path / "spec-7001-57001-0012.fits")
    for kwargs in ({"format": "SDSS-III/IV spec"}, {}):  # named, and identified by specutils
        spec = Spectrum.read(str(path), **kwargs)
        np.testing.assert_allclose(spec.flux.to_value(u.Unit("1e-17 erg / (Angstrom cm2 s)")),
                                   sl.flux.astype(np.float32))
        np.testing.assert_allclose(np.log10(spec.spectral_axis.to_value(u.AA)), sl.loglam, atol=1e-7)
        np.testing.assert_array_equal(spec.mask, sl.mask)


def test_boss_by_hand_values_nan_and_mask(tmp_path):
    n = 500
    flux = np.linspace(1, 3, n)
    ivar = np.full(n, 2.0)
    and_mask = np.zeros(n, np.int32)
    and_mask[10] = 1 << 23
    flux[20:23] = np.nan
    flux[30] = np.inf
    path = write_boss_by_hand(tmp_path / "spec-4216-55477-0042.fits", flux, ivar, and_mask, start=36000)
    sl = read_boss_spec(path)
    assert sl.sightline_id == "4216-55477-0042"
    assert sl.start_index == 36000
    assert sl.z_qso == pytest.approx(2.8)
    assert sl.provenance["thing_id"] == 77 and sl.provenance["class"] == "QSO"
    bad = np.zeros(n, bool)
    bad[[20, 21, 22, 30]] = True
    np.testing.assert_array_equal(sl.ivar, np.where(bad, 0.0, 2.0))
    np.testing.assert_array_equal(sl.flux[~bad], flux[~bad].astype(np.float32))
    assert np.all(np.isfinite(sl.flux))
    np.testing.assert_array_equal(sl.mask, and_mask != 0)


def test_boss_redshift_precedence(tmp_path):
    path = write_boss_spec(make_sightline(z=3.0), tmp_path / "s.fits")
    assert read_boss_spec(path).z_qso == pytest.approx(3.0)
    sl = read_boss_spec(path, z_qso=2.5)
    assert sl.z_qso == 2.5 and sl.provenance["z_source"] == "caller"
    cat = Table({"PLATE": [7001], "MJD": [57001], "FIBERID": [12], "RA": [1.0], "DEC": [2.0], "Z": [3.3]})
    sl = read_boss_spec(path, quasar_catalog=cat)
    assert sl.z_qso == pytest.approx(3.3) and sl.provenance["z_source"] == "catalog"
    assert read_boss_spec(path, z_qso={"7001-57001-0012": 2.9}).z_qso == pytest.approx(2.9)


# ============================================================================== spSpec
def test_spspec_read(tmp_path):
    n = 400
    rng = np.random.default_rng(7)
    flux = rng.uniform(1, 5, n).astype(np.float32)
    err = rng.uniform(0.2, 1.0, n).astype(np.float32)
    err[5] = 0.0
    mask = np.zeros(n)
    mask[8] = float(1 << 30)            # EMLINE: informational only
    mask[9] = float(1 << 18)            # FULLREJECT: bad
    path = write_spspec(tmp_path / "spSpec-51630-0266-007.fit", flux, err, mask)
    sl = read_spspec(path)
    assert sl.sightline_id == "0266-51630-0007"
    assert (sl.plate, sl.mjd, sl.fiber) == (266, 51630, 7)
    assert sl.start_index == 35800 and sl.npix == n
    assert sl.z_qso == pytest.approx(3.1)
    assert sl.ra == pytest.approx(146.1) and sl.dec == pytest.approx(-0.6)
    np.testing.assert_array_equal(sl.flux, flux)
    expect = np.where(err > 0, 1.0 / np.where(err > 0, err.astype(float), 1.0) ** 2, 0.0)
    np.testing.assert_allclose(sl.ivar, expect, rtol=1e-12)
    assert sl.ivar[5] == 0.0
    assert not sl.mask[8] and sl.mask[9] and sl.mask.sum() == 1
    assert sl.provenance["format"] == "spspec"
    # wavelengths follow the header solution log10(lambda_i) = COEFF0 + COEFF1 * i
    np.testing.assert_allclose(sl.loglam, 3.58 + 1e-4 * np.arange(n), atol=1e-12)
    # the same pixels as specutils' loader
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = Spectrum.read(str(path), format="SDSS-I/II spSpec")
    np.testing.assert_allclose(spec.flux.value, sl.flux)
    assert sniff_format(path) == "spspec"


def test_spspec_off_grid_is_rebinned(tmp_path):
    n = 300
    path = write_spspec(tmp_path / "x.fit", np.full(n, 2.0, np.float32), np.full(n, 0.5, np.float32),
                        np.zeros(n), coeff0=3.58003)
    sl = read_spspec(path)
    assert sl.start_index == 35800
    np.testing.assert_allclose(sl.flux[sl.good], 2.0)
    assert np.all(sl.ivar[1:-1] >= 4.0 - 1e-9)


# ============================================================================== spPlate
def _plate_arrays(nfib=4, n=600):
    rng = np.random.default_rng(11)
    flux = rng.uniform(1, 4, (nfib, n))
    ivar = rng.uniform(1, 2, (nfib, n))
    and_mask = np.zeros((nfib, n), np.int32)
    and_mask[2, 50:60] = 1 << 16
    return flux, ivar, and_mask


def test_spplate_read_fibers(tmp_path):
    flux, ivar, and_mask = _plate_arrays()
    path = write_spplate(tmp_path / "spPlate-3586-55181.fits", flux, ivar, and_mask)
    sls = read_spplate(path, z_qso={1: 2.5, 3: 3.1})
    assert [s.fiber for s in sls] == [1, 3]
    s3 = sls[1]
    assert s3.sightline_id == "3586-55181-0003"
    assert (s3.plate, s3.mjd) == (3586, 55181)
    assert s3.z_qso == pytest.approx(3.1)
    assert s3.start_index == 35600
    assert s3.ra == pytest.approx(32.0) and s3.dec == pytest.approx(-7.0)
    np.testing.assert_array_equal(s3.flux, flux[2].astype(np.float32))
    np.testing.assert_array_equal(s3.ivar, ivar[2].astype(np.float32))
    np.testing.assert_array_equal(s3.mask, and_mask[2] != 0)
    assert s3.provenance["objtype"] == "QSO" and s3.provenance["format"] == "spplate"
    # one fiber with one redshift
    (one,) = read_spplate(path, fibers=2, z_qso=2.2)
    assert one.sightline_id == "3586-55181-0002" and one.z_qso == 2.2
    # fibers from a quasar catalog
    cat = Table({"PLATE": [3586, 3586, 9999], "MJD": [55181, 55181, 55181], "FIBERID": [4, 2, 4],
                 "RA": [0, 0, 0], "DEC": [0, 0, 0], "Z_VI": [2.4, 2.6, 3.0]})
    sls = read_spplate(path, quasar_catalog=cat)
    assert [(s.fiber, s.z_qso) for s in sls] == [(2, pytest.approx(2.6)), (4, pytest.approx(2.4))]
    np.testing.assert_allclose(s3.loglam, 3.56 + 1e-4 * np.arange(600), atol=1e-12)
    # the same pixels as specutils' spPlate loader
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = Spectrum.read(str(path), format="SDSS spPlate")
    np.testing.assert_allclose(spec.flux.value[2], s3.flux)
    np.testing.assert_array_equal(spec.mask[2], s3.mask)
    assert sniff_format(path) == "spplate"


def test_spplate_needs_redshift(tmp_path):
    flux, ivar, and_mask = _plate_arrays()
    path = write_spplate(tmp_path / "spPlate-3586-55181.fits", flux, ivar, and_mask)
    with pytest.raises(MissingRedshiftError) as err:
        read_spplate(path)
    assert_one_line_naming(err.value, path)
    with pytest.raises(MissingRedshiftError):
        read_spplate(path, fibers=[1, 2], z_qso=2.5)
    with pytest.raises(MissingRedshiftError):
        read_spplate(path, fibers=[1, 2], z_qso={1: 2.5})
    with pytest.raises(MissingRedshiftError):
        read_spectrum(path)
    with pytest.raises(SpectrumReadError) as err:
        read_spplate(path, fibers=[99], z_qso={99: 2.5})
    assert "fiber 99" in str(err.value)


def test_spplate_bad_fiber_does_not_hide_the_others(tmp_path):
    flux, ivar, and_mask = _plate_arrays()
    ivar[1] = 0.0
    path = write_spplate(tmp_path / "spPlate-3586-55181.fits", flux, ivar, and_mask)
    items = list(iter_sightlines(path, z_qso={1: 2.5, 2: 2.5, 3: 2.5}))
    assert [type(i).__name__ for i in items] == ["Sightline", "InvalidSpectrumError", "Sightline"]
    assert "fiber 2" in str(items[1])
    with pytest.raises(InvalidSpectrumError):
        read_spplate(path, z_qso={1: 2.5, 2: 2.5})


# ============================================================================== DESI
def test_desi_camera_merge(tmp_path):
    arrays = desi_arrays(nspec=3)
    arrays["B"][3][1, 5] = 1  # one masked B pixel of target 11
    path = write_desi(tmp_path / "coadd-main-dark-1234.fits", arrays, [10, 11, 12])
    zt = Table({"TARGETID": [12, 11, 99], "Z": [2.7, 3.0, 2.0]})
    sls = read_desi_coadd(path, redshifts=zt)
    assert [s.sightline_id for s in sls] == ["11", "12"]
    assert [s.z_qso for s in sls] == [pytest.approx(3.0), pytest.approx(2.7)]
    assert sls[0].ra == pytest.approx(201.0) and sls[0].dec == pytest.approx(11.0)
    assert (sls[0].plate, sls[0].mjd, sls[0].fiber) == (-1, -1, -1)
    # independent expectation: rebin each camera, weight by ivar in the overlap
    for sl, row in zip(sls, (1, 2)):
        pieces = []
        for cam in ("B", "R"):
            wave, flux, ivar, mask = arrays[cam]
            pieces.append(rebin_to_sdss_grid(wave, flux[row], ivar[row], mask[row] != 0))
        (sb, fb, ib, _), (sr, fr, ir, _) = pieces
        assert sl.start_index == sb
        assert sl.npix == sr + fr.size - sb
        full_f = np.zeros((2, sl.npix))
        full_i = np.zeros((2, sl.npix))
        full_f[0, : fb.size], full_i[0, : fb.size] = fb, ib
        full_f[1, sr - sb:], full_i[1, sr - sb:] = fr, ir
        w = full_i.sum(0)
        np.testing.assert_allclose(sl.ivar, w, rtol=1e-12)
        np.testing.assert_allclose(sl.flux, (full_f * full_i).sum(0) / w, rtol=1e-12)
        overlap = (full_i[0] > 0) & (full_i[1] > 0)
        assert overlap.sum() > 3
        assert np.all(sl.ivar[overlap] > full_i[0][overlap])
    assert sls[0].provenance["targetid"] == 11 and sls[0].provenance["cameras"] == "BR"
    # explicit targets, dispatcher with a TARGETID/Z catalog file, sniffing
    zt.write(tmp_path / "zcat.fits")
    sls = read_spectrum(path, quasar_catalog=tmp_path / "zcat.fits")
    assert [s.sightline_id for s in sls] == ["11", "12"]
    assert sniff_format(path) == "desi-coadd"
    with pytest.raises(MissingRedshiftError):
        read_desi_coadd(path, redshifts=zt, targetids=[10])
    with pytest.raises(MissingRedshiftError):
        read_desi_coadd(path)


def test_desi_constant_flux_merges_exactly(tmp_path):
    arrays = desi_arrays(nspec=1)
    for cam in arrays:
        arrays[cam][1][:] = 2.5
    path = write_desi(tmp_path / "coadd-one.fits", arrays, [5])
    (sl,) = read_desi_coadd(path, z_qso=2.9)
    np.testing.assert_allclose(sl.flux[sl.good], 2.5, rtol=1e-12)
    assert sl.z_qso == 2.9 and sl.sightline_id == "5"


# ============================================================================== plain tables
def test_table_formats_round_trip(tmp_path):
    k = START + np.arange(300)
    loglam = k * 1e-4
    flux = np.linspace(1, 2, 300)
    ivar = np.full(300, 4.0)
    err = 1 / np.sqrt(ivar)
    mask = np.zeros(300, bool)
    mask[3] = True

    t = Table({"wavelength": 10**loglam * u.AA, "flux": flux, "ivar": ivar, "mask": mask.astype(int)})
    t.meta["Z_QSO"] = 2.6
    t.meta["SIGHTID"] = "my-quasar"
    t.write(tmp_path / "a.fits")
    t2 = Table({"loglam": loglam, "flux": flux, "error": err})
    t2.meta["z_qso"] = 2.7
    t2.write(tmp_path / "b.ecsv")
    t3 = Table({"wavelength": (10**loglam / 10) * u.nm, "flux": flux, "sigma": err, "mask": mask})
    t3.write(tmp_path / "c.ecsv")
    Table({"wavelength": 10**loglam, "flux": flux, "ivar": ivar, "mask": mask.astype(int)}).write(
        tmp_path / "d.csv", format="ascii.csv")
    np.savez(tmp_path / "e.npz", loglam=loglam, flux=flux, ivar=ivar, mask=mask, z_qso=2.9)

    a = read_table_spectrum(tmp_path / "a.fits")
    assert a.sightline_id == "my-quasar" and a.z_qso == pytest.approx(2.6)
    b = read_table_spectrum(tmp_path / "b.ecsv")
    assert b.sightline_id == "b" and b.z_qso == pytest.approx(2.7)
    c = read_table_spectrum(tmp_path / "c.ecsv", z_qso=3.0)
    d = read_table_spectrum(tmp_path / "d.csv", z_qso=3.1, sightline_id="dd")
    assert d.sightline_id == "dd"
    e = read_table_spectrum(tmp_path / "e.npz")
    assert e.z_qso == pytest.approx(2.9)
    for sl, has_mask in ((a, True), (b, False), (c, True), (d, True), (e, True)):
        assert sl.start_index == START and sl.npix == 300
        np.testing.assert_allclose(sl.flux, flux, rtol=1e-12)
        np.testing.assert_allclose(sl.ivar, ivar, rtol=1e-10)
        np.testing.assert_array_equal(sl.mask, mask if has_mask else np.zeros(300, bool))
    assert [sniff_format(tmp_path / n) for n in ("a.fits", "b.ecsv", "d.csv", "e.npz")] == [
        "table-fits", "table-ecsv", "table-csv", "npz"]
    assert read_spectrum(tmp_path / "d.csv", z_qso=3.1)[0].provenance["format"] == "table-csv"


def test_table_off_grid_rebinned(tmp_path):
    wave = np.arange(3700.0, 4200.0, 0.5)
    np.savez(tmp_path / "lin.npz", wavelength=wave, flux=np.full(wave.size, 3.0), ivar=np.ones(wave.size))
    sl = read_table_spectrum(tmp_path / "lin.npz", z_qso=2.5)
    np.testing.assert_allclose(sl.flux, 3.0)
    assert grid.index_to_loglam(sl.start_index) == pytest.approx(np.log10(3700.0), abs=1e-4)


# ============================================================================== quasar catalogs
def test_quasar_catalog_dr12q_and_dr16q(tmp_path):
    dr12 = Table({
        "SDSS_NAME": ["a", "b", "c"],
        "RA": [1.0, 2.0, 3.0], "DEC": [-1.0, -2.0, -3.0],
        "PLATE": [4216, 4216, 7001], "MJD": [55477, 55477, 57001], "FIBERID": [42, 7, 12],
        "Z_VI": [2.5, -1.0, 3.1], "Z_PIPE": [2.49, 2.8, 3.0],
        "BAL_FLAG_VI": [0, 1, 0], "BI_CIV": [0.0, 0.0, 500.0],
    })
    dr12.write(tmp_path / "DR12Q.fits")
    cat = read_quasar_catalog(tmp_path / "DR12Q.fits")
    assert list(cat["sightline_id"]) == ["4216-55477-0042", "4216-55477-0007", "7001-57001-0012"]
    np.testing.assert_allclose(cat["z_qso"], [2.5, 2.8, 3.1])
    assert list(cat["bal"]) == [False, True, True]
    assert {"plate", "mjd", "fiber", "ra", "dec", "z_qso", "bal", "sightline_id"} <= set(cat.colnames)
    assert cat["ra"].unit == u.deg
    assert catalog_redshift(cat, 4216, 55477, 7) == pytest.approx(2.8)
    assert catalog_redshift(cat, 1, 2, 3) is None
    assert redshift_lookup(cat)["7001-57001-0012"] == pytest.approx(3.1)

    dr16 = Table({"PLATE": [1], "MJD": [2], "FIBERID": [3], "RA": [0.0], "DEC": [0.0],
                  "Z": [2.2], "Z_PIPE": [2.0], "BAL_PROB": [0.9]})
    dr16.write(tmp_path / "dr16q.csv", format="ascii.csv")
    cat = read_quasar_catalog(tmp_path / "dr16q.csv")
    assert cat["sightline_id"][0] == "0001-2-0003" and cat["z_qso"][0] == pytest.approx(2.2) and cat["bal"][0]
    assert read_quasar_catalog(cat)["sightline_id"][0] == "0001-2-0003"  # idempotent
    with pytest.raises(ConfigError):
        read_quasar_catalog(Table({"PLATE": [1], "MJD": [2], "FIBERID": [3]}))


# ============================================================================== dispatcher
def test_sniffing_ignores_misleading_names(tmp_path):
    boss = write_boss_spec(make_sightline(), tmp_path / "spPlate-1234-56789.fits")
    assert sniff_format(boss) == "boss-spec"
    n = 300
    spspec = write_spspec(tmp_path / "spec-1-2-3.fits", np.ones(n, np.float32), np.ones(n, np.float32),
                          np.zeros(n))
    assert sniff_format(spspec) == "spspec"
    csv = tmp_path / "table.fits"
    Table({"loglam": (START + np.arange(n)) * 1e-4, "flux": np.ones(n), "ivar": np.ones(n)}).write(
        csv, format="ascii.csv")
    assert sniff_format(csv) == "table-csv"
    (sl,) = read_spectrum(csv, z_qso=2.5)
    assert sl.npix == n
    (sl,) = read_spectrum(boss, format="boss")
    assert sl.sightline_id == "7001-57001-0012"
    with pytest.raises(ConfigError):
        read_spectrum(boss, format="nonsense")


def test_iter_spectra_batch_goes_on(tmp_path):
    d = tmp_path / "spectra"
    (d / "sub").mkdir(parents=True)
    write_boss_spec(make_sightline(z=3.0), d / "a.fits")
    write_boss_spec(make_sightline(z=2.5, fiber=13), d / "sub" / "b.fits")
    (d / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b"\0" * 20)
    (d / "notes.csv").write_text("hello,world\n1,2\n")
    (d / "ignored.txt").write_text("not a spectrum")
    np.savez(d / "noz.npz", loglam=(START + np.arange(50)) * 1e-4, flux=np.ones(50), ivar=np.ones(50))
    items = list(iter_spectra([d, tmp_path / "missing.fits", str(tmp_path / "nomatch*.fits")]))
    kinds = {type(i).__name__ for i in items}
    assert len(items) == 7
    ok = [i for i in items if isinstance(i, Sightline)]
    assert sorted(s.sightline_id for s in ok) == ["7001-57001-0012", "7001-57001-0013"]
    errors = {str(i).split(":")[0].split("/")[-1]: type(i) for i in items if isinstance(i, SightlineError)}
    assert errors == {
        "broken.fits": SpectrumReadError,
        "notes.csv": UnknownFormatError,
        "noz.npz": MissingRedshiftError,
        "missing.fits": SpectrumReadError,
        "nomatch*.fits": SpectrumReadError,
    }
    assert "Sightline" in kinds
    # a glob, with a quasar catalog supplying the redshift of the npz file
    cat = Table({"sightline_id": ["noz"], "z_qso": [2.4]})
    items = list(iter_spectra(str(d / "*.npz"), quasar_catalog=cat))
    assert len(items) == 1 and items[0].z_qso == pytest.approx(2.4)


def test_too_low_redshift_is_not_searchable(tmp_path):
    path = write_boss_spec(make_sightline(z=1.5), tmp_path / "low.fits")
    sl = read_boss_spec(path)
    with pytest.raises(NotSearchableError) as err:
        sl.check_searchable()
    assert err.value.status == "skipped"
    assert_one_line_naming(err.value, path)
    read_boss_spec(path, z_qso=3.0).check_searchable()  # the same spectrum at z=3 is fine


# ============================================================================== bad input
def _boss_ok(tmp_path, name="spec-4216-55477-0042.fits", **kw):
    n = 400
    return write_boss_by_hand(tmp_path / name, np.full(n, 2.0), np.ones(n), np.zeros(n, np.int32), **kw)


def _truncated(tmp_path):
    path = _boss_ok(tmp_path, "trunc.fits")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bad_cases(tmp_path):
    n = 400
    ok = _boss_ok(tmp_path)
    cases = []
    cases.append(("truncated", _truncated(tmp_path), read_boss_spec, SpectrumReadError))
    cases.append(("truncated-dispatch", _truncated(tmp_path), read_spectrum, SpectrumReadError))
    junk = tmp_path / "junk.fits"
    junk.write_bytes(bytes(range(256)) * 20)
    cases.append(("not-fits", junk, read_boss_spec, SpectrumReadError))
    cases.append(("not-fits-dispatch", junk, read_spectrum, UnknownFormatError))
    nocoadd = _boss_ok(tmp_path, "nocoadd.fits", drop=("COADD",))
    cases.append(("missing-hdu", nocoadd, read_boss_spec, SpectrumReadError))
    cases.append(("missing-hdu-dispatch", nocoadd, read_spectrum, SpectrumReadError))
    cases.append(("missing-column", _boss_ok(tmp_path, "noivar.fits", drop=("ivar",)), read_boss_spec,
                  SpectrumReadError))
    cases.append(("all-nan", write_boss_by_hand(tmp_path / "nan.fits", np.full(n, np.nan), np.ones(n),
                                                np.zeros(n, np.int32)), read_spectrum, InvalidSpectrumError))
    cases.append(("all-ivar-0", write_boss_by_hand(tmp_path / "ivar0.fits", np.ones(n), np.zeros(n),
                                                   np.zeros(n, np.int32)), read_spectrum, InvalidSpectrumError))
    cases.append(("no-redshift", _boss_ok(tmp_path, "noz.fits", spall_drop=("Z",)), read_spectrum,
                  MissingRedshiftError))
    cases.append(("bad-redshift", _boss_ok(tmp_path, "z0.fits", z=-1.0), read_spectrum, MissingRedshiftError))
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((10, 10))).writeto(image)
    cases.append(("unknown-fits", image, read_spectrum, UnknownFormatError))
    text = tmp_path / "readme.txt"
    text.write_text("just some words\n")
    cases.append(("unknown-text", text, read_spectrum, UnknownFormatError))
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    cases.append(("empty", empty, read_spectrum, UnknownFormatError))
    cases.append(("missing-file", tmp_path / "nothere.fits", read_spectrum, SpectrumReadError))
    desi = write_desi(tmp_path / "coadd-nofmap.fits", desi_arrays(1), [1], drop=("FIBERMAP",))
    cases.append(("desi-no-fibermap", desi, read_spectrum, SpectrumReadError))
    desi = write_desi(tmp_path / "coadd-noivar.fits", desi_arrays(1), [1], drop=("R_IVAR",))
    cases.append(("desi-no-ivar", desi, lambda p: read_desi_coadd(p, z_qso=2.5), SpectrumReadError))
    noflux = tmp_path / "noflux.ecsv"
    Table({"wavelength": np.arange(4000.0, 4100.0), "ivar": np.ones(100)}).write(noflux)
    cases.append(("table-missing-column", noflux, lambda p: read_table_spectrum(p, z_qso=2.5),
                  SpectrumReadError))
    noerr = tmp_path / "noerr.npz"
    np.savez(noerr, wavelength=np.arange(4000.0, 4100.0), flux=np.ones(100))
    cases.append(("npz-missing-column", noerr, lambda p: read_spectrum(p, z_qso=2.5), SpectrumReadError))
    npz_nan = tmp_path / "nan.npz"
    np.savez(npz_nan, wavelength=np.arange(4000.0, 4100.0), flux=np.full(100, np.inf), ivar=np.ones(100))
    cases.append(("npz-all-inf", npz_nan, lambda p: read_spectrum(p, z_qso=2.5), InvalidSpectrumError))
    cases.append(("bad-caller-z", ok, lambda p: read_spectrum(p, z_qso=-0.5), InvalidSpectrumError))
    return cases


def test_bad_inputs_raise_specific_one_line_errors(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = _bad_cases(tmp_path)
        for name, path, reader, exc_type in cases:
            with pytest.raises(SightlineError) as err:
                reader(path)
            assert type(err.value) is exc_type, f"{name}: {type(err.value).__name__}: {err.value}"
            assert_one_line_naming(err.value, path)
        # the same files in one batch: every one yields an error, none raises
        paths = sorted({str(p) for _, p, _, _ in cases})
        items = list(iter_spectra(paths, format=None))
    assert all(isinstance(i, (Sightline, SightlineError)) for i in items)
    assert sum(isinstance(i, SightlineError) for i in items) >= len(paths) - 1


def test_boss_engines_agree():
    from dla_cnn.assets import sample_spectra_dir
    from dla_cnn.io import read_spectrum

    path = sorted(sample_spectra_dir().glob("spec-*.fits.gz"))[0]
    a = read_spectrum(path)[0]
    b = read_spectrum(path, engine="astropy")[0]
    assert a.start_index == b.start_index and a.sightline_id == b.sightline_id and a.z_qso == b.z_qso
    np.testing.assert_allclose(a.flux, b.flux, rtol=1e-6)
    np.testing.assert_array_equal(a.ivar, b.ivar)
    np.testing.assert_array_equal(a.mask, b.mask)
