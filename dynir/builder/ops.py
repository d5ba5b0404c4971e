"""Generic access to ``nn`` ops by name: find the class of ``nn.<name>`` and turn Python
property values into the attributes its properties hold.

Both are looked up at call time, so new ``nn`` ops are usable from the builder and from
``Preprocess`` without changing either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, f64
from xdsl.ir import Attribute

from dynir.dialects.nn.base import NNOp, float_attr, int_attr, ints_attr, str_attr, strs_attr
from dynir.ir.constants import dense_attr
from dynir.ir.types import element_type

PropValue = (
    Attribute | bool | int | float | str | Sequence[int] | Sequence[float] | Sequence[str] | np.dtype | type | np.ndarray
)
"""What a property may be given as in Python."""


def nn_op_class(op_name: str) -> type[NNOp]:
    """The class of ``nn.<op_name>`` (``op_name`` with or without the ``nn.`` prefix).

    Raises ``LookupError`` naming the op when the ``nn`` dialect has no such op."""
    from dynir.dialects.nn import ALL_OPS

    full = op_name if op_name.startswith("nn.") else f"nn.{op_name}"
    for op_class in ALL_OPS:
        if op_class.name == full and issubclass(op_class, NNOp):
            return op_class
    raise LookupError(f"the nn dialect has no op '{full}'")


def prop_attr(key: str, value: PropValue) -> Attribute:
    """The attribute for a Python property value, chosen by the value's type:
    int -> i64, float -> f64, str -> string, int list -> ``array<i64>``, float list ->
    ``array<f64>``, str list -> array of strings, dtype -> element type, ndarray -> dense."""
    if isinstance(value, Attribute):
        return value
    if isinstance(value, bool | int | np.integer):
        return int_attr(int(value))
    if isinstance(value, float | np.floating):
        return float_attr(float(value))
    if isinstance(value, str):
        return str_attr(value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return element_type(value)
    if isinstance(value, np.ndarray):
        return dense_attr(value, name=key)
    if isinstance(value, Sequence):
        items: list[object] = list(value)  # pyright: ignore[reportUnknownArgumentType]
        if all(isinstance(v, str) for v in items):
            return strs_attr([str(v) for v in items]) if items else ints_attr([])
        if all(isinstance(v, bool | int | np.integer) for v in items):
            return ints_attr([int(v) for v in numbers_of(items)])
        numbers = numbers_of(items)
        if len(numbers) == len(items):
            return DenseArrayBase.from_list(f64, [float(v) for v in numbers])
    raise TypeError(f"property '{key}': cannot make an attribute of {value!r}")


def numbers_of(items: Sequence[object]) -> list[int | float]:
    """The items that are Python or numpy numbers, as Python numbers."""
    out: list[int | float] = []
    for v in items:
        if isinstance(v, bool | int | np.integer):
            out.append(int(v))
        elif isinstance(v, float | np.floating):
            out.append(float(v))
    return out


def props_attrs(props: Mapping[str, PropValue]) -> dict[str, Attribute]:
    return {key: prop_attr(key, value) for key, value in props.items() if value is not None}
