"""Shared machinery of the ``nn`` dialect: the ``NNOp`` base class and attribute readers.

Every ``nn`` op
- has one textual form, ``%r = nn.op %a, %b {attrs} : (types) -> types``;
- infers its result types from its operands and properties (``infer_result_types``),
  keeping unknown dims symbolic; ``verify_`` checks the declared results against that;
- carries numpy reference semantics (``reference``), which the interpreter runs and the
  importer uses to fold constants.

Ops are built with ``XOp.make(operands, props)``, which infers result types; properties
are given as xDSL attributes, made with the readers/makers below (``ints_attr``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import ClassVar, Self

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, traits_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dynir.ir.types import dims_compatible, format_shape, is_float, is_integer, shape_of

DIM_NAMES = "nn.dim_names"
"""Function-argument attribute: an array of strings naming each dim (``""`` = unnamed).
Arguments whose dims carry the same name share that symbolic size at run time."""

VALUE_NAME = "nn.name"
"""Function argument/result attribute: the model's name for that input or output
(the ONNX graph input/output name); ``CompiledModel.run`` takes and returns these."""


class NNOp(IRDLOperation):
    """Base of every ``nn`` op (see module doc)."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"
    traits = traits_def(Pure())

    FOLDABLE: ClassVar[bool] = True
    """Whether the importer may fold this op when all its operands are constants."""

    def infer_result_types(self) -> Sequence[TensorType]:
        """Result types from operand types and properties; raise ``ValueError`` with a
        message that names the offending types/attributes when they are invalid."""
        raise NotImplementedError(f"{self.name} has no shape inference")

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        """Numpy semantics: one array per result."""
        raise NotImplementedError(f"{self.name} has no reference semantics")

    def verify_(self) -> None:
        for i, operand in enumerate(self.operands):
            if not isinstance(operand.type, TensorType):
                raise VerifyException(f"'{self.name}' op operand #{i} must be a tensor, got {operand.type}")
        try:
            inferred = self.infer_result_types()
        except ValueError as e:
            raise VerifyException(f"'{self.name}' op {e}") from e
        if len(inferred) != len(self.results):
            raise VerifyException(
                f"'{self.name}' op expects {len(inferred)} results, got {len(self.results)}"
            )
        for i, (want, result) in enumerate(zip(inferred, self.results)):
            got = result.type
            if not isinstance(got, TensorType):
                raise VerifyException(f"'{self.name}' op result #{i} must be a tensor, got {got}")
            if want.element_type != got.element_type or not dims_compatible(
                shape_of(want), shape_of(got)
            ):
                raise VerifyException(
                    f"'{self.name}' op result #{i} has type {got}, but its operands give "
                    f"{want} (shape {format_shape(shape_of(want))})"
                )

    @classmethod
    def make(
        cls,
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute] | None = None,
        *,
        num_results: int = 1,
    ) -> Self:
        """Create the op with inferred result types. Raises ``ValueError`` on bad input."""
        placeholder = [TensorType(f32, [])] * num_results
        proto = cls.create(operands=list(operands), properties=dict(props or {}), result_types=placeholder)
        try:
            types = list(proto.infer_result_types())
        finally:
            proto.drop_all_references()
        return cls.create(operands=list(operands), properties=dict(props or {}), result_types=types)


class ElementKind(Enum):
    """The element types an op accepts."""

    ANY = "any"
    NUMERIC = "numeric"  # integers and floats, not i1
    FLOAT = "float"
    BOOL = "bool"  # i1 only


def check_element(element: Attribute, kind: ElementKind) -> None:
    """Raise ``ValueError`` naming ``element`` when it is not of ``kind``."""
    if kind is ElementKind.FLOAT and not is_float(element):
        raise ValueError(f"element type {element} is not a float type")
    if kind is ElementKind.NUMERIC and (element == i1 or not (is_float(element) or is_integer(element))):
        raise ValueError(f"element type {element} is not a numeric type")
    if kind is ElementKind.BOOL and element != i1:
        raise ValueError(f"element type {element} is not i1")


# ----------------------------------------------------------------------------------
# Attribute makers and readers. Properties hold xDSL attributes; these convert.


def ints_attr(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def int_attr(value: int) -> IntegerAttr:
    return IntegerAttr(int(value), i64)


def float_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f64)


def str_attr(value: str) -> StringAttr:
    return StringAttr(value)


def strs_attr(values: Sequence[str]) -> ArrayAttr[StringAttr]:
    return ArrayAttr([StringAttr(v) for v in values])


def read_ints(attr: Attribute | None, default: Sequence[int] | None = None) -> tuple[int, ...]:
    if attr is None:
        if default is None:
            raise ValueError("missing integer-array attribute")
        return tuple(default)
    if isinstance(attr, DenseArrayBase):
        return tuple(int(v) for v in attr.get_values())
    if isinstance(attr, ArrayAttr):
        return tuple(int(a.value.data) for a in attr.data)  # type: ignore[union-attr]
    raise ValueError(f"expected an integer array, got {attr}")


def read_int(attr: Attribute | None, default: int | None = None) -> int:
    if attr is None:
        if default is None:
            raise ValueError("missing integer attribute")
        return default
    if isinstance(attr, IntegerAttr):
        return int(attr.value.data)
    raise ValueError(f"expected an integer, got {attr}")


def read_float(attr: Attribute | None, default: float | None = None) -> float:
    if attr is None:
        if default is None:
            raise ValueError("missing float attribute")
        return default
    if isinstance(attr, FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, IntegerAttr):
        return float(attr.value.data)
    raise ValueError(f"expected a float, got {attr}")


def read_str(attr: Attribute | None, default: str | None = None) -> str:
    if attr is None:
        if default is None:
            raise ValueError("missing string attribute")
        return default
    if isinstance(attr, StringAttr):
        return attr.data
    raise ValueError(f"expected a string, got {attr}")


def tensor_operand_type(value: SSAValue) -> TensorType:
    t = value.type
    if not isinstance(t, TensorType):
        raise ValueError(f"expected a tensor operand, got {t}")
    return t
