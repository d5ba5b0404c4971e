"""The ``fusion`` dialect: region ops that become one kernel each.

Level: between ``nn`` and the loop level. The fusion passes move ``nn`` ops into
``fusion.group`` bodies; ``lower-to-loops`` turns each group into one kernel function
(one loop nest on the CPU, one ``__global__`` function for CUDA) and records its symbol
on the group (``kernel = @name``). The group stays in ``@main`` as the host program's
step: its body gives the interpreter its semantics and the runtime its shape function.

```mlir
%r = fusion.group (%x, %b) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32> {
^bb0(%a: tensor<?x64xf32>, %c: tensor<64xf32>):
  %s = nn.add %a, %c : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %t = nn.relu %s : (tensor<?x64xf32>) -> tensor<?x64xf32>
  fusion.yield %t : tensor<?x64xf32>
}
```
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import StringAttr, SymbolRefAttr, TensorType
from xdsl.ir import Attribute, Block, Dialect, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    opt_prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class GroupOp(IRDLOperation):
    """A fused region: its operands are the group's inputs, its results its outputs.

    The body uses only its block arguments and constants defined inside it
    (``IsolatedFromAbove``), and yields values whose types match the results.
    """

    name = "fusion.group"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")
    kernel = opt_prop_def(SymbolRefAttr)
    kind = opt_prop_def(StringAttr)
    traits = traits_def(IsolatedFromAbove(), Pure())

    def __init__(
        self,
        inputs: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        body: Region,
        kind: str | None = None,
    ) -> None:
        props: dict[str, Attribute] = {}
        if kind is not None:
            props["kind"] = StringAttr(kind)
        super().__init__(operands=[inputs], result_types=[result_types], regions=[body], properties=props)

    def verify_(self) -> None:
        block = self.body.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"'fusion.group' op has {len(self.inputs)} inputs but its body takes {len(block.args)} arguments"
            )
        for i, (arg, operand) in enumerate(zip(block.args, self.inputs)):
            if arg.type != operand.type:
                raise VerifyException(
                    f"'fusion.group' op body argument #{i} has type {arg.type}, input has {operand.type}"
                )
        last = block.last_op
        if not isinstance(last, YieldOp):
            raise VerifyException("'fusion.group' op body must end in 'fusion.yield'")
        if [v.type for v in last.values] != [r.type for r in self.outputs]:
            raise VerifyException(
                "'fusion.group' op yields "
                f"({', '.join(str(v.type) for v in last.values)}) but returns "
                f"({', '.join(str(r.type) for r in self.outputs)})"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" (")
        printer.print_list(self.inputs, printer.print_operand)
        printer.print_string(") ")
        if self.properties:
            printer.print_attr_dict(self.properties)
            printer.print_string(" ")
        printer.print_string(": (")
        printer.print_list([v.type for v in self.inputs], printer.print_attribute)
        printer.print_string(") -> (")
        printer.print_list([r.type for r in self.outputs], printer.print_attribute)
        printer.print_string(") ")
        printer.print_region(self.body, print_entry_block_args=True, print_empty_block=True)

    @classmethod
    def parse(cls, parser: Parser) -> GroupOp:
        inputs = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, parser.parse_unresolved_operand
        )
        props = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        input_types = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        parser.parse_punctuation("->")
        result_types = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        resolved = parser.resolve_operands(inputs, input_types, parser.pos)
        body = parser.parse_region()
        op = cls(resolved, result_types, body)
        op.properties.update(props)
        return op

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        from dynir.interpreter import run_block

        return run_block(self.body.block, list(inputs))


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminates a ``fusion.group`` body with the group's results."""

    name = "fusion.yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(GroupOp), Pure())
    assembly_format = "($values^ `:` type($values))? attr-dict"

    def __init__(self, values: Sequence[SSAValue]) -> None:
        super().__init__(operands=[values])


def group_of(ops_block: Block) -> GroupOp | None:
    parent = ops_block.parent_op()
    return parent if isinstance(parent, GroupOp) else None


Fusion = Dialect("fusion", [GroupOp, YieldOp], [])
