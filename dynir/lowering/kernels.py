"""One kernel per ``fusion.group``: pick its shape from the group's contents and build it.

- **elementwise** (elementwise ops, ``batch_norm``, view ops; any tree, with
  broadcasting, one or more outputs of one shape): one loop nest over the output;
  each element is computed in registers from one load per input (``GroupValues``).
- **single op**: a group holding one other op goes to that op's lowering
  (``@lowers("nn.matmul")`` in the family modules), which receives the input and
  output buffers.
- **epilogue** (one contraction/conv/pool op plus the elementwise ops that consume
  it): the producer's lowering runs with an ``epilogue`` callback that it applies to
  each finished output element before its final store (matmul/gemm do it row by row,
  while the row is in cache). A lowering without the ``epilogue`` keyword writes its
  result and the kernel then applies the tail in place, still in the same kernel.
- **reduction** (softmax, log_softmax, layer_norm or reduce_* with elementwise
  producers and consumers): see ``dynir.lowering.reduction_kernels``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Protocol

from xdsl.dialects import arith, func, scf
from xdsl.dialects.builtin import DYNAMIC_INDEX, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.lowering.builder import KernelBuilder, finish_kernel, new_kernel
from dynir.lowering.expression import VIEW_OPS, GroupValues, is_fusable_elementwise
from dynir.lowering.scalar import LoweringError

Epilogue = Callable[[KernelBuilder, SSAValue, list[SSAValue]], SSAValue]
"""``epilogue(kb, value, indices)``: the final value of output element ``indices``
given the producer's ``value`` there (appends scalar ops to ``kb``)."""


class OpLowering(Protocol):
    def __call__(self, kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], /) -> None: ...


_LOWERINGS: dict[str, OpLowering] = {}

REDUCTION_ANCHORS = frozenset(
    {
        "nn.softmax", "nn.log_softmax", "nn.layer_norm", "nn.reduce_sum", "nn.reduce_mean",
        "nn.reduce_max", "nn.reduce_min", "nn.reduce_prod", "nn.reduce_l1", "nn.reduce_l2",
        "nn.reduce_sum_square",
    }
)
"""Ops a reduction group is built around (``dynir.lowering.reduction_kernels``)."""


def lowers(*names: str) -> Callable[[OpLowering], OpLowering]:
    """Register the loop lowering of ops ``names``: ``fn(kb, op, inputs, outputs)``
    appends loops that read the input buffers and fill the output buffers. A lowering
    that can apply an epilogue takes it as keyword ``epilogue: Epilogue | None``."""

    def wrap(fn: OpLowering) -> OpLowering:
        for name in names:
            _LOWERINGS[name] = fn
        return fn

    return wrap


def _load_families() -> None:
    from dynir.lowering import families  # noqa: F401  (registers the lowerings)


def can_lower(op: Operation) -> bool:
    _load_families()
    return is_fusable_elementwise(op) or op.name in _LOWERINGS or op.name in REDUCTION_ANCHORS


def has_lowering(name: str) -> bool:
    _load_families()
    return name in _LOWERINGS


RETYPING_EPILOGUE_ANCHORS = frozenset({"quant.packed_matmul", "quant.packed_conv", "nn.concat"})
"""Anchors whose lowering keeps its accumulators apart from the output and stores only the
epilogue's value, so the epilogue may change the element type (an ``i32`` accumulator
dequantized to ``f32`` or requantized to ``i8``; a concat quantized as it copies). The float micro-kernel accumulates in
its output buffer across k blocks: its epilogues keep the type."""


def accepts_epilogue(name: str) -> bool:
    """Whether the lowering of ``name`` applies an epilogue itself (at its final store)."""
    _load_families()
    fn = _LOWERINGS.get(name)
    return fn is not None and "epilogue" in inspect.signature(fn).parameters


