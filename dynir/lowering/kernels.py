"""One kernel per ``fusion.group``: pick its shape and build it.

- A group of elementwise ops (any tree, with broadcasting) becomes one loop nest over
  its output; each element is computed in registers from one load per input.
- A group holding one other op goes to that op's lowering (``@lowers("nn.matmul")`` in
  the family modules: contraction.py, reduction.py, ...), which receives the input and
  output buffers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType, i1
from xdsl.ir import Operation, SSAValue

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.lowering.builder import KernelBuilder, finish_kernel, new_kernel
from dynir.lowering.scalar import LoweringError, emit_scalar, has_scalar_form

OpLowering = Callable[[KernelBuilder, Operation, list[SSAValue], list[SSAValue]], None]
_LOWERINGS: dict[str, OpLowering] = {}


def lowers(*names: str) -> Callable[[OpLowering], OpLowering]:
    """Register the loop lowering of ops ``names``: ``fn(kb, op, inputs, outputs)``
    appends loops that read the input buffers and fill the output buffers."""

    def wrap(fn: OpLowering) -> OpLowering:
        for name in names:
            _LOWERINGS[name] = fn
        return fn

    return wrap


def _load_families() -> None:
    from dynir.lowering import families  # noqa: F401  (registers the lowerings)


def can_lower(op: Operation) -> bool:
    _load_families()
    return has_scalar_form(op) or op.name in _LOWERINGS


def build_kernel(group: GroupOp, name: str) -> func.FuncOp:
    """The kernel function of ``group`` (inputs, then outputs, as memrefs)."""
    _load_families()
    body_ops = [op for op in group.body.block.ops if not isinstance(op, YieldOp)]
    in_types = [_tensor(v.type) for v in group.inputs]
    out_types = [_tensor(r.type) for r in group.outputs]
    kernel, kb, ins, outs = new_kernel(name, in_types, out_types)
    if body_ops and all(has_scalar_form(op) for op in body_ops):
        _elementwise_kernel(kb, group, ins, outs)
    elif len(body_ops) == 1 and body_ops[0].name in _LOWERINGS:
        op = body_ops[0]
        args = {a: b for a, b in zip(group.body.block.args, ins)}
        _LOWERINGS[op.name](kb, op, [args[v] for v in op.operands], outs)  # type: ignore[index]
    else:
        names = ", ".join(sorted({op.name for op in body_ops}))
        raise LoweringError(f"no loop lowering for a group of ({names})")
    finish_kernel(kb)
    return kernel


def _elementwise_kernel(
    kb: KernelBuilder, group: GroupOp, ins: Sequence[SSAValue], outs: Sequence[SSAValue]
) -> None:
    # One nest per distinct output shape would be needed for outputs of different
    # shapes; fusion only forms groups whose outputs share the group's iteration space.
    yield_op = group.body.block.last_op
    assert isinstance(yield_op, YieldOp)
    ivs, inner = kb.loop_nest(kb.dims(outs[0]))
    buffers = dict(zip(group.body.block.args, ins))
    cache: dict[SSAValue, SSAValue] = {}

    def value_at(v: SSAValue) -> SSAValue:
        if v in cache:
            return cache[v]
        if v in buffers:
            t = _tensor(v.type)
            scalar = inner.load(buffers[v], inner.broadcast_index(buffers[v], ivs), as_bool=t.element_type == i1)
        else:
            op = v.owner
            assert isinstance(op, Operation)
            scalar = emit_scalar(inner, op, [value_at(o) for o in op.operands])
        cache[v] = scalar
        return scalar

    for value, out in zip(yield_op.values, outs):
        inner.store(value_at(value), out, ivs)


def _tensor(t: object) -> TensorType:
    if not isinstance(t, TensorType):
        raise LoweringError(f"expected a tensor, got {t}")
    return t
