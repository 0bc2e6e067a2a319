"""The built-in simulator: mean flux, truth, noise, redshift distribution."""

import numpy as np
import pytest

from dla_cnn import grid
from dla_cnn.physics.voigt import apply_lsf
from dla_cnn.simulate import SimulatorConfig, draw_z_qso, simulate_host, simulate_sightline, tau_eff
from dla_cnn.simulate.forest import ForestConfig, draw_thick_absorbers


@pytest.mark.parametrize("z", [2.2, 2.7, 3.2, 3.7])
def test_mean_flux_follows_tau_eff(z):
    rng = np.random.default_rng(int(z * 10))
    cfg = SimulatorConfig(natural_thick_absorbers=False)
    means = []
    for _ in range(60):
        zq = z + 0.15
        start = grid.loglam_to_index(np.log10(1090 * (1 + zq)))
        host = simulate_host(rng, zq, cfg, start_index=start, npix=700)
        trans = apply_lsf(np.exp(-host.tau_fine), cfg.oversample, 1.0)
        near = np.abs(host.wave / grid.LYA_REST - 1 - z) < 0.05
        means.append(trans[near].mean())
    assert np.mean(means) == pytest.approx(np.exp(-tau_eff(z)), abs=0.03)


def test_thick_absorber_incidence():
    rng = np.random.default_rng(3)
    z, log_n, _ = zip(*(draw_thick_absorbers(rng, 2.5, 3.5, ForestConfig()) for _ in range(400)))
    n_lls = sum(len(a) for a in z) / 400
    n_sub = sum((a >= 19.0).sum() for a in log_n) / 400
    assert 1.8 < n_lls < 2.7  # Songaila & Cowie (2010): ~2.2 per unit z at z ~ 3
    assert 0.15 < n_sub < 0.5
    assert all((a >= 17.2).all() and (a < 20.3).all() for a in log_n)


def test_simulated_sightline_is_boss_like():
    rng = np.random.default_rng(11)
    sl, truth = simulate_sightline(rng, index=5, seed=2, z_qso=3.0, dla_rate=3.0)
    assert sl.sightline_id == "10020-60002-0006"
    assert sl.loglam[0] == pytest.approx(np.log10(3600), abs=1e-4)
    assert 10 ** sl.loglam[-1] == pytest.approx(10400, rel=1e-3)
    assert (sl.ivar[sl.mask] == 0).all()
    assert sl.good.mean() > 0.9
    dlas = [t for t in truth if t["kind"] == "dla"]
    assert dlas and all(20.3 <= t["log_nhi"] <= 22.5 for t in dlas)
    zmin, zmax = sl.search_z_range()
    assert all(zmin <= t["z_abs"] <= zmax for t in dlas)
    # a DLA core is dark in the data
    t = max(dlas, key=lambda d: d["log_nhi"])
    i = int(round(np.log10(grid.LYA_REST * (1 + t["z_abs"])) / 1e-4)) - sl.start_index
    assert np.median(sl.flux[i - 2: i + 3]) < 0.25 * np.median(sl.flux[i + 150: i + 200])


def test_target_snr_is_reached():
    rng = np.random.default_rng(5)
    for target in (2.0, 10.0, 25.0):
        host = simulate_host(rng, 2.6, SimulatorConfig(), snr=target)
        flux, ivar, mask, model = host.realise(rng)
        sel = np.abs(host.wave / 3.6 - 1450) < 30
        measured = np.median(model[sel] * np.sqrt(ivar[sel]))
        assert measured == pytest.approx(target, rel=0.15)


def test_z_qso_distribution():
    z = draw_z_qso(np.random.default_rng(0), 20000)
    assert z.min() >= 2.0 and z.max() <= 5.0
    hist, edges = np.histogram(z, bins=np.arange(2.0, 5.01, 0.1))
    assert 2.2 <= edges[np.argmax(hist)] <= 2.6
    assert 2.5 < np.median(z) < 2.9


def test_same_seed_same_spectrum():
    a, ta = simulate_sightline(np.random.default_rng(9), dla_rate=1.0)
    b, tb = simulate_sightline(np.random.default_rng(9), dla_rate=1.0)
    np.testing.assert_array_equal(a.flux, b.flux)
    assert ta == tb


# what simulator version 2 draws for the first held-out sightlines of seed 9101 (bench_detection's
# natural set): z_qso, its absorbers with log N >= 19 (z, log N) and the sum of its flux
_HELDOUT_9101_V2 = [
    (2.385657, [], 5053.27),
    (2.115789, [], 4021.99),
    (2.829124, [(2.571714, 19.5148)], 4933.93),
]


def test_seeded_skies_are_those_of_the_simulator_version():
    """Seeded held-out sets are rebuilt by command; a change that draws other skies from the same
    seeds must bump SIMULATOR_VERSION (and this fingerprint), or kept sets would be silently mixed."""
    from dataclasses import replace

    from dla_cnn.simulate import SIMULATOR_VERSION
    from dla_cnn.simulate.sky import draw_sky, sky_variation

    assert SIMULATOR_VERSION == 2
    base = SimulatorConfig()
    base = replace(base, noise=replace(base.noise, snr_distribution="loguniform"))
    for i, (z_qso, absorbers, flux_sum) in enumerate(_HELDOUT_9101_V2):
        rng = np.random.default_rng([9101, i])
        sl, truth = simulate_sightline(rng, index=i, seed=9101, cfg=draw_sky(rng, base, sky_variation("heldout")),
                                       dla_rate=0.25)
        assert sl.z_qso == pytest.approx(z_qso, abs=1e-6)
        assert [(round(t["z_abs"], 6), round(t["log_nhi"], 4)) for t in truth] == absorbers
        assert float(np.sum(sl.flux)) == pytest.approx(flux_sum, abs=0.01)


