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
    assert 1.0 < n_lls < 2.0  # ~1.5 per unit z at z ~ 3
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
