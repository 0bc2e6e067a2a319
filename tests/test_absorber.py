"""The absorber-level stage: crop geometry, labels, loss, merging, calibration, the two-stage card."""

import numpy as np
import pytest

from dla_cnn import grid
from dla_cnn.absorber.crops import (
    EXT_BLUE, LL_SHIFT, LYA_HALF, LYB_SHIFT, N_EXT, SIDE_HALF, ExtendedView, cut_crops, extended_view, stage1_channels,
    z_to_window_px,
)
from dla_cnn.absorber.data import CropSetConfig, candidate_centres, label_candidates, masked_edges, simulate_view
from dla_cnn.absorber.model import AbsorberLoss, absorber_loss_terms, build_absorber_model, decode_absorber_outputs
from dla_cnn.absorber.stage import AbsorberStage, StageCalibration, StageConfig


def _view(z_qso=3.0, snr=10.0):
    ch = np.zeros((N_EXT, 2), np.float32)
    ch[:, 1] = 1.0
    ch[:, 0] = np.arange(N_EXT)  # flux = extended index, so crops reveal where they were cut
    return ExtendedView(ch, grid.window_start_index(z_qso), z_qso, snr)


def _scene(z_qso=3.0):
    """A stage's inputs for one sightline: its view, flat first-stage curves and its searched z range."""
    curves = stage1_channels(np.zeros(grid.N_WINDOW), np.zeros(grid.N_WINDOW), np.full(grid.N_WINDOW, 20.5))
    return _view(z_qso), curves, grid.search_z_range(z_qso, 3600.0)


def test_crop_segments_sit_at_lya_lyb_and_the_lyman_limit():
    view = _view()
    curves = stage1_channels(np.full(grid.N_WINDOW, 0.5), np.zeros(grid.N_WINDOW), np.full(grid.N_WINDOW, 21.0))
    c = np.array([1400.3, 1200.0])
    crops = cut_crops(view, curves, c)
    e = np.rint(c).astype(int) + EXT_BLUE
    assert crops["lya"].shape == (2, 2 * LYA_HALF, 5)
    np.testing.assert_array_equal(crops["lya"][:, LYA_HALF, 0], e)
    np.testing.assert_array_equal(crops["lyb"][:, SIDE_HALF, 0], e + LYB_SHIFT)
    np.testing.assert_array_equal(crops["ll"][:, SIDE_HALF, 0], e + LL_SHIFT)
    # Ly-beta and the Lyman limit of the candidate's redshift, to the pixel
    lam_a = 10 ** ((view.window_start + 1200) * grid.DLOGLAM)
    lam_b = 10 ** ((view.window_start - EXT_BLUE + e[1] + LYB_SHIFT) * grid.DLOGLAM)
    assert lam_b == pytest.approx(lam_a * grid.LYB_REST / grid.LYA_REST, rel=1.5e-4)
    assert crops["scalars"][0, 2] == pytest.approx(0.3, abs=1e-5)  # the fractional pixel
    np.testing.assert_allclose(crops["lya"][1, :, 4], 0.5)  # log N - 20.5 channel (inside the window)
    # beyond the extended view: zeros, weight 0
    far = cut_crops(view, curves, np.array([grid.N_WINDOW + 100.0]))
    assert far["lya"][0, -1, 1] == 0 and far["lya"][0, 0, 1] == 1


def test_extended_view_matches_the_window_normalisation():
    rng = np.random.default_rng(3)
    sv = simulate_view(rng, CropSetConfig(n_sightlines=1))
    view = sv.view
    np.testing.assert_allclose(view.channels[EXT_BLUE:], sv.window, atol=1e-6)
    assert view.channels[:EXT_BLUE, 1].max() > 0 or view.window_start - EXT_BLUE < grid.loglam_to_index(np.log10(3600))


def test_crowded_sightlines_carry_many_dlas_and_leave_earlier_recipes_unchanged():
    from dataclasses import replace

    cfg = CropSetConfig(n_sightlines=1, seed=4)
    crowded = replace(cfg, p_crowded=1.0, crowded_dla_rate=(6.0, 6.0))
    n_dla = [int((simulate_view(np.random.default_rng(k), crowded).truth[:, 1] >= 20.3).sum()) for k in range(6)]
    # Poisson mean 6 x the path (dz ~ 0.3-1.3): far above the injection recipe's at most 3
    assert np.mean(n_dla) > 2.5 and max(n_dla) >= 4
    # p_crowded = 0 draws no random number for it: the same sightline as the default recipe
    a = simulate_view(np.random.default_rng(11), cfg)
    b = simulate_view(np.random.default_rng(11), replace(cfg, crowded_dla_rate=(9.0, 9.0)))
    np.testing.assert_array_equal(a.window, b.window)
    np.testing.assert_array_equal(a.truth, b.truth)


