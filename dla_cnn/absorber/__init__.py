"""The absorber-level stage of the two-stage finder.

The per-pixel network (:mod:`dla_cnn.model`) proposes candidates; this package cuts a
crop centred on each (:mod:`.crops`), decides and measures it with a small Keras model
(:mod:`.model`), merges duplicates and calibrates the result (:mod:`.stage`).  Training
crops come from simulated skies (:mod:`.data`), training is :mod:`.train`, fitting the
calibration is :mod:`.calibrate`.
"""

import importlib

_EXPORTS = {
    "AbsorberConfig": "model", "AbsorberLoss": "model", "AbsorberStage": "stage", "ExtendedView": "crops",
    "StageCalibration": "stage", "StageConfig": "stage", "build_absorber_model": "model", "cut_crops": "crops",
    "decode_absorber_outputs": "model", "extended_view": "crops",
}
"""Where each exported name lives.  They are imported on first use, so that reader
processes, which need only :mod:`.crops`, do not import Keras (seconds of start-up and
hundreds of MB each)."""

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
