"""``Preprocess``: raw input -> model input, as ``nn`` ops in front of the graph.

A vision model usually wants float NCHW, normalised; a camera or a decoder gives uint8
NHWC at some size. ``Preprocess`` describes the raw input, and ``apply`` changes the
function's input to that raw type and inserts the steps that turn it into what the model
expects, so later passes can fuse them into the first layer::

    module = dynir.import_onnx("resnet.onnx", preprocess=Preprocess(
        layout="NHWC", dtype="uint8", scale=1 / 255,
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], resize_to=(224, 224)))

```mlir
func.func @main(%input: tensor<1x?x?x3xui8>) -> ... {
  %0 = nn.transpose %input {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x?x?x3xui8>) -> tensor<1x3x?x?xui8>
  %1 = nn.cast %0 {to = f32} : (tensor<1x3x?x?xui8>) -> tensor<1x3x?x?xf32>
  %2 = nn.resize %1 {mode = "linear", sizes = array<i64: 1, 3, 224, 224>} : ... -> tensor<1x3x224x224xf32>
  %3 = nn.mul %2, %scale ...    %4 = nn.sub %3, %mean ...    %5 = nn.div %4, %std ...
  ...the model, reading %5...
}
```

The steps, in order: transpose NHWC -> NCHW (on the narrow raw type, before widening),
cast to the model's element type, resize (needs static batch and channel dims), scale,
subtract ``mean``, divide by ``std`` (per channel). The ops are looked up by name in the
``nn`` dialect (``dynir.builder.ops``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FunctionType, ModuleOp, NameLoc, NoneAttr, StringAttr, TensorType
from xdsl.ir import Block, BlockArgument, Operation, SSAValue

from dynir.builder.function import value_name
from dynir.builder.ops import PropValue, nn_op_class, props_attrs
from dynir.diagnostics import DynirError
from dynir.dialects.nn.base import DIM_NAMES, strs_attr
from dynir.dialects.nn.constant import ConstantOp
from dynir.ir.types import Shape, element_type, is_float, numpy_dtype, shape_of, tensor_type

LAYOUTS = ("NHWC", "NCHW")
NHWC_TO_NCHW = (0, 3, 1, 2)


class PreprocessError(DynirError):
    """Preprocessing that does not fit the model (or is ill-formed)."""


@dataclass(frozen=True)
class Preprocess:
    """The raw input (``layout``, ``dtype``, size) and how to normalise it (see module doc)."""

    layout: str = "NHWC"
    dtype: str = "uint8"
    scale: float = 1 / 255
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    resize_to: tuple[int, int] | None = None
    resize_mode: str = "linear"

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, tuple(float(v) for v in values))
        if self.resize_to is not None:
            object.__setattr__(self, "resize_to", tuple(int(d) for d in self.resize_to))
        if self.layout not in LAYOUTS:
            raise PreprocessError(f"preprocess layout '{self.layout}' is not one of {', '.join(LAYOUTS)}")
        try:
            element_type(np.dtype(self.dtype))
        except (TypeError, ValueError):
            raise PreprocessError(f"preprocess dtype '{self.dtype}' is not a tensor element type") from None
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) == 0:
                raise PreprocessError(f"preprocess {name} is empty")
        if self.std is not None and any(s == 0.0 for s in self.std):
            raise PreprocessError(f"preprocess std {list(self.std)} has a zero")
        if self.resize_to is not None and (len(self.resize_to) != 2 or any(d < 1 for d in self.resize_to)):
            raise PreprocessError(f"preprocess resize_to {self.resize_to} must be two positive sizes (H, W)")

    # ------------------------------------------------------------------------------------------
    def apply(self, module: ModuleOp, input_name: str | None = None) -> ModuleOp:
        """Change input ``input_name`` (default: the first) of ``@main`` to the raw input and
        insert the preprocessing steps in front of its uses. Returns ``module``."""
        function = _main_function(module)
        block = function.body.block
        arg = _select_input(block, input_name)
        model_type = arg.type
        assert isinstance(model_type, TensorType)
        n, c, h, w = self._model_dims(model_type)
        raw_shape = self._raw_shape(n, c, h, w)
        raw = block.insert_arg(tensor_type(raw_shape, self.dtype), arg.index)
        raw.name_hint = arg.name_hint
        steps = _Steps(block, NameLoc(StringAttr("preprocess"), NoneAttr()))
        value = self._steps(steps, raw, model_type, (n, c, h, w))
        arg.replace_all_uses_with(value)
        block.erase_arg(arg)
        _update_signature(function, raw.index, self._raw_dim_names(function, raw.index))
        return module

    def _model_dims(self, t: TensorType) -> tuple[int | None, int | None, int | None, int | None]:
        shape = shape_of(t)
        if len(shape) != 4 or not is_float(t.element_type):
            raise PreprocessError(f"preprocess needs a float NCHW model input, got {t}")
        n, c, h, w = shape
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) != 1 and len(values) != c:
                raise PreprocessError(f"preprocess {name} has {len(values)} values for {c or '?'} channels ({t})")
        if self.resize_to is not None:
            if n is None or c is None:
                raise PreprocessError(f"preprocess resize_to needs static batch and channel dims, got {t}")
            for got, want in zip((h, w), self.resize_to):
                if got is not None and got != want:
                    raise PreprocessError(f"preprocess resize_to {tuple(self.resize_to)} does not match the model input {t}")
        return n, c, h, w

    def _raw_shape(self, n: int | None, c: int | None, h: int | None, w: int | None) -> Shape:
        if self.resize_to is not None:
            h, w = None, None  # any size: resized to the model's
        return (n, h, w, c) if self.layout == "NHWC" else (n, c, h, w)

    def _raw_dim_names(self, function: func.FuncOp, index: int) -> list[str]:
        names = _dim_names(function, index)
        if self.resize_to is not None:
            names[2:4] = ["", ""]
        if self.layout == "NHWC":
            names = [names[0], names[2], names[3], names[1]]
        return names

    def _steps(self, steps: _Steps, value: SSAValue, model_type: TensorType, dims: tuple[int | None, ...]) -> SSAValue:
        element = model_type.element_type
        dtype = numpy_dtype(element)
        if self.layout == "NHWC":
            value = steps.op("transpose", [value], perm=list(NHWC_TO_NCHW))
        if np.dtype(self.dtype) != dtype:
            value = steps.op("cast", [value], to=element)
        if self.resize_to is not None:
            sizes = [int(dims[0] or 0), int(dims[1] or 0), *self.resize_to]  # static: checked in _model_dims
            value = steps.op("resize", [value], mode=self.resize_mode, sizes=sizes)
        if self.scale != 1.0:
            value = steps.op("mul", [value, steps.constant(np.array(self.scale, dtype), "preprocess_scale")])
        if self.mean is not None:
            value = steps.op("sub", [value, steps.constant(_per_channel(self.mean, dtype), "preprocess_mean")])
        if self.std is not None:
            value = steps.op("div", [value, steps.constant(_per_channel(self.std, dtype), "preprocess_std")])
        return value


class _Steps:
    """Inserts ops at the start of ``block``, in order."""

    def __init__(self, block: Block, location: NameLoc) -> None:
        self.block = block
        self.location = location
        self.anchor = block.first_op

    def _insert(self, op: Operation) -> None:
        op.location = self.location
        if self.anchor is None:
            self.block.add_op(op)
        else:
            self.block.insert_op_before(op, self.anchor)

    def op(self, name: str, operands: Sequence[SSAValue], **props: PropValue) -> SSAValue:
        try:
            op_class = nn_op_class(name)
        except LookupError as e:
            raise PreprocessError(f"preprocess: {e}") from None
        try:
            op = op_class.make(operands, props_attrs(props))
        except ValueError as e:
            raise PreprocessError(f"preprocess step {op_class.name}: {e}") from None
        self._insert(op)
        return op.results[0]

    def constant(self, array: np.ndarray, name: str) -> SSAValue:
        op = ConstantOp.from_array(array, name)
        self._insert(op)
        op.output.name_hint = value_name(name)
        return op.output


def _per_channel(values: Sequence[float], dtype: np.dtype) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(-1, 1, 1)


def _main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main" and op.body.blocks:
            return op
    raise PreprocessError("preprocess needs a module with func.func @main")


def _select_input(block: Block, input_name: str | None) -> BlockArgument:
    if not block.args:
        raise PreprocessError("preprocess needs @main to have an input")
    if input_name is None:
        return block.args[0]
    wanted = value_name(input_name)
    for arg in block.args:
        if arg.name_hint == wanted:
            return arg
    known = ", ".join(a.name_hint or f"#{a.index}" for a in block.args)
    raise PreprocessError(f"preprocess input '{input_name}' is not an input of @main (inputs: {known})")


def _dim_names(function: func.FuncOp, index: int) -> list[str]:
    if function.arg_attrs is None:
        return ["", "", "", ""]
    attrs: Mapping[str, object] = function.arg_attrs.data[index].data
    names = attrs.get(DIM_NAMES)
    if not isinstance(names, ArrayAttr):
        return ["", "", "", ""]
    return [n.data if isinstance(n, StringAttr) else "" for n in names.data]


def _update_signature(function: func.FuncOp, index: int, dim_names: list[str]) -> None:
    block = function.body.block
    function.function_type = FunctionType.from_lists([a.type for a in block.args], function.function_type.outputs.data)
    if function.arg_attrs is None and not any(dim_names):
        return
    attrs = list(function.arg_attrs.data) if function.arg_attrs is not None else [DictionaryAttr({})] * len(block.args)
    entry = dict(attrs[index].data)
    entry.pop(DIM_NAMES, None)
    if any(dim_names):
        entry[DIM_NAMES] = strs_attr(dim_names)
    attrs[index] = DictionaryAttr(entry)
    function.arg_attrs = ArrayAttr(attrs)


__all__ = ["Preprocess", "PreprocessError"]