def test_forest_f_n_is_a_broken_power_law():
    from dla_cnn.simulate.forest import draw_forest_log_n

    cfg = ForestConfig()
    log_n = draw_forest_log_n(np.random.default_rng(1), 400_000, cfg)
    assert log_n.min() >= cfg.log_n_min and log_n.max() <= cfg.log_n_max
    # dn/dlogN slope (1 - beta) measured on either side of the break
    for lo, hi, beta in ((12.5, 14.0, cfg.beta), (15.0, 16.8, cfg.beta_high)):
        edges = np.linspace(lo, hi, 7)
        counts, _ = np.histogram(log_n, edges)
        slope = np.polyfit(0.5 * (edges[1:] + edges[:-1]), np.log10(counts), 1)[0]
        assert slope == pytest.approx(1.0 - beta, abs=0.08)


def test_lyman_continuum_of_many_lines_equals_the_sum_of_each():
    from dla_cnn.physics.voigt import lyman_limit_tau
    from dla_cnn.simulate.forest import lyman_continuum_tau

    rng = np.random.default_rng(4)
    z = rng.uniform(2.0, 3.0, 40)
    log_n = rng.uniform(15.5, 18.0, 40)
    loglam = np.linspace(np.log10(3400.0), np.log10(4200.0), 3000)
    expected = sum(lyman_limit_tau(10**loglam, n, zz) for n, zz in zip(log_n, z))
    np.testing.assert_allclose(lyman_continuum_tau(loglam, z, log_n), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("z_em", [2.5, 3.0, 4.0])
def test_mean_free_path_on_simulated_skewers_matches_worseck(z_em):
    """<exp(-tau_LL)> along simulated skewers falls to 1/e at Worseck et al.'s (2014) mfp (+-30%)."""
    from dla_cnn.simulate.forest import draw_forest, lyman_continuum_tau, mean_free_path

    cfg = ForestConfig()
    rng = np.random.default_rng(int(10 * z_em))
    z_lo = z_em - 0.8
    wave = grid.LYMAN_LIMIT_REST * (1 + z_em) * np.linspace(0.8, 1.0, 400)
    trans = np.zeros_like(wave)
    n_skewers = 300
    for _ in range(n_skewers):
        fz, fn, _b = draw_forest(rng, z_lo, z_em, cfg)
        tz, tn, _tb = draw_thick_absorbers(rng, z_lo, z_em, cfg)
        thick = fn > cfg.ll_continuum_min_log_n
        z_all, n_all = np.concatenate([fz[thick], tz]), np.concatenate([fn[thick], tn])
        trans += np.exp(-lyman_continuum_tau(np.log10(wave), z_all, n_all))
    trans /= n_skewers
    z_one = wave[np.argmin(np.abs(trans - np.exp(-1.0)))] / grid.LYMAN_LIMIT_REST - 1.0
    zz = np.linspace(z_one, z_em, 500)
    hubble = 70.0 * np.sqrt(0.3 * (1 + zz) ** 3 + 0.7)
    mfp_skewers = np.trapezoid(grid.C_KMS / ((1 + zz) * hubble), zz)
    worseck = 37.0 * ((1 + z_em) / 5.0) ** -5.4
    assert mfp_skewers == pytest.approx(worseck, rel=0.3)
    assert mean_free_path(z_em, cfg) == pytest.approx(mfp_skewers, rel=0.15)


def test_randomised_skies_stay_in_their_ranges_and_heldout_lies_outside_training():
    from dataclasses import fields

    from dla_cnn.simulate.sky import SKIES, draw_sky

    base = SimulatorConfig()
    train, held = SKIES["train"], SKIES["heldout"]
    rng = np.random.default_rng(0)
    cfgs = [draw_sky(rng, base, train) for _ in range(200)]
    dens = np.array([c.forest.tau_eff_norm / base.forest.tau_eff_norm for c in cfgs])
    lls = np.array([c.forest.lls_incidence_z3 / base.forest.lls_incidence_z3 for c in cfgs])
    assert 0.8 <= dens.min() and dens.max() <= 1.2 and dens.std() > 0.05
    assert 0.5 <= lls.min() and lls.max() <= 2.0
    assert len({c.lsf_sigma_pix for c in cfgs}) == 200
    # every held-out range touches the training range at most at one edge
    for f in fields(train):
        (a, b), (c, d) = getattr(train, f.name), getattr(held, f.name)
        assert c >= b or d <= a, f.name
    assert draw_sky(rng, base, None) is base
    # a held-out sky still makes a valid spectrum
    sl, _ = simulate_sightline(np.random.default_rng(1), cfg=draw_sky(np.random.default_rng(2), base, held),
                               z_qso=3.0, dla_rate=1.0)
    assert sl.validate() is sl


def test_heldout_sky_keeps_a_physical_mean_free_path():
    from dataclasses import replace

    from dla_cnn.simulate.forest import mean_free_path
    from dla_cnn.simulate.sky import SKIES

    held, base = SKIES["heldout"], ForestConfig()
    for density, slope, lls in ((held.forest_density[0], held.forest_slope[0], held.lls_incidence[0]),
                                (held.forest_density[1], held.forest_slope[1], held.lls_incidence[1])):
        cfg = replace(base, tau_eff_norm=base.tau_eff_norm * density, beta=base.beta * slope,
                      beta_high=base.beta_high * slope, lls_incidence_z3=base.lls_incidence_z3 * lls)
        for z in (2.5, 3.0, 4.0):
            worseck = 37.0 * ((1 + z) / 5.0) ** -5.4
            assert worseck / 3.0 < mean_free_path(z, cfg) < worseck
