"""Shared checks of the fusion tests: run a pass, compile fused/unfused, compare."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.dialects.fusion import GroupOp
from dynir.interpreter import entry_function, interpret
from dynir.ir.context import make_context
from dynir.pipeline import build_pipeline
from dynir.remarks import collect_remarks, in_pass


def run_passes(module: ModuleOp, spec: str) -> tuple[ModuleOp, list[str]]:
    """``module`` (copied) after the pipeline ``spec``, and the remark messages."""
    out = module.clone()
    with collect_remarks() as remarks:
        for p in build_pipeline(spec):
            with in_pass(p.name):
                p.apply(make_context(), out)
    out.verify()
    return out, [r.message for r in remarks]


def groups(module: ModuleOp) -> list[GroupOp]:
    return [op for op in entry_function(module).body.block.ops if isinstance(op, GroupOp)]


def group_ops(group: GroupOp) -> list[str]:
    return [op.name for op in group.body.block.ops][:-1]


def check_compiled(module: ModuleOp, *inputs: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Fused and unfused compiled code agree with the interpreter."""
    want = interpret(module, *inputs)
    for fuse in (True, False):
        got = dynir.compile(module, fuse=fuse)(*inputs)
        got_list: Sequence[np.ndarray] = got if isinstance(got, (list, tuple)) else [got]
        assert len(got_list) == len(want)
        for g, w in zip(got_list, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=rtol, atol=atol, err_msg=f"fuse={fuse}")
