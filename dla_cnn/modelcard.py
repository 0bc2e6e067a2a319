"""Model cards on disk: ``NAME.card.json`` beside ``NAME.keras`` (no Keras here).

Reading a card is all a scanner on the ONNX runtime needs of :mod:`dla_cnn.model.card`,
which writes cards and loads Keras models.
"""

from __future__ import annotations

import json
from pathlib import Path

from dla_cnn.exceptions import AssetError, describe


def card_path(model_path: str | Path) -> Path:
    """``NAME.card.json`` beside ``NAME.keras``.

    Parameters
    ----------
    model_path : str or Path
        The model file (``NAME.keras``; a name without that suffix is used whole).

    Returns
    -------
    Path
        The card's path, in the model file's directory; the file need not exist.
    """
    p = Path(model_path)
    stem = p.name[: -len(".keras")] if p.name.endswith(".keras") else p.name
    return p.with_name(stem + ".card.json")


def read_card(model_path: str | Path) -> dict:
    """The card of a model file; :class:`AssetError` if missing or corrupt.

    Parameters
    ----------
    model_path : str or Path
        The model file (``NAME.keras``) whose ``NAME.card.json`` is read.

    Returns
    -------
    dict
        The card as parsed from JSON; it is guaranteed to have a ``preset`` key.

    Raises
    ------
    AssetError
        If the card is missing, not valid JSON, or not a dict with a ``preset``.
    """
    cp = card_path(model_path)
    if not cp.exists():
        raise AssetError(f"{cp}: model card missing (every model needs NAME.card.json beside NAME.keras)")
    try:
        card = json.loads(cp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AssetError(f"{cp}: corrupt model card ({describe(err, 120)})") from None
    if not isinstance(card, dict) or "preset" not in card:
        raise AssetError(f"{cp}: not a dla-cnn model card (no 'preset')")
    return card
