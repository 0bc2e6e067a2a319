"""Tests of dla_cnn.vet.ceiling: the completeness and purity a log N_HI scatter allows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from dla_cnn import vet
from dla_cnn.vet.ceiling import sigma_for_completeness, typing_ceiling


def test_no_scatter_types_by_the_true_column():
    c = typing_ceiling([19.5, 20.1, 20.3, 21.0], 0.0)
    assert c.completeness == 1.0 and c.n_true_dla == 2
    assert c.expected_dla_rows == 2.0 and c.purity == 1.0


def test_one_sigma_above_the_threshold_is_typed_dla_at_phi_of_one():
    c = typing_ceiling(np.full(7, 20.42), 0.12)
    assert c.completeness == pytest.approx(norm.cdf(1.0), abs=1e-9)
    # a bias of -1 sigma puts the measured columns on the threshold
    assert typing_ceiling(np.full(7, 20.42), 0.12, bias=-0.12).completeness == pytest.approx(0.5, abs=1e-9)
    # typing from a lower measured column recovers them
    assert typing_ceiling(np.full(7, 20.42), 0.12, type_min=20.18).completeness == pytest.approx(norm.cdf(2.0), abs=1e-9)


def test_purity_counts_rows_of_true_columns_below_purity_min_as_false():
    n = np.array([19.9] * 10 + [20.7] * 10)
    c = typing_ceiling(n, 0.2)
    p_sub, p_dla = norm.cdf(-2.0), norm.cdf(2.0)
    assert c.expected_dla_rows == pytest.approx(10 * (p_sub + p_dla))
    assert c.purity == pytest.approx(p_dla / (p_sub + p_dla))
    # absorbers below subdla_min never become rows
    assert typing_ceiling(np.r_[n, [18.0] * 50], 2.0).expected_dla_rows == pytest.approx(
        typing_ceiling(n, 2.0).expected_dla_rows)


def test_wanted_and_per_absorber_sigma():
    n = np.array([20.5, 20.5, 22.0, 19.0])
    c = typing_ceiling(n, np.array([0.1, 1.0, 0.1, 0.1]), wanted=[True, False, True, True])
    assert c.n_true_dla == 2
    assert c.completeness == pytest.approx((norm.cdf(2.0) + 1.0) / 2, abs=1e-9)


def test_ceiling_equals_the_mean_of_a_monte_carlo_of_the_ideal_finder():
    rng = np.random.default_rng(5)
    # f(N) ~ N^-1.5 below 20.3 and N^-2 above: log N pdf ~ 10^(-0.5 x), 10^(-x)
    low = 19.0 - np.log10(1 - rng.random(4000) * (1 - 10 ** (-0.5 * 1.3))) / 0.5
    high = 20.3 - np.log10(1 - rng.random(1000) * (1 - 10 ** -2.2))
    n = np.r_[low, high]
    sigma = 0.12
    c = typing_ceiling(n, sigma)
    comp, pure = [], []
    for _ in range(400):
        typed = n + rng.normal(0.0, sigma, n.size) >= 20.3
        comp.append(typed[n >= 20.3].mean())
        pure.append((typed & (n >= 20.0)).sum() / typed.sum())
    assert c.completeness == pytest.approx(np.mean(comp), abs=0.002)
    assert c.purity == pytest.approx(np.mean(pure), abs=0.002)
    # the steep f(N) above the threshold: ~10% of true DLAs measured below it at 0.12 dex
    assert 0.87 < c.completeness < 0.92


def test_sigma_for_completeness_inverts_the_ceiling():
    n = np.full(5, 20.42)
    assert sigma_for_completeness(n, norm.cdf(1.0)) == pytest.approx(0.12, abs=1e-4)
    rng = np.random.default_rng(2)
    n = 20.3 - np.log10(1 - rng.random(3000) * (1 - 10 ** -2.2))
    s = sigma_for_completeness(n, 0.95)
    assert typing_ceiling(n, s).completeness == pytest.approx(0.95, abs=1e-4)
    assert typing_ceiling(n, 1.5 * s).completeness < 0.95 < typing_ceiling(n, 0.5 * s).completeness
    assert 0.03 < s < 0.08  # the 0.95 goal needs a log N scatter of ~0.05 dex at the threshold


def test_sigma_for_completeness_edges():
    assert sigma_for_completeness([20.3], 0.9) == 0.0  # exactly at the threshold: half at any scatter
    assert sigma_for_completeness([23.0], 0.5, max_sigma=1.0) == 1.0
    assert math.isnan(sigma_for_completeness([19.5], 0.5))
    with pytest.raises(ValueError, match="target completeness"):
        sigma_for_completeness([21.0], 1.0)

