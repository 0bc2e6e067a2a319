"""Model presets, each built from a config dataclass.

Output convention (both presets)
--------------------------------
Every prediction is three *raw* numbers ``[logit, offset, delta_log_nhi]``:

* ``logit`` -- classification logit; ``sigmoid(logit)`` is the probability that an
  absorber centre lies within 60 px of the pixel;
* ``offset`` -- absorber centre minus pixel, in pixels;
* ``delta_log_nhi`` -- log N_HI minus :data:`LOG_NHI_PIVOT` (20.5), so an untrained head
  starts in the middle of the DLA range.

The ``fcn`` model returns ``(batch, length, 3)`` (one prediction per pixel), ``parks2018``
returns ``(batch, 3)`` (the central pixel of a 400-px window).
:func:`dla_cnn.model.predict.decode_outputs` turns raw outputs into probability,
offset and log N_HI; :func:`dla_cnn.model.predict.predict_windows` does it for whole
sightlines with either preset.

Presets
-------
* ``fcn`` (default, ours) -- a fully convolutional encoder/decoder that predicts every
  pixel of a sightline in one pass from two channels (normalised flux, weight
  ``1/(1+sigma)``): a stem convolution, three stride-2 downsamplings, pre-activation
  residual blocks of dilated convolutions at 1/8 resolution, upsampling with skip
  connections and 1x1 heads.  The receptive field (1057 px with the defaults, see
  :func:`receptive_field`) covers the damping wings of the strongest DLAs.  The defaults
  cost ~66 M multiply-adds per sightline for ~0.23 M parameters.  Inputs of any length are padded internally to a
  multiple of 8 and the outputs cropped back.
* ``parks2018`` -- the published sliding-window CNN (spec section 7): one 400-px flux
  window in, one prediction out, 652,101 parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import keras
from keras import layers, ops, regularizers

from dla_cnn import grid
from dla_cnn.constants import LOG_NHI_PIVOT
from dla_cnn.exceptions import ConfigError



# --------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class Parks2018Config:
    """The published sliding-window architecture (spec section 7).

    The three convolution stages are ``conv(filters, width, stride) -> ReLU ->
    maxpool(size, stride)`` with 'same' padding; the flattened features go through a
    shared dense layer (ReLU, dropout) and three dense heads.
    """

    name: str = "parks2018"
    window: int = 400
    channels: int = 1
    conv_filters: tuple[int, ...] = (100, 96, 96)
    conv_widths: tuple[int, ...] = (32, 16, 16)
    conv_strides: tuple[int, ...] = (3, 1, 1)
    pool_sizes: tuple[int, ...] = (7, 6, 6)
    pool_strides: tuple[int, ...] = (4, 4, 4)
    dense: int = 350
    head_units: tuple[int, int, int] = (200, 350, 150)
    """Hidden units of the classification, offset and log N_HI heads."""
    dropout: float = 0.02
    """Dropout rate (published keep probability 0.98)."""
    l2: float = 0.005
    """L2 penalty ``l2 * sum(w**2)`` on every kernel."""


@dataclass(frozen=True)
class FCNConfig:
    """Our fully convolutional per-pixel model.

    Resolution levels: the stem works at full resolution, ``encoder_filters`` give the
    widths after the first two stride-2 downsamplings, ``core_filters`` the width after
    the third (1/8 resolution) where the residual dilated blocks run; the decoder widths
    go back up from 1/4 to full resolution.
    """

    name: str = "fcn"
    length: int | None = grid.N_WINDOW
    """Input length; ``None`` accepts any length."""
    channels: int = 2
    stem_filters: int = 16
    stem_width: int = 7
    encoder_filters: tuple[int, ...] = (32, 48)
    encoder_width: int = 5
    core_filters: int = 96
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    """One residual block per dilation at 1/8 resolution.  The widest (32) lets pixels deep
    inside the black trough of a log N_HI ~ 22.5 absorber (+-200 px) see both of its edges."""
    core_width: int = 3
    decoder_filters: tuple[int, ...] = (48, 32, 16)
    decoder_width: int = 3
    head_filters: int = 16
    class_prior: float = 0.1
    """Initial probability of the classification head (sets its bias)."""

    @property
    def n_down(self) -> int:
        return len(self.encoder_filters) + 1

    def __post_init__(self) -> None:
        if len(self.decoder_filters) != self.n_down:
            raise ConfigError(f"fcn config: {len(self.decoder_filters)} decoder widths for {self.n_down} "
                              "downsamplings (need one per level)")
        if not 0.0 < self.class_prior < 1.0:
            raise ConfigError(f"fcn config: class_prior={self.class_prior} must lie in (0, 1)")


ModelConfig = Parks2018Config | FCNConfig
PRESETS: dict[str, type] = {"fcn": FCNConfig, "parks2018": Parks2018Config}
DEFAULT_PRESET = "fcn"


def preset_config(preset: str | ModelConfig) -> ModelConfig:
    """The config dataclass of a preset name (a config is returned unchanged).

    Parameters
    ----------
    preset : str or config dataclass
        ``"fcn"`` or ``"parks2018"``, or a :class:`FCNConfig` / :class:`Parks2018Config`.

    Returns
    -------
    FCNConfig or Parks2018Config
        The preset's default config, or ``preset`` itself when it is a config.

    Raises
    ------
    ConfigError
        If ``preset`` is not a known preset name.
    """
    if isinstance(preset, (Parks2018Config, FCNConfig)):
        return preset
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[preset]()


def config_to_dict(cfg: ModelConfig) -> dict:
    """JSON-ready dict of a config (tuples become lists)."""
    return asdict(cfg)


def config_from_dict(d: dict) -> ModelConfig:
    """Inverse of :func:`config_to_dict`; unknown keys raise :class:`ConfigError`."""
    cls = PRESETS.get(d.get("name", ""))
    if cls is None:
        raise ConfigError(f"unknown model preset {d.get('name')!r} in a model config")
    known = {f.name for f in fields(cls)}
    extra = set(d) - known
    if extra:
        raise ConfigError(f"{cls.__name__}: unknown fields {sorted(extra)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def build_model(preset: str | ModelConfig = DEFAULT_PRESET) -> keras.Model:
    """Build an untrained model.

    Parameters
    ----------
    preset : str or config dataclass
        ``"fcn"`` (default), ``"parks2018"``, or a :class:`FCNConfig` /
        :class:`Parks2018Config` with custom widths.

    Returns
    -------
    keras.Model
        Named after the preset; outputs follow the module's output convention.
    """
    cfg = preset_config(preset)
    if isinstance(cfg, Parks2018Config):
        return _parks2018(cfg)
    return _fcn(cfg)


# --------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="dla_cnn")
class PadToMultiple(layers.Layer):
    """Zero-pad the length axis of ``(batch, length, channels)`` at its end to a multiple."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        n = ops.shape(x)[1]
        pad = (self.multiple - n % self.multiple) % self.multiple
        return ops.pad(x, [[0, 0], [0, pad], [0, 0]])

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        n = None if n is None else n + (-n) % self.multiple
        return (input_shape[0], n, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="dla_cnn")
