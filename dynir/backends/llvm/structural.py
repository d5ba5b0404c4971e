"""Emitters for the ops that shape control flow and memory: func, scf, memref, constants.

Each handler takes the ``FunctionTranslator`` (builder, value map, loop helper) and one
op. ``scf.yield``/``scf.reduce`` are read by their parent's handler, never emitted alone.

```mlir
%r = scf.if %c -> (f32) { scf.yield %a : f32 } else { scf.yield %b : f32 }
// br i1 %c, label %if.then, label %if.else ... %r = phi float [%a, %if.then], [%b, %if.else]
%t = memref.alloc(%n) : memref<?xf32>
// %t = call ptr @aligned_alloc(i64 64, i64 <n * 4 rounded up to 64>)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import llvmlite.ir as ir
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, FloatAttr, IntegerAttr, MemRefType
from xdsl.ir import Attribute, Operation

from dynir.backends.llvm.abi import I64, POINTER, MemrefArg, element_of
from dynir.backends.llvm.errors import TranslationError
from dynir.backends.llvm.loop_hints import interleave_count

if TYPE_CHECKING:
    from dynir.backends.llvm.translate import FunctionTranslator

DEFAULT_ALIGNMENT = 64
"""Bytes: one cache line, and one AVX-512 register."""


@dataclass
class MemrefValue:
    """A memref during translation: its data pointer and one i64 size per dim."""

    pointer: ir.Value
    sizes: list[ir.Value]
    element: ir.Type


Value: TypeAlias = ir.Value | MemrefValue


# -- func ------------------------------------------------------------------------------


def _return(t: FunctionTranslator, op: func.ReturnOp) -> None:
    values = t.scalars([t.values[v] for v in op.arguments], op)
    if not values:
        t.builder.ret_void()
    elif len(values) == 1:
        t.builder.ret(values[0])
    else:
        aggregate: ir.Value = ir.Constant(t.function.return_value.type, ir.Undefined)
        for position, value in enumerate(values):
            aggregate = t.builder.insert_value(aggregate, value, position)
        t.builder.ret(aggregate)


def _call(t: FunctionTranslator, op: func.CallOp) -> None:
    callee_name = op.callee.root_reference.data
    callee = t.parent.functions.get(callee_name)
    if callee is None:
        raise TranslationError.at(op, f"calls @{callee_name}, which is not a func.func of this module")
    function, signature = callee
    args: list[ir.Value] = []
    for operand, spec in zip(op.arguments, signature.args, strict=True):
        if isinstance(spec, MemrefArg):
            buffer = t.buffer(operand, op)
            args.append(buffer.pointer)
            args.extend(buffer.sizes[d] for d in spec.dynamic_dims)
        else:
            args.append(t.scalar(operand, op))
    result = t.builder.call(function, args)
    if len(op.res) == 1:
        t.values[op.res[0]] = result
    for position, value in enumerate(op.res if len(op.res) > 1 else ()):
        t.values[value] = t.builder.extract_value(result, position)


# -- scf -------------------------------------------------------------------------------


def _for(t: FunctionTranslator, op: scf.ForOp) -> None:
    bounds = (t.scalar(op.lb, op), t.scalar(op.ub, op), t.scalar(op.step, op))
    inits = [t.scalar(v, op) for v in op.iter_args]

    def body(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
        _, yielded = t.emit_block_body(op.body.block, [iv, *carried])
        return t.scalars(yielded, op)

    results = t.emit_loop(bounds, inits, body, interleave=interleave_count(op))
    for result, value in zip(op.res, results, strict=True):
        t.values[result] = value


def _if(t: FunctionTranslator, op: scf.IfOp) -> None:
    builder = t.builder
    condition = t.scalar(op.cond, op)
    then_block = t.function.append_basic_block("if.then")
    has_else = bool(op.false_region.blocks)
    else_block = t.function.append_basic_block("if.else") if has_else else None
    merge_block = t.function.append_basic_block("if.end")
    builder.cbranch(condition, then_block, else_block or merge_block)
    incoming: list[tuple[list[ir.Value], ir.Block]] = []
    for region_block, llvm_block in ((op.true_region, then_block), (op.false_region, else_block)):
        if llvm_block is None:
            continue
        builder.position_at_end(llvm_block)
        _, yielded = t.emit_block_body(region_block.block, [])
        incoming.append((t.scalars(yielded, op), builder.block))
        builder.branch(merge_block)
    builder.position_at_end(merge_block)
    for position, result in enumerate(op.output):
        phi = builder.phi(t.llvm_type(result.type, op))
        for values, block in incoming:
            phi.add_incoming(values[position], block)
        t.values[result] = phi


def _parallel(t: FunctionTranslator, op: scf.ParallelOp) -> None:
    """Nested sequential loops, outermost dim first; reductions ride along as iter values."""
    lowers = [t.scalar(v, op) for v in op.lowerBound]
    uppers = [t.scalar(v, op) for v in op.upperBound]
    steps = [t.scalar(v, op) for v in op.step]
    induction_vars: list[ir.Value] = []

    def innermost(accumulators: list[ir.Value]) -> list[ir.Value]:
        terminator, partials = t.emit_block_body(op.body.block, induction_vars)
        if not isinstance(terminator, scf.ReduceOp):
            raise TranslationError.at(terminator, "must end an scf.parallel body")
        return [
            _combine(t, region.block, accumulator, partial, op)
            for region, accumulator, partial in zip(
                terminator.reductions, accumulators, t.scalars(partials, op), strict=True
            )
        ]

    def level(dim: int) -> Callable[[ir.Value, list[ir.Value]], list[ir.Value]]:
        def body(iv: ir.Value, accumulators: list[ir.Value]) -> list[ir.Value]:
            induction_vars.append(iv)
            if dim + 1 == len(lowers):
                results = innermost(accumulators)
            else:
                bounds = (lowers[dim + 1], uppers[dim + 1], steps[dim + 1])
                results = t.emit_loop(bounds, accumulators, level(dim + 1))
            induction_vars.pop()
            return results

        return body

    inits = [t.scalar(v, op) for v in op.initVals]
    if lowers:
        results = t.emit_loop((lowers[0], uppers[0], steps[0]), inits, level(0))
    else:
        results = innermost(inits)
    for result, value in zip(op.res, results, strict=True):
        t.values[result] = value


def _combine(
    t: FunctionTranslator, block: Any, accumulator: ir.Value, partial: ir.Value, user: Operation
) -> ir.Value:
    terminator, (combined,) = t.emit_block_body(block, [accumulator, partial])
    if not isinstance(terminator, scf.ReduceReturnOp):
        raise TranslationError.at(terminator, "must end an scf.reduce region")
    return t.scalars([combined], user)[0]


# -- memref ----------------------------------------------------------------------------


def _load(t: FunctionTranslator, op: memref.LoadOp) -> None:
    buffer = t.buffer(op.memref, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices])
    t.values[op.res] = t.builder.load(pointer, typ=buffer.element)


def _store(t: FunctionTranslator, op: memref.StoreOp) -> None:
    buffer = t.buffer(op.memref, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices])
    t.builder.store(t.scalar(op.value, op), pointer)


def _dim(t: FunctionTranslator, op: memref.DimOp) -> None:
    buffer = t.buffer(op.source, op)
    index = t.scalar(op.index, op)
    if isinstance(index, ir.Constant) and isinstance(index.constant, int):
        if not 0 <= index.constant < len(buffer.sizes):
            raise TranslationError.at(op, f"dim {index.constant} is out of range for rank {len(buffer.sizes)}")
        t.values[op.result] = buffer.sizes[index.constant]
        return
    size: ir.Value = ir.Constant(I64, 0)
    for dim, dim_size in enumerate(buffer.sizes):
        is_dim = t.builder.icmp_signed("==", index, ir.Constant(I64, dim))
        size = t.builder.select(is_dim, dim_size, size)
    t.values[op.result] = size


def _allocation(t: FunctionTranslator, op: memref.AllocOp | memref.AllocaOp) -> tuple[MemRefType[Attribute], Any]:
    memref_type = op.memref.type
    if not isinstance(memref_type, MemRefType):
        raise TranslationError.at(op, "allocates a non-memref type")
    element = element_of(memref_type.element_type)
    if element is None:
        raise TranslationError.at(op, f"has element type {memref_type.element_type}, which is not supported")
    return memref_type, element


def _alloc(t: FunctionTranslator, op: memref.AllocOp) -> None:
    """64-byte aligned heap buffer (``aligned_alloc``; the size rounded up to the alignment)."""
    memref_type, element = _allocation(t, op)
    sizes = t.memref_sizes(memref_type, [t.scalar(v, op) for v in op.dynamic_sizes])
    alignment = max(DEFAULT_ALIGNMENT, op.alignment.value.data if op.alignment is not None else 0)
    builder = t.builder
    count = _product(builder, sizes)
    nbytes = builder.mul(count, ir.Constant(I64, element.size_bytes), flags=["nsw"])
    rounded = builder.and_(builder.add(nbytes, ir.Constant(I64, alignment - 1)), ir.Constant(I64, -alignment))
    aligned_alloc = t.runtime_function("aligned_alloc", ir.FunctionType(POINTER, [I64, I64]))
    pointer = builder.call(aligned_alloc, [ir.Constant(I64, alignment), rounded])
    t.values[op.memref] = MemrefValue(pointer, sizes, element.llvm)


def _alloca(t: FunctionTranslator, op: memref.AllocaOp) -> None:
    """Static allocas go to the entry block (one stack slot per call); dynamic ones stay put."""
    memref_type, element = _allocation(t, op)
    sizes = t.memref_sizes(memref_type, [t.scalar(v, op) for v in op.dynamic_sizes])
    alignment = max(DEFAULT_ALIGNMENT, op.alignment.value.data if op.alignment is not None else 0)
    if not op.dynamic_sizes:
        count = 1
        for dim in memref_type.get_shape():
            count *= dim
        slot = ir.IRBuilder(t.entry).alloca(element.llvm, size=ir.Constant(I64, count))
    else:
        slot = t.builder.alloca(element.llvm, size=_product(t.builder, sizes))
    slot.align = alignment
    slot.type = POINTER  # llvmlite types allocas as typed pointers (``float*``); keep IR opaque
    t.values[op.memref] = MemrefValue(slot, sizes, element.llvm)


def _dealloc(t: FunctionTranslator, op: memref.DeallocOp) -> None:
    free = t.runtime_function("free", ir.FunctionType(ir.VoidType(), [POINTER]))
    t.builder.call(free, [t.buffer(op.memref, op).pointer])


def _cast(t: FunctionTranslator, op: memref.CastOp) -> None:
    source = t.buffer(op.source, op)
    target_type = op.dest.type
    if not isinstance(target_type, MemRefType):
        raise TranslationError.at(op, "casts to an unranked memref, which is not supported")
    sizes = [ir.Constant(I64, d) if d >= 0 else s for d, s in zip(target_type.get_shape(), source.sizes, strict=True)]
    t.values[op.dest] = MemrefValue(source.pointer, sizes, source.element)


def _copy(t: FunctionTranslator, op: memref.CopyOp) -> None:
    source, target = t.buffer(op.source, op), t.buffer(op.destination, op)
    element = element_of(op.source.type.element_type) if isinstance(op.source.type, MemRefType) else None
    if element is None:
        raise TranslationError.at(op, "copies an unsupported memref type")
    nbytes = t.builder.mul(_product(t.builder, source.sizes), ir.Constant(I64, element.size_bytes))
    fnty = ir.FunctionType(ir.VoidType(), [POINTER, POINTER, I64, ir.IntType(1)])
    memcpy = t.runtime_function("llvm.memcpy.p0.p0.i64", fnty)
    t.builder.call(memcpy, [target.pointer, source.pointer, nbytes, ir.Constant(ir.IntType(1), 0)])


def _aligned_pointer(t: FunctionTranslator, op: memref.ExtractAlignedPointerAsIndexOp) -> None:
    t.values[op.aligned_pointer] = t.builder.ptrtoint(t.buffer(op.source, op).pointer, I64)


def _product(builder: ir.IRBuilder, sizes: Sequence[ir.Value]) -> ir.Value:
    count: ir.Value = ir.Constant(I64, 1)
    for size in sizes:
        count = builder.mul(count, size, flags=["nsw"])
    return count


# -- constants -------------------------------------------------------------------------


def _constant(t: FunctionTranslator, op: arith.ConstantOp) -> None:
    value = op.value
    result_type = t.llvm_type(op.result.type, op)
    if isinstance(value, IntegerAttr) and isinstance(result_type, ir.IntType):
        number = value.value.data
        t.values[op.result] = ir.Constant(result_type, number & 1 if result_type.width == 1 else number)
    elif isinstance(value, FloatAttr):
        t.values[op.result] = ir.Constant(result_type, float(value.value.data))
    elif isinstance(value, DenseIntOrFPElementsAttr) and isinstance(result_type, ir.VectorType):
        lanes = [v.item() if hasattr(v, "item") else v for v in value.get_values()]
        if len(lanes) == 1:
            lanes = lanes * result_type.count  # a splat
        t.values[op.result] = ir.Constant(result_type, lanes)
    else:
        raise TranslationError.at(op, f"has value {value}; only scalar constants are supported")


def _stray_terminator(t: FunctionTranslator, op: Operation) -> None:
    raise TranslationError.at(op, "appears outside the region that consumes it")


Handler = Callable[["FunctionTranslator", Any], None]

STRUCTURAL_HANDLERS: dict[type[Operation], Handler] = {
    func.ReturnOp: _return,
    func.CallOp: _call,
    scf.ForOp: _for,
    scf.IfOp: _if,
    scf.ParallelOp: _parallel,
    scf.YieldOp: _stray_terminator,
    scf.ReduceOp: _stray_terminator,
    memref.LoadOp: _load,
    memref.StoreOp: _store,
    memref.DimOp: _dim,
    memref.AllocOp: _alloc,
    memref.AllocaOp: _alloca,
    memref.DeallocOp: _dealloc,
    memref.CastOp: _cast,
    memref.CopyOp: _copy,
    memref.ExtractAlignedPointerAsIndexOp: _aligned_pointer,
    arith.ConstantOp: _constant,
}