def test_labels_real_within_30_px_with_offset_and_dla_flag():
    truth = np.array([[500.0, 21.0], [900.0, 19.5], [1200.0, 18.0]])
    y = label_candidates(np.array([505.0, 531.0, 880.0, 1200.0]), truth)
    np.testing.assert_array_equal(y[:, 0], [1, 0, 1, 0])  # 1200: an LLS below 19.0 is not real
    np.testing.assert_array_equal(y[:, 1], [1, 0, 0, 0])
    np.testing.assert_allclose(y[[0, 2], 2], [-5.0, 20.0])
    np.testing.assert_allclose(y[[0, 2], 3], [0.5, -1.0])


def test_loss_matches_numpy_and_masks_regressions_of_non_absorbers():
    import keras

    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=(8, 6)).astype(np.float32)
    y_true = np.column_stack([rng.integers(0, 2, 8), rng.integers(0, 2, 8), rng.normal(0, 10, 8),
                              rng.normal(0, 1, 8)]).astype(np.float32)
    total, _ = absorber_loss_terms(keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred))
    p = 1 / (1 + np.exp(-y_pred[:, 0]))
    q = 1 / (1 + np.exp(-y_pred[:, 1]))
    bce = -(y_true[:, 0] * np.log(p) + (1 - y_true[:, 0]) * np.log(1 - p))
    bce_d = -(y_true[:, 1] * np.log(q) + (1 - y_true[:, 1]) * np.log(1 - q))
    ls_o, ls_n = np.clip(y_pred[:, 3], -4, 3), np.clip(y_pred[:, 5], -4, 3)
    nll_o = 0.5 * ((y_true[:, 2] / 10 - y_pred[:, 2]) / np.exp(ls_o)) ** 2 + ls_o
    nll_n = 0.5 * ((y_true[:, 3] - y_pred[:, 4]) / np.exp(ls_n)) ** 2 + ls_n
    expected = bce + y_true[:, 0] * (0.5 * bce_d + nll_o + nll_n)
    np.testing.assert_allclose(np.asarray(total), expected, rtol=1e-4, atol=1e-5)
    # a non-absorber's regression targets do not matter
    y2 = y_true.copy()
    y2[y2[:, 0] == 0, 2:] = 99.0
    total2, _ = absorber_loss_terms(keras.ops.convert_to_tensor(y2), keras.ops.convert_to_tensor(y_pred))
    np.testing.assert_allclose(np.asarray(total2), np.asarray(total), rtol=1e-6)


@pytest.mark.slow
def test_model_shapes_and_a_short_fit_lowers_the_loss():
    import keras

    keras.utils.set_random_seed(1)
    model = build_absorber_model()
    rng = np.random.default_rng(1)
    n = 64
    lya = rng.normal(1, 0.1, (n, 512, 5)).astype(np.float32)
    real = rng.integers(0, 2, n)
    lya[real == 1, 240:272, 0] = 0.0  # a dark trough at the centre means "real"
    x = [lya, np.ones((n, 128, 2), np.float32), np.ones((n, 128, 2), np.float32), np.zeros((n, 6), np.float32)]
    y = np.column_stack([real, real, np.zeros(n), np.zeros(n)]).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=AbsorberLoss())
    assert model.predict_on_batch(x).shape == (n, 6)

    def real_loss():  # the decision's term: the Gaussian terms of 64 crops with zero targets wander
        _, (l_real, _, _, _) = absorber_loss_terms(keras.ops.convert_to_tensor(y), model(x, training=True))
        return float(np.mean(np.asarray(l_real)))

    before = real_loss()
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert real_loss() < 0.3 * before
    # batch statistics (the running means of BatchNormalization need more steps than this test takes)
    out = decode_absorber_outputs(np.asarray(model(x, training=True)))
    assert np.mean((out["p_real"] > 0.5) == (real == 1)) > 0.9


def test_a_wider_model_starts_from_the_towers_of_a_smaller_one():
    from dla_cnn.absorber.model import ABSORBER_PRESETS
    from dla_cnn.absorber.train import transfer_weights

    small = build_absorber_model(ABSORBER_PRESETS["absorber-small"])
    wide = build_absorber_model(ABSORBER_PRESETS["absorber-small-wide"])
    rng = np.random.default_rng(0)
    small.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in small.get_weights()])
    copied = transfer_weights(small, wide)
    # every tower, batch normalisation and the scalars' layer come over; the wider shared layer
    # and the heads behind it (other input widths) keep their initialisation
    assert {"lya_conv0a", "lya_bn4", "lyb_conv2b", "ll_conv1a", "scalars_dense"} <= set(copied)
    assert not {"shared", "real_hidden", "nhi_hidden"} & set(copied)
    for name in copied:
        for a, b in zip(small.get_layer(name).get_weights(), wide.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    import keras

    x = [rng.normal(size=(2, *s)).astype(np.float32) for s in ((512, 5), (128, 2), (128, 2), (6,))]
    f_small, f_wide = (keras.Model(m.inputs, m.get_layer("features").output)(x) for m in (small, wide))
    np.testing.assert_allclose(np.asarray(f_small), np.asarray(f_wide), rtol=1e-5, atol=1e-5)
    # the same architecture copies everything
    twin = build_absorber_model(ABSORBER_PRESETS["absorber-small"])
    assert len(transfer_weights(small, twin)) == sum(1 for layer in twin.layers if layer.weights)


def test_several_crop_sets_load_as_their_concatenation(tmp_path):
    from dla_cnn.absorber.train import load_crop_set

    rng = np.random.default_rng(3)
    paths, sets = [], []
    for k, n in enumerate((5, 3)):
        arrays = dict(lya=rng.normal(size=(n, 512, 5)).astype(np.float16), lyb=rng.normal(size=(n, 128, 2)).astype(np.float16),
                      ll=rng.normal(size=(n, 128, 2)).astype(np.float16), scalars=rng.normal(size=(n, 6)).astype(np.float32),
                      labels=rng.normal(size=(n, 4)))
        paths.append(tmp_path / f"set{k}.npz")
        np.savez(paths[-1], **arrays)
        sets.append(arrays)
    inputs, labels = load_crop_set(paths)
    for name, x in zip(("lya", "lyb", "ll", "scalars"), inputs):
        assert x.dtype == sets[0][name].dtype
        np.testing.assert_array_equal(x, np.concatenate([s[name] for s in sets]))
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels, np.concatenate([s["labels"] for s in sets]).astype(np.float32))


