"""The absorber-level stage of the two-stage finder.

The per-pixel network (:mod:`dla_cnn.model`) proposes candidates; this package cuts a
crop centred on each (:mod:`.crops`), decides and measures it with a small Keras model
(:mod:`.model`), merges duplicates and calibrates the result (:mod:`.stage`).  Training
crops come from simulated skies (:mod:`.data`), training is :mod:`.train`, fitting the
calibration is :mod:`.calibrate`.
"""

from dla_cnn.backend import import_keras

import_keras()  # before any submodule imports keras: keeps TensorFlow's C++ start-up lines quiet

from dla_cnn.absorber.crops import ExtendedView, cut_crops, extended_view
from dla_cnn.absorber.model import AbsorberConfig, AbsorberLoss, build_absorber_model, decode_absorber_outputs
from dla_cnn.absorber.stage import AbsorberStage, StageCalibration, StageConfig

__all__ = [
    "AbsorberConfig", "AbsorberLoss", "AbsorberStage", "ExtendedView", "StageCalibration", "StageConfig",
    "build_absorber_model", "cut_crops", "decode_absorber_outputs", "extended_view",
]
