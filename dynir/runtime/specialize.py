"""Shape specialisation: which dims of a call a compiled kernel fixes, and which it
leaves symbolic (sizes passed at run time).

A *specialisation* (``Spec``) is one refined shape per model input: an ``int`` where the
kernel is compiled for that exact size, ``None`` where it reads the size at run time.
The symbols of a model are its dynamic dims, tied by name: every dim called ``seq``
(ONNX ``dim_param``, or a name given in ``dynamic=``) is one symbol with one size per
call. ``SpecPolicy`` picks the ``Spec`` of a call that no compiled specialisation covers:

- ``dynamic=None`` (default): exact sizes first; a symbol that takes a second distinct
  value becomes symbolic from then on; symbols that never change stay static;
- ``dynamic=False``: always exact sizes;
- ``dynamic=True``: every symbol symbolic from the start;
- ``{"input_ids": {1: ("seq", 1, 512)}}``: the named dims are symbolic from the start,
  with optional inclusive bounds (``"seq"``, ``("seq",)``, ``("seq", lo, hi)``, ``None``
  in a bound means unbounded); other symbols follow the default policy.

``refine_types(module, arg_types)`` rebuilds ``@main`` for a ``Spec``: new argument
types, shape inference re-run op by op, so the lowering sees every size the spec fixes::

    func.func @main(%x: tensor<?x?x64xf32>)        # the model
    func.func @main(%x: tensor<1x?x64xf32>)        # Spec ((1, None, 64),)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FunctionType, ModuleOp, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue

from dynir.diagnostics import DynirError
from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.ir.types import Shape, format_shape, tensor_type
from dynir.runtime.ledger import GuardFailure

Spec = tuple[Shape, ...]
"""One refined shape per model input (``None``: symbolic)."""

DimDeclaration = str | tuple[str] | tuple[str, int | None, int | None] | None
DynamicOption = bool | None | Mapping[str, Mapping[int, DimDeclaration]]
PolicyMode = Literal["auto", "exact", "symbolic"]


class InputError(DynirError):
    """A call whose inputs do not fit the model."""


@dataclass(frozen=True)
class DimRef:
    """Dim ``axis`` of the model input at ``position`` (named ``input``)."""

    input: str
    position: int
    axis: int

    def describe(self) -> str:
        return f"input '{self.input}' dim {self.axis}"


@dataclass
class Symbol:
    """A dynamic size shared by ``dims`` (all equal in every call)."""

    name: str
    dims: list[DimRef]
    low: int | None = None
    high: int | None = None
    declared: bool = False

    def describe(self) -> str:
        return f"'{self.name}' ({', '.join(d.describe() for d in self.dims)})"


@dataclass(frozen=True)
class ModelInput:
    """What the guards know of one model input."""

    name: str
    dtype: np.dtype
    shape: Shape
    dim_names: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.name}: {format_shape(self.shape)} {self.dtype}"


@dataclass
class SymbolTable:
    """The symbols of a model's inputs and which symbol each dynamic dim belongs to."""

    inputs: list[ModelInput]
    symbols: list[Symbol]
    dim_symbol: dict[tuple[int, int], int] = field(default_factory=dict[tuple[int, int], int])

    def values(self, shapes: Sequence[tuple[int, ...]]) -> list[int]:
        """Each symbol's size in a call (shapes already checked for rank and static dims);
        raises ``InputError`` when tied dims differ or a size is out of its bounds."""
        values: list[int] = []
        for symbol in self.symbols:
            first = symbol.dims[0]
            value = shapes[first.position][first.axis]
            for other in symbol.dims[1:]:
                got = shapes[other.position][other.axis]
                if got != value:
                    raise InputError(
                        f"{first.describe()} and {other.describe()} are both '{symbol.name}' "
                        f"but have sizes {value} and {got}"
                    )
            if (symbol.low is not None and value < symbol.low) or (symbol.high is not None and value > symbol.high):
                raise InputError(
                    f"{first.describe()} ('{symbol.name}') is {value}, outside the declared bounds "
                    f"[{_bound(symbol.low)}, {_bound(symbol.high)}]"
                )
            values.append(value)
        return values

    def spec(self, values: Sequence[int], symbolic: Sequence[bool]) -> Spec:
        """The refined input shapes when symbol ``i`` is ``values[i]``, or ``None`` where
        ``symbolic[i]``."""
        shapes: list[Shape] = []
        for position, model_input in enumerate(self.inputs):
            dims: list[int | None] = []
            for axis, dim in enumerate(model_input.shape):
                if dim is not None:
                    dims.append(dim)
                    continue
                index = self.dim_symbol[(position, axis)]
                dims.append(None if symbolic[index] else values[index])
            shapes.append(tuple(dims))
        return tuple(shapes)

    def describe_spec(self, spec: Spec) -> str:
        """``hidden: 1x?x64 float32, mask: 1x1x1x? float32``."""
        return ", ".join(
            f"{i.name}: {format_shape(shape) or 'scalar'} {i.dtype}" for i, shape in zip(self.inputs, spec)
        )

    def failures(self, old: Spec, shapes: Sequence[tuple[int, ...]]) -> list[GuardFailure]:
        """The guards of specialisation ``old`` that a call of ``shapes`` fails."""
        found: list[GuardFailure] = []
        for position, (want, got) in enumerate(zip(old, shapes)):
            for axis, (w, g) in enumerate(zip(want, got)):
                if w is not None and w != g:
                    index = self.dim_symbol.get((position, axis))
                    name = self.symbols[index].name if index is not None else ""
                    found.append(GuardFailure(self.inputs[position].name, axis, name, w, g))
        return found


