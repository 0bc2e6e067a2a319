"""Saved models: ``NAME.keras`` plus its model card ``NAME.card.json``.

The card records what a user needs to trust (and reproduce) a model: the preset and its
config, the training set (path, sha256, generation config), seed, backend and hardware,
training time and throughput, the held-out test metrics, the exact commands, and the
calibration of the absorber step (spec section 8).  :func:`load_model` refuses a model
whose file does not match the sha256 in its card.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from dla_cnn import __version__
from dla_cnn.exceptions import AssetError


def card_path(model_path: str | Path) -> Path:
    """``NAME.card.json`` beside ``NAME.keras``."""
    p = Path(model_path)
    return p.with_name(p.name[: -len(".keras")] + ".card.json" if p.name.endswith(".keras") else p.name + ".card.json")


def save_model(model, path: str | Path, card: dict) -> Path:
    """Save ``model`` to ``path`` (.keras) and write its card with the file's sha256."""
    from dla_cnn.assets import sha256_of

    path = Path(path)
    if path.suffix != ".keras":
        raise AssetError(f"{path}: model files must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    card = dict(card)
    card.setdefault("name", path.stem)
    card["sha256"] = sha256_of(path)
    card["dla_cnn_version"] = __version__
    card.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    write_card(path, card)
    return path


def write_card(model_path: str | Path, card: dict) -> Path:
    cp = card_path(model_path)
    cp.write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    return cp


def read_card(model_path: str | Path) -> dict:
    cp = card_path(model_path)
    if not cp.exists():
        raise AssetError(f"{cp}: model card missing (every model needs NAME.card.json beside NAME.keras)")
    try:
        card = json.loads(cp.read_text())
    except json.JSONDecodeError as err:
        raise AssetError(f"{cp}: corrupt model card ({err.msg} at line {err.lineno})") from None
    if not isinstance(card, dict) or "preset" not in card:
        raise AssetError(f"{cp}: not a dla-cnn model card (no 'preset')")
    return card


def load_model(path: str | Path):
    """Load a model and its card, checking both.

    Returns
    -------
    model : keras.Model
    card : dict

    Raises
    ------
    AssetError
        Missing file, missing/corrupt card, sha256 mismatch, unreadable model, or a model
        whose input does not match its preset.
    """
    import keras

    from dla_cnn.assets import sha256_of
    from dla_cnn.model.presets import PRESETS, preset_config

    path = Path(path)
    if not path.exists():
        raise AssetError(f"{path}: model file not found")
    card = read_card(path)
    if card["preset"] not in PRESETS:
        raise AssetError(f"{path}: unknown preset {card['preset']!r} in its card")
    if card.get("sha256") and sha256_of(path) != card["sha256"]:
        raise AssetError(f"{path}: sha256 differs from its model card (corrupt, or card of another model)")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as err:  # keras raises many types for a bad zip/config
        msg = " ".join(str(err).split())[:200]
        raise AssetError(f"{path}: cannot load the model ({type(err).__name__}: {msg})") from None
    cfg = preset_config(card["preset"])
    expect = (cfg.window, cfg.channels) if card["preset"] == "parks2018" else (cfg.length, cfg.channels)
    if tuple(model.input_shape[1:]) != expect:
        raise AssetError(f"{path}: input shape {tuple(model.input_shape[1:])} does not match preset "
                         f"{card['preset']} {expect}")
    return model, card
