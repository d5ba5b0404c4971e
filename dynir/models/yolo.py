"""``yolo`` and ``yolo_tiny``: a YOLOv8n-style detector as Ultralytics exports it.

Every conv is ``Conv`` with bias (BN folded, as exporters write it) + SiLU written as
``Mul(x, Sigmoid(x))``. Backbone: strided convs and C2f blocks (1x1 conv, ``Split`` in
two, bottlenecks, ``Concat``, 1x1 conv), SPPF (three chained 5x5/1 max pools, pad 2).
Neck: ``Resize`` nearest 2x (opset 13 form: empty roi, scales input) and ``Concat``
skips (PAN-FPN). Head per level (strides 8, 16, 32): box and class conv branches,
``Concat``, ``Reshape`` [0, no, -1]; then over all anchors: ``Split`` box/class, DFL
(``Reshape``, ``Transpose``, ``Softmax``, 1x1 ``Conv`` with 0..15 weights), box decoding
against constant anchor points, ``Sigmoid`` class scores::

    images[batch,3,320,320] -> backbone -> neck -> head -> output[batch, 4 + classes, anchors]

Defaults: YOLOv8n widths at 320x320 with 80 classes; ``yolo_tiny`` runs at 64x64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx

from dynir.models.graph_builder import GraphBuilder
from dynir.models.spec import ModelSpec, make_config

MIN_OPSET = 13
STRIDES = (8, 16, 32)
SILU_GAIN = 1.2
"""Extra He-init gain for SiLU, which passes less of its input's power than ReLU."""


@dataclass(frozen=True)
class YoloConfig:
    image_size: int = 320
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)
    num_classes: int = 80
    reg_max: int = 16