def _bound(value: int | None) -> str:
    return "-inf" if value is None else str(value)


def covers(spec: Spec, shapes: Sequence[tuple[int, ...]]) -> bool:
    """Whether a kernel compiled for ``spec`` runs a call of ``shapes``."""
    return all(w is None or w == g for want, got in zip(spec, shapes) for w, g in zip(want, got))


def static_dims(spec: Spec) -> int:
    return sum(d is not None for shape in spec for d in shape)


def build_symbols(inputs: Sequence[ModelInput], dynamic: DynamicOption) -> SymbolTable:
    """Group the dynamic dims of ``inputs`` into symbols: by model dim name, then by the
    names of ``dynamic`` (a mapping), whose bounds the symbols take."""
    declared = _declarations(inputs, dynamic)
    parent: dict[tuple[int, int], tuple[int, int]] = {}
    by_name: dict[str, tuple[int, int]] = {}

    def find(key: tuple[int, int]) -> tuple[int, int]:
        while parent[key] != key:
            key = parent[key]
        return key

    order: list[tuple[int, int]] = []
    for position, model_input in enumerate(inputs):
        for axis, dim in enumerate(model_input.shape):
            if dim is not None:
                continue
            key = (position, axis)
            parent[key] = key
            order.append(key)
            names = [n for n in (model_input.dim_names[axis] if axis < len(model_input.dim_names) else "",
                                 declared.get(key, ("", None, None))[0]) if n]
            for name in names:
                if name in by_name:
                    parent[find(key)] = find(by_name[name])
                else:
                    by_name[name] = key
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for key in order:
        groups.setdefault(find(key), []).append(key)
    table = SymbolTable(list(inputs), [])
    for members in groups.values():
        table.symbols.append(_symbol(inputs, members, declared))
        for key in members:
            table.dim_symbol[key] = len(table.symbols) - 1
    return table


def _symbol(
    inputs: Sequence[ModelInput],
    members: list[tuple[int, int]],
    declared: Mapping[tuple[int, int], tuple[str, int | None, int | None]],
) -> Symbol:
    dims = [DimRef(inputs[p].name, p, a) for p, a in members]
    names = [declared[k][0] for k in members if k in declared and declared[k][0]]
    names += [inputs[p].dim_names[a] for p, a in members if a < len(inputs[p].dim_names) and inputs[p].dim_names[a]]
    name = names[0] if names else f"{dims[0].input}[{dims[0].axis}]"
    symbol = Symbol(name, dims, declared=any(k in declared for k in members))
    for key in members:
        if key in declared:
            _, low, high = declared[key]
            symbol.low = low if symbol.low is None or (low is not None and low > symbol.low) else symbol.low
            symbol.high = high if symbol.high is None or (high is not None and high < symbol.high) else symbol.high
    return symbol


def _declarations(
    inputs: Sequence[ModelInput], dynamic: DynamicOption
) -> dict[tuple[int, int], tuple[str, int | None, int | None]]:
    if dynamic is None or isinstance(dynamic, bool):
        return {}
    if not isinstance(dynamic, Mapping):
        raise DynirError(f"dynamic= must be None, True, False or a mapping of input dims, got {type(dynamic).__name__}")
    positions = {i.name: p for p, i in enumerate(inputs)}
    found: dict[tuple[int, int], tuple[str, int | None, int | None]] = {}
    for input_name, dims in dynamic.items():
        if input_name not in positions:
            raise DynirError(
                f"dynamic=: the model has no input '{input_name}' (inputs: {', '.join(positions)})"
            )
        position = positions[input_name]
        shape = inputs[position].shape
        for axis, declaration in dims.items():
            where = f"dynamic=: input '{input_name}' dim {axis}"
            if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
                raise DynirError(f"{where} is out of range for rank {len(shape)}")
            axis %= len(shape)
            if shape[axis] is not None:
                raise DynirError(f"{where} is static ({shape[axis]}) in the model and cannot be symbolic")
            found[(position, axis)] = _parse_declaration(where, declaration)
    return found


