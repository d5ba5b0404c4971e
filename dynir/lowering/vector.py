"""Vector helpers for ``KernelBuilder``: 1-D ``vector`` ops sized for the host's registers.

The micro-kernels (``dynir.lowering.microkernel``) keep their accumulators in
``vector<16xf32>`` values (one AVX-512 register each; 8 lanes on AVX2, 4 on SSE/NEON:
``lanes_for`` asks ``host_target()``) carried through ``scf.for`` iter_args. Masked loads
and stores handle the columns past the end of a row, so tails need no scalar loop.

```python
vt = vector_type(f32)                                   # vector<16xf32> on AVX-512
acc = broadcast(kb, kb.float_const(0.0, f32), vt)
row = masked_load(kb, b, [k, j], mask(kb, left, vt), acc)
acc = fma(kb, broadcast(kb, kb.load(a, [i, k]), vt), row, acc)
masked_store(kb, acc, c, [i, j], mask(kb, left, vt))
```
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, vector
from xdsl.dialects.builtin import (
    AnyFloat,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    VectorType,
    i1,
)
from xdsl.ir import Attribute, SSAValue

from dynir.backends.llvm.target import host_target
from dynir.dialects.vecx import GatherOp
from dynir.lowering.builder import KernelBuilder


def element_bits(element: Attribute) -> int:
    """Width of a float element type in bits (the vector helpers are for floats)."""
    if isinstance(element, Float16Type):
        return 16
    if isinstance(element, Float32Type):
        return 32
    if isinstance(element, Float64Type):
        return 64
    raise ValueError(f"vector helpers support f16/f32/f64 elements, got {element}")


def lanes_for(element: Attribute) -> int:
    """How many ``element`` values fill one host vector register (16 f32 on AVX-512)."""
    return max(1, host_target().vector_width_bits // element_bits(element))


def vector_type(element: Attribute, lanes: int | None = None) -> VectorType[Attribute]:
    """``vector<lanes x element>``, one register wide unless ``lanes`` is given."""
    return VectorType(element, [lanes or lanes_for(element)])


def mask_type(lanes: int) -> VectorType[Attribute]:
    return VectorType(i1, [lanes])


def broadcast(kb: KernelBuilder, scalar: SSAValue, vt: VectorType[Attribute]) -> SSAValue:
    """Every lane set to ``scalar``."""
    return kb.add(vector.BroadcastOp(scalar, vt))


def zeros(kb: KernelBuilder, vt: VectorType[Attribute]) -> SSAValue:
    element = vt.element_type
    assert isinstance(element, AnyFloat)
    return broadcast(kb, kb.float_const(0.0, element), vt)


def load(kb: KernelBuilder, buffer: SSAValue, indices: Sequence[SSAValue], vt: VectorType[Attribute]) -> SSAValue:
    """``vt``'s lanes from ``buffer`` at ``indices`` onwards along the last dim (unaligned)."""
    return kb.add(vector.LoadOp(buffer, list(indices), vt))


def store(kb: KernelBuilder, value: SSAValue, buffer: SSAValue, indices: Sequence[SSAValue]) -> None:
    kb.add(vector.StoreOp(value, buffer, list(indices)))


def mask(kb: KernelBuilder, count: SSAValue, lanes: int) -> SSAValue:
    """Lanes ``[0, count)`` set; ``count <= 0`` sets none, ``count >= lanes`` all."""
    return kb.add(vector.CreateMaskOp([count], mask_type(lanes)))


def masked_load(
    kb: KernelBuilder, buffer: SSAValue, indices: Sequence[SSAValue], lane_mask: SSAValue, pass_thru: SSAValue
) -> SSAValue:
    """Like ``load``, reading only the lanes set in ``lane_mask`` (the rest from ``pass_thru``)."""
    return kb.add(vector.MaskedLoadOp(buffer, list(indices), lane_mask, pass_thru))


def masked_store(
    kb: KernelBuilder, value: SSAValue, buffer: SSAValue, indices: Sequence[SSAValue], lane_mask: SSAValue
) -> None:
    """Like ``store``, writing only the lanes set in ``lane_mask``."""
    kb.add(vector.MaskedStoreOp(buffer, list(indices), lane_mask, value))


def fma(kb: KernelBuilder, a: SSAValue, b: SSAValue, acc: SSAValue) -> SSAValue:
    """``a * b + acc`` lane by lane, one rounding."""
    return kb.add(vector.FMAOp(a, b, acc))


def select(kb: KernelBuilder, condition: SSAValue, if_true: SSAValue, if_false: SSAValue) -> SSAValue:
    """``if_true`` or ``if_false`` (whole vectors) on a scalar ``i1``."""
    return kb.add(arith.SelectOp(condition, if_true, if_false))


# -- integer lanes (index vectors for gathers and lane masks) ---------------------------


def int_vector_type(lanes: int, width: int = 32) -> VectorType[Attribute]:
    return VectorType(IntegerType(width), [lanes])


def iota(kb: KernelBuilder, vt: VectorType[Attribute]) -> SSAValue:
    """The constant ``<0, 1, ..., lanes - 1>`` of integer vector type ``vt``."""
    lanes = vt.get_shape()[0]
    return kb.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(vt, list(range(lanes))), vt))  # type: ignore[arg-type, type-var]


def splat_index(kb: KernelBuilder, index: SSAValue, vt: VectorType[Attribute]) -> SSAValue:
    """An ``index`` scalar cast to ``vt``'s integer lanes and broadcast to all of them."""
    return broadcast(kb, kb.add(arith.IndexCastOp(index, vt.element_type)), vt)


def range_mask(kb: KernelBuilder, lo: SSAValue, hi: SSAValue, lanes: int) -> SSAValue:
    """Lanes ``[lo, hi)`` set (clamped to ``[0, lanes)``): ``mask(hi) & ~mask(lo)``, since
    xDSL's ``arith.cmpi`` has no vector form."""
    every = mask(kb, kb.index(lanes), lanes)
    below_lo = kb.add(arith.XOrIOp(mask(kb, lo, lanes), every))
    return kb.add(arith.AndIOp(mask(kb, hi, lanes), below_lo))


def bitcast(kb: KernelBuilder, value: SSAValue, vt: VectorType[Attribute]) -> SSAValue:
    """The same bits as ``vt`` (lane count and total width kept)."""
    return kb.add(arith.BitcastOp(value, vt))


def gather(
    kb: KernelBuilder,
    buffer: SSAValue,
    indices: Sequence[SSAValue],
    offsets: SSAValue,
    lane_mask: SSAValue,
    pass_thru: SSAValue,
) -> SSAValue:
    """Lane ``i``: the element ``offsets[i]`` past ``buffer[indices]`` (row-major) where
    ``lane_mask[i]``, else ``pass_thru[i]`` (``vecx.gather``; masked-off lanes read nothing)."""
    return kb.add(GatherOp(buffer, list(indices), offsets, lane_mask, pass_thru))