def conv(g: GraphBuilder, x: str, c_in: int, c_out: int, kernel: int, stride: int, name: str) -> str:
    """Conv with bias (BatchNorm folded in) + SiLU as ``Mul(x, Sigmoid(x))``."""
    fan_in = c_in * kernel * kernel
    w = g.weight(f"{name}.conv.weight", g.he_normal((c_out, c_in, kernel, kernel), fan_in, SILU_GAIN))
    b = g.weight(f"{name}.conv.bias", g.normal((c_out,), 0.1))
    window = {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "pads": [kernel // 2] * 4}
    y = g.node("Conv", [x, w, b], name=f"{name}.conv", **window)
    return g.node("Mul", [y, g.node("Sigmoid", [y], name=f"{name}.act.sigmoid")], name=f"{name}.act.mul")


def c2f(g: GraphBuilder, x: str, c_in: int, c_out: int, depth: int, shortcut: bool, name: str) -> str:
    """CSP bottleneck with two convs, as in YOLOv8: split, chain bottlenecks, concat all."""
    c = c_out // 2
    y = conv(g, x, c_in, 2 * c, 1, 1, f"{name}.cv1")
    parts = g.multi_node("Split", [y, g.ints(f"{name}.split_sizes", [c, c])], 2, name=f"{name}.split", axis=1)
    for i in range(depth):
        h = conv(g, parts[-1], c, c, 3, 1, f"{name}.m.{i}.cv1")
        h = conv(g, h, c, c, 3, 1, f"{name}.m.{i}.cv2")
        parts.append(g.node("Add", [parts[-1], h], name=f"{name}.m.{i}.add") if shortcut else h)
    joined = g.node("Concat", parts, name=f"{name}.concat", axis=1)
    return conv(g, joined, (2 + depth) * c, c_out, 1, 1, f"{name}.cv2")


def sppf(g: GraphBuilder, x: str, c_in: int, c_out: int, name: str) -> str:
    """Spatial pyramid pooling, fast: three chained 5x5 stride-1 max pools."""
    hidden = c_in // 2
    pooled = [conv(g, x, c_in, hidden, 1, 1, f"{name}.cv1")]
    for i in range(3):
        pooled.append(
            g.node("MaxPool", [pooled[-1]], name=f"{name}.m.{i}", kernel_shape=[5, 5], strides=[1, 1], pads=[2] * 4)
        )
    return conv(g, g.node("Concat", pooled, name=f"{name}.concat", axis=1), 4 * hidden, c_out, 1, 1, f"{name}.cv2")


def upsample(g: GraphBuilder, x: str, name: str) -> str:
    scales = g.weight(f"{name}.scales", np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32))
    # As PyTorch exports nn.Upsample(scale_factor=2): no roi (""), scales as an input.
    modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return g.node("Resize", [x, "", scales], name=name, **modes)


def backbone_and_neck(g: GraphBuilder, x: str, cfg: YoloConfig) -> list[tuple[str, int]]:
    """The three feature maps (P3, P4, P5) with their channel counts."""
    w, d = cfg.widths, cfg.depths
    h = conv(g, x, 3, w[0], 3, 2, "model.0")
    h = conv(g, h, w[0], w[1], 3, 2, "model.1")
    h = c2f(g, h, w[1], w[1], d[0], True, "model.2")
    p3 = c2f(g, conv(g, h, w[1], w[2], 3, 2, "model.3"), w[2], w[2], d[1], True, "model.4")
    p4 = c2f(g, conv(g, p3, w[2], w[3], 3, 2, "model.5"), w[3], w[3], d[2], True, "model.6")
    p5 = c2f(g, conv(g, p4, w[3], w[4], 3, 2, "model.7"), w[4], w[4], d[3], True, "model.8")
    p5 = sppf(g, p5, w[4], w[4], "model.9")
    up = g.node("Concat", [upsample(g, p5, "model.10"), p4], name="model.11", axis=1)
    n4 = c2f(g, up, w[4] + w[3], w[3], 1, False, "model.12")
    up = g.node("Concat", [upsample(g, n4, "model.13"), p3], name="model.14", axis=1)
    out3 = c2f(g, up, w[3] + w[2], w[2], 1, False, "model.15")
    down = g.node("Concat", [conv(g, out3, w[2], w[2], 3, 2, "model.16"), n4], name="model.17", axis=1)
    out4 = c2f(g, down, w[2] + w[3], w[3], 1, False, "model.18")
    down = g.node("Concat", [conv(g, out4, w[3], w[3], 3, 2, "model.19"), p5], name="model.20", axis=1)
    out5 = c2f(g, down, w[3] + w[4], w[4], 1, False, "model.21")
    return [(out3, w[2]), (out4, w[3]), (out5, w[4])]


def head_branch(g: GraphBuilder, x: str, c_in: int, hidden: int, c_out: int, name: str) -> str:
    h = conv(g, conv(g, x, c_in, hidden, 3, 1, f"{name}.0"), hidden, hidden, 3, 1, f"{name}.1")
    w = g.weight(f"{name}.2.weight", g.normal((c_out, hidden, 1, 1), float(np.sqrt(1.0 / hidden))))
    b = g.weight(f"{name}.2.bias", g.normal((c_out,), 0.1))
    return g.node("Conv", [h, w, b], name=f"{name}.2", kernel_shape=[1, 1])


def anchor_points(cfg: YoloConfig) -> tuple[np.ndarray, np.ndarray]:
    """Grid-cell centres ``[1, 2, anchors]`` (x, y in cells) and strides ``[1, anchors]``."""
    points, strides = [], []
    for stride in STRIDES:
        cells = cfg.image_size // stride
        ys, xs = np.meshgrid(np.arange(cells) + 0.5, np.arange(cells) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(cells * cells, stride))
    return (
        np.concatenate(points, axis=1)[None].astype(np.float32),
        np.concatenate(strides)[None].astype(np.float32),
    )


def detect(g: GraphBuilder, features: Sequence[tuple[str, int]], cfg: YoloConfig) -> str:
    nc, reg = cfg.num_classes, cfg.reg_max
    outputs = 4 * reg + nc
    c_box = max(16, features[0][1] // 4, 4 * reg)
    c_cls = max(features[0][1], min(nc, 100))
    flat_shape = g.ints("model.22.flat_shape", [0, outputs, -1])
    levels = []
    for i, (x, channels) in enumerate(features):
        box = head_branch(g, x, channels, c_box, 4 * reg, f"model.22.cv2.{i}")
        cls = head_branch(g, x, channels, c_cls, nc, f"model.22.cv3.{i}")
        level = g.node("Concat", [box, cls], name=f"model.22.concat.{i}", axis=1)
        levels.append(g.node("Reshape", [level, flat_shape], name=f"model.22.reshape.{i}"))
    joined = g.node("Concat", levels, name="model.22.concat", axis=2)
    sizes = g.ints("model.22.split_sizes", [4 * reg, nc])
    box, cls = g.multi_node("Split", [joined, sizes], 2, name="model.22.split", axis=1)
    # DFL: a softmax over reg_max bins per box side, then its expectation (a 1x1 conv).
    box = g.node("Reshape", [box, g.ints("model.22.dfl.shape", [0, 4, reg, -1])], name="model.22.dfl.reshape")
    box = g.node("Transpose", [box], name="model.22.dfl.transpose", perm=[0, 2, 1, 3])
    box = g.node("Softmax", [box], name="model.22.dfl.softmax", axis=1)
    bins = g.weight("model.22.dfl.conv.weight", np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1))
    box = g.node("Conv", [box, bins], name="model.22.dfl.conv", kernel_shape=[1, 1])
    dist = g.node("Reshape", [box, g.ints("model.22.dfl.out_shape", [0, 4, -1])], name="model.22.dfl.flatten")
    return decode_boxes(g, dist, cls, cfg)


def decode_boxes(g: GraphBuilder, dist: str, cls: str, cfg: YoloConfig) -> str:
    """(left, top, right, bottom) distances -> (cx, cy, w, h) in pixels; Sigmoid scores."""
    points, strides = anchor_points(cfg)
    anchors = g.weight("model.22.anchors", points)
    sizes = g.ints("model.22.box_split_sizes", [2, 2])
    left_top, right_bottom = g.multi_node("Split", [dist, sizes], 2, name="model.22.box_split", axis=1)
    x1y1 = g.node("Sub", [anchors, left_top], name="model.22.x1y1")
    x2y2 = g.node("Add", [anchors, right_bottom], name="model.22.x2y2")
    corner_sum = g.node("Add", [x1y1, x2y2], name="model.22.sum")
    centre = g.node("Div", [corner_sum, g.scalar("model.22.two", 2.0)], name="model.22.centre")
    size = g.node("Sub", [x2y2, x1y1], name="model.22.size")
    boxes = g.node("Concat", [centre, size], name="model.22.boxes", axis=1)
    boxes = g.node("Mul", [boxes, g.weight("model.22.strides", strides)], name="model.22.scale")
    scores = g.node("Sigmoid", [cls], name="model.22.scores")
    return g.node("Concat", [boxes, scores], name="model.22.output", output_name="output", axis=1)


def build(*, seed: int = 0, opset: int = 17, **size_options: object) -> onnx.ModelProto:
    cfg = make_config(YoloConfig, size_options)
    if opset < MIN_OPSET:
        raise ValueError(f"yolo: opset {opset} is not supported (needs >= {MIN_OPSET}: Split/Resize inputs)")
    if cfg.image_size % STRIDES[-1]:
        raise ValueError(f"yolo: image_size {cfg.image_size} is not a multiple of {STRIDES[-1]}")
    g = GraphBuilder("yolo", seed)
    x = g.input("images", ["batch", 3, cfg.image_size, cfg.image_size])
    out = detect(g, backbone_and_neck(g, x, cfg), cfg)
    anchors = sum((cfg.image_size // s) ** 2 for s in STRIDES)
    g.output(out, ["batch", 4 + cfg.num_classes, anchors])
    return g.model(opset, f"YOLOv8-style detector at {cfg.image_size}x{cfg.image_size}, widths {cfg.widths}")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: object) -> dict[str, np.ndarray]:
    """Images in [0, 1], as the exported model expects after preprocessing."""
    cfg = make_config(YoloConfig, size_options)
    rng = np.random.default_rng(seed)
    shape = (dims["batch"], 3, cfg.image_size, cfg.image_size)
    return {"images": rng.uniform(0.0, 1.0, shape).astype(np.float32)}


TINY: dict[str, object] = {"image_size": 64, "widths": (4, 8, 16, 32, 64), "depths": (1, 1, 1, 1), "num_classes": 8}

SPECS = [
    ModelSpec(
        "yolo",
        partial(build),
        partial(make_inputs),
        "YOLOv8n-style detector at 1x3x320x320 (C2f, SPPF, Resize 2x, DFL head), batch symbolic",
        {"batch": 1},
    ),
    ModelSpec(
        "yolo_tiny",
        partial(build, **TINY),
        partial(make_inputs, **TINY),
        "YOLOv8-style detector with widths / 4 at 1x3x64x64, 8 classes, for fast tests",
        {"batch": 1},
    ),
]
