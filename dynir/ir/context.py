"""The xDSL context that knows every dialect dynir reads: xDSL's own levels and ours."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.affine import Affine
from xdsl.dialects.arith import Arith
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.dialects.llvm import LLVM
from xdsl.dialects.math import Math
from xdsl.dialects.memref import MemRef
from xdsl.dialects.scf import Scf
from xdsl.dialects.tensor import Tensor
from xdsl.dialects.vector import Vector
from xdsl.ir import Dialect

import dynir.ir.constants  # noqa: F401  (installs the blob store before any parse)


def dynir_dialects() -> list[Dialect]:
    """dynir's own dialects, in IR-level order."""
    from dynir.dialects.fusion import Fusion
    from dynir.dialects.nn import NN
    from dynir.dialects.quant import Quant
    from dynir.dialects.vecx import VecX

    return [NN, Quant, Fusion, VecX]


def xdsl_dialects() -> list[Dialect]:
    """The xDSL dialects dynir lowers to."""
    return [Builtin, Func, Arith, Math, Scf, MemRef, Affine, Tensor, Vector, LLVM]


def make_context(*, allow_unregistered: bool = False) -> Context:
    """A fresh context with every dialect loaded (plugins' too)."""
    from dynir.plugins import plugin_dialects

    ctx = Context(allow_unregistered=allow_unregistered)
    for dialect in [*xdsl_dialects(), *dynir_dialects(), *plugin_dialects()]:
        if dialect.name not in ctx.registered_dialect_names:
            ctx.load_dialect(dialect)
    return ctx
