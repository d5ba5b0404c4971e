"""Small models for the runtime tests: elementwise only, so every compile is fast."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from dynir.builder import Graph

BIAS = np.linspace(-1.0, 1.0, 8).astype(np.float32)


def tied_model(scale: float = 0.5) -> ModuleOp:
    """``y = relu(x * scale + b) + z``: x and z are ``batch x seq x 8``, both dims named."""
    g = Graph()
    x = g.input("x", (None, None, 8), "float32", dim_names=("batch", "seq", ""))
    z = g.input("z", (None, None, 8), "float32", dim_names=("batch", "seq", ""))
    b = g.constant(BIAS, name="b")
    g.output(g.relu(x * scale + b) + z, name="y")
    return g.module()


def tied_expected(x: np.ndarray, z: np.ndarray, scale: float = 0.5) -> np.ndarray:
    return np.maximum(x * np.float32(scale) + BIAS, 0) + z


def unnamed_model() -> ModuleOp:
    """``y = x + 1`` with two unnamed dynamic dims (each its own symbol)."""
    g = Graph()
    x = g.input("x", (None, None), "float32")
    g.output(x + 1.0, name="y")
    return g.module()


def inputs(batch: int, seq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((batch, seq, 8)).astype(np.float32),
        rng.standard_normal((batch, seq, 8)).astype(np.float32),
    )
