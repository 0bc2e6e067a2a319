"""The per-pixel ``fcn`` network as an ONNX graph in channels-first layout, built from its weights.

A generic Keras -> ONNX conversion keeps Keras's channels-last layout: every ``Conv1D``
becomes a transpose, a 2-D convolution, a transpose back and a separate bias ``Add``, and
ONNX Runtime then spends more time reordering memory between layouts than convolving
(about 58% of the per-pixel network's time on one CPU thread).  :func:`fcn_graph` writes
the same network directly as ``(batch, channels, pixels)`` convolutions with their biases
and activations attached -- one transpose at the input, one at the output -- which ONNX
Runtime fuses and runs in its blocked layout throughout.

The graph takes ``window`` ``(batch, length, channels)`` and returns ``(batch, length, 3)``
raw outputs, as the Keras model does.  It reads the layer names and the architecture of
:func:`dla_cnn.model.presets.build_model`'s ``fcn`` builder; :func:`dla_cnn.model.export.export_onnx`
compares its outputs with the Keras model's before it is written.

Caveats
-------
* Only for a fixed input length (the model's ``length``; the packaged models use 1748).
* "same" padding follows Keras (TensorFlow/JAX): of an odd total, the extra pixel goes after.
"""

from __future__ import annotations

import numpy as np

from dla_cnn.exceptions import ConfigError
from dla_cnn.model.presets import FCNConfig

OPSET = 17


