"""``mlp``: a two-layer perceptron, 1024 -> 4096 -> ReLU -> 1024, batch symbolic.

The two layers use the two forms exporters write for a linear layer: ``MatMul`` + ``Add``
(layer 1) and ``Gemm`` with ``transB=1`` (layer 2, PyTorch's ``nn.Linear`` export)::

    x[batch,1024] -> MatMul W1[1024,4096] -> Add b1 -> Relu -> Gemm(W2[1024,4096]^T, b2) -> y[batch,1024]
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
class MlpConfig:
    in_features: int = 1024
    hidden: int = 4096
    out_features: int = 1024


def build(*, seed: int = 0, opset: int = 17, **size_options: int) -> onnx.ModelProto:
    cfg = make_config(MlpConfig, size_options)
    g = GraphBuilder("mlp", seed)
    x = g.input("x", ["batch", cfg.in_features])
    w1 = g.weight("fc1.weight", g.he_normal((cfg.in_features, cfg.hidden), cfg.in_features))
    b1 = g.weight("fc1.bias", g.normal((cfg.hidden,), 0.1))
    h = g.node("MatMul", [x, w1], name="fc1.matmul")
    h = g.node("Add", [h, b1], name="fc1.add")
    h = g.node("Relu", [h], name="relu")
    w2 = g.weight("fc2.weight", g.he_normal((cfg.out_features, cfg.hidden), cfg.hidden))
    b2 = g.weight("fc2.bias", g.normal((cfg.out_features,), 0.1))
    y = g.node("Gemm", [h, w2, b2], name="fc2", output_name="y", transB=1)
    g.output(y, ["batch", cfg.out_features])
    return g.model(opset, "two-layer perceptron")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: int) -> dict[str, np.ndarray]:
    cfg = make_config(MlpConfig, size_options)
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((dims["batch"], cfg.in_features)).astype(np.float32)}


SPECS = [
    ModelSpec(
        "mlp",
        partial(build),
        partial(make_inputs),
        "MLP 1024 -> 4096 -> ReLU -> 1024 (MatMul+Add, then Gemm), batch symbolic",
        {"batch": 64},
    ),
]