class CropToMatch(layers.Layer):
    """Crop the length axis of the first input to the length of the second."""

    def call(self, inputs):
        x, ref = inputs
        return x[:, : ops.shape(ref)[1], :]

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        return (x[0], ref[1], x[2])


# --------------------------------------------------------------------------- builders
def _parks2018(cfg: Parks2018Config) -> keras.Model:
    reg = regularizers.L2(cfg.l2) if cfg.l2 else None
    inp = keras.Input((cfg.window, cfg.channels), name="flux_window")
    x = inp
    stages = zip(cfg.conv_filters, cfg.conv_widths, cfg.conv_strides, cfg.pool_sizes, cfg.pool_strides)
    for i, (nf, width, stride, pool, pool_stride) in enumerate(stages, start=1):
        x = layers.Conv1D(nf, width, strides=stride, padding="same", activation="relu", kernel_regularizer=reg,
                          name=f"conv{i}")(x)
        x = layers.MaxPooling1D(pool, strides=pool_stride, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.dense, activation="relu", kernel_regularizer=reg, name="fc")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    heads = []
    for head, units in zip(("classification", "offset", "log_nhi"), cfg.head_units):
        h = layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"{head}_hidden")(x)
        heads.append(layers.Dense(1, kernel_regularizer=reg, name=head)(h))
    out = layers.Concatenate(name="outputs")(heads)
    return keras.Model(inp, out, name="parks2018")


