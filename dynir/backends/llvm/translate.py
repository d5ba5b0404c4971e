"""Loop-level IR (``func``/``scf``/``memref``/``arith``/``math``) to LLVM IR with llvmlite.

Like MLIR's ``mlir-translate --mlir-to-llvmir``, but straight from the structured
dialects: ``scf.for`` becomes a header/body/exit loop with phis, ``memref.load``/``store``
a ``getelementptr inbounds`` on a row-major linear index, ``memref.dim`` the static size or
the size parameter of the calling convention (see ``abi.py``).

Requires: every ``func.func`` has a single-block body (no ``cf``), memrefs have identity
layouts, values are scalars, 1-D vectors (``vector_lowering.py``) or memrefs (no tensors). Anything else is a
``TranslationError`` naming the op, its location and its function.

```mlir
func.func @scale(%x: memref<?xf32>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {
    %v = memref.load %x[%i] : memref<?xf32>
    %e = math.exp %v : f32
    memref.store %e, %y[%i] : memref<?xf32>
  }
  func.return
}
```
becomes ``define void @scale(ptr noalias %arg0, i64 %arg0_d0, ptr noalias %arg1, i64 %arg1_d0)``
with a ``for.header``/``for.body``/``for.exit`` loop around ``call float @llvm.exp.f32``.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.ir as ir
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp
from xdsl.ir import Attribute, Block, Operation, SSAValue

from dynir.backends.llvm.abi import (
    I64,
    KernelSignature,
    MemrefArg,
    SignatureError,
    element_of,
    flatten_args,
    signature_of,
)
from dynir.backends.llvm.arith_lowering import FLOAT_FLAGGED_OPS, ArithCall, emit_arith
from dynir.backends.llvm.errors import TranslationError
from dynir.backends.llvm.loop_hints import attach_interleave
from dynir.backends.llvm.math_lowering import emit_math, supported_math_ops
from dynir.backends.llvm.structural import STRUCTURAL_HANDLERS, MemrefValue, Value
from dynir.backends.llvm.target import host_target
from dynir.backends.llvm.vector_math import RECIPROCAL_ESTIMATES
from dynir.backends.llvm.vector_lowering import VECTOR_HANDLERS, is_float_vector, vector_llvm_type
from dynir.backends.llvm.vecx_lowering import VECX_HANDLERS

NOALIAS_ATTR = "dynir.noalias"
"""Per-function override of ``TranslateOptions.noalias``: ``{dynir.noalias = false}``."""


@dataclass(frozen=True)
class TranslateOptions:
    """How the translation trades IEEE strictness and aliasing assumptions for speed.

    ``contract`` (default on) lets LLVM fuse ``a * b + c`` into one FMA: one rounding
    instead of two, the same choice as clang's ``-ffp-contract=on`` and MLIR's GPU paths.
    ``reassoc_reductions`` (default off) marks the float op that updates a loop-carried
    value (``scf.for`` iter_args, ``scf.reduce``) ``reassoc``, so LLVM may vectorise the
    reduction with partial sums: faster, but the sum order changes. ``noalias`` (default
    on) marks every memref pointer ``noalias``: dynir's buffers never overlap, and it
    spares LLVM's run-time alias checks; a function opts out with ``dynir.noalias = false``.
    """

    noalias: bool = True
    contract: bool = True
    reassoc_reductions: bool = False


def translate_module(module: ModuleOp, options: TranslateOptions | None = None) -> ir.Module:
    """The LLVM module for every ``func.func`` of ``module`` (declarations included)."""
    return ModuleTranslator(module, options or TranslateOptions()).translate()


@dataclass(frozen=True)
class ExportedKernel:
    """A public function of the module: its LLVM symbol and its ABI signature."""

    symbol: str
    signature: KernelSignature


def exported_kernels(module: ModuleOp) -> dict[str, ExportedKernel]:
    """The module's public, defined functions (the callable kernels), by MLIR name."""
    kernels: dict[str, ExportedKernel] = {}
    for op in module.ops:
        if isinstance(op, func.FuncOp) and _is_exported(op):
            kernels[op.sym_name.data] = ExportedKernel(symbol_name(op), _signature_or_error(op))
    return kernels


