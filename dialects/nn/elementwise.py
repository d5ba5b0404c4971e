"""Elementwise ``nn`` ops: unary math and activations, binary ops with numpy
(multidirectional) broadcasting, comparisons, ``where``, ``cast``.

All of them map each output element to a function of the corresponding (broadcast)
input elements, which is what ``fuse-elementwise`` relies on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.irdl import irdl_op_definition, operand_def, result_def

from dynir.dialects.nn.base import NNOp, tensor_operand_type
from dynir.ir.types import broadcast_shapes, shape_of, tensor_type


class UnaryElementwiseOp(NNOp):
    """``y = f(x)`` elementwise; same type in and out."""

    input = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        return [tensor_operand_type(self.input)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [np.asarray(self.compute(x)).astype(x.dtype, copy=False)]

    def compute(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class BinaryElementwiseOp(NNOp):
    """``z = f(x, y)`` with numpy broadcasting; both operands share an element type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, b = tensor_operand_type(self.lhs), tensor_operand_type(self.rhs)
        if a.element_type != b.element_type:
            raise ValueError(f"operand element types differ: {a} vs {b}")
        return [tensor_type(broadcast_shapes(shape_of(a), shape_of(b)), self.result_element(a))]

    def result_element(self, operand: TensorType):  # comparisons return i1
        return operand.element_type

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, y = inputs
        out = np.asarray(self.compute(x, y))
        return [out.astype(x.dtype, copy=False) if out.dtype != np.bool_ else out]

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@irdl_op_definition
class ReluOp(UnaryElementwiseOp):
    """``max(x, 0)``.

    ```mlir
    %y = nn.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.relu"

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, np.zeros((), x.dtype))


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


OPS = [ReluOp, AddOp]
