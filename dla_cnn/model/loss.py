"""The combined multi-task loss (spec section 7), in ``keras.ops`` only.

``L = w_c L_c + w_o L_o + w_h L_h`` with

* ``L_c`` -- binary cross-entropy of the classification logit (computed from the logit,
  numerically stable), mean over the pixels whose label is not ignored;
* ``L_o`` -- squared error of the offset in units of ``offset_scale`` pixels, mean over
  positive pixels only;
* ``L_h`` -- squared error of log N_HI (dex), mean over positive pixels only.

Pixels labelled -1 (ignored) take no part in any term.  The means run over the valid
(or positive) pixels of the whole batch, never sums over the batch: the published code
summed, so its regression terms weighed ~700x the classification.

Default task weights
--------------------
With offsets in units of 10 px, an untrained model has ``L_o ~ 12`` (labels uniform in
+-60 px) and ``L_h ~ 1``; a good model reaches BCE ~0.05, offset RMSE ~5 px and
N_HI RMSE ~0.2 dex.  ``offset=0.5`` and ``log_nhi=2.0`` put the three terms of a good
model at the same level (~0.1 each), so no task dominates the late stages of training.

Tensor conventions
------------------
``y_true`` packs the labels on the last axis as ``[class, offset, log_nhi]`` (class 1, 0
or -1; offset in px; log N_HI in dex, 0 where not positive).  ``y_pred`` is the raw model
output ``[logit, offset, log_nhi - 20.5]`` (see :mod:`dla_cnn.model.presets`).  Both are
``(batch, pixels, 3)`` for ``fcn`` or ``(batch, 3)`` for ``parks2018``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import ops

from dla_cnn.exceptions import ConfigError
from dla_cnn.model.presets import LOG_NHI_PIVOT


@dataclass(frozen=True)
class LossWeights:
    """Task weights of the combined loss.

    Attributes
    ----------
    classification, offset, log_nhi : float
        Weights ``w_c``, ``w_o``, ``w_h``.
    offset_scale : float
        Offsets enter ``L_o`` in units of this many pixels.
    """

    classification: float = 1.0
    offset: float = 0.5
    log_nhi: float = 2.0
    offset_scale: float = 10.0

    def __post_init__(self) -> None:
        if min(self.classification, self.offset, self.log_nhi) < 0 or self.offset_scale <= 0:
            raise ConfigError(f"loss weights must be >= 0 and offset_scale > 0: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


def loss_terms(y_true, y_pred, offset_scale: float = 10.0):
    """The three unweighted loss terms ``(L_c, L_o, L_h)`` as scalar tensors.

    Parameters
    ----------
    y_true : tensor (..., 3)
        Labels ``[class, offset, log_nhi]``: class 1 / 0 / -1 (ignored), offset in
        pixels, log N_HI in log10 cm^-2 (see the module's tensor conventions).
    y_pred : tensor (..., 3)
        Raw model output ``[logit, offset, log_nhi - 20.5]`` (offset in pixels).
    offset_scale : float
        Offsets enter ``L_o`` in units of this many pixels.

    Returns
    -------
    l_c, l_o, l_h : scalar tensors (float32)
        Mean binary cross-entropy over non-ignored pixels, mean squared scaled offset
        error and mean squared log N_HI error (dex^2) over positive pixels, each over
        the whole batch (0 when there is no such pixel).
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    cls = y_true[..., 0]
    valid = ops.cast(cls >= 0, "float32")
    pos = ops.cast(cls > 0.5, "float32")
    logit = y_pred[..., 0]
    # -y log(sigmoid(z)) - (1-y) log(1 - sigmoid(z)) == max(z, 0) - z y + log(1 + exp(-|z|))
    bce = ops.maximum(logit, 0.0) - logit * pos + ops.log1p(ops.exp(-ops.abs(logit)))
    l_c = ops.sum(bce * valid) / ops.maximum(ops.sum(valid), 1.0)
    n_pos = ops.maximum(ops.sum(pos), 1.0)
    d_off = (y_true[..., 1] - y_pred[..., 1]) / offset_scale
    d_nhi = y_true[..., 2] - LOG_NHI_PIVOT - y_pred[..., 2]
    # where() keeps the large labels of non-positive pixels out of the arithmetic entirely
    l_o = ops.sum(ops.where(pos > 0, ops.square(d_off), 0.0)) / n_pos
    l_h = ops.sum(ops.where(pos > 0, ops.square(d_nhi), 0.0)) / n_pos
    return l_c, l_o, l_h


@keras.saving.register_keras_serializable(package="dla_cnn")
class DLALoss(keras.losses.Loss):
    """The combined loss as a Keras loss (serialisable, so checkpoints resume compiled).

    Parameters
    ----------
    weights : LossWeights or dict
        Task weights; the defaults are documented in the module.
    """

    def __init__(self, weights: LossWeights | dict | None = None, name: str = "dla_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        if isinstance(weights, dict):
            weights = LossWeights(**weights)
        self.weights = weights or LossWeights()

    def call(self, y_true, y_pred):
        w = self.weights
        l_c, l_o, l_h = loss_terms(y_true, y_pred, w.offset_scale)
        return w.classification * l_c + w.offset * l_o + w.log_nhi * l_h

    def get_config(self) -> dict:
        return {"name": self.name, "weights": self.weights.to_dict()}


def combined_loss(weights: LossWeights = LossWeights()) -> DLALoss:
    """The combined loss ``loss(y_true, y_pred) -> scalar`` for the given task weights.

    Parameters
    ----------
    weights : LossWeights
        Task weights ``w_c``, ``w_o``, ``w_h`` and the offset scale (pixels).

    Returns
    -------
    DLALoss
        A serialisable Keras loss computing ``w_c L_c + w_o L_o + w_h L_h`` from
        :func:`loss_terms`.
    """
    return DLALoss(weights)