class _FakeModel:
    """Predicts a fixed absorber at window pixel ``centre`` for every crop."""

    def __init__(self, view, centre, log_nhi=21.0):
        self.view, self.centre, self.log_nhi = view, centre, log_nhi

    def predict_on_batch(self, inputs):
        lya = inputs[0]
        ext = lya[:, LYA_HALF, 0]  # the fake flux is the extended index of the crop centre
        cand = ext - EXT_BLUE + inputs[3][:, 2]
        off = self.centre - cand
        real = np.where(np.abs(off) < 30, 4.0, -4.0)
        k = len(lya)
        return np.column_stack([real, np.full(k, 3.0), off / 10.0, np.full(k, np.log(0.1)),
                                np.full(k, self.log_nhi - 20.5), np.full(k, np.log(0.1))])


def test_stage_refines_merges_and_types_candidates():
    view, curves, z_rng = _scene()
    stage = AbsorberStage(_FakeModel(view, 1000.0), StageCalibration(), StageConfig())
    props = [np.array([980.0, 1012.0, 1300.0])]  # two proposals of one absorber, one of nothing
    dets = stage.measure([view], [curves], props, [z_rng])[0]
    assert len(dets) == 1
    d = dets[0]
    assert d.centre_px == pytest.approx(1000.0, abs=1e-3)
    lam = 10 ** ((view.window_start + 1000.0) * grid.DLOGLAM)
    assert d.z_abs == pytest.approx(lam / grid.LYA_REST - 1, abs=1e-9)
    assert d.type == "DLA" and d.log_nhi == pytest.approx(21.0, abs=1e-6)
    assert d.confidence > 0.95
    # a calibration that maps p_real 0.98 to 0.3 keeps the candidate below a 0.5 threshold
    cal = StageCalibration(conf_x=[0.0, 1.0], conf_y=[0.0, 0.3], fitted=True)
    d2 = AbsorberStage(_FakeModel(view, 1000.0), cal).measure([view], [curves], props, [z_rng])[0][0]
    assert d2.confidence == pytest.approx(0.3 * d.p_real, rel=1e-6)
    # a cell map (the absorber lies at 1133 A rest and measures log N 21: cell lya-dla) overrides its bin's map
    cells = StageCalibration(snr_edges=[100.0], conf_maps=[[[0.0, 1.0], [0.0, 1.0]]] * 2,
                             cell_maps={"0:lya-dla": [[0.0, 1.0], [0.0, 0.4]], "0:lyb-dla": [[0.0, 1.0], [0.0, 0.1]]})
    d3 = AbsorberStage(_FakeModel(view, 1000.0), cells).measure([view], [curves], props, [z_rng])[0][0]
    assert d3.confidence == pytest.approx(0.4 * d.p_real, rel=1e-6)
    # an absorber outside the searched path is not reported
    far = AbsorberStage(_FakeModel(view, 5.0)).measure([view], [curves], [np.array([20.0])], [z_rng])[0]
    assert far == []


class _ShortModel(_FakeModel):
    """Measures only 60% of the way to the absorber, and a column that depends on the crop."""

    def predict_on_batch(self, inputs):
        out = super().predict_on_batch(inputs)
        out[:, 2] *= 0.6
        out[:, 4] = np.where(np.abs(out[:, 2]) > 0.5, 21.0, 19.0) - 20.5  # 21 from a crop > 8 px off
        return out


