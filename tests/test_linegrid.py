"""The fast line optical depths of the simulator against exact full-grid Voigt sums."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.special import dawsn, wofz

from dla_cnn import grid
from dla_cnn.physics import apply_lsf, lyman_series, voigt_tau
from dla_cnn.physics.linegrid import lines_tau, voigt_h1, voigt_h_small_a
from dla_cnn.physics.voigt import fine_grid
from dla_cnn.simulate.forest import ForestConfig, draw_forest, forest_tau
from dla_cnn.simulate.sightlines import thick_absorber_tau


def _skewer_grid(z_qso: float) -> np.ndarray:
    """The sub-pixel grid of a training-set sightline (900-1480 A rest)."""
    start = grid.window_start_index(z_qso)
    npix = grid.loglam_to_index(np.log10(grid.NORM_REST[1] * (1 + z_qso))) - start + 2
    return fine_grid(start, npix, 5)


def test_small_a_voigt_function_matches_wofz():
    u = np.linspace(-60.0, 60.0, 120001)
    for a in (5e-5, 2e-4, 4e-4):
        exact = wofz(u + 1j * a).real
        assert np.max(np.abs(voigt_h_small_a(a, u) / exact - 1.0)) < 1e-5
    h1 = -2.0 / np.sqrt(np.pi) * (1.0 - 2.0 * u * dawsn(u))
    core = np.abs(u) < 10
    assert np.max(np.abs(voigt_h1(u[core]) - h1[core])) < 4e-5
    assert np.max(np.abs(voigt_h1(u[core].astype(np.float32)) - h1[core])) < 4e-5


@pytest.mark.parametrize("z_qso,seed", [(2.3, 1), (3.0, 2), (4.0, 3)])
def test_forest_optical_depth_matches_the_exact_voigt_sum(z_qso, seed):
    """Every line where tau > 1e-5 (Gaussian cores of thin lines, damping wings of the others)
    against every line's Voigt profile over the whole grid: transmission within 1e-3."""
    loglam = _skewer_grid(z_qso)
    fz, fn, fb = draw_forest(np.random.default_rng(seed), 10 ** loglam[0] / grid.LYA_REST - 1, z_qso, ForestConfig())
    assert fz.size > 300 and fn.max() > 15.5  # thin and damped lines both present
    fast = forest_tau(loglam, fz, fn, fb, 5)
    exact = voigt_tau(10**loglam, fn, fz, fb, series=lyman_series(5), lyman_limit=False)
    assert np.max(np.abs(np.exp(-fast) - np.exp(-exact))) < 1e-3
    # and the summed optical depth, where the transmission is measurable
    thin = exact < 3.0
    assert np.max(np.abs(fast - exact)[thin]) < 2e-3


@pytest.mark.parametrize("log_n,b", [(17.3, 15.0), (19.0, 25.0), (20.3, 40.0), (21.3, 30.0), (22.5, 20.0)])
def test_thick_absorbers_match_the_exact_voigt_sum(log_n, b):
    """Whole Lyman series and Lyman limit, one absorber in the middle of the grid and one whose
    Lyman-alpha lies beyond its red end (only its wing and higher lines fall on the grid)."""
    loglam = _skewer_grid(3.2)
    z = np.array([3.0, 10 ** loglam[-1] / grid.LYA_REST - 1 + 0.02])
    fast = thick_absorber_tau(loglam, z, [log_n, log_n], [b, b])
    exact = voigt_tau(10**loglam, [log_n, log_n], z, [b, b])
    assert np.max(np.abs(np.exp(-fast) - np.exp(-exact))) < 1e-3


@pytest.mark.parametrize("log_n,z,b", [(20.3, 2.5, 30.0), (21.7, 3.1, 20.0), (19.5, 2.2, 40.0), (14.0, 2.8, 25.0)])
def test_fast_voigt_matches_linetools(log_n, z, b):
    from linetools.analysis.voigt import voigt_tau as lt_tau

    loglam = fine_grid(35200, 2000, 5)  # 3251-4869 A
    s = lyman_series()
    ref = sum(lt_tau(10**loglam * 1e-8, [log_n, z, b * 1e5, w * 1e-8, f, g]) for w, f, g in zip(s.wrest, s.f, s.gamma))
    ours = lines_tau(loglam[0], loglam[1] - loglam[0], loglam.size, [([z], [log_n], [b], s)])
    assert np.max(np.abs(np.exp(-ours) - np.exp(-ref))) < 1e-3


def test_groups_add_and_empty_input():
    loglam = _skewer_grid(2.8)
    step = loglam[1] - loglam[0]
    forest = (np.array([2.1, 2.5, 2.7]), np.array([13.0, 15.2, 17.0]), np.array([25.0, 30.0, 20.0]), lyman_series(5))
    thick = (np.array([2.4]), np.array([20.8]), np.array([30.0]), lyman_series())
    both = lines_tau(loglam[0], step, loglam.size, [forest, thick])
    np.testing.assert_allclose(both, lines_tau(loglam[0], step, loglam.size, [forest])
                               + lines_tau(loglam[0], step, loglam.size, [thick]), rtol=1e-6, atol=1e-9)
    empty = (np.empty(0), np.empty(0), np.empty(0), lyman_series())
    assert (lines_tau(loglam[0], step, loglam.size, [empty]) == 0).all()
    assert (thick_absorber_tau(loglam, [], [], []) == 0).all()
    # absorbers whose lines all fall off the grid add nothing
    assert (lines_tau(loglam[0], step, loglam.size, [([9.0], [15.0], [30.0], lyman_series(5))]) == 0).all()


@pytest.mark.parametrize("oversample,sigma", [(5, 0.8), (5, 1.35), (3, 1.0)])
def test_lsf_at_pixel_centres_equals_convolve_then_average(oversample, sigma):
    rng = np.random.default_rng(0)
    flux = rng.random((2, 300 * oversample))
    flux[:, :40] = 0.2  # an edge value that differs from the interior
    ref = gaussian_filter1d(flux, sigma * oversample, axis=-1, mode="nearest", truncate=4.0)
    ref = ref.reshape(2, 300, oversample).mean(axis=-1)
    np.testing.assert_allclose(apply_lsf(flux, oversample, sigma), ref, rtol=0, atol=1e-14)
    np.testing.assert_allclose(apply_lsf(flux[0], oversample, sigma), ref[0], rtol=0, atol=1e-14)


def test_kernels_compile_in_memory_where_no_cache_directory_is_writable(monkeypatch):
    import dla_cnn.physics.linegrid as lg

    real_njit = lg.njit

    def njit(*, cache, **options):
        if cache:  # what numba does when it finds no writable cache location
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(cache=False, **options)

    monkeypatch.setattr(lg, "njit", njit)

    def twice(x):
        return 2.0 * x

    assert lg._compiled()(twice)(1.5) == 3.0


def test_the_cached_inverse_wavelength_table_equals_its_direct_computation():
    from dla_cnn.physics.linegrid import _inv_lambda

    eps = np.log(10.0) * 2e-5
    for n in (1, 4095, 4096, 4097, 12345):
        np.testing.assert_array_equal(_inv_lambda(eps, n), np.exp(-eps * np.arange(n)))
    assert _inv_lambda(eps, 5000).base is _inv_lambda(eps, 6000).base  # one table serves both
