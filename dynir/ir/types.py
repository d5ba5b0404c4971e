"""Tensor types and dtypes: the one place that maps between xDSL types, numpy dtypes
and ONNX element types.

Shapes are written in Python as tuples whose dynamic dims are ``None``; xDSL spells a
dynamic dim as ``DYNAMIC_INDEX`` (``?`` in text). Never build a ``TensorType`` with -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerType,
    Signedness,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, TypeAttribute

Shape: TypeAlias = tuple[int | None, ...]
"""A tensor shape; ``None`` marks a dynamic (symbolic) dim."""

ui8 = IntegerType(8, Signedness.UNSIGNED)
ui16 = IntegerType(16, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)

_NUMPY_OF_ELEMENT: list[tuple[Attribute, np.dtype]] = [
    (f32, np.dtype(np.float32)),
    (f64, np.dtype(np.float64)),
    (f16, np.dtype(np.float16)),
    (i64, np.dtype(np.int64)),
    (i32, np.dtype(np.int32)),
    (i16, np.dtype(np.int16)),
    (i8, np.dtype(np.int8)),
    (ui8, np.dtype(np.uint8)),
    (ui16, np.dtype(np.uint16)),
    (ui32, np.dtype(np.uint32)),
    (ui64, np.dtype(np.uint64)),
    (i1, np.dtype(np.bool_)),
]


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The numpy dtype that holds values of ``element_type``."""
    for element, dtype in _NUMPY_OF_ELEMENT:
        if element == element_type:
            return dtype
    if isinstance(element_type, BFloat16Type):
        return np.dtype(np.float32)
    raise ValueError(f"no numpy dtype for element type {element_type}")


def element_type(dtype: np.dtype | type | str) -> TypeAttribute:
    """The xDSL element type of a numpy dtype."""
    dtype = np.dtype(dtype)
    for element, candidate in _NUMPY_OF_ELEMENT:
        if candidate == dtype:
            assert isinstance(element, TypeAttribute)
            return element
    raise ValueError(f"dtype {dtype} has no dynir element type")


def tensor_type(shape: Sequence[int | None], element: Attribute | np.dtype | type | str) -> TensorType:
    """``tensor_type((None, 768), f32)`` is ``tensor<?x768xf32>``."""
    if not isinstance(element, Attribute):
        element = element_type(element)
    for dim in shape:
        if dim is not None and dim < 0:
            raise ValueError(f"negative dim {dim} in shape {tuple(shape)}")
    return TensorType(element, [DYNAMIC_INDEX if d is None else d for d in shape])


def shape_of(t: Attribute) -> Shape:
    """The shape of a tensor type, ``None`` for dynamic dims."""
    if not isinstance(t, TensorType):
        raise TypeError(f"expected a tensor type, got {t}")
    return tuple(None if d == DYNAMIC_INDEX else d for d in t.get_shape())


def element_of(t: Attribute) -> Attribute:
    if not isinstance(t, TensorType):
        raise TypeError(f"expected a tensor type, got {t}")
    return t.element_type


def is_float(element: Attribute) -> bool:
    return isinstance(element, Float16Type | Float32Type | Float64Type | BFloat16Type)


def is_integer(element: Attribute) -> bool:
    return isinstance(element, IntegerType | IndexType)


def is_static(shape: Shape) -> bool:
    return all(d is not None for d in shape)


def num_elements(shape: Shape) -> int | None:
    if not is_static(shape):
        return None
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def broadcast_shapes(*shapes: Shape) -> Shape:
    """Numpy (multidirectional) broadcasting over possibly-dynamic shapes.

    A dynamic dim against 1 stays dynamic; against a static n > 1 it becomes n (it must
    be n or 1 at run time, and the result is n either way); two dynamic dims stay dynamic.
    Raises ``ValueError`` naming the dims when static dims disagree.
    """
    rank = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[int | None] = []
    for axis in range(rank):
        dims = [s[axis] for s in padded]
        static = {d for d in dims if d is not None and d != 1}
        if len(static) > 1:
            raise ValueError(
                f"shapes {', '.join(format_shape(s) for s in shapes)} do not broadcast (axis {axis})"
            )
        if static:
            out.append(static.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def format_shape(shape: Sequence[int | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def dims_compatible(inferred: Shape, declared: Shape) -> bool:
    """True when ``declared`` may stand for ``inferred``: same rank, and static dims agree
    wherever both are static (a declared static dim may refine an inferred ``?``)."""
    if len(inferred) != len(declared):
        return False
    return all(a is None or b is None or a == b for a, b in zip(inferred, declared))


def normalize_axis(axis: int, rank: int) -> int:
    """Map a possibly negative axis into ``[0, rank)``; raise ``ValueError`` when out of range."""
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis
