"""The absorber-level stage of a packaged or user model, as its model card describes it.

A two-stage finder is one model card (``NAME.card.json`` beside the per-pixel network
``NAME.keras``) with a ``stage2`` section::

    "stage2": {"file": "NAME_absorber.keras", "sha256": "...", "config": {...},
               "stage_config": {"min_confidence": 0.5, "merge_px": 15.0, "refine": true},
               "calibration": {...}, "training": {...}}

The absorber-level model file sits beside the per-pixel one; a missing file or a sha256
that differs from the card is an :class:`~dla_cnn.exceptions.AssetError`, never a silent
fall-back to one stage.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from dla_cnn.atomic import atomic_path
from dla_cnn.absorber.stage import AbsorberStage, StageCalibration, StageConfig
from dla_cnn.exceptions import AssetError, describe


def stage_config_from_dict(d: dict | None) -> StageConfig:
    """A :class:`StageConfig` from a card's ``stage_config`` (unknown keys ignored)."""
    known = {f.name for f in fields(StageConfig)} - {"proposal"}
    return StageConfig(**{k: v for k, v in (d or {}).items() if k in known})


def load_stage(model_path: str | Path, card: dict, network=None) -> AbsorberStage | None:
    """The :class:`AbsorberStage` a card names, or None for a one-stage model.

    ``network`` replaces the Keras model named by the card (the exported graph of
    :func:`dla_cnn.runtime.load_onnx_finder`, already checked against the card).
    """
    section = card.get("stage2")
    if not section:
        return None
    if network is not None:
        stage = AbsorberStage(network, StageCalibration.from_dict(section.get("calibration")),
                              stage_config_from_dict(section.get("stage_config")))
        stage.sha256 = str(section.get("sha256", ""))
        return stage
    from dla_cnn.assets import sha256_of
    from dla_cnn.backend import load_saved_model

    import dla_cnn.absorber.model  # noqa: F401 - registers the loss a checkpoint may name

    path = Path(model_path).parent / str(section.get("file", ""))
    if not path.is_file():
        raise AssetError(f"{path}: absorber-level model named by the card of {Path(model_path).name} not found")
    sha = sha256_of(path)
    if sha != section.get("sha256"):
        raise AssetError(f"{path}: sha256 differs from the stage2 section of its model card")
    try:
        model = load_saved_model(path)
    except Exception as err:  # keras raises many types for a bad zip or config
        raise AssetError(f"{path}: cannot load the absorber-level model ({describe(err)})") from None
    stage = AbsorberStage(model, StageCalibration.from_dict(section.get("calibration")),
                          stage_config_from_dict(section.get("stage_config")))
    stage.sha256 = sha
    return stage


def save_two_stage(stage1_path: str | Path, out_path: str | Path, absorber_model, calibration: StageCalibration,
                   stage_cfg: StageConfig, info: dict | None = None, model_cfg=None) -> Path:
    """Write a two-stage finder: the per-pixel model copied to ``out_path``, the absorber-level
    model beside it (``NAME_absorber.keras``) and one card describing both.

    Parameters
    ----------
    stage1_path : path
        A loadable per-pixel model (its card is the base of the new card).
    out_path : path
        ``NAME.keras`` of the two-stage finder (may equal ``stage1_path``: the card is then
        updated in place).
    absorber_model : keras.Model
    calibration : StageCalibration
    stage_cfg : StageConfig
    info : dict, optional
        Training and held-out figures kept in the card's ``stage2`` section.
    model_cfg : AbsorberConfig, optional
        Architecture of ``absorber_model`` (default config if not given).

    Returns
    -------
    Path
        ``out_path``.
    """
    import shutil
    from dataclasses import asdict

    from dla_cnn.absorber.model import AbsorberConfig
    from dla_cnn.assets import sha256_of
    from dla_cnn.model.card import inference_copy, read_card, write_card

    stage1_path, out_path = Path(stage1_path), Path(out_path)
    card = read_card(stage1_path)
    card.pop("onnx", None)  # a new finder: its graphs are exported afresh (dla-cnn export-onnx)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if stage1_path.resolve() != out_path.resolve():
        with atomic_path(out_path, ".keras") as tmp:
            shutil.copyfile(stage1_path, tmp)
    stem = out_path.name[:-len(".keras")] if out_path.name.endswith(".keras") else out_path.stem
    abs_path = out_path.with_name(f"{stem}_absorber.keras")
    to_save = inference_copy(absorber_model) if getattr(absorber_model, "optimizer", None) is not None else absorber_model
    with atomic_path(abs_path, ".keras") as tmp:
        to_save.save(tmp)
    cfg_dict = asdict(stage_cfg)
    cfg_dict.pop("proposal", None)
    card["stage2"] = {
        "file": abs_path.name, "sha256": sha256_of(abs_path),
        "config": (model_cfg or AbsorberConfig()).to_dict(),
        "stage_config": cfg_dict, "proposal": asdict(stage_cfg.proposal), "calibration": calibration.to_dict(),
        **(info or {}),
    }
    card["name"] = stem
    write_card(out_path, card)
    return out_path
