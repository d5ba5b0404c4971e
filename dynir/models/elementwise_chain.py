"""``elementwise_chain``: ten elementwise ops over 4M floats, to measure fusion.

Unfused, each op streams 16 MB in and out; fused, the chain reads ``x`` once::

    x[batch,1024,1024] -> Mul 1.5 -> Add bias[1024] -> Relu -> Sigmoid -> Mul x -> Sub 0.25
                       -> Tanh -> Abs -> Add x -> Mul 0.5 -> y
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
class ElementwiseChainConfig:
    rows: int = 1024
    cols: int = 1024


def build(*, seed: int = 0, opset: int = 17, **size_options: int) -> onnx.ModelProto:
    cfg = make_config(ElementwiseChainConfig, size_options)
    g = GraphBuilder("elementwise_chain", seed)
    x = g.input("x", ["batch", cfg.rows, cfg.cols])
    h = g.node("Mul", [x, g.scalar("scale", 1.5)], name="mul_scale")
    h = g.node("Add", [h, g.weight("bias", g.normal((cfg.cols,), 0.5))], name="add_bias")
    h = g.node("Relu", [h], name="relu")
    h = g.node("Sigmoid", [h], name="sigmoid")
    h = g.node("Mul", [h, x], name="gate")
    h = g.node("Sub", [h, g.scalar("shift", 0.25)], name="sub_shift")
    h = g.node("Tanh", [h], name="tanh")
    h = g.node("Abs", [h], name="abs")
    h = g.node("Add", [h, x], name="residual")
    y = g.node("Mul", [h, g.scalar("half", 0.5)], name="mul_half", output_name="y")
    g.output(y, ["batch", cfg.rows, cfg.cols])
    return g.model(opset, "chain of ten elementwise ops")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: int) -> dict[str, np.ndarray]:
    cfg = make_config(ElementwiseChainConfig, size_options)
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((dims["batch"], cfg.rows, cfg.cols)).astype(np.float32)}


SPECS = [
    ModelSpec(
        "elementwise_chain",
        partial(build),
        partial(make_inputs),
        "10 elementwise ops (Mul, Add, Relu, Sigmoid, Mul, Sub, Tanh, Abs, Add, Mul) over 4x1024x1024",
        {"batch": 4},
    ),
]