def symbol_name(op: func.FuncOp) -> str:
    """The LLVM symbol of a ``func.func``: its own name, unless that would shadow a C symbol.

    A kernel called ``@powf`` would otherwise capture LLVM's own libcall for ``llvm.pow.f32``
    (and recurse forever); defined functions whose name the process already exports
    (libc, libm) are renamed ``<name>.dynir``. Declarations keep their name: they link to C.
    """
    name = op.sym_name.data
    if op.body.blocks and _is_process_symbol(name):
        return f"{name}.dynir"
    return name


@functools.cache
def _is_process_symbol(name: str) -> bool:
    return hasattr(ctypes.CDLL(None), name)


def _is_exported(op: func.FuncOp) -> bool:
    visibility = op.sym_visibility.data if op.sym_visibility is not None else "public"
    return visibility == "public" and bool(op.body.blocks)


def _signature_or_error(op: func.FuncOp) -> KernelSignature:
    try:
        return signature_of(op)
    except SignatureError as error:
        raise TranslationError.at(op, str(error)) from None


class ModuleTranslator:
    """Declares every function first (so calls may go forward), then emits the bodies."""

    def __init__(self, module: ModuleOp, options: TranslateOptions) -> None:
        self.source = module
        self.options = options
        self.module = ir.Module(name="dynir")
        target = host_target()
        self.module.triple = target.triple
        self.module.data_layout = target.data_layout
        self.functions: dict[str, tuple[ir.Function, KernelSignature]] = {}

    def translate(self) -> ir.Module:
        funcs = [op for op in self.source.ops if isinstance(op, func.FuncOp)]
        for op in self.source.ops:
            if not isinstance(op, func.FuncOp):
                raise TranslationError.at(op, "is not supported at module level by the LLVM backend")
        for op in funcs:
            self.functions[op.sym_name.data] = (self._declare(op), _signature_or_error(op))
        for op in funcs:
            if op.body.blocks:
                function, signature = self.functions[op.sym_name.data]
                FunctionTranslator(self, op, function, signature).emit()
        return self.module

    def _declare(self, op: func.FuncOp) -> ir.Function:
        signature = _signature_or_error(op)
        function = ir.Function(self.module, signature.llvm_function_type(), name=symbol_name(op))
        if not op.body.blocks:
            return function  # external declaration, resolved at link time
        hints = [arg.name_hint for arg in op.body.block.args]
        for arg, name in zip(function.args, flatten_args(signature, hints), strict=True):
            arg.name = name
            if isinstance(arg.type, ir.PointerType) and self._noalias(op):
                arg.add_attribute("noalias")
        if not _is_exported(op):
            function.linkage = "internal"
        function.attributes.add("nounwind")
        # llvmlite only accepts enum attributes by name; string attributes go in as-is.
        set.add(function.attributes, RECIPROCAL_ESTIMATES)
        return function

    def _noalias(self, op: func.FuncOp) -> bool:
        override = op.attributes.get(NOALIAS_ATTR)
        if isinstance(override, IntegerAttr):
            return bool(override.value.data)
        return self.options.noalias


