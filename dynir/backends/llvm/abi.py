"""The calling convention between Python (numpy) and compiled kernels.

A ``func.func`` argument of type ``memref<?x512xf32>`` becomes two LLVM parameters: a
pointer to the first element (``noalias`` unless the function opts out) and one ``i64``
for each dynamic dim, in dim order. Memrefs are row-major and contiguous (identity
layout). Scalars (``index`` as ``i64``, ``iN``, ``f16``/``f32``/``f64``) pass by value.
Results: none (destination-passing style) or one scalar, returned by value.

``KernelSignature`` is the one description both sides use: the translator turns it into
LLVM parameter types, and ``CompiledKernel`` into ctypes argument types and checks.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ir
import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerType,
    DYNAMIC_INDEX,
    MemRefType,
    NoneAttr,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Attribute

from dynir.backends.llvm.errors import KernelArgumentError
from dynir.ir.types import Shape

I64 = ir.IntType(64)
POINTER = ir.PointerType()

_CTypes = type["ctypes._SimpleCData[Any]"]


@dataclass(frozen=True)
class Element:
    """A scalar type as every layer sees it: MLIR name, LLVM type, numpy dtype, ctypes type."""

    name: str
    llvm: ir.Type
    dtype: np.dtype[Any]
    ctype: _CTypes | None  # None: cannot pass by value through ctypes (f16)

    @property
    def size_bytes(self) -> int:
        return self.dtype.itemsize


_INT_CTYPES: dict[int, _CTypes] = {
    1: ctypes.c_bool,
    8: ctypes.c_int8,
    16: ctypes.c_int16,
    32: ctypes.c_int32,
    64: ctypes.c_int64,
}


def element_of(attr: Attribute) -> Element | None:
    """The element for an MLIR scalar type, or None when the backend has no mapping."""
    if isinstance(attr, IndexType):
        return Element("index", I64, np.dtype(np.int64), ctypes.c_int64)
    if isinstance(attr, IntegerType):
        width = attr.width.data
        if width not in _INT_CTYPES:
            return None
        dtype = np.dtype(np.bool_) if width == 1 else np.dtype(f"int{width}")
        return Element(f"i{width}", ir.IntType(width), dtype, _INT_CTYPES[width])
    if isinstance(attr, Float32Type):
        return Element("f32", ir.FloatType(), np.dtype(np.float32), ctypes.c_float)
    if isinstance(attr, Float64Type):
        return Element("f64", ir.DoubleType(), np.dtype(np.float64), ctypes.c_double)
    if isinstance(attr, Float16Type):
        return Element("f16", ir.HalfType(), np.dtype(np.float16), None)
    if isinstance(attr, BFloat16Type):
        return None  # llvmlite has no bfloat type
    return None


@dataclass(frozen=True)
class MemrefArg:
    """A memref parameter: pointer, then one i64 per dynamic dim."""

    shape: Shape
    element: Element

    @property
    def dynamic_dims(self) -> tuple[int, ...]:
        return tuple(i for i, d in enumerate(self.shape) if d is None)

    def llvm_types(self) -> list[ir.Type]:
        return [POINTER] + [I64] * len(self.dynamic_dims)

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"memref<{dims + 'x' if dims else ''}{self.element.name}>"


@dataclass(frozen=True)
class ScalarArg:
    """A scalar parameter, passed by value."""

    element: Element

    def llvm_types(self) -> list[ir.Type]:
        return [self.element.llvm]

    def describe(self) -> str:
        return self.element.name


ArgSpec = MemrefArg | ScalarArg


@dataclass(frozen=True)
class KernelSignature:
    """Parameters and (at most one scalar) result of a kernel, in ABI terms."""

    args: tuple[ArgSpec, ...]
    results: tuple[Element, ...]

    def llvm_function_type(self) -> ir.FunctionType:
        params = [t for arg in self.args for t in arg.llvm_types()]
        return ir.FunctionType(self.llvm_result_type(), params)

    def llvm_result_type(self) -> ir.Type:
        if not self.results:
            return ir.VoidType()
        if len(self.results) == 1:
            return self.results[0].llvm
        return ir.LiteralStructType([r.llvm for r in self.results])


class SignatureError(ValueError):
    """A type with no place in the calling convention (caller adds the op context)."""


def arg_spec_of(attr: Attribute) -> ArgSpec:
    """The ABI description of one argument type; raises SignatureError if unsupported."""
    if isinstance(attr, MemRefType):
        element = element_of(attr.element_type)
        if element is None:
            raise SignatureError(f"element type {attr.element_type} is not supported")
        if not isinstance(attr.layout, NoneAttr) and not _is_identity_layout(attr.layout, attr.get_num_dims()):
            raise SignatureError(f"only identity (row-major contiguous) layouts are supported, got {attr}")
        return MemrefArg(memref_shape(attr), element)
    element = element_of(attr)
    if element is None:
        raise SignatureError(f"type {attr} is not supported")
    return ScalarArg(element)


def memref_shape(attr: MemRefType[Attribute]) -> Shape:
    """The shape of a memref type, ``None`` for dynamic dims."""
    return tuple(None if d == DYNAMIC_INDEX else d for d in attr.get_shape())


def _is_identity_layout(layout: Attribute, rank: int) -> bool:
    from xdsl.dialects.builtin import AffineMapAttr
    from xdsl.ir.affine import AffineMap

    return isinstance(layout, AffineMapAttr) and layout.data == AffineMap.identity(rank)


def signature_of(func: FuncOp) -> KernelSignature:
    """The ABI signature of a ``func.func``; raises SignatureError for memref results."""
    args = tuple(arg_spec_of(t) for t in func.function_type.inputs.data)
    results: list[Element] = []
    for t in func.function_type.outputs.data:
        spec = arg_spec_of(t)
        if not isinstance(spec, ScalarArg):
            raise SignatureError(f"memref results are not supported (destination-passing style): {t}")
        results.append(spec.element)
    return KernelSignature(args, tuple(results))


class CompiledKernel:
    """A JIT-compiled function called with numpy arrays and Python scalars.

    Checks every argument against the signature (dtype, rank, static dims, C-contiguity),
    then calls through ctypes, which releases the GIL for the duration of the call.
    ``keepalive`` holds whatever keeps the machine code mapped (the compiled module).
    """

    def __init__(self, name: str, signature: KernelSignature, address: int, keepalive: object) -> None:
        self.name = name
        self.signature = signature
        self._keepalive = keepalive
        argtypes: list[_CTypes] = []
        for arg in signature.args:
            if isinstance(arg, MemrefArg):
                argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * len(arg.dynamic_dims)
            else:
                argtypes.append(_scalar_ctype(name, arg.element))
        restype = _scalar_ctype(name, signature.results[0]) if len(signature.results) == 1 else None
        if len(signature.results) > 1:
            raise KernelArgumentError(f"kernel @{name}: more than one result cannot be called from Python")
        self._function = ctypes.CFUNCTYPE(restype, *argtypes)(address)
        self.function = self._function
        """The raw ctypes function: flat arguments (pointers, then dynamic sizes), no checks.
        For callers that validated the arguments already (the runtime's guards)."""
        self.address = address

    def __call__(self, *values: object) -> Any:
        if len(values) != len(self.signature.args):
            raise KernelArgumentError(
                f"kernel @{self.name} takes {len(self.signature.args)} arguments, got {len(values)}"
            )
        flat: list[object] = []
        for position, (spec, value) in enumerate(zip(self.signature.args, values, strict=True)):
            if isinstance(spec, MemrefArg):
                array = self._check_array(position, spec, value)
                flat.append(array.ctypes.data)
                flat.extend(array.shape[d] for d in spec.dynamic_dims)
            else:
                flat.append(value)
        return self._function(*flat)

    def _check_array(self, position: int, spec: MemrefArg, value: object) -> np.ndarray[Any, Any]:
        where = f"kernel @{self.name} argument {position} ({spec.describe()})"
        if not isinstance(value, np.ndarray):
            raise KernelArgumentError(f"{where}: expected a numpy array, got {type(value).__name__}")
        if not _dtype_matches(spec.element, value.dtype):
            raise KernelArgumentError(f"{where}: expected dtype {spec.element.dtype}, got {value.dtype}")
        if value.ndim != len(spec.shape):
            raise KernelArgumentError(f"{where}: expected rank {len(spec.shape)}, got shape {value.shape}")
        for dim, (want, got) in enumerate(zip(spec.shape, value.shape, strict=True)):
            if want is not None and want != got:
                raise KernelArgumentError(f"{where}: dim {dim} must be {want}, got shape {value.shape}")
        if not value.flags.c_contiguous:
            raise KernelArgumentError(f"{where}: array must be C-contiguous (use np.ascontiguousarray)")
        return value

    def __repr__(self) -> str:
        args = ", ".join(a.describe() for a in self.signature.args)
        return f"CompiledKernel(@{self.name}({args}))"


def _dtype_matches(element: Element, dtype: np.dtype[Any]) -> bool:
    """Signless MLIR integers accept numpy's signed and unsigned dtypes of the same width."""
    if dtype == element.dtype:
        return True
    return element.dtype.kind == "i" and dtype.kind == "u" and dtype.itemsize == element.dtype.itemsize


def _scalar_ctype(name: str, element: Element) -> _CTypes:
    if element.ctype is None:
        raise KernelArgumentError(f"kernel @{name}: {element.name} scalars cannot be passed from Python")
    return element.ctype


def flatten_args(signature: KernelSignature, hints: Sequence[str | None] = ()) -> list[str]:
    """Names of the LLVM parameters, for readable IR: ``a``, ``a_d0`` ... (``argN`` if unnamed)."""
    flat: list[str] = []
    for index, arg in enumerate(signature.args):
        hint = hints[index] if index < len(hints) else None
        group = _parameter_names(hint, arg) if hint else []
        if not group or any(name in flat for name in group):
            group = _parameter_names(f"arg{index}", arg)
        flat.extend(group)
    return flat


def _parameter_names(base: str, arg: ArgSpec) -> list[str]:
    sizes = [f"{base}_d{d}" for d in arg.dynamic_dims] if isinstance(arg, MemrefArg) else []
    return [base, *sizes]
