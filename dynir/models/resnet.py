"""``resnet50`` and ``resnet_tiny``: the ResNet-50 topology (torchvision v1.5 layout).

Stem 7x7/2 conv, BN, ReLU, 3x3/2 max pool; four stages of bottleneck blocks ([3, 4, 6, 3]:
1x1 reduce, 3x3 (stride here), 1x1 expand x4, projection shortcut on the first block of a
stage); global average pool, Flatten, Gemm to the classes. Batch is symbolic::

    x[batch,3,224,224] -> stem -> layer1..layer4 -> GlobalAveragePool -> Flatten -> Gemm -> logits[batch,1000]

Weights are He-initialised and every block's last BN has a small scale (0.2-0.4), as in
"zero-init residual" training, so activations stay O(1) through all 50 layers with
random BN statistics. ``resnet_tiny`` divides the widths by 8 and runs at 64x64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx

from dynir.models.conv_block import batch_norm
from dynir.models.graph_builder import GraphBuilder
from dynir.models.spec import ModelSpec, make_config

EXPANSION = 4
RESIDUAL_BN_SCALE = 0.3
"""Scale of the last BN's gamma in each bottleneck: keeps the residual sum's variance
from growing block after block."""


@dataclass(frozen=True)
class ResNetConfig:
    width: int = 64
    image_size: int = 224
    num_classes: int = 1000
    blocks: tuple[int, ...] = (3, 4, 6, 3)


def conv(g: GraphBuilder, x: str, c_in: int, c_out: int, kernel: int, stride: int, name: str) -> str:
    w = g.weight(f"{name}.weight", g.he_normal((c_out, c_in, kernel, kernel), c_in * kernel * kernel))
    pad = kernel // 2
    return g.node(
        "Conv", [x, w], name=name, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4
    )


def bottleneck(g: GraphBuilder, x: str, c_in: int, width: int, stride: int, name: str) -> str:
    c_out = width * EXPANSION
    h = batch_norm(g, conv(g, x, c_in, width, 1, 1, f"{name}.conv1"), width, f"{name}.bn1")
    h = g.node("Relu", [h], name=f"{name}.relu1")
    h = batch_norm(g, conv(g, h, width, width, 3, stride, f"{name}.conv2"), width, f"{name}.bn2")
    h = g.node("Relu", [h], name=f"{name}.relu2")
    h = batch_norm(g, conv(g, h, width, c_out, 1, 1, f"{name}.conv3"), c_out, f"{name}.bn3", RESIDUAL_BN_SCALE)
    shortcut = x
    if stride != 1 or c_in != c_out:
        projected = conv(g, x, c_in, c_out, 1, stride, f"{name}.downsample.conv")
        shortcut = batch_norm(g, projected, c_out, f"{name}.downsample.bn")
    return g.node("Relu", [g.node("Add", [h, shortcut], name=f"{name}.add")], name=f"{name}.relu3")


def build(*, seed: int = 0, opset: int = 17, **size_options: object) -> onnx.ModelProto:
    cfg = make_config(ResNetConfig, size_options)
    g = GraphBuilder("resnet", seed)
    x = g.input("x", ["batch", 3, cfg.image_size, cfg.image_size])
    h = g.node("Relu", [batch_norm(g, conv(g, x, 3, cfg.width, 7, 2, "conv1"), cfg.width, "bn1")], name="relu")
    h = g.node("MaxPool", [h], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = cfg.width
    for stage, num_blocks in enumerate(cfg.blocks):
        width = cfg.width * 2**stage
        for block in range(num_blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            h = bottleneck(g, h, c_in, width, stride, f"layer{stage + 1}.{block}")
            c_in = width * EXPANSION
    h = g.node("GlobalAveragePool", [h], name="avgpool")
    h = g.node("Flatten", [h], name="flatten", axis=1)
    fc_w = g.weight("fc.weight", g.normal((cfg.num_classes, c_in), float(np.sqrt(1.0 / c_in))))
    fc_b = g.weight("fc.bias", g.normal((cfg.num_classes,), 0.01))
    logits = g.node("Gemm", [h, fc_w, fc_b], name="fc", output_name="logits", transB=1)
    g.output(logits, ["batch", cfg.num_classes])
    return g.model(opset, f"ResNet-{3 * sum(cfg.blocks) + 2} topology, width {cfg.width}")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: object) -> dict[str, np.ndarray]:
    cfg = make_config(ResNetConfig, size_options)
    rng = np.random.default_rng(seed)
    shape = (dims["batch"], 3, cfg.image_size, cfg.image_size)
    return {"x": rng.standard_normal(shape).astype(np.float32)}


TINY = {"width": 8, "image_size": 64}

SPECS = [
    ModelSpec(
        "resnet50",
        partial(build),
        partial(make_inputs),
        "ResNet-50 at 1x3x224x224 (bottlenecks [3, 4, 6, 3], BN kept), batch symbolic",
        {"batch": 1},
    ),
    ModelSpec(
        "resnet_tiny",
        partial(build, **TINY),
        partial(make_inputs, **TINY),
        "ResNet-50 topology with widths / 8 at 1x3x64x64, for fast tests",
        {"batch": 1},
    ),
]
