"""The combined multi-task loss (spec section 7), in ``keras.ops`` only.

``L = w_c L_c + w_o L_o + w_h L_h`` with

* ``L_c`` -- binary cross-entropy of the classification logit, mean over pixels whose
  label is not ignored (label -1 pixels are excluded from every term);
* ``L_o`` -- squared error of the offset, in units of ``offset_scale`` px, mean over
  positive pixels only;
* ``L_h`` -- squared error of log N_HI (dex), mean over positive pixels only.

Means over valid pixels (not sums over the batch, which made the published regression
terms weigh ~700x the classification).  ``y_true`` packs the labels as the last axis
``[class, offset, log_nhi]``; ``y_pred`` is the model output ``[logit, offset, log_nhi - 20.5]``.
Works for per-pixel (batch, 1748, 3) and per-window (batch, 3) shapes alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from keras import ops

from dla_cnn.model.presets import LOG_NHI_PIVOT


@dataclass(frozen=True)
class LossWeights:
    """Task weights and the offset scale of the combined loss."""

    classification: float = 1.0
    offset: float = 0.5
    log_nhi: float = 2.0
    offset_scale: float = 10.0
    """Offsets enter the loss in units of this many pixels."""

    def to_dict(self) -> dict:
        return asdict(self)


def combined_loss(weights: LossWeights = LossWeights()):
    """A Keras loss function ``loss(y_true, y_pred)`` for the given task weights."""

    def dla_loss(y_true, y_pred):
        cls = y_true[..., 0]
        valid = ops.cast(cls >= 0, "float32")
        pos = ops.cast(cls > 0, "float32")
        logit = y_pred[..., 0]
        bce = ops.maximum(logit, 0.0) - logit * pos + ops.log1p(ops.exp(-ops.abs(logit)))
        l_c = ops.sum(bce * valid) / ops.maximum(ops.sum(valid), 1.0)
        n_pos = ops.maximum(ops.sum(pos), 1.0)
        l_o = ops.sum(pos * ops.square((y_true[..., 1] - y_pred[..., 1]) / weights.offset_scale)) / n_pos
        l_h = ops.sum(pos * ops.square(y_true[..., 2] - LOG_NHI_PIVOT - y_pred[..., 2])) / n_pos
        return weights.classification * l_c + weights.offset * l_o + weights.log_nhi * l_h

    return dla_loss