def build_kernel(group: GroupOp, name: str) -> func.FuncOp:
    """The kernel function of ``group`` (inputs, then outputs, as memrefs)."""
    _load_families()
    body_ops = [op for op in group.body.block.ops if not isinstance(op, YieldOp)]
    in_types = [_tensor(v.type) for v in group.inputs]
    out_types = [_tensor(r.type) for r in group.outputs]
    kernel, kb, ins, outs = new_kernel(name, in_types, out_types)
    buffers = dict(zip(group.body.block.args, ins))
    others = [op for op in body_ops if not (is_fusable_elementwise(op) or op.name in VIEW_OPS)]
    if len(body_ops) == 1 and body_ops[0].name in _LOWERINGS:
        op = body_ops[0]
        _LOWERINGS[op.name](kb, op, [buffers[v] for v in op.operands], outs)
    elif body_ops and not others:
        _elementwise_kernel(kb, group, buffers, outs)
    elif len(others) == 1 and others[0].name in REDUCTION_ANCHORS:
        from dynir.lowering.reduction_kernels import reduction_kernel

        reduction_kernel(kb, group, others[0], buffers, outs)
    elif len(others) == 1 and others[0].name in _LOWERINGS:
        _epilogue_kernel(kb, group, others[0], buffers, outs)
    else:
        names = ", ".join(sorted({op.name for op in body_ops}))
        raise LoweringError(f"no loop lowering for a group of ({names})")
    finish_kernel(kb)
    return kernel


def _yielded(group: GroupOp) -> list[SSAValue]:
    yield_op = group.body.block.last_op
    if not isinstance(yield_op, YieldOp):
        raise LoweringError("'fusion.group' body must end in 'fusion.yield'")
    return list(yield_op.values)


def _elementwise_kernel(
    kb: KernelBuilder, group: GroupOp, buffers: dict[SSAValue, SSAValue], outs: Sequence[SSAValue]
) -> None:
    """One loop nest over the outputs' common shape. Outputs of one type may still
    differ at run time where a dynamic dim is 1 (broadcast): the nest runs over the
    largest, and stores to a smaller output are guarded."""
    yielded = _yielded(group)
    values = GroupValues(kb, buffers, dict(zip(yielded, outs)))
    values.prepare(group.body.block)
    sizes = values.dims(yielded[0])
    ranks = {len(_tensor(r.type).get_shape()) for r in group.outputs}
    if len(ranks) != 1:
        raise LoweringError("an elementwise group's outputs must share one rank")
    for value in yielded[1:]:
        sizes = [a if a is b else kb.add(arith.MaxUIOp(a, b)) for a, b in zip(sizes, values.dims(value))]
    flat = _flat_tail(group)
    if flat > 1:  # one loop over the last ``flat`` dims, indexing the last of them not 1
        shape = _tensor(group.outputs[0].type).get_shape()
        lead = len(sizes) - flat
        ivs, inner = kb.parallel_loop_nest([*sizes[:lead], kb.index(math.prod(shape[lead:]))])
        at = max(axis for axis in range(lead, len(shape)) if shape[axis] != 1)
        ivs = [*ivs[:lead], *[ivs[lead] if axis == at else kb.index(0) for axis in range(lead, len(shape))]]
    else:
        ivs, inner = kb.parallel_loop_nest(sizes)
    for value, out in zip(yielded, outs):
        guard = _store_guard(inner, out, ivs, sizes) if len(outs) > 1 else None
        if guard is None:
            inner.store(values.at(inner, value, ivs), out, ivs)
            continue
        then = Block()
        then.add_op(scf.YieldOp())
        then_kb = _before_yield(then, inner)
        then_kb.store(values.at(then_kb, value, ivs), out, ivs)
        inner.add(scf.IfOp(guard, [], Region(then)))


