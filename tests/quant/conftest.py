"""Helpers shared by the int8 tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

import dynir


def assert_bit_exact(module: ModuleOp | str, input_sets: Sequence[Sequence[np.ndarray]]) -> None:
    """The compiled module (IR text or a module) gives the interpreter's results bit for
    bit, dtypes and shapes included, on every input set (one compilation, dynamic shapes)."""
    if isinstance(module, str):
        module = dynir.parse(module)
    compiled = dynir.compile(module, dynamic=True, cache_dir=False)
    for inputs in input_sets:
        got = compiled(*inputs)
        want = dynir.interpret(module, *inputs)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w, err_msg=f"inputs {[a.shape for a in inputs]}")
