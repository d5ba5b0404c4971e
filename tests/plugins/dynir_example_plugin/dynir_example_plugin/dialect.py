"""The ``demo`` dialect: one op that marks a tensor, to show how a plugin adds a dialect.

```mlir
%y = demo.checkpoint %x : tensor<?x4xf32>
```
"""

from typing import ClassVar

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Dialect
from xdsl.irdl import IRDLOperation, VarConstraint, base, irdl_op_definition, operand_def, result_def


@irdl_op_definition
class CheckpointOp(IRDLOperation):
    name = "demo.checkpoint"

    T: ClassVar[VarConstraint[Attribute]] = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    output = result_def(T)

    assembly_format = "$input attr-dict `:` type($input)"


DEMO = Dialect("demo", [CheckpointOp])