def test_a_second_look_moves_the_centre_and_keeps_the_first_decision():
    view, curves, z_rng = _scene()
    props = [np.array([990.0])]
    found = {}
    for name, cfg in (("off", StageConfig(refine_centre=False)), ("centre", StageConfig()),
                      ("full", StageConfig(refine=True))):
        found[name] = AbsorberStage(_ShortModel(view, 1000.0), StageCalibration(), cfg).measure(
            [view], [curves], props, [z_rng])[0][0]
    assert found["off"].centre_px == pytest.approx(996.0, abs=1e-3)  # 60% of 10 px
    assert found["centre"].centre_px == pytest.approx(998.4, abs=1e-3)  # and 60% of the 4 px left
    assert found["centre"].log_nhi == found["off"].log_nhi == pytest.approx(21.0)  # the first crop's column
    assert found["full"].centre_px == pytest.approx(998.4, abs=1e-3) and found["full"].log_nhi == pytest.approx(19.0)
    # a candidate whose first crop was nearly centred is not looked at again
    near = AbsorberStage(_ShortModel(view, 1000.0), StageCalibration(), StageConfig(refine_min_offset_px=11.0)).measure(
        [view], [curves], props, [z_rng])[0][0]
    assert near.centre_px == pytest.approx(996.0, abs=1e-3)
    # an implausible candidate is not looked at again
    unlikely = StageConfig(refine_min_p=0.9999)
    d = AbsorberStage(_ShortModel(view, 1000.0), StageCalibration(), unlikely).measure([view], [curves], props, [z_rng])[0][0]
    assert d.centre_px == pytest.approx(996.0, abs=1e-3)
    # a candidate whose first-look confidence (0.3 here) cannot reach the caller's threshold is
    # not looked at again; one that can is
    low = StageCalibration(conf_x=[0.0, 1.0], conf_y=[0.0, 0.3], fitted=True)
    for threshold, centre in ((0.5, 996.0), (0.2, 998.4), (0.0, 998.4)):
        d = AbsorberStage(_ShortModel(view, 1000.0), low).measure([view], [curves], props, [z_rng],
                                                                  min_confidence=threshold)[0][0]
        assert d.centre_px == pytest.approx(centre, abs=1e-3)
        assert d.confidence == pytest.approx(0.3 * d.p_real, rel=1e-6)


