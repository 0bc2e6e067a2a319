"""The absorber-level network as an ONNX graph in channels-first layout, built from its weights.

As for the per-pixel network (:mod:`dla_cnn.model.onnx_fcn`), a generic conversion keeps
Keras's channels-last layout and ONNX Runtime spends about half of the network's time
reordering memory and adding biases.  :func:`absorber_graph` writes each tower as
``(batch, channels, 1, pixels)`` convolutions, with every batch normalisation folded into the
convolution before it, and transposes only the 16-pixel tower outputs back to Keras's order
before they are flattened, so the dense layers keep their Keras weights.

Inputs ``lya``, ``lyb``, ``ll`` (``(batch, pixels, channels)``) and ``scalars``
(``(batch, 6)``), output ``raw`` ``(batch, 6)``: those of
:func:`dla_cnn.absorber.model.build_absorber_model`, whose layer names this module reads;
:func:`dla_cnn.model.export.export_onnx` compares the graph's outputs with the model's.

Caveats
-------
* Inference only: dropout is the identity and batch normalisation uses its moving statistics.
"""

from __future__ import annotations

import numpy as np

from dla_cnn.absorber.crops import CROP_SHAPES
from dla_cnn.absorber.model import AbsorberConfig
from dla_cnn.absorber.outputs import INPUT_NAMES
from dla_cnn.model.onnx_fcn import OPSET, ChannelsFirstGraph


def _tower(g: ChannelsFirstGraph, model, name: str, filters: tuple[int, ...], length: int) -> str:
    """One convolution tower on input ``name``, flattened in Keras's (pixel, channel) order."""
    x = g.node("Transpose", [name], f"{name}.to_ncw", perm=[0, 2, 1])
    x = g.node("Unsqueeze", [x, g.const(f"{name}.row_axis", np.array([2], np.int64))], f"{name}.to_nc1w")
    n = length
    for i in range(len(filters)):
        x, n = g.conv(x, model.get_layer(f"{name}_conv{i}a"), n, f"{name}_conv{i}a", relu=True,
                      norm=model.get_layer(f"{name}_bn{i}"))
        x, n = g.conv(x, model.get_layer(f"{name}_conv{i}b"), n, f"{name}_conv{i}b", relu=True)
        x = g.node("MaxPool", [x], f"{name}_pool{i}", kernel_shape=[1, 2], strides=[1, 2])
        n //= 2
    x = g.node("Transpose", [x], f"{name}.to_nw1c", perm=[0, 3, 2, 1])  # (batch, pixels, 1, channels)
    return g.node("Flatten", [x], f"{name}_flat", axis=1)


def absorber_graph(model, cfg: AbsorberConfig):
    """The absorber-level Keras ``model`` (built with ``cfg``) as a channels-first ONNX model.

    Parameters
    ----------
    model : keras.Model
        From :func:`dla_cnn.absorber.model.build_absorber_model` (trained).
    cfg : AbsorberConfig
        Its architecture (the card's ``stage2.config``).

    Returns
    -------
    onnx.ModelProto
        Inputs ``lya``, ``lyb``, ``ll``, ``scalars``; output ``raw`` ``(batch, 6)``.
    """
    from onnx import TensorProto, helper

    g = ChannelsFirstGraph()
    shapes = dict(zip(INPUT_NAMES, CROP_SHAPES))
    feats = [_tower(g, model, name, filters, shapes[name][0])
             for name, filters in (("lya", cfg.lya_filters), ("lyb", cfg.side_filters), ("ll", cfg.side_filters))]
    feats.append(g.dense("scalars", model.get_layer("scalars_dense"), "scalars_dense", relu=True))
    x = g.node("Concat", feats, "features", axis=1)
    x = g.dense(x, model.get_layer("shared"), "shared", relu=True)
    heads = []
    for name in ("real", "dla", "offset", "nhi"):
        h = g.dense(x, model.get_layer(f"{name}_hidden"), f"{name}_hidden", relu=True)
        heads.append(g.dense(h, model.get_layer(f"{name}_out"), f"{name}_out", relu=False))
    g.node("Concat", heads, "raw", axis=1)
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shapes[name]]) for name in INPUT_NAMES]
    graph = helper.make_graph(g.nodes, "absorber", inputs,
                              [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["batch", 6])],
                              initializer=g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dla_cnn")
    onnx_model.ir_version = 8
    return onnx_model
