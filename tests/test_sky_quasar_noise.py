"""Sky realism of the simulator: BAL quasar troughs and BOSS's steep blue-end noise."""

import numpy as np
import pytest

from dla_cnn.simulate.noise import NoiseConfig, noise_sigma
from dla_cnn.simulate.quasar import BAL_LINES, C_KMS, QuasarConfig, bal_transmission

WAVE = 10.0 ** np.arange(np.log10(3600.0), np.log10(10400.0), 1e-4)


def _outflow_kms(rest, lam0):
    r2 = (rest / lam0) ** 2
    return C_KMS * (1.0 - r2) / (1.0 + r2)


def test_bal_fraction_is_about_ten_percent():
    rng = np.random.default_rng(1)
    n = 2000
    flags = [bal_transmission(WAVE, 2.5, rng)[1] for _ in range(n)]
    p = QuasarConfig().bal_fraction
    assert p == pytest.approx(0.10)
    assert abs(np.mean(flags) - p) < 3 * np.sqrt(p * (1 - p) / n)


def test_troughs_sit_blueward_of_their_lines():
    rng = np.random.default_rng(2)
    cfg = QuasarConfig()
    n_bal = 0
    seen_forest_trough = False
    for i in range(600):
        z = 2.0 + 0.005 * i
        trans, is_bal = bal_transmission(WAVE, z, rng, cfg)
        assert trans.shape == WAVE.shape
        assert np.all(trans >= 0.0) and np.all(trans <= 1.0)
        rest = WAVE / (1.0 + z)
        if not is_bal:
            assert np.all(trans == 1.0)
            continue
        n_bal += 1
        assert np.all(trans[rest > 1549.06] == 1.0)
        absorbed = trans < 1.0
        assert absorbed.any()
        # every absorbed pixel lies within the allowed outflow range of at least one ion
        v_max = cfg.bal_velocity_kms[1] + 0.5 * (cfg.bal_width_kms[1] + cfg.bal_edge_kms[1])
        inside = np.zeros_like(absorbed)
        for _name, lam0 in BAL_LINES:
            v = _outflow_kms(rest, lam0)
            inside |= (v > 0.0) & (v < v_max)
        assert np.all(inside[absorbed])
        # C IV trough floor reaches at least the minimum depth
        assert trans[(rest > 1400) & (rest < 1549.06)].min() <= 1.0 - cfg.bal_depth[0] + 1e-9
        seen_forest_trough |= bool(np.any(absorbed & (rest < 1215.67)))
    assert n_bal > 30
    assert seen_forest_trough  # Ly-alpha / N V troughs do reach the forest


def test_all_ions_share_one_smooth_velocity_profile():
    cfg = QuasarConfig(bal_fraction=1.0, bal_n_troughs=(1, 1), bal_velocity_kms=(3000.0, 3500.0),
                       bal_width_kms=(2000.0, 2500.0), bal_edge_kms=(300.0, 600.0),
                       bal_depth=(0.9, 0.95))
    rng = np.random.default_rng(8)
    max_step = 0.0
    for _ in range(50):
        z = 2.0 + rng.random()
        trans, is_bal = bal_transmission(WAVE, z, rng, cfg)
        assert is_bal
        rest = WAVE / (1.0 + z)
        extents = []
        for _name, lam0 in BAL_LINES[:3]:  # C IV, Si IV, N V: troughs end below 5000 km/s,
            v = _outflow_kms(rest, lam0)  # the Ly-alpha trough starts above 5900 km/s of N V
            sel = (v > 0) & (v < 5500) & (trans < 1.0)
            extents.append((v[sel].min(), v[sel].max()))
        for lo, hi in extents[1:]:
            assert lo == pytest.approx(extents[0][0], abs=150.0)  # one pixel is ~69 km/s
            assert hi == pytest.approx(extents[0][1], abs=150.0)
        max_step = max(max_step, np.abs(np.diff(trans)).max())
    assert max_step < 0.6  # smooth edges, no hard cut-offs


def test_bal_is_deterministic_and_off_switch_draws_nothing():
    a = bal_transmission(WAVE, 3.0, np.random.default_rng(7), QuasarConfig(bal_fraction=1.0))
    b = bal_transmission(WAVE, 3.0, np.random.default_rng(7), QuasarConfig(bal_fraction=1.0))
    assert a[1] and b[1]
    np.testing.assert_array_equal(a[0], b[0])
    rng = np.random.default_rng(7)
    trans, is_bal = bal_transmission(WAVE, 3.0, rng, QuasarConfig(bal_fraction=0.0))
    assert not is_bal and np.all(trans == 1.0)
    assert rng.random() == np.random.default_rng(7).random()


def _ratio(rng, cfg, z):
    flux = np.ones_like(WAVE)
    sigma = noise_sigma(WAVE, flux, 1.0, 5.0, rng, 1450.0 * (1 + z), cfg)
    return np.interp(3700.0, WAVE, sigma) / np.interp(4500.0, WAVE, sigma)


def _ratios(cfg, seed, n=200):
    rng = np.random.default_rng(seed)
    return np.array([_ratio(rng, cfg, 2.0 + 1.5 * rng.random()) for _ in range(n)])


def test_blue_noise_is_several_times_the_noise_at_4500():
    r = _ratios(NoiseConfig(), seed=3)
    assert 3.0 <= r.mean() <= 6.0
    assert r.std() > 0.3  # varies from spectrum to spectrum


def test_blue_rise_scale_steepens_the_blue_noise():
    base = _ratios(NoiseConfig(), seed=4).mean()
    steeper = _ratios(NoiseConfig(blue_rise_scale=2.0), seed=4).mean()
    flatter = _ratios(NoiseConfig(blue_rise_scale=0.0), seed=4).mean()
    assert flatter < base < steeper
    assert steeper > 1.3 * base


def test_noise_sigma_old_call_still_works_and_keeps_the_target_snr():
    rng = np.random.default_rng(6)
    flux = np.ones_like(WAVE)
    norm_wave = 1450.0 * 3.6
    sigma = noise_sigma(WAVE, flux, 1.0, 8.0, rng, norm_wave)  # positional, default config
    assert sigma.shape == WAVE.shape and np.all(sigma > 0)
    assert 1.0 / np.interp(norm_wave, WAVE, sigma) == pytest.approx(8.0, rel=1e-3)
    sigma_kw = noise_sigma(WAVE, flux, 1.0, 8.0, rng, norm_wave=norm_wave, cfg=NoiseConfig())
    assert np.all(np.isfinite(sigma_kw))
