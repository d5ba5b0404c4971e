"""``vector`` ops (1-D vectors of scalars) as LLVM IR: the micro-kernels' register level.

A ``vector<16xf32>`` is an LLVM ``<16 x float>``: one AVX-512 register. Loads and stores
are unaligned (``align`` of one element), at the row-major element pointer of the memref
indices, like ``memref.load``; masked forms become ``llvm.masked.load/store`` (one
``vmovups`` with a mask register on AVX-512), ``vector.create_mask %n`` the lane compare
``<0, 1, ..., 15> < splat(%n)``. ``arith`` ops on vector operands go through the scalar
arith table (LLVM's instructions are the same for vectors); ``scf.for`` carries vectors in
its iter_args like scalars.

```mlir
%b = vector.load %m[%k, %j] : memref<?x?xf32>, vector<16xf32>      // load <16 x float>, align 4
%s = vector.broadcast %a : f32 to vector<16xf32>                     // insertelement + shufflevector
%c = vector.fma %s, %b, %acc : vector<16xf32>                        // call @llvm.fma.v16f32
%mask = vector.create_mask %n : vector<16xi1>                        // icmp slt <0..15>, splat %n
vector.maskedstore %m[%i, %j], %mask, %c : memref<?x?xf32>, vector<16xi1>, vector<16xf32>
```

``vecx.gather`` (the loop level's masked gather, ``dynir.dialects.vecx``) becomes
``llvm.masked.gather`` on a vector of pointers: one ``getelementptr`` of the element pointer
at its indices by the vector of offsets (not ``inbounds``: masked-off lanes may point
anywhere), ``vgatherdps`` with a mask register on AVX-512.

```mlir
%g = vecx.gather %x[%n, %c, %c0, %c0], %offsets, %mask, %zero
    : memref<1x64x56x56xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>
// %base = getelementptr inbounds float, ptr %x, i64 %linear
// %ptrs = getelementptr float, ptr %base, <16 x i32> %offsets
// %g = call <16 x float> @llvm.masked.gather.v16f32.v16p0(<16 x ptr> %ptrs, i32 4, <16 x i1> %mask, <16 x float> %zero)
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import llvmlite.ir as ir
from xdsl.dialects import vector
from xdsl.dialects.builtin import VectorType
from xdsl.ir import Attribute, Operation

from dynir.backends.llvm.abi import I64, POINTER, element_of
from dynir.backends.llvm.errors import TranslationError
from dynir.dialects.vecx import GatherOp

if TYPE_CHECKING:
    from dynir.backends.llvm.translate import FunctionTranslator

I32 = ir.IntType(32)


def vector_llvm_type(attr: Attribute) -> ir.VectorType | None:
    """``<N x T>`` for a 1-D ``vector<NxT>`` of a supported scalar; None otherwise."""
    if not isinstance(attr, VectorType):
        return None
    shape = attr.get_shape()
    element = element_of(attr.element_type)
    if len(shape) != 1 or element is None or attr.get_num_scalable_dims():
        return None
    return ir.VectorType(element.llvm, shape[0])


def is_float_vector(attr: Attribute) -> bool:
    if not isinstance(attr, VectorType):
        return False
    element = element_of(attr.element_type)
    return element is not None and element.dtype.kind == "f"


def _vector_type(t: FunctionTranslator, attr: Attribute, op: Operation) -> ir.VectorType:
    result = vector_llvm_type(attr)
    if result is None:
        raise TranslationError.at(op, f"has type {attr}; the LLVM backend supports 1-D vectors of scalars only")
    return result


def intrinsic_suffix(value_type: ir.Type) -> str:
    """LLVM's overload suffix: ``f32``, ``i64``, ``v16f32`` ..."""
    if isinstance(value_type, ir.VectorType):
        return f"v{value_type.count}{intrinsic_suffix(value_type.element)}"
    if isinstance(value_type, ir.FloatType):
        return "f32"
    if isinstance(value_type, ir.DoubleType):
        return "f64"
    if isinstance(value_type, ir.HalfType):
        return "f16"
    if isinstance(value_type, ir.IntType):
        return f"i{value_type.width}"
    raise ValueError(f"no intrinsic suffix for {value_type}")


def declare_overloaded(module: ir.Module, name: str, fnty: ir.FunctionType, *overloads: ir.Type) -> ir.Function:
    """``llvm.<name>.<suffixes>`` (declared once); llvmlite's ``declare_intrinsic`` knows no vectors."""
    full = ".".join([name, *(intrinsic_suffix(o) if o is not POINTER else "p0" for o in overloads)])
    existing = module.globals.get(full)
    if isinstance(existing, ir.Function):
        return existing
    return ir.Function(module, fnty, name=full)


def splat(builder: ir.IRBuilder, scalar: ir.Value, vector_type: ir.VectorType) -> ir.Value:
    """Every lane set to ``scalar``: ``insertelement`` into lane 0, then a zero shuffle."""
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, scalar, ir.Constant(I32, 0))
    zeros = ir.Constant(ir.VectorType(I32, vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, zeros)


# -- handlers --------------------------------------------------------------------------


def _load(t: FunctionTranslator, op: vector.LoadOp) -> None:
    buffer = t.buffer(op.base, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices])
    vector_type = _vector_type(t, op.result.type, op)
    t.values[op.result] = t.builder.load(pointer, typ=vector_type, align=_element_align(vector_type))


