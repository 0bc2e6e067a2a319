"""The model's input contract comes from its card: vote unit and flux clip."""

import json
import shutil

import numpy as np
import pytest

from dla_cnn.assets import default_model_path
from dla_cnn.contract import FLUX_CLIP, InputContract
from dla_cnn.exceptions import AssetError
from dla_cnn.model import card_path
from dla_cnn.scan.detect import DetectConfig, detect_absorbers
from dla_cnn.sightline import window_channels


def test_contract_from_cards_old_and_new():
    assert InputContract.from_card({}).perfect_votes == 121.0
    old = {"training_set": {"config": {"labels": {"radius": 30}}}}
    assert InputContract.from_card(old) == InputContract(FLUX_CLIP, 30)
    new = {"input_contract": {"flux_clip": [-1.0, 3.0], "label_radius_px": 45}, **old}
    c = InputContract.from_card(new)
    assert c.flux_clip == (-1.0, 3.0) and c.perfect_votes == 91.0
    assert InputContract.from_card({"input_contract": c.to_dict()}) == c
    with pytest.raises(AssetError, match=r"flux clipped to \[-1.0, 3.0\]"):
        c.check_inputs("m.keras")


def test_window_channels_clip_is_the_contract_default():
    f = window_channels(np.array([-9.0, 0.5, 9.0]), np.ones(3), np.ones(3, bool))[:, 0]
    assert list(f) == [FLUX_CLIP[0], 0.5, FLUX_CLIP[1]]


def test_vote_mass_is_in_units_of_the_contract_perfect_votes():
    n = 1748
    prob, off = np.zeros(n), np.zeros(n)
    pix = np.arange(n)
    near = np.abs(pix - 800) <= 60
    prob[near], off[near] = 1.0, 800 - pix[near]
    nhi = np.full(n, 21.0)
    (d121,) = detect_absorbers(prob, off, nhi, 36000)
    (d61,) = detect_absorbers(prob, off, nhi, 36000, cfg=DetectConfig(perfect_votes=61.0))
    assert d121.confidence == pytest.approx(1.0, abs=0.02)
    assert d121.vote_mass * 121 == pytest.approx(d61.vote_mass * 61)


def _copy_packaged(tmp_path, edit):
    src = default_model_path()
    for p in src.parent.glob(src.stem + "*"):
        shutil.copy(p, tmp_path / p.name)
    card = json.loads(card_path(tmp_path / src.name).read_text())
    edit(card)
    card_path(tmp_path / src.name).write_text(json.dumps(card))
    return tmp_path / src.name


def test_scanner_takes_the_vote_unit_from_the_card_and_refuses_another_clip(tmp_path):
    from dla_cnn.scan.pipeline import Scanner

    path = _copy_packaged(tmp_path, lambda c: c.__setitem__("input_contract", {"flux_clip": list(FLUX_CLIP),
                                                                                 "label_radius_px": 30}))
    sc = Scanner(path)
    assert sc.detect.perfect_votes == 61.0 and sc.stage.cfg.proposal.perfect_votes == 61.0
    (tmp_path / "other").mkdir()
    path = _copy_packaged(tmp_path / "other", lambda c: c.__setitem__("input_contract", {"flux_clip": [-1, 2],
                                                                                           "label_radius_px": 60}))
    with pytest.raises(AssetError, match="flux clipped"):
        Scanner(path)