def _same_pads(length: int, width: int, stride: int, dilation: int) -> tuple[int, int, int]:
    """Keras "same" padding of a 1-D convolution: ``(before, after, output length)``."""
    out = -(-length // stride)
    total = max((out - 1) * stride + (width - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2, out


class ChannelsFirstGraph:
    """A small builder of ONNX nodes on ``(batch, channels, 1, pixels)`` tensors (unique names,
    weights as initializers): 1-D convolutions as 2-D ones of height 1, which ONNX Runtime runs
    in its blocked layout and fuses with their activations."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def dense(self, x: str, layer, name: str, relu: bool) -> str:
        """A Keras ``Dense`` layer (kernel ``(in, out)``) on ``x`` of shape ``(batch, in)``."""
        kernel, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
        y = self.node("Gemm", [x, self.const(f"{name}.w", kernel), self.const(f"{name}.b", bias)], name)
        return self.node("Relu", [y], f"{name}.relu") if relu else y

    def conv(self, x: str, layer, length: int, name: str, relu: bool, norm=None) -> tuple[str, int]:
        """A Keras ``Conv1D`` (kernel ``(width, in, out)``) on ``x`` of ``length`` pixels.

        ``norm``, a Keras ``BatchNormalization`` layer that follows the convolution (its
        inference form), is folded into the kernel and bias.  With ``relu`` the output is
        rectified (after the normalisation).  Returns the output and its length.
        """
        act = getattr(layer.activation, "__name__", str(layer.activation))
        if layer.padding != "same" or act != ("relu" if relu and norm is None else "linear"):
            raise ConfigError(f"ONNX graph: layer {layer.name!r} has padding {layer.padding!r} and activation "
                              f"{act!r}, not what the model builder makes")
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
        if norm is not None:
            gamma, beta, mean, var = (np.asarray(w, dtype=np.float64) for w in norm.get_weights())
            scale = gamma / np.sqrt(var + norm.epsilon)
            kernel, bias = kernel * scale, (bias - mean) * scale + beta
        kernel, bias = kernel.astype(np.float32), bias.astype(np.float32)
        width, stride, dilation = kernel.shape[0], int(layer.strides[0]), int(layer.dilation_rate[0])
        before, after, out = _same_pads(length, width, stride, dilation)
        w = self.const(f"{name}.w", np.transpose(kernel, (2, 1, 0))[:, :, None, :])
        b = self.const(f"{name}.b", bias)
        y = self.node("Conv", [x, w, b], name, kernel_shape=[1, width], strides=[1, stride],
                      dilations=[1, dilation], pads=[0, before, 0, after])
        return (self.node("Relu", [y], f"{name}.relu") if relu else y), out


def fcn_graph(model, cfg: FCNConfig):
    """The ``fcn`` Keras ``model`` (built with ``cfg``) as a channels-first ONNX model.

    Parameters
    ----------
    model : keras.Model
        A per-pixel network from :func:`dla_cnn.model.presets.build_model` with the ``fcn`` preset.
    cfg : FCNConfig
        Its configuration (the card's ``preset_config``); ``cfg.length`` must be set.

    Returns
    -------
    onnx.ModelProto
        Input ``window`` ``(batch, length, channels)``, output ``raw`` ``(batch, length, 3)``.
    """
    from onnx import TensorProto, helper

    if cfg.length is None:
        raise ConfigError("fcn graph: the model takes any length; the graph needs a fixed one (FCNConfig.length)")
    length = int(cfg.length)
    multiple = 2**cfg.n_down
    padded = length + (-length) % multiple
    g = ChannelsFirstGraph()
    layer = model.get_layer
    x = g.node("Transpose", ["window"], "to_ncw", perm=[0, 2, 1])
    x = g.node("Unsqueeze", [x, g.const("row.axis", np.array([2], np.int64))], "to_nc1w")
    if padded != length:
        x = g.node("Pad", [x, g.const("pad.amounts", np.array([0, 0, 0, 0, 0, 0, 0, padded - length], np.int64))],
                   "pad")
    h, n = g.conv(x, layer("stem"), padded, "stem", relu=True)
    skips = [h]
    for i in range(1, cfg.n_down + 1):
        h, n = g.conv(h, layer(f"down{i}"), n, f"down{i}", relu=True)
        if i < cfg.n_down:
            skips.append(h)
    for j, d in enumerate(cfg.dilations, start=1):  # pre-activation residual blocks, as in the builder
        r = g.node("Relu", [h], f"core{j}_relu") if j > 1 else h
        r, _ = g.conv(r, layer(f"core{j}_d{d}"), n, f"core{j}_d{d}", relu=False)
        h = g.node("Add", [h, r], f"core{j}_add")
    h = g.node("Relu", [h], "core_relu")
    scales = g.const("up.scales", np.array([1.0, 1.0, 1.0, 2.0], np.float32))
    for i, skip in enumerate(reversed(skips), start=1):
        if i == 1:
            h, n = g.conv(h, layer("core_proj"), n, "core_proj", relu=True)
        # UpSampling1D(2): every pixel twice (nearest, output pixel i reads input pixel floor(i / 2))
        h = g.node("Resize", [h, "", scales], f"up{i}", mode="nearest", coordinate_transformation_mode="asymmetric",
                   nearest_mode="floor")
        n *= 2
        h = g.node("Concat", [h, skip], f"skip{i}", axis=1)
        h, n = g.conv(h, layer(f"dec{i}"), n, f"dec{i}", relu=True)
    h, n = g.conv(h, layer("head_hidden"), n, "head_hidden", relu=True)
    heads = [layer(name).get_weights() for name in ("classification", "offset", "log_nhi")]
    kernel = np.concatenate([np.asarray(k, np.float32) for k, _ in heads], axis=-1)  # (1, in, 3)
    bias = np.concatenate([np.asarray(b, np.float32) for _, b in heads])
    out = g.node("Conv", [h, g.const("heads.w", np.transpose(kernel, (2, 1, 0))[:, :, None, :]),
                          g.const("heads.b", bias)], "heads", kernel_shape=[1, 1])
    if padded != length:
        out = g.node("Slice", [out, g.const("crop.start", np.array([0], np.int64)),
                               g.const("crop.end", np.array([length], np.int64)),
                               g.const("crop.axis", np.array([3], np.int64))], "crop")
    out = g.node("Squeeze", [out, g.const("row.axis.out", np.array([2], np.int64))], "to_ncw_out")
    g.node("Transpose", [out], "raw", perm=[0, 2, 1])
    graph = helper.make_graph(
        g.nodes, "fcn", [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", length, cfg.channels])],
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["batch", length, 3])], initializer=g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="dla_cnn")
    onnx_model.ir_version = 8  # readable by every onnxruntime that supports opset 17
    return onnx_model