def _parse_declaration(where: str, declaration: DimDeclaration) -> tuple[str, int | None, int | None]:
    if declaration is None:
        return ("", None, None)
    if isinstance(declaration, str):
        return (declaration, None, None)
    if isinstance(declaration, tuple) and len(declaration) == 1 and isinstance(declaration[0], str):
        return (declaration[0], None, None)
    if isinstance(declaration, tuple) and len(declaration) == 3 and isinstance(declaration[0], str):
        name, low, high = declaration
        if all(b is None or (isinstance(b, int) and b >= 0) for b in (low, high)):
            if low is None or high is None or low <= high:
                return (name, low, high)
    raise DynirError(f"{where}: expected a name, (name,) or (name, min, max) with 0 <= min <= max, got {declaration!r}")


class SpecPolicy:
    """Chooses the specialisation of a call no compiled one covers (see module doc)."""

    def __init__(self, symbols: SymbolTable, dynamic: DynamicOption) -> None:
        self.symbols = symbols
        self.mode: PolicyMode = "exact" if dynamic is False else "symbolic" if dynamic is True else "auto"
        count = len(symbols.symbols)
        self.symbolic = [self.mode == "symbolic" or s.declared for s in symbols.symbols]
        self.first_values: list[int | None] = [None] * count

    def choose(self, values: Sequence[int]) -> Spec:
        """The spec to compile for a call whose symbols are ``values``."""
        if self.mode == "exact":
            return self.symbols.spec(values, [False] * len(values))
        for index, value in enumerate(values):
            first = self.first_values[index]
            if first is None:
                self.first_values[index] = value
            elif first != value and self.mode == "auto":
                self.symbolic[index] = True
        return self.symbols.spec(values, self.symbolic)

    def generic(self) -> Spec:
        """The most generic spec: every symbol symbolic."""
        self.symbolic = [True] * len(self.symbolic)
        return self.symbols.spec([0] * len(self.symbolic), self.symbolic)


# --------------------------------------------------------------------------------------
# Refining a module's types for a specialisation.


def refine_types(module: ModuleOp, arg_types: Sequence[TensorType], function: str = "main") -> ModuleOp:
    """A copy of ``module`` whose ``@function`` takes ``arg_types`` (same ranks and element
    types, dims at least as static), with every op's result types re-inferred."""
    refined = module.clone()
    host = _function(refined, function)
    old_block = host.body.block
    if len(arg_types) != len(old_block.args):
        raise DynirError(f"@{function} takes {len(old_block.args)} arguments, got {len(arg_types)} types")
    block = Block(arg_types=list(arg_types))
    env: dict[SSAValue, SSAValue] = {}
    for old, new in zip(old_block.args, block.args):
        new.name_hint = old.name_hint
        env[old] = new
    results: list[SSAValue] = []
    for op in old_block.ops:
        if isinstance(op, func.ReturnOp):
            results = [env[v] for v in op.arguments]
            block.add_op(func.ReturnOp(*results))
            continue
        block.add_op(_refined_op(op, env))
    new_host = func.FuncOp(
        host.sym_name.data,
        FunctionType.from_lists(list(arg_types), [v.type for v in results]),
        Region(block),
        visibility=host.sym_visibility,
        arg_attrs=_copy(host.arg_attrs),
        res_attrs=_copy(host.res_attrs),
    )
    for name, value in host.attributes.items():
        new_host.attributes.setdefault(name, value)
    refined.body.block.insert_op_before(new_host, host)
    refined.body.block.erase_op(host)
    return refined


def _refined_op(op: Operation, env: dict[SSAValue, SSAValue]) -> Operation:
    new: Operation
    if isinstance(op, ConstantOp):
        new = op.clone()
    elif isinstance(op, NNOp):
        try:
            new = type(op).make([env[v] for v in op.operands], dict(op.properties), num_results=len(op.results))
        except ValueError as error:
            raise DynirError(f"'{op.name}' op: {error}") from None
        new.attributes.update(op.attributes)
    else:
        raise DynirError(f"cannot specialise through '{op.name}': only nn ops may sit in the entry function")
    new.location = op.location
    for old, result in zip(op.results, new.results):
        result.name_hint = old.name_hint
        env[old] = result
    return new


def _function(module: ModuleOp, name: str) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name and op.body.blocks:
            return op
    raise DynirError(f"no function @{name} in the module")


def _copy(attrs: ArrayAttr[DictionaryAttr] | None) -> ArrayAttr[DictionaryAttr] | None:
    return None if attrs is None else ArrayAttr(list(attrs.data))


def spec_arg_types(inputs: Sequence[ModelInput], spec: Spec) -> list[TensorType]:
    return [tensor_type(shape, i.dtype) for i, shape in zip(inputs, spec)]

