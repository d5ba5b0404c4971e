"""``fold-qdq``: integer data movement instead of dequantize / float op / quantize.

Requires: host functions of ``nn``/``quant`` ops (after ``quantize``, or an imported
ONNX QDQ model). Guarantees, applied to a fixed point:
- *sink*: ``M(dequantize(q, s, z))`` becomes ``dequantize(M'(q), s, z)`` for a data
  movement op ``M`` (``MOVEMENT_OPS``: views, ``max_pool``, ``relu``, ``concat`` of
  dequantizations with equal parameters). ``M'`` is ``M`` on the stored integers;
  ``relu`` becomes ``nn.max(q, z)`` (a clip at the zero point). Exact: dequantization
  is monotone, so it commutes with every one of them.
- *hoist*: ``quantize(M(y), s, z)`` becomes ``M'(quantize(y, s, z))`` when ``M``'s
  result has no other user (``concat`` quantizes each operand). Exact for the same
  reason (rounding and saturation are monotone, ``quantize(0) = z``).
- *fold*: ``quantize(dequantize(q, s, z), s, z)`` is ``q``; with different parameters
  it is one ``quant.requantize`` of ``q - z`` (widened to ``i32``) by ``s / s'``.
Parameters must be per tensor (one scale, one zero point) for sink and hoist, and
"equal" means the same value or equal constants. Every fold, and every dequantize or
quantize left in place next to a movement op, is a remark that says why.

Before::

    %d = quant.dequantize %q, %s, %z : (tensor<1x8x32x32xui8>, tensor<f32>, tensor<ui8>) -> tensor<1x8x32x32xf32>
    %p = nn.max_pool %d {kernel_shape = array<i64: 2, 2>} : (tensor<1x8x32x32xf32>) -> tensor<1x8x31x31xf32>
    %r = quant.quantize %p, %s, %z : (tensor<1x8x31x31xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x8x31x31xui8>

After::

    %r = nn.max_pool %q {kernel_shape = array<i64: 2, 2>} : (tensor<1x8x32x32xui8>) -> tensor<1x8x31x31xui8>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, f32, i32
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.dialects.quant import ops as q
from dynir.ir.types import element_of, shape_of
from dynir.passes._fusion_utils import host_blocks, new_constant, users
from dynir.remarks import remark

MOVEMENT_OPS = frozenset(
    {
        "nn.reshape", "nn.transpose", "nn.flatten", "nn.squeeze", "nn.unsqueeze", "nn.slice",
        "nn.identity", "nn.max_pool", "nn.relu", "nn.concat",
    }
)
"""Ops that commute with a monotone per-tensor (de)quantization: they only move,
select or take the maximum of elements."""

MAX_ROUNDS = 64
"""Fixed-point bound: each round folds or moves at least one op, so real graphs settle
in a few; the bound only guards against a rewrite that would undo another."""


# ----------------------------------------------------------------------------------
# Parameters.


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return owner.array() if isinstance(owner, ConstantOp) else None


def same_value(a: SSAValue, b: SSAValue) -> bool:
    """The same SSA value, or two constants of one type with equal elements."""
    if a is b:
        return True
    ca, cb = _constant(a), _constant(b)
    if ca is None or cb is None or a.type != b.type:
        return False
    return bool(np.array_equal(ca, cb))


def same_params(a: Operation, b: Operation) -> bool:
    """Whether two quantize/dequantize ops use one scale and zero point (and storage)."""
    return same_value(a.operands[1], b.operands[1]) and same_value(a.operands[2], b.operands[2])


def per_tensor(op: Operation) -> bool:
    """One scale and one zero point (every dim of both parameters is 1)."""
    return all(all(d == 1 for d in shape_of(v.type)) for v in op.operands[1:3])


def _only_user(value: SSAValue) -> Operation | None:
    found = users(value)
    return found[0] if len(found) == 1 else None


# ----------------------------------------------------------------------------------
# Building ops.


def _insert(ops: Sequence[Operation], before: Operation) -> None:
    block = before.parent_block()
    assert block is not None
    block.insert_ops_before(list(ops), before)


def _integer_version(op: Operation, data: Sequence[SSAValue], zero_point: SSAValue) -> Operation:
    """``op`` applied to stored integers: the same op re-typed, ``relu`` as ``max(q, z)``."""
    if op.name == "nn.relu":
        return ew.MaxOp.make([data[0], zero_point])
    assert isinstance(op, NNOp)
    new = type(op).make(list(data) + list(op.operands[len(data):]), dict(op.properties))
    new.attributes.update(op.attributes)
    return new


def _data_operands(op: Operation) -> list[SSAValue]:
    """The operands ``op`` moves (all of concat's, the first of the others)."""
    return list(op.operands) if op.name == "nn.concat" else list(op.operands[:1])


def _movable(op: Operation) -> str | None:
    """Why ``op`` cannot run on stored integers (None when it can)."""
    if op.name not in MOVEMENT_OPS:
        return f"'{op.name}' is not a data movement op"
    if op.name != "nn.concat" and len(op.operands) != 1:
        return f"'{op.name}' takes its parameters as operands"
    if len(op.results) != 1:
        return f"'{op.name}' has {len(op.results)} results"
    return None


def _erase_dead(ops: Sequence[Operation]) -> None:
    """Erase the ops of ``ops`` (and then their dead pure producers) that nothing uses."""
    work = list(ops)
    while work:
        op = work.pop()
        if op.parent is None or any(True for r in op.results for _ in r.uses):
            continue
        if not (op.name.startswith("quant.") or op.name in MOVEMENT_OPS or op.name in ("nn.constant", "nn.max", "nn.cast")):
            continue
        producers = [v.owner for v in op.operands if isinstance(v.owner, Operation)]
        op.detach()
        op.erase()
        work += producers


# ----------------------------------------------------------------------------------
# The rewrites. Each returns None when it applied, else why not.


def sink_dequantize(op: Operation) -> str | None:
    """``M(dequantize(q))`` -> ``dequantize(M'(q))``; ``op`` is ``M``."""
    if (why := _movable(op)) is not None:
        return why
    data = _data_operands(op)
    dqs = [v.owner for v in data]
    if not all(isinstance(d, q.DequantizeOp) for d in dqs):
        return "an operand is not dequantized"
    first = dqs[0]
    assert isinstance(first, q.DequantizeOp)
    if not per_tensor(first):
        return "dequantized with per-axis parameters"
    if not all(same_params(first, d) for d in dqs[1:]):  # type: ignore[arg-type]
        return "operands are dequantized with different parameters"
    feeds_quantize = all(isinstance(u, q.QuantizeOp) for u in users(op.results[0]))
    if not feeds_quantize and any(_only_user(v) is not op for v in data):
        return "a dequantized value has other users"
    moved = _integer_version(op, [d.operands[0] for d in dqs], first.zero_point)  # type: ignore[union-attr]
    dq = q.DequantizeOp.make([moved.results[0], first.scale, first.zero_point])
    dq.location = first.location
    _replace_moved(op, moved, [moved, dq], dq.results[0], f"dequantize moved after '{op.name}'")
    return None


def hoist_quantize(quantize: q.QuantizeOp) -> str | None:
    """``quantize(M(y))`` -> ``M'(quantize(y))``."""
    producer = quantize.input.owner
    if not isinstance(producer, Operation):
        return "input is a function argument"
    if (why := _movable(producer)) is not None:
        return why
    if not per_tensor(quantize):
        return "per-axis parameters"
    if users(producer.results[0]) != [quantize]:
        return f"'{producer.name}' result has other users"
    new_ops: list[Operation] = []
    quantized: list[SSAValue] = []
    for v in _data_operands(producer):
        inner = q.QuantizeOp.make([v, quantize.scale, quantize.zero_point], dict(quantize.properties))
        inner.location = quantize.location
        new_ops.append(inner)
        quantized.append(inner.results[0])
    moved = _integer_version(producer, quantized, quantize.zero_point)
    _replace_moved(quantize, moved, [*new_ops, moved], moved.results[0],
                   f"quantize moved before '{producer.name}'", original=producer)
    return None


def _replace_moved(
    old: Operation, moved: Operation, new_ops: list[Operation], result: SSAValue, what: str,
    original: Operation | None = None,
) -> None:
    """Put ``new_ops`` before ``old``, hand ``old``'s uses to ``result``, say ``what`` moved
    and erase what died. ``moved`` is the integer version of ``original`` (default ``old``):
    it takes its location, and a relu becomes a max with the zero point."""
    source = original or old
    moved.location = source.location
    _insert(new_ops, old)
    old.results[0].replace_all_uses_with(result)
    remark(moved, f"{what}: it runs on {element_of(moved.results[0].type)}"
           + (" as max with the zero point" if source.name == "nn.relu" else ""))
    _erase_dead([old])


def fold_pair(quantize: q.QuantizeOp) -> str | None:
    """``quantize(dequantize(x))``: ``x`` itself, or one ``quant.requantize``."""
    dq = quantize.input.owner
    if not isinstance(dq, q.DequantizeOp):
        return "input is not dequantized"
    x = dq.input
    if same_params(dq, quantize) and x.type == quantize.results[0].type:
        quantize.results[0].replace_all_uses_with(x)
        remark(dq, "dequantize -> quantize with equal parameters folded away")
        _erase_dead([quantize])
        return None
    if element_of(dq.scale.type) != f32 or element_of(quantize.scale.type) != f32:
        return "scales are not f32"
    ops, centered = _centered_i32(dq)
    multiplier = _multiplier(dq.scale, quantize.scale, ops)
    requant = q.RequantizeOp.make([centered, multiplier, quantize.zero_point])
    requant.location = quantize.location
    ops.append(requant)
    _insert(ops, quantize)
    quantize.results[0].replace_all_uses_with(requant.results[0])
    remark(requant, "dequantize -> quantize with different parameters: one quant.requantize")
    _erase_dead([quantize])
    return None


def _centered_i32(dq: q.DequantizeOp) -> tuple[list[Operation], SSAValue]:
    """``x - z`` of ``dequantize(x, s, z)`` as ``i32`` (no ops when ``x`` is an ``i32``
    accumulator with a zero zero point)."""
    ops: list[Operation] = []
    x, zero = dq.input, dq.zero_point
    known = _constant(zero)
    if element_of(x.type) != i32:
        ops.append(ew.CastOp.make([x], {"to": i32}))
        x = ops[-1].results[0]
    if known is not None and not np.any(known):
        return ops, x
    if known is not None:
        ops.append(new_constant(known.astype(np.int32), "zero_point_i32"))
    else:
        ops.append(ew.CastOp.make([zero], {"to": i32}))
    ops.append(ew.SubOp.make([x, ops[-1].results[0]]))
    return ops, ops[-1].results[0]


def _multiplier(in_scale: SSAValue, out_scale: SSAValue, ops: list[Operation]) -> SSAValue:
    """``in_scale / out_scale``: a constant when both are, else an ``nn.div``."""
    a, b = _constant(in_scale), _constant(out_scale)
    if a is not None and b is not None:
        ops.append(new_constant((a.astype(np.float64) / b.astype(np.float64)).astype(np.float32), "requant_multiplier"))
    else:
        ops.append(ew.DivOp.make([in_scale, out_scale]))
    return ops[-1].results[0]


# ----------------------------------------------------------------------------------
# Driver.


def fold_qdq_block(block: Block) -> int:
    """Apply the rewrites to a fixed point; returns how many applied. Refusals of the
    last round (ops still next to a movement op) become remarks."""
    applied = 0
    refusals: dict[Operation, str] = {}
    for _ in range(MAX_ROUNDS):
        refusals.clear()
        before = applied
        for op in list(block.ops):
            if op.parent is not block:
                continue
            applied += _visit(op, refusals)
        if applied == before:
            break
    for op, why in refusals.items():
        if op.parent is block:
            remark(op, f"not folded: {why}")
    return applied


def _visit(op: Operation, refusals: dict[Operation, str]) -> int:
    if isinstance(op, q.QuantizeOp):
        if fold_pair(op) is None:
            return 1
        why = hoist_quantize(op)
        if why is None:
            return 1
        producer = op.input.owner
        if isinstance(producer, Operation) and producer.name in MOVEMENT_OPS:
            refusals[op] = why
        return 0
    if op.name in MOVEMENT_OPS and any(isinstance(v.owner, q.DequantizeOp) for v in op.operands):
        why = sink_dequantize(op)
        if why is None:
            return 1
        refusals[op] = why
    return 0


@dataclass(frozen=True)
class FoldQdqPass(ModulePass):
    """See the module docstring."""

    name = "fold-qdq"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fold_qdq_block(block)
