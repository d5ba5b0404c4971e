"""fold-double-relu: ``relu(relu(x))`` is ``relu(x)``.

Requires: nothing. Guarantees: no ``nn.relu`` reads the result of another ``nn.relu``.

```mlir
%a = nn.relu %x : (tensor<4xf32>) -> tensor<4xf32>
%b = nn.relu %a : (tensor<4xf32>) -> tensor<4xf32>      // uses of %b now use %a
```
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dynir.dialects.nn.elementwise import ReluOp
from dynir.remarks import remark


class FoldDoubleRelu(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReluOp, rewriter: PatternRewriter) -> None:
        inner = op.operands[0].owner
        if not isinstance(inner, ReluOp):
            return  # the operand is not a relu: nothing to fold
        remark(op, "folded into the relu it reads")
        rewriter.replace(op, [], [inner.results[0]])


@dataclass(frozen=True)
class FoldDoubleReluPass(ModulePass):
    name = "fold-double-relu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(FoldDoubleRelu()).rewrite_module(op)
