"""``FunctionBuilder``: the one way dynir front ends build a ``func.func @main`` of ``nn`` ops.

The ONNX importer and the builder API (``dynir.builder.Graph``) both append ops through
it, so they produce the same IR: arguments carry their dim names (``nn.dim_names``),
every op is built with ``XOp.make`` (shape inference), ops whose operands are all
constants are folded into ``nn.constant`` when small, and ``finish`` drops dead pure
ops before returning the module.

```mlir
func.func @main(%x: tensor<?x4xf32> {nn.dim_names = ["batch", ""]}) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %y = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  func.return %y : tensor<?x4xf32>
}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, LocationAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, Region, SSAValue
from xdsl.traits import Pure

from dynir.dialects.nn.base import DIM_NAMES, VALUE_NAME, NNOp, strs_attr
from dynir.builder.symbolic import (
    MAX_SYMBOLIC_ELEMENTS,
    DimExpr,
    DimSymbol,
    SymbolicInts,
    as_symbolic,
    evaluate,
    is_concrete,
)
from dynir.dialects.nn.constant import ConstantOp
from dynir.ir.types import element_of, format_shape, is_static, num_elements, numpy_dtype, shape_of

FOLD_LIMIT = 1 << 20
"""Ops are folded at build time only when each result has at most this many elements."""

SHAPE_ONLY_OPS = frozenset({"nn.shape", "nn.size"})
"""Ops whose results depend only on their operands' shapes: folded when the dims they
read are static, whatever the operands' values."""

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_$.-]")


def value_name(name: str) -> str | None:
    """``name`` made into a valid SSA name hint (``/conv/Conv_output_0`` -> ``conv_Conv_output_0``)."""
    cleaned = _INVALID_NAME_CHARS.sub("_", name).strip("_")
    if not cleaned:
        return None
    return cleaned if re.match(r"[A-Za-z_$.-]", cleaned[0]) else "v" + cleaned


class FunctionBuilder:
    """Appends ``nn`` ops to the body of one function (see module doc)."""

    def __init__(self, name: str = "main", *, fold_limit: int = FOLD_LIMIT) -> None:
        self.name = name
        self.fold_limit = fold_limit
        self.block = Block()
        self._dim_names: list[tuple[str, ...]] = []
        self._input_names: list[str | None] = []
        self._symbolic: dict[SSAValue, SymbolicInts] = {}

    # inputs and constants -------------------------------------------------------------
    def add_input(
        self, t: TensorType, *, name: str | None = None, dim_names: Sequence[str] | None = None
    ) -> SSAValue:
        """A new function argument of type ``t``; ``dim_names`` names its dims ("" = unnamed)."""
        rank = len(shape_of(t))
        names = tuple(dim_names) if dim_names is not None else ("",) * rank
        if len(names) != rank:
            raise ValueError(f"{len(names)} dim names given for a rank-{rank} input")
        arg = self.block.insert_arg(t, len(self.block.args))
        if name is not None:
            arg.name_hint = value_name(name)
        self._dim_names.append(names)
        self._input_names.append(name)
        return arg

    def constant(self, array: np.ndarray, name: str = "cst", location: LocationAttr | None = None) -> SSAValue:
        """An ``nn.constant`` holding ``array`` (a ``dense_resource`` blob named ``name`` when large)."""
        op = ConstantOp.from_array(np.asarray(array), name)
        self._append(op, location)
        op.output.name_hint = value_name(name)
        return op.output

    @staticmethod
    def known_value(value: SSAValue) -> np.ndarray | None:
        """The array of ``value`` when an ``nn.constant`` defines it, else None."""
        if isinstance(value, OpResult) and isinstance(value.op, ConstantOp):
            return value.op.array()
        return None

    def symbolic_value(self, value: SSAValue) -> SymbolicInts | None:
        """``value``'s elements in terms of dims (``dynir.builder.symbolic``): for a
        constant its ints, for a small integer tensor computed from shapes its ``DimExpr``s,
        else None."""
        known = self.known_value(value)
        if known is not None:
            return as_symbolic(known) if known.dtype.kind in "iu" and known.size <= MAX_SYMBOLIC_ELEMENTS else None
        return self._symbolic.get(value)

    def dim_exprs(self, value: SSAValue) -> list[int | DimExpr]:
        """``value``'s dims: ints where static, else its dims' symbols (named by
        ``nn.dim_names`` for a function argument that names them)."""
        names: tuple[str, ...] = ()
        if isinstance(value, BlockArgument) and value.owner is self.block:
            names = self._dim_names[value.index]
        dims: list[int | DimExpr] = []
        for axis, d in enumerate(shape_of(value.type)):
            if d is not None:
                dims.append(d)
            elif axis < len(names) and names[axis]:
                dims.append(DimExpr.symbol(DimSymbol(("name", names[axis]), names[axis])))
            else:
                label = f"{value.name_hint or 'v'}.dim{axis}"
                dims.append(DimExpr.symbol(DimSymbol(("dim", value, axis), label)))
        return dims

    # ops --------------------------------------------------------------------------------
    def emit(
        self,
        op_class: type[NNOp],
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute] | None = None,
        *,
        num_results: int = 1,
        location: LocationAttr | None = None,
        name: str = "folded",
    ) -> list[SSAValue]:
        """Append ``op_class.make(operands, props)``; fold it when every operand is constant.

        Raises ``ValueError`` when shape inference rejects the operands or properties, or
        when folding evaluates the op and it fails on these constants. Folded results are
        constants named ``name``.
        """
        op = op_class.make(operands, props, num_results=num_results)
        folded = self._fold(op, name, location)
        if folded is not None:
            return folded
        symbolic = self._evaluate_symbolic(op)
        if symbolic is not None and is_concrete(symbolic):  # e.g. a static dim of a dynamic shape
            op.drop_all_references()
            array = _as_result(op, 0, op.results[0].type, symbolic.astype(np.int64))
            return [self.constant(array, name, location)]
        self._append(op, location)
        if symbolic is not None:
            self._symbolic[op.results[0]] = symbolic
        return list(op.results)

    def _evaluate_symbolic(self, op: NNOp) -> SymbolicInts | None:
        operands = []
        for v in op.operands:
            known = self.known_value(v)
            operands.append(known if known is not None else self._symbolic.get(v))
        if op.name != "nn.shape" and not any(v in self._symbolic for v in op.operands):
            return None
        results = evaluate(op, operands, self.dim_exprs)
        return None if results is None else results[0]

    def _fold(self, op: NNOp, name: str, location: LocationAttr | None) -> list[SSAValue] | None:
        if not type(op).FOLDABLE:
            return None
        shape_only = op.name in SHAPE_ONLY_OPS
        arrays = [_shape_stand_in(op, v) if shape_only else self.known_value(v) for v in op.operands]
        if any(a is None for a in arrays) or not self._small_results(op):
            return None
        try:
            results = [np.asarray(r) for r in op.reference(*arrays)]
        except (MemoryError, NotImplementedError):  # too large, or no numpy semantics: keep the op
            results = None
        except Exception as e:  # the op's numpy semantics rejected these constants
            op.drop_all_references()
            raise ValueError(f"cannot evaluate on its constant inputs: {e}") from e
        if results is None or any(r.size > self.fold_limit for r in results):
            return None  # dynamic result shape that turned out large: keep the op
        op.drop_all_references()
        values: list[SSAValue] = []
        for i, (result, array) in enumerate(zip(op.results, results, strict=True)):
            values.append(self.constant(_as_result(op, i, result.type, array), name, location))
        return values

    def _small_results(self, op: Operation) -> bool:
        for result in op.results:
            shape = shape_of(result.type)
            if is_static(shape) and (num_elements(shape) or 0) > self.fold_limit:
                return False
        return True

    def _append(self, op: Operation, location: LocationAttr | None) -> None:
        if location is not None:
            op.location = location
        self.block.add_op(op)

    # finishing ----------------------------------------------------------------------------
    def finish(
        self,
        outputs: Sequence[SSAValue],
        location: LocationAttr | None = None,
        output_names: Sequence[str | None] | None = None,
    ) -> ModuleOp:
        """Return ``outputs``, drop dead pure ops and wrap the function in a module.

        Input and output names are kept as ``nn.name`` argument/result attributes and dim
        names as ``nn.dim_names``. The builder is spent afterwards."""
        self.block.add_op(func.ReturnOp(*outputs))
        remove_dead_ops(self.block)
        inputs = [arg.type for arg in self.block.args]
        arg_attrs = None
        if any(any(n for n in names) for names in self._dim_names) or any(self._input_names):
            arg_attrs = ArrayAttr(
                [
                    DictionaryAttr(_value_attrs(name, names))
                    for name, names in zip(self._input_names, self._dim_names, strict=True)
                ]
            )
        res_attrs = None
        if output_names is not None and any(output_names):
            res_attrs = ArrayAttr([DictionaryAttr(_value_attrs(n, ())) for n in output_names])
        function = func.FuncOp(
            self.name,
            (inputs, [v.type for v in outputs]),
            Region(self.block),
            arg_attrs=arg_attrs,
            res_attrs=res_attrs,
        )
        if location is not None:
            function.location = location
        return ModuleOp([function])