def _flat_tail(group: GroupOp) -> int:
    """How many trailing dims of an elementwise group's nest run as one flat loop: the
    most whose sizes are static and, in every tensor of the group, either the output's
    or all 1 (so the row-major address of ``[..., 0, 0, p]`` is element ``p`` of the
    tail, or the tail is broadcast). A 128x10x10 quantize then runs 1600-element rows
    (vectorised whole) instead of 10-element ones (8 lanes and 2 scalars). The flat index
    goes to the last dim of the tail that is not 1 (loads read index 0 of size-1 dims).
    View ops remap indices: a group holding one keeps its nest."""
    block = group.body.block
    if any(op.name in VIEW_OPS for op in block.ops):
        return 1
    shapes = [_tensor(v.type).get_shape() for v in [*block.args, *(r for op in block.ops for r in op.results)]
              if isinstance(v.type, TensorType)]
    out = _tensor(group.outputs[0].type).get_shape()
    for flat in range(len(out), 1, -1):
        tail = list(out[len(out) - flat:])
        if DYNAMIC_INDEX in tail or sum(size != 1 for size in tail) < 2:
            continue  # (one dim not 1 is a plain loop already; a size-1 dim reads index 0)
        if all(_tail_of(shape, flat) in (tail, [1] * flat) for shape in shapes):
            return flat
    return 1


def _tail_of(shape: Sequence[int], count: int) -> list[int]:
    """The last ``count`` sizes of ``shape``, 1s in front where its rank is smaller."""
    tail = list(shape[max(0, len(shape) - count):])
    return [1] * (count - len(tail)) + tail


def _store_guard(kb: KernelBuilder, out: SSAValue, ivs: list[SSAValue], sizes: list[SSAValue]) -> SSAValue | None:
    shape = out.type.get_shape()  # type: ignore[attr-defined]
    guard: SSAValue | None = None
    for axis, size in enumerate(shape):
        if size != DYNAMIC_INDEX:
            continue
        dim = kb.dim(out, axis)
        if dim is sizes[axis]:
            continue
        inside = kb.cmpi(ivs[axis], dim, "ult")
        guard = inside if guard is None else kb.add(arith.AndIOp(guard, inside))
    return guard


def _before_yield(block: Block, parent: KernelBuilder) -> KernelBuilder:
    from dynir.lowering.builder import _BeforeTerminator  # pyright: ignore[reportPrivateUsage]

    return _BeforeTerminator(block, parent.constants)


def _epilogue_kernel(
    kb: KernelBuilder, group: GroupOp, anchor: Operation, buffers: dict[SSAValue, SSAValue], outs: Sequence[SSAValue]
) -> None:
    """``anchor`` (a contraction/conv/pool) with its elementwise consumers applied to each
    output element before it is stored."""
    (result,) = _yielded(group)
    if len(anchor.results) != 1 or len(outs) != 1:
        raise LoweringError(f"an epilogue group needs one '{anchor.name}' result and one output")
    produced = anchor.results[0]
    same_shape = _tensor(produced.type).get_shape() == _tensor(result.type).get_shape()
    retypes = anchor.name in RETYPING_EPILOGUE_ANCHORS and same_shape
    if _tensor(produced.type) != _tensor(result.type) and not retypes:
        raise LoweringError(f"an epilogue must keep the type of '{anchor.name}' ({produced.type}), got {result.type}")
    values = GroupValues(kb, buffers, {result: outs[0], produced: outs[0]})
    values.prepare(group.body.block)

    def epilogue(ekb: KernelBuilder, value: SSAValue, idx: list[SSAValue]) -> SSAValue:
        values.bind(produced, lambda _kb, _idx: value)
        values.forget()  # a new element: nothing computed for the last one applies
        return values.at(ekb, result, idx)

    ins = [buffers[v] for v in anchor.operands]
    lowering = _LOWERINGS[anchor.name]
    if accepts_epilogue(anchor.name):
        lowering(kb, anchor, ins, list(outs), epilogue=epilogue)  # type: ignore[call-arg]
        return
    lowering(kb, anchor, ins, list(outs))
    ivs, inner = kb.loop_nest(kb.dims(outs[0]))
    inner.store(epilogue(inner, inner.load(outs[0], ivs), ivs), outs[0], ivs)


def _tensor(t: object) -> TensorType:
    if not isinstance(t, TensorType):
        raise LoweringError(f"expected a tensor, got {t}")
    return t