def _store(t: FunctionTranslator, op: vector.StoreOp) -> None:
    buffer = t.buffer(op.base, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices])
    value = t.scalar(op.vector, op)
    t.builder.store(value, pointer, align=_element_align(value.type))


def _masked_load(t: FunctionTranslator, op: vector.MaskedLoadOp) -> None:
    buffer = t.buffer(op.base, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices], inbounds=False)
    vector_type = _vector_type(t, op.result.type, op)
    mask, pass_thru = t.scalar(op.mask, op), t.scalar(op.pass_thru, op)
    fnty = ir.FunctionType(vector_type, [POINTER, I32, mask.type, vector_type])
    function = declare_overloaded(t.parent.module, "llvm.masked.load", fnty, vector_type, POINTER)
    align = ir.Constant(I32, _element_align(vector_type))
    t.values[op.result] = t.builder.call(function, [pointer, align, mask, pass_thru])


def _masked_store(t: FunctionTranslator, op: vector.MaskedStoreOp) -> None:
    buffer = t.buffer(op.base, op)
    pointer = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices], inbounds=False)
    value, mask = t.scalar(op.value_to_store, op), t.scalar(op.mask, op)
    fnty = ir.FunctionType(ir.VoidType(), [value.type, POINTER, I32, mask.type])
    function = declare_overloaded(t.parent.module, "llvm.masked.store", fnty, value.type, POINTER)
    t.builder.call(function, [value, pointer, ir.Constant(I32, _element_align(value.type)), mask])


def _create_mask(t: FunctionTranslator, op: vector.CreateMaskOp) -> None:
    """Lanes ``[0, n)`` set (n clamped by the compare itself: n <= 0 gives none, n >= N all)."""
    mask_type = _vector_type(t, op.mask_vector.type, op)
    if len(op.mask_dim_sizes) != 1:
        raise TranslationError.at(op, "creates a multi-dimensional mask; only 1-D masks are supported")
    lanes = mask_type.count
    iota = ir.Constant(ir.VectorType(I64, lanes), list(range(lanes)))
    bound = splat(t.builder, t.scalar(op.mask_dim_sizes[0], op), ir.VectorType(I64, lanes))
    t.values[op.mask_vector] = t.builder.icmp_signed("<", iota, bound)


def _broadcast(t: FunctionTranslator, op: vector.BroadcastOp) -> None:
    vector_type = _vector_type(t, op.vector.type, op)
    source = t.scalar(op.source, op)
    if isinstance(source.type, ir.VectorType):
        raise TranslationError.at(op, "broadcasts a vector; only scalar sources are supported")
    t.values[op.vector] = splat(t.builder, source, vector_type)


def _fma(t: FunctionTranslator, op: vector.FMAOp) -> None:
    vector_type = _vector_type(t, op.res.type, op)
    fnty = ir.FunctionType(vector_type, [vector_type] * 3)
    function = declare_overloaded(t.parent.module, "llvm.fma", fnty, vector_type)
    args = [t.scalar(v, op) for v in (op.lhs, op.rhs, op.acc)]
    t.values[op.res] = t.builder.call(function, args, fastmath=t.float_flags(op))


def _gather(t: FunctionTranslator, op: GatherOp) -> None:
    """``llvm.masked.gather`` of the pointers ``base + offsets`` (element-sized steps)."""
    buffer = t.buffer(op.base, op)
    base = t.element_pointer(buffer, [t.scalar(i, op) for i in op.indices])
    vector_type = _vector_type(t, op.result.type, op)
    offsets, mask, pass_thru = (t.scalar(v, op) for v in (op.offsets, op.mask, op.pass_thru))
    pointers = t.builder.gep(base, [offsets], source_etype=buffer.element)
    pointers.type = ir.VectorType(POINTER, vector_type.count)  # llvmlite types a vector GEP as one pointer
    fnty = ir.FunctionType(vector_type, [pointers.type, I32, mask.type, vector_type])
    name = f"llvm.masked.gather.{intrinsic_suffix(vector_type)}.v{vector_type.count}p0"
    existing = t.parent.module.globals.get(name)
    function = existing if isinstance(existing, ir.Function) else ir.Function(t.parent.module, fnty, name=name)
    align = ir.Constant(I32, _element_align(vector_type))
    t.values[op.result] = t.builder.call(function, [pointers, align, mask, pass_thru])


def _element_align(vector_type: ir.Type) -> int:
    element = vector_type.element if isinstance(vector_type, ir.VectorType) else vector_type
    if isinstance(element, ir.IntType):
        return max(1, element.width // 8)
    return {ir.FloatType: 4, ir.DoubleType: 8, ir.HalfType: 2}.get(type(element), 4)


Handler = Callable[["FunctionTranslator", Any], None]

VECTOR_HANDLERS: dict[type[Operation], Handler] = {
    vector.LoadOp: _load,
    vector.StoreOp: _store,
    vector.MaskedLoadOp: _masked_load,
    vector.MaskedStoreOp: _masked_store,
    vector.CreateMaskOp: _create_mask,
    vector.BroadcastOp: _broadcast,
    vector.FMAOp: _fma,
    GatherOp: _gather,
}
