"""Loop metadata that tells LLVM's loop vectoriser how far to interleave a loop.

An innermost loop whose body calls a polynomial math function (``exp``, ``tanh``, ``erf``
... from ``vector_math``) is one long dependency chain per vector: sigmoid then tanh is
~150 cycles of FMA latency for 16 elements. The out-of-order window holds only one or two
such iterations, so the loop runs at its latency, not at the FMA units' throughput.
LLVM's own interleave heuristic picks 1 for these loops (their register pressure is
already high), so the translator asks for ``INTERLEAVE_MATH_LOOPS`` independent vectors
per iteration, which the scheduler then overlaps; constants spill to the stack and come
back as memory operands, which cost far less than the stalls. Measured on the
elementwise chain (sigmoid + tanh over 4M floats, one thread): 5.4 -> 4.2 ms.

```llvm
br label %"for.header", !llvm.loop !7
!7 = !{ !7, !8 }
!8 = !{ !"llvm.loop.interleave.count", i32 4 }
```

The hint is a property of this backend (the CUDA emitter has no use for it), so it is
decided here from the loop body rather than carried on the target-neutral loop IR.
"""

from __future__ import annotations

import llvmlite.ir as ir
from llvmlite.ir import values as ir_values
from xdsl.dialects import scf
from xdsl.ir import Operation

from dynir.backends.llvm.vector_math import F32_FUNCTIONS

INTERLEAVE_MATH_LOOPS = 4
"""Vectors per iteration of an innermost loop with a polynomial math call (2 gave
5.4 -> 4.2 ms, 4 gave 4.2 -> 4.0 ms on the elementwise chain)."""

_LOOP_OPS = (scf.ForOp, scf.WhileOp, scf.ParallelOp)


def interleave_count(loop: scf.ForOp) -> int | None:
    """``INTERLEAVE_MATH_LOOPS`` for an innermost loop that calls a polynomial math
    function on scalars (the vectoriser widens it), else None (LLVM decides)."""
    has_math = False
    for op in loop.body.walk():
        if isinstance(op, _LOOP_OPS):
            return None
        if op.name in F32_FUNCTIONS and _on_scalars(op):
            has_math = True
    return INTERLEAVE_MATH_LOOPS if has_math else None


def _on_scalars(op: Operation) -> bool:
    # Vector-typed math is already wide: the micro-kernels' finish loops, for instance.
    return all(not hasattr(result.type, "get_shape") for result in op.results)


def attach_interleave(branch: ir.Instruction, count: int) -> None:
    """Mark the back edge ``branch`` of a loop with ``llvm.loop.interleave.count``.

    The loop ID must be a fresh node whose first operand is itself; llvmlite's
    ``add_metadata`` interns nodes by their operands (two loops would share one ID) and
    cannot refer to the node being created, so the node is built directly."""
    module: ir.Module = branch.module
    hint = module.add_metadata([ir.MetaDataString(module, "llvm.loop.interleave.count"), ir.IntType(32)(count)])
    loop_id = _LoopID(module, [], name=str(len(module.metadata)))
    loop_id.operands = (loop_id, hint)
    branch.set_metadata("llvm.loop", loop_id)


class _LoopID(ir_values.MDValue):
    """A self-referential metadata node: compared and hashed by identity (by operands,
    as ``MDValue`` does, would recurse forever)."""

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)