def test_two_stage_card_round_trip_and_a_tampered_file_is_refused(tmp_path):
    from dla_cnn.absorber.load import load_stage, save_two_stage
    from dla_cnn.assets import default_model_path
    from dla_cnn.exceptions import AssetError
    from dla_cnn.model import read_card

    model = build_absorber_model()
    cal = StageCalibration(conf_x=[0, 0.5, 1], conf_y=[0, 0.2, 0.9], z_err_scale=1.3, fitted=True)
    out = save_two_stage(default_model_path(), tmp_path / "finder.keras", model, cal, StageConfig(min_confidence=0.7),
                         {"heldout": {"purity": 0.9}})
    card = read_card(out)
    assert card["stage2"]["file"] == "finder_absorber.keras" and card["stage2"]["heldout"]["purity"] == 0.9
    stage = load_stage(out, card)
    assert stage.cfg.min_confidence == 0.7 and stage.calibration.z_err_scale == 1.3
    x = [np.zeros((2, 512, 5), np.float32), np.zeros((2, 128, 2), np.float32), np.zeros((2, 128, 2), np.float32),
         np.zeros((2, 6), np.float32)]
    np.testing.assert_allclose(stage.model.predict_on_batch(x), model.predict_on_batch(x), atol=1e-5)
    with open(tmp_path / "finder_absorber.keras", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(AssetError, match="sha256"):
        load_stage(out, card)
    (tmp_path / "finder_absorber.keras").unlink()
    with pytest.raises(AssetError, match="not found"):
        load_stage(out, card)


def test_calibration_maps_probabilities_to_observed_fractions_and_scales_errors():
    from dla_cnn.absorber.calibrate import fit_stage_calibration, match_one_to_one

    m = match_one_to_one(np.array([3.0, 3.001, 2.5]), np.array([0, 1, 2]), np.array([3.0005, 2.6]))
    np.testing.assert_array_equal(m, [0, -1, -1])
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(4000):
        p = rng.random()
        real = rng.random() < p**2  # over-confident model
        z_err, n_err = 0.001, 0.1
        rows.append({"p_real": p, "matched": real, "snr": 5.0, "z": 3.0 + rng.normal(0, 2 * z_err), "z_true": 3.0, "z_err": z_err,
                     "log_nhi": 21 + rng.normal(0, 0.5 * n_err), "log_nhi_true": 21.0, "log_nhi_err": n_err})
    cal, summary = fit_stage_calibration(rows)
    assert cal.confidence(np.array([0.5]))[0] == pytest.approx(0.25, abs=0.06)
    assert cal.confidence(np.array([0.9]))[0] == pytest.approx(0.81, abs=0.06)
    assert cal.z_err_scale == pytest.approx(2.0, rel=0.1)
    assert cal.nhi_err_scale < 0.6


def test_error_scales_per_snr_bin_and_measured_type_give_68_percent_in_each():
    from dla_cnn.absorber.calibrate import MIN_PER_SCALE, fit_stage_calibration

    rng = np.random.default_rng(4)
    rows = []
    # the network's sigmas are 0.1 dex throughout; the true scatter is 0.05 dex for DLA-like
    # candidates at S/N >= 10, 0.1 below, and 0.2 dex for sub-DLA-like ones
    for _ in range(6000):
        snr, log_n = float(np.exp(rng.uniform(0, np.log(30)))), rng.uniform(19.5, 21.5)
        true_sd = 0.2 if log_n < 20.3 else (0.05 if snr >= 10 else 0.1)
        rows.append({"p_real": 0.9, "matched": True, "snr": snr, "z": 3.0 + rng.normal(0, 0.002), "z_true": 3.0,
                     "z_err": 0.001, "log_nhi": log_n, "log_nhi_true": log_n - rng.normal(0, true_sd), "log_nhi_err": 0.1})
    cal, summary = fit_stage_calibration(rows)
    assert set(cal.err_scales) == {f"{b}:{k}" for b in range(3) for k in ("dla", "sub")} == set(summary["err_scales"])
    assert cal.error_scales(20.0, 21.0)[1] == pytest.approx(0.5, rel=0.12)
    assert cal.error_scales(5.0, 21.0)[1] == pytest.approx(1.0, rel=0.12)
    assert cal.error_scales(5.0, 20.0)[1] == pytest.approx(2.0, rel=0.12)
    assert all(cal.error_scales(s, 21.0)[0] == pytest.approx(2.0, rel=0.12) for s in (1.5, 5.0, 20.0))
    # the one global scale in between over-covers DLAs at high S/N and under-covers sub-DLAs
    assert 1.0 < cal.nhi_err_scale < 2.0
    # coverage with the scales of each candidate's own key is 68% in every key
    for key in cal.err_scales:
        b, kind = key.split(":")
        sel = [r for r in rows if str(np.searchsorted(cal.snr_edges, r["snr"], side="right")) == b
               and (r["log_nhi"] >= 20.3) == (kind == "dla")]
        s = cal.error_scales(sel[0]["snr"], sel[0]["log_nhi"])[1]
        inside = np.mean([abs(r["log_nhi"] - r["log_nhi_true"]) <= np.hypot(s * 0.1, cal.nhi_err_floor) for r in sel])
        assert inside == pytest.approx(0.683, abs=0.02)
    # unknown S/N, or a key with too few matches, falls back to the global scales
    assert cal.error_scales(None, 21.0) == (cal.z_err_scale, cal.nhi_err_scale)
    few = fit_stage_calibration(rows[: 6 * MIN_PER_SCALE // 2])[0]
    assert len(few.err_scales) < 6
    assert StageCalibration.from_dict(cal.to_dict()).err_scales == cal.err_scales


def test_damped_profile_fit_recovers_the_column_through_a_forest():
    from dla_cnn.absorber.voigt_fit import fit_damped_lya, trough_half_width_px
    from dla_cnn.physics.voigt import apply_lsf, fine_grid, voigt_tau

    assert trough_half_width_px(20.0) == pytest.approx(3.65 / 1215.67 / np.log(10) / 1e-4, rel=1e-6)
    rng = np.random.default_rng(5)
    start, n = grid.window_start_index(3.0), grid.N_WINDOW
    errs = []
    for _ in range(6):
        log_n, c = rng.uniform(20.3, 21.5), rng.uniform(500, 1100)
        z = 10 ** ((start + c) * grid.DLOGLAM) / grid.LYA_REST - 1
        trans = apply_lsf(np.exp(-voigt_tau(10 ** fine_grid(start, n, 5), log_n, z, 30.0)), 5, 1.0)
        flux = (1.0 + 0.1 * np.linspace(-1, 1, n)) * trans + rng.normal(0, 0.1, n)  # S/N 10
        for p in rng.uniform(0, n, 60):  # forest lines only ever absorb
            flux *= 1 - rng.uniform(0.2, 0.9) * np.exp(-0.5 * ((np.arange(n) - p) / 1.2) ** 2)
        fit = fit_damped_lya(flux, np.full(n, 0.1), np.ones(n, bool), start, c + rng.normal(0, 1.5),
                             log_n + rng.normal(0, 0.2))
        assert fit.ok and 0 < fit.log_nhi_err < 0.2
        errs.append(fit.log_nhi - log_n)
    assert np.max(np.abs(errs)) < 0.1
    # no data: refused, never a made-up column
    bad = fit_damped_lya(np.ones(n), np.full(n, 0.1), np.zeros(n, bool), start, 800.0, 21.0)
    assert not bad.ok and bad.log_nhi == 21.0


def test_confidence_maps_per_snr_bin():
    from dla_cnn.absorber.calibrate import fit_stage_calibration

    rng = np.random.default_rng(7)
    rows = []
    for _ in range(3000):
        p, snr = rng.random(), float(np.exp(rng.uniform(0, np.log(30))))
        real = rng.random() < (p * 0.5 if snr < 3 else p)  # half as often real at low S/N
        rows.append({"p_real": p, "matched": real, "snr": snr, "z": 3.0, "z_true": 3.0 if real else np.nan,
                     "z_err": 0.001, "log_nhi": 21.0, "log_nhi_true": 21.0 if real else np.nan, "log_nhi_err": 0.1})
    cal, summary = fit_stage_calibration(rows)
    assert cal.snr_edges == [3.0, 10.0] and len(cal.conf_maps) == 3 and summary["snr_edges"] == [3.0, 10.0]
    assert cal.confidence(np.array([0.8]), snr=1.5)[0] == pytest.approx(0.4, abs=0.08)
    assert cal.confidence(np.array([0.8]), snr=20.0)[0] == pytest.approx(0.8, abs=0.08)
    # too few candidates in a bin: one map for all
    cal1, _ = fit_stage_calibration(rows[:300])
    assert cal1.conf_maps == [] and cal1.confidence(np.array([0.8]), snr=1.5) == cal1.confidence(np.array([0.8]))


def test_cells_split_candidates_by_region_and_measured_type():
    from dla_cnn.absorber.stage import calibration_cells

    cells = calibration_cells(np.array([950.0, 1025.0, 1026.0, 1200.0]), np.array([20.3, 19.5, 20.29, 21.0]))
    assert cells.tolist() == ["lyb-dla", "lyb-sub", "lya-sub", "lya-dla"]


def test_confidence_maps_per_cell_within_snr_bins():
    from dla_cnn.absorber.calibrate import MIN_PER_CELL, fit_stage_calibration

    rng = np.random.default_rng(11)
    rows = []
    for _ in range(6000):
        p, snr = rng.random(), float(np.exp(rng.uniform(0, np.log(30))))
        z_qso = rng.uniform(2.5, 3.5)
        rest = rng.uniform(912.0, 1200.0)
        z = rest * (1 + z_qso) / grid.LYA_REST - 1
        log_n = rng.uniform(19.0, 21.5)
        # in the Ly-beta forest the same network output is real more often (p**0.3 > p)
        real = rng.random() < (p**0.3 if rest < grid.LYB_REST else p)
        rows.append({"p_real": p, "matched": real, "snr": snr, "z": z, "z_qso": z_qso, "z_true": z if real else np.nan,
                     "z_err": 0.001, "log_nhi": log_n, "log_nhi_true": log_n if real else np.nan, "log_nhi_err": 0.1})
    cal, summary = fit_stage_calibration(rows)
    assert set(summary["cells"]) <= set(cal.cell_maps) and len(cal.cell_maps) == 12
    lyb, lya = np.array(["lyb-dla"]), np.array(["lya-dla"])
    assert cal.confidence(np.array([0.3]), snr=20.0, cells=lyb)[0] == pytest.approx(0.3**0.3, abs=0.1)
    assert cal.confidence(np.array([0.3]), snr=20.0, cells=lya)[0] == pytest.approx(0.3, abs=0.1)
    # without cells (or a cell with no map) the S/N bin's map applies
    both = cal.confidence(np.array([0.3]), snr=20.0)[0]
    assert 0.3 < both < 0.3**0.3
    assert cal.confidence(np.array([0.3]), snr=20.0, cells=np.array(["other"]))[0] == both
    # the maps survive the card round trip
    again = StageCalibration.from_dict(cal.to_dict())
    assert again.confidence(np.array([0.3]), snr=20.0, cells=lyb) == cal.confidence(np.array([0.3]), snr=20.0, cells=lyb)
    # cells=False, and cells too small for a map of their own, leave the per-bin maps alone
    assert fit_stage_calibration(rows, cells=False)[0].cell_maps == {}
    few = fit_stage_calibration(rows[: 12 * MIN_PER_CELL // 4])[0]
    assert all(k in cal.cell_maps for k in few.cell_maps) and len(few.cell_maps) < 12


def test_masked_edges_become_hard_negatives():
    valid = np.ones(grid.N_WINDOW, dtype=bool)
    valid[500:520] = False
    valid[900:905] = False
    np.testing.assert_allclose(masked_edges(valid), [499.5, 519.5, 899.5, 904.5])
    assert masked_edges(np.ones(50, dtype=bool)).size == 0

    rng = np.random.default_rng(3)
    sv = simulate_view(rng, CropSetConfig(seed=5))
    sv.valid[:] = True
    sv.valid[600:640] = False
    cfg = CropSetConfig(n_random=0, n_jitter=0, n_edges=2)
    sv.truth = np.empty((0, 2))
    lo, hi = z_to_window_px(np.array(sv.z_range), sv.view.window_start)
    assert lo < 560 and hi > 680  # the masked stretch lies on the searched path
    no_edges = candidate_centres(np.random.default_rng(0), sv, np.empty(0), CropSetConfig(n_random=0, n_jitter=0, n_edges=0))
    with_edges = candidate_centres(np.random.default_rng(0), sv, np.empty(0), cfg)
    extra = np.setdiff1d(with_edges, no_edges)
    assert len(with_edges) == len(no_edges) + 2 and len(extra) == 2
    assert all(min(abs(c - 599.5), abs(c - 639.5)) < 40 for c in extra)


class _WobblyFake(_FakeModel):
    """Like _FakeModel, with an offset and log N_HI error of +-1 px / +-0.1 dex set by the crop's parity."""

    def predict_on_batch(self, inputs):
        out = super().predict_on_batch(inputs).copy()
        ext = inputs[0][:, LYA_HALF, 0]
        sign = np.where(np.rint(ext) % 2 == 0, 1.0, -1.0)
        out[:, 2] += sign / 10.0
        out[:, 4] += 0.1 * sign
        return out


def test_shifted_crops_average_out_a_measurement_error_that_depends_on_the_crop():
    view, curves, z_rng = _scene()
    props = [np.array([996.0])]
    alone = StageConfig(refine_centre=False)  # the shifts by themselves
    one = AbsorberStage(_WobblyFake(view, 1000.0), cfg=alone).measure([view], [curves], props, [z_rng])[0][0]
    assert abs(one.centre_px - 1000.0) == pytest.approx(1.0, abs=1e-3)
    assert abs(one.log_nhi - 21.0) == pytest.approx(0.1, abs=1e-4)
    both = AbsorberStage(_WobblyFake(view, 1000.0), cfg=StageConfig(shifts=(1.0,), refine_centre=False)).measure(
        [view], [curves], props, [z_rng])[0][0]
    assert both.centre_px == pytest.approx(1000.0, abs=1e-3)
    assert both.log_nhi == pytest.approx(21.0, abs=1e-4)
    assert both.z_abs_err == pytest.approx(one.z_abs_err, rel=1e-3)  # shared pixels: errors are not shrunk


def test_local_snr_is_the_noise_around_each_candidate_not_the_trough():
    from dla_cnn.absorber.stage import LOCAL_SNR_PX, local_snr

    ch = np.zeros((N_EXT, 2), np.float32)
    ch[:, 0] = 0.8
    sigma = np.where(np.arange(N_EXT) < EXT_BLUE + 900, 0.4, 0.1)  # S/N 2 to the blue, 8 to the red
    ch[:, 1] = 1.0 / (1.0 + sigma)
    inner, outer = LOCAL_SNR_PX
    ch[EXT_BLUE + 400 - inner + 1: EXT_BLUE + 400 + inner, 0] = 0.0  # a trough inside the inner radius
    ch[EXT_BLUE + 1500:, 1] = 0.0  # no data beyond window px 1500
    view = ExtendedView(ch, grid.window_start_index(3.0), 3.0, 20.0)
    snr = local_snr(view, np.array([400.0, 1300.0, 1500.0 + outer + 5]))
    assert snr[0] == pytest.approx(2.0, rel=1e-5)  # the trough does not lower it
    assert snr[1] == pytest.approx(8.0, rel=1e-5)
    assert snr[2] == 0.0  # fewer than 10 pixels with data around it


def test_confidence_takes_one_snr_per_candidate():
    cal = StageCalibration(snr_edges=[2.0], conf_maps=[[[0.0, 1.0], [0.0, 0.5]], [[0.0, 1.0], [0.0, 1.0]]],
                           cell_maps={"1:lya-dla": [[0.0, 1.0], [0.0, 0.8]]}, snr_kind="local")
    p = np.array([0.6, 0.6, 0.6, 0.6])
    snr = np.array([1.0, 3.0, 3.0, np.nan])
    cells = np.array(["lya-dla", "lya-dla", "lyb-sub", "lya-dla"])
    got = cal.confidence(p, snr, cells)
    want = [cal.confidence(p[k: k + 1], float(snr[k]), cells[k: k + 1])[0] for k in range(4)]
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(got, [0.3, 0.48, 0.6, 0.6])  # NaN S/N: the global map (identity)
    assert StageCalibration.from_dict(cal.to_dict()).snr_kind == "local"
    assert StageCalibration.from_dict({}).snr_kind == "sightline"  # cards before local S/N


def test_calibration_bins_by_local_snr_when_asked():
    from dla_cnn.absorber.calibrate import SNR_EDGES, fit_stage_calibration

    rng = np.random.default_rng(5)
    rows = []
    for _ in range(6000):
        p, snr, local = rng.random(), float(rng.uniform(3, 30)), float(np.exp(rng.uniform(np.log(0.3), np.log(10))))
        real = rng.random() < (p**3 if local < 1.0 else p)  # the network is over-confident at low local S/N only
        rows.append({"p_real": p, "matched": real, "snr": snr, "snr_local": local, "z": 3.0, "z_true": 3.0,
                     "z_err": 0.001, "log_nhi": 21.0, "log_nhi_true": 21.0, "log_nhi_err": 0.1})
    local, summary = fit_stage_calibration(rows, snr_kind="local", cells=False)
    assert local.snr_kind == summary["snr_kind"] == "local" and tuple(local.snr_edges) == SNR_EDGES["local"]
    assert local.confidence(np.array([0.7]), 0.5)[0] == pytest.approx(0.7**3, abs=0.08)
    assert local.confidence(np.array([0.7]), 5.0)[0] == pytest.approx(0.7, abs=0.08)
    # by the sightline's S/N the two populations mix in every bin
    by_sightline = fit_stage_calibration(rows, cells=False)[0]
    assert by_sightline.snr_kind == "sightline"
    assert 0.7**3 + 0.1 < by_sightline.confidence(np.array([0.7]), 5.0)[0] < 0.7 - 0.05
    with pytest.raises(ValueError, match="S/N kind"):
        fit_stage_calibration(rows, snr_kind="pixel")


def test_crop_batches_are_padded_only_for_models_that_compile_per_shape():
    from dla_cnn.absorber.crops import CROP_SHAPES
    from dla_cnn.absorber.stage import _predict

    class Recorder:
        def __init__(self):
            self.sizes = []

        def predict_on_batch(self, x):
            self.sizes.append(len(x[0]))
            return np.tile(np.arange(6, dtype=np.float32), (len(x[0]), 1))

    crops = {k: np.zeros((70, *s), np.float32) for k, s in zip(("lya", "lyb", "ll", "scalars"), CROP_SHAPES)}
    keras_like, onnx_like = Recorder(), Recorder()
    onnx_like.any_batch_size = True
    a, b = _predict(keras_like, crops, batch_size=64), _predict(onnx_like, crops, batch_size=64)
    assert keras_like.sizes == [64, 16] and onnx_like.sizes == [64, 6]
    assert all(np.array_equal(a[k], b[k]) and len(a[k]) == 70 for k in a)


def test_proposals_equal_the_detections_of_the_recall_tuned_thresholds():
    from dla_cnn.absorber.stage import PROPOSAL_DETECT, propose
    from dla_cnn.scan.detect import detect_absorbers, vote_mass_curve

    rng = np.random.default_rng(8)
    n = grid.N_WINDOW
    prob = np.clip(rng.normal(0.05, 0.05, n), 0, 1)
    offset = rng.normal(0, 3, n)
    for c in (300, 900, 1400):  # three absorbers' votes
        prob[c - 40: c + 40] = 0.9
        offset[c - 40: c + 40] = c - np.arange(c - 40, c + 40) + rng.normal(0, 0.5, 80)
    log_nhi = np.full(n, 20.6)
    centres, curves = propose(prob, offset, log_nhi, grid.window_start_index(3.5), (1.0, 9.0), None)
    want = detect_absorbers(prob, offset, log_nhi, grid.window_start_index(3.5), None, None, PROPOSAL_DETECT)
    np.testing.assert_array_equal(centres, [d.centre_px for d in want])
    assert len(centres) >= 3
    np.testing.assert_allclose(curves[EXT_BLUE:, 1], np.clip(vote_mass_curve(prob, offset, PROPOSAL_DETECT), 0, 2), rtol=1e-6)


def test_error_scales_can_follow_the_local_snr_while_the_maps_follow_the_sightline():
    from dla_cnn.absorber.calibrate import SNR_EDGES, fit_stage_calibration

    view, curves, z_rng = _scene()  # S/N 10; the fake view's local S/N is far above 4
    props = [np.array([980.0, 1012.0])]
    common = dict(snr_edges=[3.0, 10.0], conf_maps=[[[0.0, 1.0], [0.0, 1.0]]] * 3, z_err_floor_px=0.0,
                  err_scales={"2:dla": [5.0, 1.0], "3:dla": [2.0, 1.0]})
    by_sightline = StageCalibration(**common)
    by_local = StageCalibration(**common, err_snr_kind="local", err_snr_edges=[1.0, 2.0, 4.0])
    a = AbsorberStage(_FakeModel(view, 1000.0), by_sightline).measure([view], [curves], props, [z_rng])[0][0]
    b = AbsorberStage(_FakeModel(view, 1000.0), by_local).measure([view], [curves], props, [z_rng])[0][0]
    assert b.confidence == a.confidence and b.z_abs == a.z_abs  # the same row, other errors
    assert b.z_abs_err / a.z_abs_err == pytest.approx(2.0 / 5.0, rel=1e-6)
    assert by_local.error_snr_kind == "local" and by_sightline.error_snr_kind == "sightline"
    assert StageCalibration.from_dict(by_local.to_dict()).err_snr_edges == [1.0, 2.0, 4.0]
    # fitted: the maps by the sightline's S/N, the scales by the local S/N
    rng = np.random.default_rng(9)
    rows = []
    for _ in range(6000):
        local = float(np.exp(rng.uniform(np.log(0.3), np.log(10))))
        sd = 0.002 if local < 1.0 else 0.0005  # the redshift scatters with the local noise
        rows.append({"p_real": rng.random(), "matched": True, "snr": float(rng.uniform(1, 30)), "snr_local": local,
                     "z": 3.0 + rng.normal(0, sd), "z_true": 3.0, "z_err": 0.001, "log_nhi": 21.0,
                     "log_nhi_true": 21.0 + rng.normal(0, 0.1), "log_nhi_err": 0.1})
    cal, summary = fit_stage_calibration(rows, cells=False, err_snr_kind="local")
    assert cal.snr_kind == "sightline" and cal.snr_edges == [3.0, 10.0]
    assert summary["err_snr_kind"] == cal.err_snr_kind == "local" and tuple(cal.err_snr_edges) == SNR_EDGES["local"]
    assert cal.error_scales(0.5, 21.0)[0] == pytest.approx(2.0, rel=0.1)
    assert cal.error_scales(5.0, 21.0)[0] == pytest.approx(0.5, rel=0.1)
    assert fit_stage_calibration(rows, cells=False)[0].err_snr_kind == ""
