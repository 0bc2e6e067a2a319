"""Model presets, each built from a config dataclass.

Output convention (both presets): three linear channels per prediction,
``[classification logit, offset (px), log N_HI - 20.5]``.  ``sigmoid(logit)`` is the
probability that an absorber centre lies within 60 px; the offset is ``centre - pixel``;
adding 20.5 to the last channel gives log N_HI.  :func:`dla_cnn.model.predict.predict_windows`
applies both transformations.

* ``parks2018`` -- the published sliding-window CNN (Parks et al. 2018): one 400-px flux
  window in, one prediction (for the central pixel) out; 652,101 parameters.
* ``fcn`` (default) -- ours: a fully convolutional encoder/decoder with a dilated residual
  core at 1/8 resolution (receptive field ~1000 px, enough for the damping wings of the
  strongest DLAs) that predicts all 1748 pixels of a sightline in one pass from two
  channels (normalised flux and weight 1/(1+sigma)).

Caveats
-------
* Only built-in Keras layers are used, so saved models load on any Keras 3 backend
  without custom objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers, regularizers

from dla_cnn import grid
from dla_cnn.exceptions import ConfigError

LOG_NHI_PIVOT = 20.5


@dataclass(frozen=True)
class Parks2018Config:
    """The published architecture (spec section 7)."""

    name: str = "parks2018"
    window: int = 400
    channels: int = 1
    conv_filters: tuple[int, int, int] = (100, 96, 96)
    conv_widths: tuple[int, int, int] = (32, 16, 16)
    conv_strides: tuple[int, int, int] = (3, 1, 1)
    pool_sizes: tuple[int, int, int] = (7, 6, 6)
    pool_strides: tuple[int, int, int] = (4, 4, 4)
    dense: int = 350
    head_units: tuple[int, int, int] = (200, 350, 150)
    dropout: float = 0.02
    """1 - keep probability (published keep = 0.98)."""
    l2: float = 0.005


@dataclass(frozen=True)
class FCNConfig:
    """Our fully convolutional per-pixel model."""

    name: str = "fcn"
    length: int = grid.N_WINDOW
    channels: int = 2
    stem_filters: int = 16
    stem_width: int = 7
    down_filters: tuple[int, ...] = (32, 48, 64)
    down_width: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    up_filters: tuple[int, ...] = (48, 32, 32)
    up_width: int = 3

    @property
    def pad(self) -> int:
        step = 2 ** len(self.down_filters)
        return (-self.length) % step


PRESETS: dict[str, type] = {"parks2018": Parks2018Config, "fcn": FCNConfig}
DEFAULT_PRESET = "fcn"


def preset_config(preset: str | Parks2018Config | FCNConfig) -> Parks2018Config | FCNConfig:
    """The config dataclass of a preset name (or the config itself)."""
    if isinstance(preset, (Parks2018Config, FCNConfig)):
        return preset
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[preset]()


def config_to_dict(cfg: Parks2018Config | FCNConfig) -> dict:
    return asdict(cfg)


def config_from_dict(d: dict) -> Parks2018Config | FCNConfig:
    cls = PRESETS.get(d.get("name", ""))
    if cls is None:
        raise ConfigError(f"unknown model preset {d.get('name')!r}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def build_model(preset: str | Parks2018Config | FCNConfig = DEFAULT_PRESET) -> keras.Model:
    """Build an untrained model of a preset.

    Parameters
    ----------
    preset : str or config
        ``"fcn"`` (default), ``"parks2018"``, or a config dataclass.
    """
    cfg = preset_config(preset)
    if isinstance(cfg, Parks2018Config):
        return _parks2018(cfg)
    return _fcn(cfg)


def _parks2018(cfg: Parks2018Config) -> keras.Model:
    reg = regularizers.L2(cfg.l2) if cfg.l2 else None
    inp = keras.Input((cfg.window, cfg.channels), name="flux_window")
    x = inp
    for i, (nf, w, s, pw, ps) in enumerate(zip(cfg.conv_filters, cfg.conv_widths, cfg.conv_strides,
                                                 cfg.pool_sizes, cfg.pool_strides)):
        x = layers.Conv1D(nf, w, strides=s, padding="same", activation="relu", kernel_regularizer=reg, name=f"conv{i + 1}")(x)
        x = layers.MaxPooling1D(pw, strides=ps, padding="same", name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.dense, activation="relu", kernel_regularizer=reg, name="fc")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    heads = []
    for name, units in zip(("classification", "offset", "log_nhi"), cfg.head_units):
        h = layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"{name}_hidden")(x)
        heads.append(layers.Dense(1, name=name)(h))
    out = layers.Concatenate(name="outputs")(heads)
    return keras.Model(inp, out, name="parks2018")


def _fcn(cfg: FCNConfig) -> keras.Model:
    inp = keras.Input((cfg.length, cfg.channels), name="window")
    x = layers.ZeroPadding1D((0, cfg.pad))(inp) if cfg.pad else inp
    skips = [layers.Conv1D(cfg.stem_filters, cfg.stem_width, padding="same", activation="relu")(x)]
    h = skips[0]
    for nf in cfg.down_filters:
        h = layers.Conv1D(nf, cfg.down_width, strides=2, padding="same", activation="relu")(h)
        skips.append(h)
    skips.pop()  # the deepest level is the core's input, not a skip
    for d in cfg.dilations:
        r = layers.Conv1D(cfg.down_filters[-1], 3, dilation_rate=d, padding="same", activation="relu")(h)
        h = layers.Add()([h, r])
    for nf, skip in zip(cfg.up_filters, reversed(skips)):
        h = layers.UpSampling1D(2)(h)
        h = layers.Conv1D(nf, cfg.up_width, padding="same", activation="relu")(layers.Concatenate()([h, skip]))
    out = layers.Conv1D(3, 1)(h)
    if cfg.pad:
        out = layers.Cropping1D((0, cfg.pad))(out)
    return keras.Model(inp, out, name="fcn")
