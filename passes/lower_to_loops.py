"""``lower-to-loops``: every ``fusion.group`` becomes one kernel function on memrefs.

Requires: a module whose host functions hold ``nn`` ops and ``fusion.group``s.
Guarantees: every compute op of a host function sits in a group whose ``kernel``
property names a ``func.func`` of ``scf``/``memref``/``arith``/``math`` ops
(inputs then outputs, destination-passing). Constants stay in the host function and
reach kernels as buffers. Ops left outside groups are first wrapped one per group.

Before::

    func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
      %0 = nn.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
      func.return %0 : tensor<?x4xf32>
    }

After::

    func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
      %0 = fusion.group (%x) {kernel = @relu_0} : (tensor<?x4xf32>) -> (tensor<?x4xf32>) {
      ^bb0(%a: tensor<?x4xf32>):
        %1 = nn.relu %a : (tensor<?x4xf32>) -> tensor<?x4xf32>
        fusion.yield %1 : tensor<?x4xf32>
      }
      func.return %0 : tensor<?x4xf32>
    }
    func.func @relu_0(%a: memref<?x4xf32>, %out: memref<?x4xf32>) {
      scf.for ... { memref.load ... arith.maximumf ... memref.store ... }
      func.return
    }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, SymbolRefAttr
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.lowering.kernels import build_kernel
from dynir.remarks import remark


def host_functions(module: ModuleOp) -> list[func.FuncOp]:
    """Functions that hold a model's graph (not kernels: those take memrefs)."""
    return [
        op
        for op in module.ops
        if isinstance(op, func.FuncOp) and op.body.blocks and "kernel" not in op.attributes
    ]


def wrap_in_group(op: Operation) -> GroupOp:
    """Move ``op`` into a new singleton group in its place; returns the group."""
    inputs: list[SSAValue] = []
    for v in op.operands:
        if v not in inputs:
            inputs.append(v)
    body = Block(arg_types=[v.type for v in inputs])
    mapping = dict(zip(inputs, body.args))
    group = GroupOp(inputs, [r.type for r in op.results], Region(body))
    assert op.parent is not None
    op.parent.insert_op_before(group, op)
    op.detach()
    for i, v in enumerate(op.operands):
        op.operands[i] = mapping[v]  # type: ignore[index]
    body.add_op(op)
    for old, new in zip(op.results, group.results):
        old.replace_all_uses_with(new)
    body.add_op(YieldOp(list(op.results)))
    return group


def hoist_constants(group: GroupOp) -> None:
    """Constants inside a group become group inputs defined just before it."""
    block = group.body.block
    for op in list(block.ops):
        if not isinstance(op, ConstantOp):
            continue
        op.detach()
        assert group.parent is not None
        group.parent.insert_op_before(op, group)
        arg = block.insert_arg(op.output.type, len(block.args))
        op.output.replace_uses_with_if(arg, lambda use: _inside(use.operation, group))
        group.operands = [*group.operands, op.output]


def _inside(op: Operation, group: GroupOp) -> bool:
    parent = op.parent_op()
    while parent is not None:
        if parent is group:
            return True
        parent = parent.parent_op()
    return False


@dataclass(frozen=True)
class LowerToLoopsPass(ModulePass):
    name = "lower-to-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        counter = 0
        for f in host_functions(op):
            for inner in list(f.body.block.ops):
                if isinstance(inner, NNOp) and not isinstance(inner, ConstantOp):
                    wrap_in_group(inner)
            for group in [g for g in f.body.block.ops if isinstance(g, GroupOp)]:
                hoist_constants(group)
                name = _kernel_name(group, counter)
                counter += 1
                kernel = build_kernel(group, name)
                kernel.attributes["kernel"] = StringAttr(name)
                op.body.block.add_op(kernel)
                group.kernel = SymbolRefAttr(name)
                n_ops = len(group.body.block.ops) - 1
                remark(group, f"kernel @{name}: {n_ops} op{'s' if n_ops != 1 else ''} in one loop nest")


def _kernel_name(group: GroupOp, index: int) -> str:
    names = [o.name.removeprefix("nn.") for o in group.body.block.ops if not isinstance(o, YieldOp)]
    stem = names[0] if len(names) == 1 else "fused_" + "_".join(names[:3])
    return f"{stem}_{index}"
