"""``matmul``: one float32 MatMul of two inputs, 1024 x 1024 x 1024 by default.

Both operands are graph inputs (no constant weight to pre-pack), so the row measures
the GEMM kernel itself against onnxruntime and the machine's peak::

    a[m, k] @ b[k, n] -> c[m, n]
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
class MatmulConfig:
    m: int = 1024
    k: int = 1024
    n: int = 1024


def build(*, seed: int = 0, opset: int = 17, **size_options: int) -> onnx.ModelProto:
    cfg = make_config(MatmulConfig, size_options)
    g = GraphBuilder("matmul", seed)
    a = g.input("a", [cfg.m, cfg.k])
    b = g.input("b", [cfg.k, cfg.n])
    c = g.node("MatMul", [a, b], name="matmul", output_name="c")
    g.output(c, [cfg.m, cfg.n])
    return g.model(opset, "one float32 matmul")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: int) -> dict[str, np.ndarray]:
    cfg = make_config(MatmulConfig, size_options)
    rng = np.random.default_rng(seed)
    return {
        "a": rng.standard_normal((cfg.m, cfg.k)).astype(np.float32),
        "b": rng.standard_normal((cfg.k, cfg.n)).astype(np.float32),
    }


SPECS = [ModelSpec("matmul", partial(build), partial(make_inputs), "float32 matmul 1024x1024 @ 1024x1024", {})]
