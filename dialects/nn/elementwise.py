"""Elementwise ``nn`` ops: the unary and binary bases, binary arithmetic with numpy
(multidirectional) broadcasting, comparisons, logic, ``where``, ``cast``, and the
structural unary ops (``relu``, ``not``, ``identity``). Unary math and the other
activations live in ``activation.py`` on the same bases.

All of them map each output element to a function of the corresponding (broadcast)
input elements, which is what ``fuse-elementwise`` relies on. Element types are checked
per op (``ELEMENTS``): float-only math rejects integers, logic wants ``i1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, TensorType, i1
from xdsl.ir import Attribute, TypeAttribute
from xdsl.irdl import irdl_op_definition, opt_prop_def, operand_def, prop_def, result_def

from dynir.dialects.nn.base import ElementKind, NNOp, check_element, read_int, tensor_operand_type
from dynir.ir.types import broadcast_shapes, is_float, numpy_dtype, shape_of, tensor_type


def _widen(x: np.ndarray) -> np.ndarray:
    """Compute f16 in f32 (numpy's f16 math is slow and no more faithful)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


class UnaryElementwiseOp(NNOp):
    """``y = f(x)`` elementwise; same type in and out."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.ANY

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        check_element(t.element_type, self.ELEMENTS)
        self.check_properties()
        return [t]

    def check_properties(self) -> None:
        """Raise ``ValueError`` naming a property whose value is invalid."""

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        with np.errstate(all="ignore"):
            out = np.asarray(self.compute(_widen(x)))
        return [out.astype(x.dtype, copy=False)]

    def compute(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class BinaryElementwiseOp(NNOp):
    """``z = f(x, y)`` with numpy broadcasting; both operands share an element type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC
    SAME_ELEMENT: ClassVar[bool] = True

    def infer_result_types(self) -> Sequence[TensorType]:
        a, b = tensor_operand_type(self.lhs), tensor_operand_type(self.rhs)
        if self.SAME_ELEMENT and a.element_type != b.element_type:
            raise ValueError(f"operand element types differ: {a} vs {b}")
        check_element(a.element_type, self.ELEMENTS)
        check_element(b.element_type, self.ELEMENTS)
        self.check_properties(a)
        return [tensor_type(broadcast_shapes(shape_of(a), shape_of(b)), self.result_element(a))]

    def check_properties(self, operand: TensorType) -> None:
        """Raise ``ValueError`` naming a property whose value is invalid."""

    def result_element(self, operand: TensorType) -> Attribute:  # comparisons return i1
        return operand.element_type

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, y = inputs
        with np.errstate(all="ignore"):
            out = np.asarray(self.compute(x, y))
        return [out.astype(x.dtype, copy=False) if out.dtype != np.bool_ else out]

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ComparisonOp(BinaryElementwiseOp):
    """A comparison: operands of one element type, result ``i1``."""

    def result_element(self, operand: TensorType) -> Attribute:
        return i1


# ----------------------------------------------------------------------------------
# Unary ops that are not arithmetic: relu, not, identity, cast.


@irdl_op_definition
class ReluOp(UnaryElementwiseOp):
    """``max(x, 0)``.

    ```mlir
    %y = nn.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.relu"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, np.zeros((), x.dtype))


@irdl_op_definition
class NotOp(UnaryElementwiseOp):
    """Logical negation.

    ```mlir
    %y = nn.not %x : (tensor<?x8xi1>) -> tensor<?x8xi1>
    ```
    """

    name = "nn.not"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.BOOL

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.logical_not(x)


@irdl_op_definition
class IdentityOp(UnaryElementwiseOp):
    """``x`` itself (ONNX Identity, and Dropout at inference).

    ```mlir
    %y = nn.identity %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.identity"

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x.copy()


@irdl_op_definition
class CastOp(NNOp):
    """Convert to element type ``to`` (ONNX Cast): float to int truncates toward zero,
    anything to ``i1`` is ``x != 0``.

    ```mlir
    %y = nn.cast %x {to = i64} : (tensor<?x8xf32>) -> tensor<?x8xi64>
    ```
    """

    name = "nn.cast"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    to = prop_def(TypeAttribute)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        try:
            numpy_dtype(self.to)
        except ValueError:
            raise ValueError(f"cannot cast to {self.to}: not a tensor element type") from None
        return [tensor_type(shape_of(t), self.to)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        dtype = numpy_dtype(self.to)
        if dtype == np.bool_:
            return [x != 0]
        with np.errstate(all="ignore"):
            return [x.astype(dtype)]


# ----------------------------------------------------------------------------------
# Binary arithmetic.


@irdl_op_definition
class AddOp(BinaryElementwiseOp):
    """``x + y`` with broadcasting.

    ```mlir
    %z = nn.add %x, %b : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.add"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + y


@irdl_op_definition
class SubOp(BinaryElementwiseOp):
    """``x - y`` with broadcasting.

    ```mlir
    %z = nn.sub %x, %y : (tensor<?x64xf32>, tensor<1xf32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.sub"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x - y


@irdl_op_definition
class MulOp(BinaryElementwiseOp):
    """``x * y`` with broadcasting.

    ```mlir
    %z = nn.mul %x, %s : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.mul"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x * y


@irdl_op_definition
class DivOp(BinaryElementwiseOp):
    """``x / y`` with broadcasting; integer division truncates toward zero (like C
    and onnxruntime).

    ```mlir
    %z = nn.div %x, %y : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
    ```
    """

    name = "nn.div"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if np.issubdtype(x.dtype, np.integer):
            safe = np.where(y == 0, 1, y).astype(x.dtype)
            quotient = x // safe
            inexact = (quotient * safe != x) & ((x < 0) != (safe < 0))
            return np.where(y == 0, 0, quotient + inexact)
        return x / y


@irdl_op_definition
class PowOp(BinaryElementwiseOp):
    """``x ** y``; the exponent may have another element type (ONNX Pow), the result has
    the base's. Integer results truncate toward zero.

    ```mlir
    %z = nn.pow %x, %e : (tensor<?x8xf32>, tensor<i64>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.pow"
    SAME_ELEMENT: ClassVar[bool] = False

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer):
            return np.power(x.astype(np.float64), y.astype(np.float64))
        return np.power(x, y.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else y)


@irdl_op_definition
class MaxOp(BinaryElementwiseOp):
    """Elementwise maximum (NaN propagates).

    ```mlir
    %z = nn.max %x, %y : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.max"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(x, y)


@irdl_op_definition
class MinOp(BinaryElementwiseOp):
    """Elementwise minimum (NaN propagates).

    ```mlir
    %z = nn.min %x, %y : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.min"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.minimum(x, y)


@irdl_op_definition
class ModOp(BinaryElementwiseOp):
    """Remainder. ``fmod = 0`` (integers only): sign of the divisor, like Python's ``%``;
    ``fmod = 1``: sign of the dividend, like C's ``fmod``. Floats need ``fmod = 1``.

    ```mlir
    %z = nn.mod %x, %y {fmod = 1 : i64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    ```
    """

    name = "nn.mod"
    fmod = opt_prop_def(IntegerAttr)

    def check_properties(self, operand: TensorType) -> None:
        fmod = read_int(self.fmod, 0)
        if fmod not in (0, 1):
            raise ValueError(f"fmod must be 0 or 1, got {fmod}")
        if fmod == 0 and is_float(operand.element_type):
            raise ValueError(f"fmod = 0 is not defined for {operand.element_type}; use fmod = 1")

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.fmod(x, y) if read_int(self.fmod, 0) else np.mod(x, y)


# ----------------------------------------------------------------------------------
# Logic and comparisons (``i1`` results).


@irdl_op_definition
class AndOp(BinaryElementwiseOp):
    """Logical and of ``i1`` tensors.

    ```mlir
    %z = nn.and %x, %y : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
    ```
    """

    name = "nn.and"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.BOOL

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_and(x, y)


@irdl_op_definition
class OrOp(BinaryElementwiseOp):
    """Logical or of ``i1`` tensors.

    ```mlir
    %z = nn.or %x, %y : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
    ```
    """

    name = "nn.or"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.BOOL

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_or(x, y)


@irdl_op_definition
class XorOp(BinaryElementwiseOp):
    """Logical exclusive or of ``i1`` tensors.

    ```mlir
    %z = nn.xor %x, %y : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
    ```
    """

    name = "nn.xor"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.BOOL

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_xor(x, y)


@irdl_op_definition
class EqualOp(ComparisonOp):
    """``x == y`` (any element type).

    ```mlir
    %z = nn.equal %x, %y : (tensor<?xi64>, tensor<i64>) -> tensor<?xi1>
    ```
    """

    name = "nn.equal"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.ANY

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.equal(x, y)


@irdl_op_definition
class LessOp(ComparisonOp):
    """``x < y``.

    ```mlir
    %z = nn.less %x, %y : (tensor<?xf32>, tensor<f32>) -> tensor<?xi1>
    ```
    """

    name = "nn.less"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.less(x, y)


@irdl_op_definition
class LessEqualOp(ComparisonOp):
    """``x <= y``.

    ```mlir
    %z = nn.less_equal %x, %y : (tensor<?xf32>, tensor<f32>) -> tensor<?xi1>
    ```
    """

    name = "nn.less_equal"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.less_equal(x, y)


@irdl_op_definition
class GreaterOp(ComparisonOp):
    """``x > y``.

    ```mlir
    %z = nn.greater %x, %y : (tensor<?xf32>, tensor<f32>) -> tensor<?xi1>
    ```
    """

    name = "nn.greater"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.greater(x, y)


@irdl_op_definition
class GreaterEqualOp(ComparisonOp):
    """``x >= y``.

    ```mlir
    %z = nn.greater_equal %x, %y : (tensor<?xf32>, tensor<f32>) -> tensor<?xi1>
    ```
    """

    name = "nn.greater_equal"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.greater_equal(x, y)


@irdl_op_definition
class WhereOp(NNOp):
    """``condition ? on_true : on_false`` with three-way broadcasting.

    ```mlir
    %z = nn.where %c, %x, %y : (tensor<?x1xi1>, tensor<8xf32>, tensor<f32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.where"
    condition = operand_def(TensorType)
    on_true = operand_def(TensorType)
    on_false = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        c = tensor_operand_type(self.condition)
        x, y = tensor_operand_type(self.on_true), tensor_operand_type(self.on_false)
        if c.element_type != i1:
            raise ValueError(f"condition element type {c.element_type} is not i1")
        if x.element_type != y.element_type:
            raise ValueError(f"operand element types differ: {x} vs {y}")
        shape = broadcast_shapes(shape_of(c), shape_of(x), shape_of(y))
        return [tensor_type(shape, x.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        c, x, y = inputs
        return [np.where(c, x, y).astype(x.dtype, copy=False)]


UNARY_OPS: list[type[UnaryElementwiseOp]] = [ReluOp, NotOp, IdentityOp]
BINARY_OPS: list[type[BinaryElementwiseOp]] = [
    AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp, ModOp, AndOp, OrOp, XorOp,
    EqualOp, LessOp, LessEqualOp, GreaterOp, GreaterEqualOp,
]  # fmt: skip

OPS: list[type[NNOp]] = [*UNARY_OPS, *BINARY_OPS, WhereOp, CastOp]
