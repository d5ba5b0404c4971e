"""Values of a fused group body at given indices, computed in registers.

``GroupValues`` is how every fused kernel reads its group: ``at(kb, v, idx)`` appends
the scalar ops that compute element ``idx`` of body value ``v`` -- elementwise ops
through their scalar form (``dynir.lowering.scalar``), view ops (transpose, reshape,
squeeze, unsqueeze, flatten) as index arithmetic, ``batch_norm`` with per-channel
loads -- down to loads of the group's input buffers. Nothing in between touches memory.

Indices are always in ``v``'s own index space; an operand that broadcasts reads index 0
along its size-1 dims (a dynamic dim that is 1 at run time is tested once, at the top
of the kernel). ``dims(v)`` gives ``v``'s run-time sizes, built at the kernel's top from
the input buffers' sizes. ``bind(v, fn)`` makes ``v`` come from elsewhere (a reduction's
result, a contraction's accumulator) -- that is how epilogues and reduction consumers
reuse this evaluator. Values are cached per loop body and index tuple, so a value used
twice at the same element is computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xdsl.dialects import arith
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType, TensorType, i1
from xdsl.ir import Block, BlockArgument, Operation, SSAValue

from dynir.dialects.nn.base import read_int, read_ints
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.scalar import LoweringError, emit_scalar, has_scalar_form

ValueAt = Callable[[KernelBuilder, list[SSAValue]], SSAValue]

VIEW_OPS = frozenset({"nn.transpose", "nn.slice", "nn.reshape", "nn.flatten", "nn.squeeze", "nn.unsqueeze"})
"""Ops that only move elements: fused as index arithmetic on their operand's indices."""

CHANNEL_OPS = frozenset({"nn.batch_norm"})
"""Elementwise ops whose parameter operands are ``[C]`` vectors indexed by dim 1."""


def is_fusable_elementwise(op: Operation) -> bool:
    """Whether ``op`` can be computed element by element inside a fused loop nest."""
    return has_scalar_form(op) or op.name in CHANNEL_OPS


def shape_of_value(v: SSAValue) -> list[int]:
    t = v.type
    if not isinstance(t, TensorType | MemRefType):
        raise LoweringError(f"expected a tensor, got {t}")
    return list(t.get_shape())  # type: ignore[union-attr]