def _conv(filters: int, width: int, name: str, strides: int = 1, dilation: int = 1, activation="relu", **kw):
    return layers.Conv1D(filters, width, strides=strides, dilation_rate=dilation, padding="same",
                         activation=activation, name=name, **kw)


def _fcn(cfg: FCNConfig) -> keras.Model:
    import math

    inp = keras.Input((cfg.length, cfg.channels), name="window")
    x = PadToMultiple(2**cfg.n_down, name="pad")(inp)
    h = _conv(cfg.stem_filters, cfg.stem_width, "stem")(x)
    skips = [h]
    for i, nf in enumerate(cfg.encoder_filters, start=1):
        h = _conv(nf, cfg.encoder_width, f"down{i}", strides=2)(h)
        skips.append(h)
    h = _conv(cfg.core_filters, cfg.encoder_width, f"down{cfg.n_down}", strides=2)(h)
    for j, d in enumerate(cfg.dilations, start=1):  # pre-activation residual blocks
        r = layers.ReLU(name=f"core{j}_relu")(h) if j > 1 else h  # the first input is already a ReLU output
        r = _conv(cfg.core_filters, cfg.core_width, f"core{j}_d{d}", dilation=d, activation=None)(r)
        h = layers.Add(name=f"core{j}_add")([h, r])
    h = layers.ReLU(name="core_relu")(h)
    for i, (nf, skip) in enumerate(zip(cfg.decoder_filters, reversed(skips)), start=1):
        if i == 1:  # narrow the core features before the first (most expensive) upsampling
            h = _conv(nf, 1, "core_proj")(h)
        h = layers.UpSampling1D(2, name=f"up{i}")(h)
        h = layers.Concatenate(name=f"skip{i}")([h, skip])
        h = _conv(nf, cfg.decoder_width, f"dec{i}")(h)
    h = _conv(cfg.head_filters, 1, "head_hidden")(h)
    bias = math.log(cfg.class_prior / (1.0 - cfg.class_prior))
    logit = _conv(1, 1, "classification", activation=None, bias_initializer=keras.initializers.Constant(bias))(h)
    offset = _conv(1, 1, "offset", activation=None)(h)
    log_nhi = _conv(1, 1, "log_nhi", activation=None)(h)
    out = layers.Concatenate(name="heads")([logit, offset, log_nhi])
    out = CropToMatch(name="crop")([out, inp])
    return keras.Model(inp, out, name="fcn")


def receptive_field(cfg: FCNConfig) -> int:
    """Receptive field of a :class:`FCNConfig` model, in input pixels.

    Counts every convolution on the deepest path (stem, downsamplings, residual core,
    decoder); upsampling by repetition adds nothing.

    Parameters
    ----------
    cfg : FCNConfig
        The model's kernel widths, number of downsamplings and core dilations.

    Returns
    -------
    int
        Width of the input region, pixels, that can influence one output pixel.
    """
    rf, jump = 1, 1
    rf += (cfg.stem_width - 1) * jump
    for _ in range(cfg.n_down):
        rf += (cfg.encoder_width - 1) * jump
        jump *= 2
    rf += sum((cfg.core_width - 1) * d * jump for d in cfg.dilations)
    for _ in range(cfg.n_down):
        jump //= 2
        rf += (cfg.decoder_width - 1) * jump
    return rf


def model_flops(model: keras.Model) -> int:
    """Multiply-adds of the convolution and dense layers for one input (sightline or window).

    Needs a model with a fixed input length (build a variable-length config with
    ``dataclasses.replace(cfg, length=1748)`` to count it).

    Parameters
    ----------
    model : keras.Model
        A built model with a fixed input length.

    Returns
    -------
    int
        Sum over ``Conv1D`` layers of output length x kernel width x input channels x
        filters, plus input x output units of ``Dense`` layers (biases, pooling and
        activations not counted).

    Raises
    ------
    ConfigError
        If the model's input length is variable.
    """
    if model.input_shape[1] is None:
        raise ConfigError("model_flops: the model has a variable input length; build it with a fixed length")
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv1D):
            total += layer.output.shape[1] * layer.kernel_size[0] * layer.input.shape[-1] * layer.filters
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
