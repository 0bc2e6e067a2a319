"""Tests of dla_cnn.absorber.augment: random nuisance changes of training crops."""

from __future__ import annotations

import numpy as np
import pytest

from dla_cnn.absorber.augment import CONTINUUM_SCALE_PX, CropAugment
from dla_cnn.absorber.crops import CROP_SHAPES, LYB_SHIFT


def _batch(k: int = 64, flux: float = 0.5, sigma: float = 0.1, snr: float = 10.0) -> list[np.ndarray]:
    """Crops of constant flux and error, the last 20 lya pixels and the whole ll segment without data."""
    lya = np.zeros((k, *CROP_SHAPES[0]), np.float32)
    lya[..., 0], lya[..., 1], lya[..., 2] = flux, 1.0 / (1.0 + sigma), 0.7
    lya[:, -20:, :2] = 0.0
    lyb = np.zeros((k, *CROP_SHAPES[1]), np.float32)
    lyb[..., 0], lyb[..., 1] = flux, 1.0 / (1.0 + sigma)
    ll = np.zeros((k, *CROP_SHAPES[2]), np.float32)
    scalars = np.zeros((k, *CROP_SHAPES[3]), np.float32)
    scalars[:, 0] = np.log10(1.0 + snr)
    scalars[:, 1] = 0.3
    return [lya, lyb, ll, scalars]


def test_no_share_changes_nothing_and_a_seed_repeats_itself():
    x = _batch()
    same = CropAugment(p=0.0).apply(x, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(x, same))
    one, two = (CropAugment(p=0.5).apply(x, np.random.default_rng(3)) for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    changed = np.any(one[0] != x[0], axis=(1, 2))
    assert 16 < changed.sum() < 48  # about half of 64
    assert np.array_equal(one[0][~changed], x[0][~changed])  # the others as given


def test_pixels_without_data_and_the_first_stage_curves_stay():
    x = _batch()
    y = CropAugment(p=1.0, continuum=0.1, extra_noise=(1.2, 1.3)).apply(x, np.random.default_rng(0))
    assert np.all(y[0][:, -20:, :2] == 0.0) and np.all(y[2] == 0.0)
    assert np.array_equal(y[0][..., 2:], x[0][..., 2:])
    assert np.array_equal(y[3][:, 1:], x[3][:, 1:])
    assert all(a.dtype == np.float32 and a.shape == b.shape for a, b in zip(y, x))


def test_extra_noise_matches_the_error_it_reports_and_lowers_the_snr_scalar():
    x = _batch(k=200)
    aug = CropAugment(p=1.0, continuum=0.0, extra_noise=(1.25, 1.25), misreport=(1.0, 1.0))
    y = aug.apply(x, np.random.default_rng(7))
    flux = y[0][:, :-20, 0]
    assert flux.mean() == pytest.approx(0.5, abs=0.002)
    assert flux.std() == pytest.approx(0.1 * np.sqrt(1.25**2 - 1.0), rel=0.02)
    np.testing.assert_allclose(y[0][:, :-20, 1], 1.0 / (1.0 + 0.125), rtol=1e-6)
    np.testing.assert_allclose(10.0 ** y[3][:, 0] - 1.0, 10.0 / 1.25, rtol=1e-5)


def test_misreported_errors_leave_the_flux_and_scale_error_and_snr():
    x = _batch()
    y = CropAugment(p=1.0, continuum=0.0, extra_noise=(1.0, 1.0), misreport=(0.9, 0.9 + 1e-12)).apply(
        x, np.random.default_rng(2))
    np.testing.assert_allclose(y[0][:, :-20, 0], 0.5)
    np.testing.assert_allclose(1.0 / y[0][:, :-20, 1] - 1.0, 0.09, rtol=1e-5)
    np.testing.assert_allclose(10.0 ** y[3][:, 0] - 1.0, 10.0 / 0.9, rtol=1e-5)


def test_a_continuum_error_is_one_smooth_factor_on_flux_and_error_across_segments():
    x = _batch(k=8)
    y = CropAugment(p=1.0, continuum=0.05, extra_noise=(1.0, 1.0), misreport=(1.0, 1.0)).apply(
        x, np.random.default_rng(5))
    g_lya = y[0][:, :-20, 0] / 0.5
    g_err = (1.0 / y[0][:, :-20, 1] - 1.0) / 0.1
    np.testing.assert_allclose(g_lya, g_err, rtol=1e-4)
    # a quadratic in the pixel offset u: fit it on the lya segment, predict the lyb segment
    u = (np.arange(-256, 236) / CONTINUUM_SCALE_PX)
    for i in range(8):
        coef = np.polyfit(u, g_lya[i], 2)
        assert coef[2] == pytest.approx(1.0, abs=1e-4)
        u_b = (LYB_SHIFT + np.arange(-64, 64)) / CONTINUUM_SCALE_PX
        np.testing.assert_allclose(y[1][i, :, 0] / 0.5, np.polyval(coef, u_b), rtol=2e-4)
    assert np.ptp(g_lya) > 0.005  # it did change something


def test_crop_batches_augment_training_batches_reproducibly():
    from dla_cnn.absorber.train import CropBatches

    x = _batch(k=32)
    labels = np.zeros((32, 4), np.float32)
    plain = CropBatches(x, labels, batch_size=16, seed=4)
    aug = CropBatches(x, labels, batch_size=16, seed=4, augment=CropAugment(p=1.0))
    (xa, ya), (xb, yb) = plain[0], aug[0]
    assert np.array_equal(ya, yb) and not np.array_equal(xa[0], xb[0])
    again = CropBatches(x, labels, batch_size=16, seed=4, augment=CropAugment(p=1.0))
    assert all(np.array_equal(a, b) for a, b in zip(xb, again[0][0]))
    assert not np.array_equal(xb[0], aug[1][0][0])  # another batch, other draws
