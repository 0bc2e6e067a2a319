"""The multi-task CNN: presets, loss, data pipeline, training, inference and model cards."""

from dla_cnn.model.card import card_path, load_model, read_card, save_model, write_card
from dla_cnn.model.loss import LossWeights, combined_loss
from dla_cnn.model.predict import evaluate, pixel_metrics, predict_windows
from dla_cnn.model.presets import DEFAULT_PRESET, PRESETS, FCNConfig, Parks2018Config, build_model

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "FCNConfig", "LossWeights", "Parks2018Config", "build_model", "card_path",
    "combined_loss", "evaluate", "load_model", "pixel_metrics", "predict_windows", "read_card", "save_model",
    "write_card",
]
