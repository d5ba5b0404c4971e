"""Shared check of the conv lowering tests: compiled (dynamic shapes) vs the interpreter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

import dynir


def assert_matches(module: ModuleOp, input_sets: Sequence[Sequence[np.ndarray]], tol: float) -> None:
    compiled = dynir.compile(module, dynamic=True, cache_dir=False)
    for inputs in input_sets:
        (got,) = compiled(*inputs)
        (want,) = dynir.interpret(module, *inputs)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=str([a.shape for a in inputs]))