@dataclass
class GroupValues:
    top: KernelBuilder
    """Builder at the kernel's entry (outside every loop): sizes are computed there."""
    buffers: dict[SSAValue, SSAValue]
    """Group body argument -> kernel buffer."""
    output_buffers: dict[SSAValue, SSAValue] = field(default_factory=dict[SSAValue, SSAValue])
    """Yielded value -> output buffer (its sizes are known from the buffer)."""
    bound: dict[SSAValue, ValueAt] = field(default_factory=dict[SSAValue, ValueAt])
    _dims: dict[SSAValue, list[SSAValue]] = field(default_factory=dict[SSAValue, list[SSAValue]])
    _cache: dict[tuple[int, SSAValue, tuple[SSAValue, ...]], SSAValue] = field(
        default_factory=dict[tuple[int, SSAValue, tuple[SSAValue, ...]], SSAValue]
    )

    _ones: dict[tuple[SSAValue, int], SSAValue] = field(default_factory=dict[tuple[SSAValue, int], SSAValue])

    def bind(self, v: SSAValue, fn: ValueAt) -> None:
        self.bound[v] = fn

    def set_dims(self, v: SSAValue, sizes: list[SSAValue]) -> None:
        """Give ``v`` (a value this evaluator cannot size, e.g. a reduction's result) its sizes."""
        self._dims[v] = sizes

    def prepare(self, block: Block) -> None:
        """Compute every size the body's values need at the top of the kernel, before
        any loop is built (so they dominate every use)."""
        values = list(block.args)
        for op in block.ops:
            sized = is_fusable_elementwise(op) or op.name in VIEW_OPS
            values += [r for r in op.results if sized or r in self._dims or r in self.output_buffers]
        for v in values:
            if not isinstance(v.type, TensorType):
                continue
            self.dims(v)
            for axis, size in enumerate(shape_of_value(v)):
                if size == DYNAMIC_INDEX:
                    self._is_one(v, axis)

    # sizes -------------------------------------------------------------------------
    def dims(self, v: SSAValue) -> list[SSAValue]:
        if v not in self._dims:
            self._dims[v] = self._compute_dims(v)
        return self._dims[v]

    def _compute_dims(self, v: SSAValue) -> list[SSAValue]:
        top = self.top
        if v in self.buffers:
            return top.dims(self.buffers[v])
        if v in self.output_buffers:
            return top.dims(self.output_buffers[v])
        shape = shape_of_value(v)
        if all(s != DYNAMIC_INDEX for s in shape):
            return [top.index(s) for s in shape]
        op = v.owner
        if not isinstance(op, Operation):
            raise LoweringError(f"no sizes for {v}")
        if op.name == "nn.transpose":
            src = self.dims(op.operands[0])
            return [src[p] for p in read_ints(op.properties.get("perm"))]
        if op.name == "nn.slice":
            src = self.dims(op.operands[0])
            return [src[i] if s == DYNAMIC_INDEX else top.index(s) for i, s in enumerate(shape)]
        if op.name in VIEW_OPS:
            return self._view_dims(op, shape)
        operands = op.operands[:1] if op.name in CHANNEL_OPS else op.operands
        return self._broadcast_dims(shape, list(operands))

    def _broadcast_dims(self, shape: list[int], operands: list[SSAValue]) -> list[SSAValue]:
        top = self.top
        sizes: list[SSAValue] = []
        for axis, static in enumerate(shape):
            if static != DYNAMIC_INDEX:
                sizes.append(top.index(static))
                continue
            size: SSAValue | None = None
            for o in operands:
                o_shape = shape_of_value(o)
                o_axis = axis - (len(shape) - len(o_shape))
                if o_axis < 0 or o_shape[o_axis] == 1:
                    continue
                d = self.dims(o)[o_axis]
                # numpy broadcasting: a dim of 1 takes the other operand's size.
                size = d if size is None else top.select(top.cmpi(size, top.index(1), "eq"), d, size)
            sizes.append(size if size is not None else top.index(1))
        return sizes

    def _view_dims(self, op: Operation, shape: list[int]) -> list[SSAValue]:
        top = self.top
        src = self.dims(op.operands[0])
        numel = top.index(1)
        for d in src:
            numel = top.muli(numel, d)
        spec = read_ints(op.properties.get("shape")) if op.name == "nn.reshape" else None
        sizes: list[SSAValue | None] = []
        for axis, static in enumerate(shape):
            if static != DYNAMIC_INDEX:
                sizes.append(top.index(static))
            elif spec is not None and spec[axis] == 0 and not read_int(op.properties.get("allowzero"), 0):
                sizes.append(src[axis])
            else:
                sizes.append(None)
        unknown = [i for i, s in enumerate(sizes) if s is None]
        if len(unknown) > 1:
            raise LoweringError(f"'{op.name}' in a fused group: cannot size {len(unknown)} dynamic dims")
        if unknown:
            rest = top.index(1)
            for s in sizes:
                if s is not None:
                    rest = top.muli(rest, s)
            sizes[unknown[0]] = top.add(arith.DivUIOp(numel, rest))
        return [s for s in sizes if s is not None]

    # values ------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop cached element values (sizes stay)."""
        self._cache.clear()

    def at(self, kb: KernelBuilder, v: SSAValue, idx: Sequence[SSAValue]) -> SSAValue:
        key = (id(kb.block), v, tuple(idx))
        if key in self._cache:
            return self._cache[key]
        result = self._compute(kb, v, list(idx))
        self._cache[key] = result
        return result

    def _compute(self, kb: KernelBuilder, v: SSAValue, idx: list[SSAValue]) -> SSAValue:
        if v in self.bound:
            return self.bound[v](kb, idx)
        if v in self.buffers:
            t = v.type
            return kb.load(self.buffers[v], idx, as_bool=isinstance(t, TensorType) and t.element_type == i1)
        op = v.owner
        if isinstance(op, Block) or isinstance(v, BlockArgument):
            raise LoweringError(f"value {v} is neither a group input nor computed in the group")
        if op.name in VIEW_OPS:
            return self.at(kb, op.operands[0], self._view_index(kb, op, idx))
        if op.name in CHANNEL_OPS:
            return self._batch_norm(kb, op, idx)
        if not has_scalar_form(op):
            raise LoweringError(f"'{op.name}' cannot be fused into a loop nest")
        args = [self.at(kb, o, self.operand_index(kb, o, idx)) for o in op.operands]
        return emit_scalar(kb, op, args)

    def operand_index(self, kb: KernelBuilder, operand: SSAValue, idx: Sequence[SSAValue]) -> list[SSAValue]:
        """Indices into ``operand`` for element ``idx`` of a result it broadcasts to."""
        shape = shape_of_value(operand)
        offset = len(idx) - len(shape)
        out: list[SSAValue] = []
        for axis, size in enumerate(shape):
            iv = idx[axis + offset]
            if size == 1:
                out.append(kb.index(0))
            elif size == DYNAMIC_INDEX:
                is_one = self._is_one(operand, axis)
                out.append(kb.select(is_one, kb.index(0), iv))
            else:
                out.append(iv)
        return out

    def _is_one(self, v: SSAValue, axis: int) -> SSAValue:
        key = (v, axis)
        if key not in self._ones:
            self._ones[key] = self.top.cmpi(self.dims(v)[axis], self.top.index(1), "eq")
        return self._ones[key]

    def _view_index(self, kb: KernelBuilder, op: Operation, idx: list[SSAValue]) -> list[SSAValue]:
        src = op.operands[0]
        if op.name == "nn.transpose":
            perm = read_ints(op.properties.get("perm"))
            out = [kb.index(0)] * len(perm)
            for i, p in enumerate(perm):
                out[p] = idx[i]
            return out
        if op.name == "nn.slice":
            starts = static_slice_starts(op)
            if starts is None:
                raise LoweringError("'nn.slice' in a fused group needs static starts along sliced axes")
            steps = dict(zip(slice_axes(op), read_ints(op.properties.get("steps"), [1] * len(starts))))
            out = list(idx)
            for axis, start in starts.items():
                step = steps.get(axis, 1)
                scaled = idx[axis] if step == 1 else kb.muli(idx[axis], kb.index(step))
                out[axis] = kb.addi(scaled, kb.index(start)) if start else scaled
            return out
        # reshape-like: row-major position is preserved.
        sizes = self.dims(op.results[0])
        linear = kb.index(0)
        for i, size in zip(idx, sizes):
            linear = kb.addi(kb.muli(linear, size), i)
        src_sizes = self.dims(src)
        src_shape = shape_of_value(src)
        out = [kb.index(0)] * len(src_sizes)
        for axis in range(len(src_sizes) - 1, -1, -1):
            if src_shape[axis] == 1:
                continue
            if axis == 0:
                out[0] = linear
                break
            out[axis] = kb.add(arith.RemUIOp(linear, src_sizes[axis]))
            linear = kb.add(arith.DivUIOp(linear, src_sizes[axis]))
        return out

    def _batch_norm(self, kb: KernelBuilder, op: Operation, idx: list[SSAValue]) -> SSAValue:
        from xdsl.dialects import math as xmath

        x = self.at(kb, op.operands[0], self.operand_index(kb, op.operands[0], idx))
        scale, bias, mean, var = (self.at(kb, p, self.operand_index(kb, p, [idx[1]])) for p in op.operands[1:])
        eps = kb.float_const(_epsilon(op), x.type)
        denom = kb.add(xmath.SqrtOp(kb.add(arith.AddfOp(var, eps))))
        centered = kb.add(arith.SubfOp(x, mean))
        return kb.add(arith.AddfOp(kb.add(arith.MulfOp(kb.add(arith.DivfOp(centered, denom)), scale)), bias))


def slice_axes(op: Operation) -> list[int]:
    rank = len(shape_of_value(op.operands[0]))
    axes = read_ints(op.properties.get("axes"), list(range(len(read_ints(op.properties.get("starts"))))))
    return [a + rank if a < 0 else a for a in axes]


def static_slice_starts(op: Operation) -> dict[int, int] | None:
    """Normalized start per sliced axis of ``nn.slice`` ``op``, or None when an axis it
    slices has a dynamic size, or a step is not positive (then it needs run-time
    clamping: its own lowering handles it)."""
    shape = shape_of_value(op.operands[0])
    starts = read_ints(op.properties.get("starts"))
    steps = read_ints(op.properties.get("steps"), [1] * len(starts))
    result: dict[int, int] = {}
    for axis, start, step in zip(slice_axes(op), starts, steps):
        size = shape[axis]
        if size == DYNAMIC_INDEX or step < 1:
            return None
        start = start + size if start < 0 else start
        result[axis] = max(0, min(start, size))
    return result


def _epsilon(op: Operation) -> float:
    from dynir.dialects.nn.base import read_float

    return read_float(op.properties.get("epsilon"), 1e-5)