class FunctionTranslator:
    """Emits one function body; ``values`` maps each SSA value to its LLVM counterpart."""

    def __init__(
        self, parent: ModuleTranslator, op: func.FuncOp, function: ir.Function, signature: KernelSignature
    ) -> None:
        self.parent = parent
        self.op = op
        self.function = function
        self.signature = signature
        self.values: dict[SSAValue, Value] = {}
        self.entry = function.append_basic_block("entry")
        self.builder = ir.IRBuilder(function.append_basic_block("body"))
        self.reduction_updates = _reduction_updates(op) if parent.options.reassoc_reductions else set()

    def emit(self) -> None:
        blocks = self.op.body.blocks
        if len(blocks) != 1:
            raise TranslationError.at(self.op, "has several blocks; lower cf before the LLVM backend")
        self._bind_arguments(blocks[0])
        for op in blocks[0].ops:
            self.emit_op(op)
        ir.IRBuilder(self.entry).branch(self.function.blocks[1])

    def _bind_arguments(self, block: Block) -> None:
        params = iter(self.function.args)
        for block_arg, spec in zip(block.args, self.signature.args, strict=True):
            pointer_or_scalar = next(params)
            if isinstance(spec, MemrefArg):
                sizes = [next(params) if d is None else ir.Constant(I64, d) for d in spec.shape]
                self.values[block_arg] = MemrefValue(pointer_or_scalar, sizes, spec.element.llvm)
            else:
                self.values[block_arg] = pointer_or_scalar

    # -- values ------------------------------------------------------------------------

    def scalar(self, value: SSAValue, user: Operation) -> ir.Value:
        result = self.values[value]
        if isinstance(result, MemrefValue):
            raise TranslationError.at(user, "uses a memref where a scalar is expected")
        return result

    def buffer(self, value: SSAValue, user: Operation) -> MemrefValue:
        result = self.values[value]
        if not isinstance(result, MemrefValue):
            raise TranslationError.at(user, "uses a scalar where a memref is expected")
        return result

    def llvm_type(self, attr: Attribute, user: Operation) -> ir.Type:
        vector_type = vector_llvm_type(attr)
        if vector_type is not None:
            return vector_type
        element = element_of(attr)
        if element is None:
            raise TranslationError.at(user, f"has type {attr}, which the LLVM backend does not support")
        return element.llvm

    # -- dispatch ----------------------------------------------------------------------

    def emit_op(self, op: Operation) -> None:
        handler = STRUCTURAL_HANDLERS.get(type(op)) or VECTOR_HANDLERS.get(type(op)) or VECX_HANDLERS.get(type(op))
        if handler is not None:
            handler(self, op)
            return
        if op.name.startswith(("arith.", "math.")) and len(op.results) == 1:
            self._emit_scalar_op(op)
            return
        raise TranslationError.at(op, "is not supported by the LLVM backend")

    def _emit_scalar_op(self, op: Operation) -> None:
        result_type = self.llvm_type(op.results[0].type, op)
        args = [self.scalar(v, op) for v in op.operands]
        flags = self.float_flags(op)
        if op.name.startswith("math."):
            value = emit_math(self.builder, op.name, args, flags)
            if value is None:
                known = ", ".join(name.removeprefix("math.") for name in supported_math_ops())
                raise TranslationError.at(op, f"is not supported by the LLVM backend (math ops it lowers: {known})")
        else:
            value = emit_arith(ArithCall(self.builder, op, args, result_type, flags))
            if value is None:
                raise TranslationError.at(op, "is not supported by the LLVM backend")
        self.values[op.results[0]] = value

    def float_flags(self, op: Operation) -> tuple[str, ...]:
        if op.name.startswith("arith.") and op.name not in FLOAT_FLAGGED_OPS:
            return ()
        if op.name.startswith("math.") and not _is_float_type(op.results[0].type):
            return ()
        attr = op.properties.get("fastmath")
        flags = {str(getattr(flag, "value", flag)) for flag in getattr(attr, "data", frozenset())}
        if self.parent.options.contract:
            flags.add("contract")
        if op in self.reduction_updates:
            flags.add("reassoc")
        return tuple(sorted(flags))

    # -- regions -----------------------------------------------------------------------

    def emit_block_body(self, block: Block, arguments: Sequence[Value]) -> tuple[Operation, list[Value]]:
        """Emit ``block`` minus its terminator; returns the terminator and its operands."""
        for block_arg, value in zip(block.args, arguments, strict=True):
            self.values[block_arg] = value
        terminator = block.last_op
        if terminator is None:
            raise TranslationError.at(self.op, "has an empty block")
        for op in block.ops:
            if op is not terminator:
                self.emit_op(op)
        return terminator, [self.values[v] for v in terminator.operands]

    def emit_loop(
        self,
        bounds: tuple[ir.Value, ir.Value, ir.Value],
        inits: Sequence[ir.Value],
        body: Callable[[ir.Value, list[ir.Value]], list[ir.Value]],
        *,
        interleave: int | None = None,
    ) -> list[ir.Value]:
        """``for (iv = lb; iv < ub; iv += step)`` carrying ``inits``; returns the final values.
        ``interleave`` asks LLVM's vectoriser for that many vectors per iteration
        (``loop_hints``)."""
        lower, upper, step = bounds
        builder = self.builder
        header = self.function.append_basic_block("for.header")
        body_block = self.function.append_basic_block("for.body")
        exit_block = self.function.append_basic_block("for.exit")
        preheader = builder.block
        builder.branch(header)
        builder.position_at_end(header)
        iv = builder.phi(lower.type, name="iv")
        iv.add_incoming(lower, preheader)
        carried = []
        for init in inits:
            phi = builder.phi(init.type)
            phi.add_incoming(init, preheader)
            carried.append(phi)
        builder.cbranch(builder.icmp_signed("<", iv, upper), body_block, exit_block)
        builder.position_at_end(body_block)
        yielded = body(iv, list(carried))
        next_iv = builder.add(iv, step, flags=["nsw"])
        latch = builder.block
        iv.add_incoming(next_iv, latch)
        for phi, value in zip(carried, yielded, strict=True):
            phi.add_incoming(value, latch)
        back_edge = builder.branch(header)
        if interleave is not None:
            attach_interleave(back_edge, interleave)
        builder.position_at_end(exit_block)
        return list(carried)

    def scalars(self, values: Sequence[Value], user: Operation) -> list[ir.Value]:
        result: list[ir.Value] = []
        for value in values:
            if isinstance(value, MemrefValue):
                raise TranslationError.at(user, "carries a memref through a region; only scalars are supported")
            result.append(value)
        return result

    # -- memrefs -----------------------------------------------------------------------

    def element_pointer(self, buffer: MemrefValue, indices: Sequence[ir.Value], *, inbounds: bool = True) -> ir.Value:
        """``gep inbounds`` at the row-major linear index ``((i0 * s1 + i1) * s2 + i2) ...``;
        ``inbounds=False`` for masked accesses, whose first lane may lie outside the buffer
        (masked-off lanes never touch it, but an ``inbounds`` pointer there is poison)."""
        builder = self.builder
        linear: ir.Value = ir.Constant(I64, 0)
        for position, index in enumerate(indices):
            if position == 0:
                linear = index
            else:
                scaled = builder.mul(linear, buffer.sizes[position], flags=["nsw"])
                linear = builder.add(scaled, index, flags=["nsw"])
        return builder.gep(buffer.pointer, [linear], inbounds=inbounds, source_etype=buffer.element)

    def memref_sizes(self, memref_type: MemRefType[Attribute], dynamic: Sequence[ir.Value]) -> list[ir.Value]:
        sizes: list[ir.Value] = []
        remaining = iter(dynamic)
        for dim in memref_type.get_shape():
            sizes.append(ir.Constant(I64, dim) if dim >= 0 else next(remaining))
        return sizes

    def runtime_function(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        existing = self.parent.module.globals.get(name)
        if isinstance(existing, ir.Function):
            return existing
        return ir.Function(self.parent.module, fnty, name=name)


def _is_float_type(attr: Attribute) -> bool:
    if is_float_vector(attr):
        return True
    element = element_of(attr)
    return element is not None and element.dtype.kind == "f"


def _reduction_updates(function: func.FuncOp) -> set[Operation]:
    """Float ops whose result is yielded as a loop-carried value (the reduction step)."""
    updates: set[Operation] = set()
    for op in function.walk():
        carried: Sequence[SSAValue] = ()
        if isinstance(op, scf.YieldOp) and isinstance(op.parent_op(), scf.ForOp):
            carried = op.operands
        elif isinstance(op, scf.ReduceReturnOp):
            carried = (op.result,)
        for value in carried:
            owner = value.owner
            if isinstance(owner, Operation) and owner.name in FLOAT_FLAGGED_OPS:
                updates.add(owner)
    return updates
