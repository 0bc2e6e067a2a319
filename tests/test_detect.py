"""From per-pixel predictions to absorbers, on predictions made from known labels."""

import numpy as np
import pytest

from dla_cnn import grid
from dla_cnn.scan.calibrate import _coverage_scale, isotonic
from dla_cnn.scan.detect import Calibration, DetectConfig, detect_absorbers, vote_histogram
from dla_cnn.training.labels import make_labels, pixel_to_z

START = 35600


def _perfect(centres, log_n, p_pos=0.95, p_neg=0.02):
    z = [float(pixel_to_z(c, START)) for c in centres]
    cls, off, nhi = make_labels(START, z, log_n)
    prob = np.where(cls == 1, p_pos, p_neg)
    return z, prob, off, nhi


def test_subpixel_centre_and_no_half_pixel_bias():
    for c in (500.0, 500.25, 500.5, 500.75, 1200.9):
        z, prob, off, nhi = _perfect([c], [21.0])
        (d,) = detect_absorbers(prob, off, nhi, START)
        assert d.centre_px == pytest.approx(c, abs=1e-3)
        assert d.z_abs == pytest.approx(z[0], abs=1e-7)
        assert d.lambda_obs == pytest.approx(grid.LYA_REST * (1 + z[0]), rel=1e-8)
        assert d.type == "DLA" and d.log_nhi == pytest.approx(21.0, abs=1e-4)


def test_negatives_do_not_vote():
    z, prob, off, nhi = _perfect([900.0], [20.6])
    # a negative pixel with a wild offset pointing elsewhere must not create a detection
    off = off.copy()
    off[100:200] = 300.0 - np.arange(100, 200)
    (d,) = detect_absorbers(prob, off, nhi, START)
    assert d.centre_px == pytest.approx(900.0)
    hist, _, voter = vote_histogram(prob, off, 0.5)
    assert voter.sum() == 121 and hist.sum() == pytest.approx(121 * 0.95)


def test_two_absorbers_subdla_and_lyb_typing():
    # a strong DLA and a weaker absorber exactly at its Ly-beta position
    c_strong = 1500.0
    z_strong = float(pixel_to_z(c_strong, START))
    c_lyb = np.log10(grid.LYB_REST * (1 + z_strong)) / grid.DLOGLAM - START
    z, prob, off, nhi = _perfect([c_lyb, c_strong, 300.0], [20.5, 21.5, 19.8])
    dets = detect_absorbers(prob, off, nhi, START)
    types = {round(d.centre_px): d.type for d in dets}
    assert types[round(c_strong)] == "DLA"
    assert types[round(c_lyb)] == "LYB"
    assert types[300] == "SUBDLA"


def test_weak_votes_and_path_limits():
    z, prob, off, nhi = _perfect([800.0], [21.0], p_pos=0.55)
    prob[760:800] = 0.1  # only a third of the pixels vote
    dets = detect_absorbers(prob, off, nhi, START, cfg=DetectConfig(min_votes=0.5))
    assert dets == []
    dets = detect_absorbers(prob, off, nhi, START, cfg=DetectConfig(min_votes=0.2))
    assert len(dets) == 1
    # outside the searched path: dropped
    assert detect_absorbers(prob, off, nhi, START, z_range=(z[0] + 0.01, z[0] + 0.2), cfg=DetectConfig(min_votes=0.2)) == []
    # invalid pixels cannot vote
    valid = np.ones(1748, bool)
    valid[700:900] = False
    assert detect_absorbers(prob, off, nhi, START, valid=valid) == []


def test_calibration_is_applied():
    z, prob, off, nhi = _perfect([600.0], [20.0])
    cal = Calibration(nhi_poly=[0.0, 0.0, 1.0, 0.4], z_err_scale=2.0, conf_x=[0.0, 0.5, 1.0], conf_y=[0.0, 0.9, 0.95])
    (raw,) = detect_absorbers(prob, off, nhi, START)
    (d,) = detect_absorbers(prob, off, nhi, START, calibration=cal)
    assert d.log_nhi == pytest.approx(20.4, abs=1e-4) and d.type == "DLA"
    assert d.z_abs_err == pytest.approx(2 * raw.z_abs_err)
    assert d.confidence == pytest.approx(np.interp(raw.vote_mass, [0, 0.5, 1], [0, 0.9, 0.95]))
    back = Calibration.from_dict(cal.to_dict())
    assert back == cal


def test_isotonic_and_coverage():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0, 1, 0, 0, 1, 1.0])
    kx, ky = isotonic(x, y)
    assert np.all(np.diff(ky) >= 0)
    assert ky[0] == 0 and ky[-1] == 1
    rng = np.random.default_rng(0)
    err = rng.uniform(0.5, 2, 20000)
    resid = rng.standard_normal(20000) * err * 3.0
    assert _coverage_scale(resid, err) == pytest.approx(3.0, rel=0.05)


def test_vote_histogram_splits_each_vote_between_its_two_pixels():
    from dla_cnn.scan.detect import vote_histogram

    rng = np.random.default_rng(3)
    n = 400
    prob, offset = rng.random(n), rng.normal(0, 30, n)
    hist, target, voter = vote_histogram(prob, offset, 0.3)
    want = np.zeros(n + 2)
    t, w = target[voter], prob[voter]
    lo = np.floor(t).astype(int)
    np.add.at(want, lo + 1, w * (1 - (t - lo)))
    np.add.at(want, lo + 2, w * (t - lo))
    np.testing.assert_array_equal(hist, want[1:-1])  # the same sums, in the same order
    assert voter.sum() > 100 and np.count_nonzero(hist) > 100
