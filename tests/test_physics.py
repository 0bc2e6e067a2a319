"""Voigt optical depths against linetools, and the Lyman-limit continuum."""

import numpy as np
import pytest

from dla_cnn.physics import apply_lsf, lyman_series, transmission, voigt_tau
from dla_cnn.physics.voigt import fine_grid, lyman_limit_tau


def _linetools_tau(wave, log_n, z, b):
    from linetools.analysis.voigt import voigt_tau as lt_tau

    s = lyman_series()
    return sum(lt_tau(wave * 1e-8, [log_n, z, b * 1e5, w * 1e-8, f, g]) for w, f, g in zip(s.wrest, s.f, s.gamma))


def test_series_from_linetools():
    from dla_cnn.physics.lyman import linetools_series

    s = lyman_series()
    assert len(s) >= 25
    lt = linetools_series()  # the packaged copy is linetools' table, value for value
    for ours, theirs in ((s.wrest, lt.wrest), (s.f, lt.f), (s.gamma, lt.gamma)):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(s.wrest[:5], [1215.6701, 1025.7223, 972.5368, 949.7431, 937.8035], atol=2e-3)
    np.testing.assert_allclose(s.f[:2], [0.4164, 0.07912], rtol=1e-3)
    np.testing.assert_allclose(s.gamma[0], 6.265e8, rtol=1e-3)


@pytest.mark.parametrize("log_n,z,b", [(20.3, 2.5, 30.0), (21.7, 3.1, 20.0), (19.5, 2.2, 40.0), (14.0, 2.8, 25.0)])
def test_voigt_matches_linetools(log_n, z, b):
    wave = np.linspace(3200.0, 5200.0, 40000)
    ours = np.exp(-voigt_tau(wave, log_n, z, b, lyman_limit=False))
    ref = np.exp(-_linetools_tau(wave, log_n, z, b))
    assert np.max(np.abs(ours - ref)) < 1e-3


def test_dla_core_is_black_and_wings_recover():
    wave = np.linspace(4000, 4500, 5000)
    f = transmission(wave, 21.0, 2.5, 30.0)
    centre = 1215.6701 * 3.5
    assert f[np.argmin(np.abs(wave - centre))] < 1e-10
    assert f[np.argmin(np.abs(wave - centre - 150))] > 0.95


def test_several_absorbers_add_optical_depth():
    wave = np.linspace(3800, 4600, 8000)
    both = voigt_tau(wave, [20.5, 20.8], [2.3, 2.6], [30, 25])
    np.testing.assert_allclose(both, voigt_tau(wave, 20.5, 2.3, 30) + voigt_tau(wave, 20.8, 2.6, 25), rtol=1e-12)


def test_lyman_limit_continuum():
    wave = np.array([911.0, 900.0, 800.0, 912.0]) * 3.0
    tau = lyman_limit_tau(wave, 17.2, 2.0)
    np.testing.assert_allclose(tau[:3], 10**17.2 * 6.30e-18 * (wave[:3] / 3 / 911.76) ** 3)
    assert tau[3] == 0.0
    assert tau[0] == pytest.approx(0.997, rel=0.01)  # tau ~ 1 at the limit for log N = 17.2


def test_lsf_conserves_equivalent_width_and_averages_pixels():
    grid_f = fine_grid(36000, 400, 5)
    flux = np.exp(-voigt_tau(10**grid_f, 14.5, 2.3, 25.0))
    pix = apply_lsf(flux, 5, 1.0)
    assert pix.shape == (400,)
    ew_fine = np.sum(1 - flux) / 5
    ew_pix = np.sum(1 - pix)
    assert ew_pix == pytest.approx(ew_fine, rel=1e-3)
    # without convolution a block mean is exactly the pixel average
    np.testing.assert_allclose(apply_lsf(flux, 5, 0.0), flux.reshape(400, 5).mean(axis=1))
