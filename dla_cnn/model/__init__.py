"""The multi-task CNN: presets, loss, metrics, streaming data, training, inference and model cards.

Raw model outputs are ``[logit, offset_px, log_nhi - 20.5]`` per pixel (``fcn``) or per
window (``parks2018``); :func:`predict_windows` turns sightline windows into per-pixel
``prob``, ``offset`` and ``log_nhi`` with either preset.  Training lives in
:mod:`dla_cnn.model.train` (imported on demand).
"""

from dla_cnn.backend import import_keras

import_keras()  # before any submodule imports keras: keeps TensorFlow's C++ start-up lines quiet

from dla_cnn.model.card import card_path, load_model, read_card, save_model, write_card
from dla_cnn.model.data import TrainingData, cut_windows, sliding_windows
from dla_cnn.model.loss import DLALoss, LossWeights, combined_loss, loss_terms
from dla_cnn.model.metrics import LogNHIRMSE, OffsetRMSE, PixelAccuracy, task_metrics
from dla_cnn.model.predict import decode_outputs, evaluate, pixel_metrics, predict_windows
from dla_cnn.model.presets import (
    DEFAULT_PRESET, LOG_NHI_PIVOT, PRESETS, FCNConfig, ModelConfig, Parks2018Config, build_model, model_flops,
    preset_config, receptive_field,
)

__all__ = [
    "DEFAULT_PRESET", "DLALoss", "FCNConfig", "LOG_NHI_PIVOT", "LogNHIRMSE", "LossWeights", "ModelConfig",
    "OffsetRMSE", "PRESETS", "Parks2018Config", "PixelAccuracy", "TrainingData", "build_model", "card_path",
    "combined_loss", "cut_windows", "decode_outputs", "evaluate", "load_model", "loss_terms", "model_flops",
    "pixel_metrics", "predict_windows", "preset_config", "read_card", "receptive_field", "save_model",
    "sliding_windows", "task_metrics", "write_card",
]
