"""``nn.constant``: a tensor literal (weights, folded shapes, scalars)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr, TensorType
from xdsl.ir import Attribute
from xdsl.irdl import irdl_op_definition, prop_def, result_def, traits_def
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from dynir.dialects.nn.base import NNOp
from dynir.ir.constants import dense_attr, dense_value


@irdl_op_definition
class ConstantOp(NNOp):
    """A constant tensor. Large values print as ``dense_resource`` blobs at file end.

    ```mlir
    %w = nn.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>
    ```
    """

    name = "nn.constant"
    value = prop_def(DenseIntOrFPElementsAttr | DenseResourceAttr)
    output = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "attr-dict `:` type($output)"
    FOLDABLE: ClassVar[bool] = False

    @classmethod
    def from_array(cls, array: np.ndarray, name: str = "cst") -> ConstantOp:
        attr = dense_attr(np.asarray(array), name=name)
        return cls.create(properties={"value": attr}, result_types=[_attr_type(attr)])

    def infer_result_types(self) -> Sequence[TensorType]:
        return [_attr_type(self.value)]

    def verify_(self) -> None:
        super().verify_()
        if self.output.type != _attr_type(self.value):
            raise VerifyException(
                f"'nn.constant' op value has type {_attr_type(self.value)}, result has {self.output.type}"
            )

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        return [self.array()]

    def array(self) -> np.ndarray:
        return dense_value(self.value)


def _attr_type(attr: Attribute) -> TensorType:
    t = getattr(attr, "type", None)
    if not isinstance(t, TensorType):
        raise VerifyException(f"'nn.constant' op value must have a tensor type, got {t}")
    return t


OPS = [ConstantOp]
