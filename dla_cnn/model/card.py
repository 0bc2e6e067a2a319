"""Saved models: ``NAME.keras`` plus its model card ``NAME.card.json``.

The card records what a user needs to trust and reproduce a model: the preset and its
config, the output and loss conventions, the training set (path, sha256, generation
config), seed, backend and devices, training time and throughput, the held-out test
metrics, and a free-form ``calibration`` dict that the scanner fills with its N_HI
calibration and uncertainty scales (spec section 8).

:func:`load_model` refuses a model whose file is missing, whose card is missing or
corrupt, whose sha256 differs from the card's, or whose input does not match its preset;
every refusal is an :class:`~dla_cnn.exceptions.AssetError` with a one-line message.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

import keras

from dla_cnn.atomic import atomic_path, write_text_atomic
from dla_cnn import __version__
from dla_cnn.assets import sha256_of
from dla_cnn.backend import load_saved_model
from dla_cnn.exceptions import AssetError, ConfigError, describe
from dla_cnn.model.presets import PRESETS, config_from_dict, preset_config
from dla_cnn.modelcard import card_path, read_card  # noqa: F401 - re-exported

OUTPUT_CONVENTION = ("raw outputs [logit, offset_px, log_nhi - 20.5]; prob = sigmoid(logit); "
                     "fcn: (batch, pixels, 3), parks2018: (batch, 3) for the window's central pixel")


def inference_copy(model: keras.Model) -> keras.Model:
    """The same architecture and weights without optimizer state or compile settings."""
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def save_model(model: keras.Model, path: str | Path, card: dict) -> Path:
    """Save ``model`` to ``path`` (``.keras``) and its card beside it.

    The model is saved without optimizer state.  The card gets ``name``, ``sha256`` (of
    the written ``.keras`` file), ``dla_cnn_version`` and ``created``; ``preset`` defaults
    to the model's name when that is a preset.  Both files are written atomically.

    Parameters
    ----------
    model : keras.Model
        The model to save.
    path : str or Path
        Target model file; must end in ``.keras``.
    card : dict
        Model card contents (preset, config, training set, metrics, ...); copied, not
        modified.  Missing ``name``, ``calibration`` and ``output_convention`` get
        defaults; ``sha256`` and ``dla_cnn_version`` are always overwritten.

    Returns
    -------
    Path
        The model file.

    Raises
    ------
    ConfigError
        If ``path`` does not end in ``.keras`` or the card's preset is not a known preset.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ConfigError(f"{path}: model files must end in .keras")
    card = dict(card)
    preset = card.setdefault("preset", model.name)
    if preset not in PRESETS:
        raise ConfigError(f"{path}: the card names no known preset ({preset!r}; choose from {', '.join(PRESETS)})")
    to_save = inference_copy(model) if getattr(model, "optimizer", None) is not None else model
    with atomic_path(path, ".keras") as tmp:
        to_save.save(tmp)
    card.setdefault("name", path.stem)
    card.setdefault("calibration", {})
    card.setdefault("output_convention", OUTPUT_CONVENTION)
    card["sha256"] = sha256_of(path)
    card["dla_cnn_version"] = __version__
    card.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    write_card(path, card)
    return path


def _plain(value):
    """JSON-safe copy: NaN/inf become null, numpy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_card(model_path: str | Path, card: dict) -> Path:
    """Write (or rewrite, e.g. after calibration) the card of a model, atomically.

    NaN and infinite numbers are written as ``null`` so the card is strict JSON.

    Parameters
    ----------
    model_path : str or Path
        The model file whose card is written (see :func:`card_path`).
    card : dict
        Card contents; numpy scalars and arrays become plain JSON values, other
        non-JSON objects their ``str``.  Keys are written sorted.

    Returns
    -------
    Path
        The card file written.
    """
    return write_text_atomic(card_path(model_path),
                             json.dumps(_plain(card), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")


def _expected_input(card: dict, path: Path) -> tuple:
    try:
        cfg = config_from_dict(card["preset_config"]) if card.get("preset_config") else preset_config(card["preset"])
    except (ConfigError, TypeError) as err:
        raise AssetError(f"{path}: invalid preset_config in its card ({describe(err, 120)})") from None
    if cfg.name != card["preset"]:
        raise AssetError(f"{path}: card preset {card['preset']!r} but preset_config of {cfg.name!r}")
    return (cfg.window, cfg.channels) if card["preset"] == "parks2018" else (cfg.length, cfg.channels)


def load_model(path: str | Path) -> tuple[keras.Model, dict]:
    """Load a model and its card, checking both.

    Parameters
    ----------
    path : str or Path
        The ``.keras`` model file; its card ``NAME.card.json`` must lie beside it.

    Returns
    -------
    model : keras.Model
        Uncompiled, ready for :func:`dla_cnn.model.predict_windows`.
    card : dict

    Raises
    ------
    AssetError
        Missing model file, missing or corrupt card, sha256 mismatch, unreadable model,
        or a model whose input/output shapes do not match its preset.
    """
    import dla_cnn.model.loss  # noqa: F401 - registers the custom objects a checkpoint may name
    import dla_cnn.model.metrics  # noqa: F401

    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: model file not found")
    card = read_card(path)
    if card["preset"] not in PRESETS:
        raise AssetError(f"{path}: unknown preset {card['preset']!r} in its card (choose from {', '.join(PRESETS)})")
    if not card.get("sha256"):
        raise AssetError(f"{card_path(path)}: the card records no sha256 of the model file")
    if sha256_of(path) != card["sha256"]:
        raise AssetError(f"{path}: sha256 differs from its model card (corrupt file, or the card of another model)")
    expect = _expected_input(card, path)
    try:
        model = load_saved_model(path)
    except Exception as err:  # keras raises many types for a bad zip or config
        raise AssetError(f"{path}: cannot load the model ({describe(err)})") from None
    got = tuple(model.input_shape[1:])
    rank = 2 if card["preset"] == "parks2018" else 3
    if got != expect or len(model.output_shape) != rank or model.output_shape[-1] != 3:
        raise AssetError(f"{path}: model input {got} / output {tuple(model.output_shape[1:])} does not match "
                         f"preset {card['preset']} (input {expect})")
    return model, card
