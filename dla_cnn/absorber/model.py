"""The absorber-level Keras model: real or not, DLA or sub-DLA, z and log N_HI with errors.

Inputs are the crops of :mod:`dla_cnn.absorber.crops` (``lya``, ``lyb``, ``ll``,
``scalars``); the output is one vector of six raw numbers per candidate::

    [real_logit, dla_logit, offset_px, log_sigma_offset, log_nhi - 20.5, log_sigma_log_nhi]

``real`` is the probability that a true H I absorber with log N_HI >= 19.0 has its
Ly-alpha centre within :data:`REAL_RADIUS_PX` of the candidate; the offset is that
absorber's centre minus the candidate (px); the two regressions are Gaussian likelihoods
whose predicted sigma is the absorber's 1-sigma error.

Loss (``keras.ops`` only, so TensorFlow, JAX and PyTorch train the same model)::

    L = BCE(real) + w_dla BCE(dla | real) + w_off NLL(offset | real) + w_nhi NLL(log N | real)

with the Gaussian negative log-likelihood ``0.5 ((y - mu) / sigma)^2 + log sigma``,
``log sigma`` clipped to [-4, 3].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dla_cnn.backend import import_keras

import_keras()  # before keras itself: keeps TensorFlow's C++ start-up lines quiet

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from dla_cnn.absorber.crops import CROP_SHAPES
from dla_cnn.absorber.outputs import (  # noqa: F401 - re-exported: the model's output convention
    INPUT_NAMES, OFFSET_SCALE, REAL_MIN_LOG_NHI, REAL_RADIUS_PX, decode_absorber_outputs,
)


@dataclass(frozen=True)
class AbsorberConfig:
    """Architecture of the absorber-level model."""

    name: str = "absorber"
    lya_filters: tuple[int, ...] = (32, 48, 64, 96, 96)
    """Conv widths of the Ly-alpha tower; each stage halves the length (512 -> 16 px)."""
    side_filters: tuple[int, ...] = (16, 32, 32)
    kernel: int = 7
    dense: int = 192
    dropout: float = 0.1
    l2: float = 1e-5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "AbsorberConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in (d or {}).items() if k in known}
        return cls(**kw)


ABSORBER_PRESETS: dict[str, AbsorberConfig] = {
    "absorber": AbsorberConfig(),
    "absorber-small": AbsorberConfig(name="absorber_small", lya_filters=(16, 24, 32, 48, 48), side_filters=(8, 16, 16),
                                     dense=96, dropout=0.2),
    "absorber-small-wide": AbsorberConfig(name="absorber_small_wide", lya_filters=(16, 24, 32, 48, 48),
                                          side_filters=(8, 16, 16), dense=256, dropout=0.1),
}
"""Named architectures: the default; one with ~4x fewer multiply-adds per crop; and that one's
towers under a wider shared layer with less dropout (the same multiply-adds to within ~5%; its
towers can start from an ``absorber-small`` model, :func:`dla_cnn.absorber.train.transfer_weights`)."""


def _tower(x, filters: tuple[int, ...], kernel: int, prefix: str, l2: float):
    reg = keras.regularizers.L2(l2) if l2 else None
    for i, f in enumerate(filters):
        x = layers.Conv1D(f, kernel, padding="same", kernel_regularizer=reg, name=f"{prefix}_conv{i}a")(x)
        x = layers.BatchNormalization(name=f"{prefix}_bn{i}")(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv1D(f, 3, padding="same", activation="relu", kernel_regularizer=reg, name=f"{prefix}_conv{i}b")(x)
        x = layers.MaxPooling1D(2, name=f"{prefix}_pool{i}")(x)
    return layers.Flatten(name=f"{prefix}_flat")(x)


def build_absorber_model(cfg: AbsorberConfig = AbsorberConfig()) -> keras.Model:
    """The absorber-level model (functional, four named inputs, output (batch, 6)).

    Parameters
    ----------
    cfg : AbsorberConfig
        Architecture: conv widths of the Ly-alpha and side (Ly-beta, Lyman-limit)
        towers, kernel width (pixels), dense width, dropout rate and L2 weight.

    Returns
    -------
    keras.Model
        Untrained, uncompiled, named ``cfg.name``; inputs ``lya``, ``lyb``, ``ll``,
        ``scalars`` (shapes :data:`~dla_cnn.absorber.crops.CROP_SHAPES`), output the six
        raw numbers of the module docstring.
    """
    inputs = {name: keras.Input(shape=shape, name=name) for name, shape in zip(INPUT_NAMES, CROP_SHAPES)}
    a = _tower(inputs["lya"], cfg.lya_filters, cfg.kernel, "lya", cfg.l2)
    b = _tower(inputs["lyb"], cfg.side_filters, cfg.kernel, "lyb", cfg.l2)
    c = _tower(inputs["ll"], cfg.side_filters, cfg.kernel, "ll", cfg.l2)
    s = layers.Dense(32, activation="relu", name="scalars_dense")(inputs["scalars"])
    x = layers.Concatenate(name="features")([a, b, c, s])
    x = layers.Dropout(cfg.dropout)(x)
    x = layers.Dense(cfg.dense, activation="relu", name="shared")(x)
    x = layers.Dropout(cfg.dropout)(x)
    heads = []
    for name in ("real", "dla", "offset", "nhi"):
        h = layers.Dense(64, activation="relu", name=f"{name}_hidden")(x)
        heads.append(layers.Dense(1 if name in ("real", "dla") else 2, name=f"{name}_out")(h))
    out = layers.Concatenate(name="outputs")(heads)
    return keras.Model(inputs=[inputs[n] for n in INPUT_NAMES], outputs=out, name=cfg.name)


@keras.saving.register_keras_serializable(package="dla_cnn")
class AbsorberLoss(keras.losses.Loss):
    """The combined absorber-level loss (see module docstring).

    ``y_true`` is (batch, 4): ``[real, dla, offset_px, log_nhi - 20.5]``.
    """

    def __init__(self, w_dla: float = 0.5, w_offset: float = 1.0, w_nhi: float = 1.0, name: str = "absorber_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.w_dla, self.w_offset, self.w_nhi = float(w_dla), float(w_offset), float(w_nhi)

    def call(self, y_true, y_pred):
        return ops.mean(absorber_loss_terms(y_true, y_pred, self.w_dla, self.w_offset, self.w_nhi)[0])

    def get_config(self) -> dict:
        return {**super().get_config(), "w_dla": self.w_dla, "w_offset": self.w_offset, "w_nhi": self.w_nhi}


def _bce(y, logit):
    return ops.maximum(logit, 0.0) - logit * y + ops.log1p(ops.exp(-ops.abs(logit)))


def _nll(y, mu, log_sigma):
    log_sigma = ops.clip(log_sigma, -4.0, 3.0)
    z = (y - mu) * ops.exp(-log_sigma)
    return 0.5 * z * z + log_sigma


def absorber_loss_terms(y_true, y_pred, w_dla: float = 0.5, w_offset: float = 1.0, w_nhi: float = 1.0):
    """Per-candidate loss and its four terms (each (batch,))."""
    y_true = ops.cast(y_true, y_pred.dtype)
    real, dla, off, nhi = (y_true[:, i] for i in range(4))
    l_real = _bce(real, y_pred[:, 0])
    l_dla = real * _bce(dla, y_pred[:, 1])
    l_off = real * _nll(off / OFFSET_SCALE, y_pred[:, 2], y_pred[:, 3])
    l_nhi = real * _nll(nhi, y_pred[:, 4], y_pred[:, 5])
    return l_real + w_dla * l_dla + w_offset * l_off + w_nhi * l_nhi, (l_real, l_dla, l_off, l_nhi)