def _value_attrs(name: str | None, dim_names: Sequence[str]) -> dict[str, Attribute]:
    attrs: dict[str, Attribute] = {}
    if name:
        attrs[VALUE_NAME] = StringAttr(name)
    if any(dim_names):
        attrs[DIM_NAMES] = strs_attr(dim_names)
    return attrs


def remove_dead_ops(block: Block) -> None:
    """Erase pure ops whose results are unused, last to first."""
    op = block.last_op
    while op is not None:
        previous = op.prev_op
        if op.has_trait(Pure) and all(r.first_use is None for r in op.results):
            block.erase_op(op)
        op = previous


def _shape_stand_in(op: Operation, value: SSAValue) -> np.ndarray | None:
    """A zero-memory array with the shape of ``value`` (dims ``op`` does not read may be
    dynamic: they stand in as 1), or None when a dim it reads is dynamic."""
    shape = shape_of(value.type)
    read = range(len(shape))
    bounds = getattr(op, "bounds", None)  # nn.shape reads only dims [start, end)
    if callable(bounds):
        start, end = bounds(len(shape))
        read = range(start, end)
    if any(shape[i] is None for i in read):
        return None
    dtype = numpy_dtype(element_of(value.type))
    return np.broadcast_to(np.zeros((), dtype), tuple(1 if d is None else d for d in shape))


def _as_result(op: Operation, index: int, declared: Attribute, array: np.ndarray) -> np.ndarray:
    """``array`` checked against the inferred type of result ``index`` of ``op``."""
    assert isinstance(declared, TensorType)
    dtype = numpy_dtype(declared.element_type)
    shape = shape_of(declared)
    got = tuple(array.shape)
    if len(got) != len(shape) or any(d is not None and d != g for d, g in zip(shape, got)):
        raise RuntimeError(  # internal: the op's reference disagrees with its shape inference
            f"'{op.name}' reference gave shape {format_shape(got)} for result #{index}, "
            f"but its shape inference gives {format_shape(shape)}"
        )
    return array.astype(dtype, copy=False)
