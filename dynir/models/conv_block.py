"""``conv_block``: a ResNet basic block (conv-BN-ReLU, conv-BN, residual add, ReLU).

The ``BatchNormalization`` nodes are kept (a fusion pass folds them into the convs)::

    x[batch,64,56,56] -> Conv3x3 -> BN -> Relu -> Conv3x3 -> BN -> Add x -> Relu
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx

from dynir.models.graph_builder import GraphBuilder
from dynir.models.spec import ModelSpec, make_config


@dataclass(frozen=True)
class ConvBlockConfig:
    channels: int = 64
    size: int = 56


def conv_bn(g: GraphBuilder, x: str, c_in: int, c_out: int, kernel: int, stride: int, name: str) -> str:
    """Conv (no bias, as frameworks export a conv followed by BN) + BatchNormalization
    with random but sane inference statistics (var in [0.5, 1.5])."""
    fan_in = c_in * kernel * kernel
    w = g.weight(f"{name}.weight", g.he_normal((c_out, c_in, kernel, kernel), fan_in))
    pad = kernel // 2
    y = g.node(
        "Conv", [x, w], name=name, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4
    )
    return batch_norm(g, y, c_out, f"{name}.bn")


def batch_norm(g: GraphBuilder, x: str, channels: int, name: str, gamma_scale: float = 1.0) -> str:
    scale = g.weight(f"{name}.weight", gamma_scale * g.uniform((channels,), 0.5, 1.0))
    bias = g.weight(f"{name}.bias", g.normal((channels,), 0.1))
    mean = g.weight(f"{name}.running_mean", g.normal((channels,), 0.1))
    var = g.weight(f"{name}.running_var", g.uniform((channels,), 0.5, 1.5))
    return g.node("BatchNormalization", [x, scale, bias, mean, var], name=name, epsilon=1e-5)


def build(*, seed: int = 0, opset: int = 17, **size_options: int) -> onnx.ModelProto:
    cfg = make_config(ConvBlockConfig, size_options)
    c, s = cfg.channels, cfg.size
    g = GraphBuilder("conv_block", seed)
    x = g.input("x", ["batch", c, s, s])
    h = conv_bn(g, x, c, c, 3, 1, "conv1")
    h = g.node("Relu", [h], name="relu1")
    h = conv_bn(g, h, c, c, 3, 1, "conv2")
    h = g.node("Add", [h, x], name="residual")
    y = g.node("Relu", [h], name="relu2", output_name="y")
    g.output(y, ["batch", c, s, s])
    return g.model(opset, "ResNet basic block with BatchNormalization")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: int) -> dict[str, np.ndarray]:
    cfg = make_config(ConvBlockConfig, size_options)
    rng = np.random.default_rng(seed)
    shape = (dims["batch"], cfg.channels, cfg.size, cfg.size)
    return {"x": rng.standard_normal(shape).astype(np.float32)}


SPECS = [
    ModelSpec(
        "conv_block",
        partial(build),
        partial(make_inputs),
        "ResNet basic block at 1x64x56x56: Conv3x3-BN-ReLU-Conv3x3-BN + residual, ReLU",
        {"batch": 1},
    ),
]
