"""Shared by the tests of data-movement lowerings: random inputs and the bit-exact
compiled-vs-reference check."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

import dynir


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype: str = "float32", low: int = -100) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(max(low, 0) if dtype.startswith("u") else low, 100, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def assert_same(
    rng: np.random.Generator, module: ModuleOp, shapes: Sequence[Sequence[Sequence[int]]], dtype: str = "float32", low: int = -100
) -> None:
    """Compile ``module`` once; for each list of input shapes, compare with the reference."""
    compiled = dynir.compile(module)
    for input_shapes in shapes:
        inputs = [random_array(rng, s, dtype, low) for s in input_shapes]
        got = compiled(*inputs)
        want = dynir.interpret(module, *inputs)
        assert len(got) == len(want)
        for position, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype, f"output {position} for {input_shapes}"
            np.testing.assert_array_equal(g, w, err_msg=f"output {position} for inputs {input_shapes}")
