"""Streaming Keras metrics of the three tasks (any backend).

* :class:`PixelAccuracy` -- fraction of non-ignored pixels whose class is right
  (probability >= 0.5, i.e. logit >= 0, for positives);
* :class:`OffsetRMSE` -- RMS offset error in pixels over positive pixels;
* :class:`LogNHIRMSE` -- RMS log N_HI error in dex over positive pixels.

They accumulate sums over every batch of an epoch (not means of batch means) and take
``y_true``/``y_pred`` in the conventions of :mod:`dla_cnn.model.loss`.  With no positive
pixel seen, the two RMSEs are NaN.
"""

from __future__ import annotations

import keras
from keras import ops

from dla_cnn.model.presets import LOG_NHI_PIVOT


class _PixelSum(keras.metrics.Metric):
    """Sum of a per-pixel quantity over selected pixels, divided by their count."""

    root = False

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def values(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        value, select = self.values(y_true, y_pred)
        select = ops.cast(select, "float32")
        self.total.assign_add(ops.sum(ops.where(select > 0, value, 0.0)))
        self.count.assign_add(ops.sum(select))

    def result(self):
        mean = self.total / ops.maximum(self.count, 1.0)
        if self.root:
            return ops.where(self.count > 0, ops.sqrt(mean), float("nan"))
        return ops.where(self.count > 0, mean, float("nan"))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="dla_cnn")
class PixelAccuracy(_PixelSum):
    """Classification accuracy over the non-ignored pixels."""

    def __init__(self, name: str = "pixel_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def values(self, y_true, y_pred):
        cls = y_true[..., 0]
        right = ops.equal(y_pred[..., 0] >= 0.0, cls > 0.5)
        return ops.cast(right, "float32"), cls >= 0


@keras.saving.register_keras_serializable(package="dla_cnn")
class OffsetRMSE(_PixelSum):
    """RMS offset error (px) over positive pixels."""

    root = True

    def __init__(self, name: str = "offset_rmse_px", **kwargs):
        super().__init__(name=name, **kwargs)

    def values(self, y_true, y_pred):
        return ops.square(y_true[..., 1] - y_pred[..., 1]), y_true[..., 0] > 0.5


@keras.saving.register_keras_serializable(package="dla_cnn")
class LogNHIRMSE(_PixelSum):
    """RMS log N_HI error (dex) over positive pixels."""

    root = True

    def __init__(self, name: str = "log_nhi_rmse_dex", **kwargs):
        super().__init__(name=name, **kwargs)

    def values(self, y_true, y_pred):
        return ops.square(y_true[..., 2] - LOG_NHI_PIVOT - y_pred[..., 2]), y_true[..., 0] > 0.5


def task_metrics() -> list[keras.metrics.Metric]:
    """Fresh instances of the three task metrics, for ``model.compile(metrics=...)``."""
    return [PixelAccuracy(), OffsetRMSE(), LogNHIRMSE()]
