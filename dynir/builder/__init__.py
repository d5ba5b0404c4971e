"""The builder API: write a model as numpy-like Python and get the same ``nn`` IR the
ONNX importer produces.

```python
from dynir.builder import Graph
g = Graph()
x = g.input("x", (None, 64), "float32", dim_names=("batch", ""))
w = g.constant(np.random.rand(64, 32).astype(np.float32), name="w")
y = g.relu(g.matmul(x, w) + g.constant(b))
g.output(y, name="logits")
module = g.module()    # func.func @main
```

``g.<op>(*operands, **props)`` builds ``nn.<op>``, looked up in the ``nn`` dialect at
call time; props are Python values converted by ``dynir.builder.ops.prop_attr``. Shape
inference errors surface as ``ValueError("nn.<op>: ...")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from dynir.builder.function import FOLD_LIMIT, FunctionBuilder, value_name
from dynir.builder.ops import PropValue, nn_op_class, props_attrs
from dynir.ir.types import element_of, numpy_dtype, shape_of, tensor_type

class Value:
    """A tensor in a ``Graph``: supports ``+ - * / @`` and unary ``-``.

    A Python number on one side becomes a scalar constant of the tensor's dtype."""

    def __init__(self, graph: Graph, ssa: SSAValue) -> None:
        self.graph = graph
        self.ssa = ssa

    @property
    def shape(self) -> tuple[int | None, ...]:
        return shape_of(self.ssa.type)

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(element_of(self.ssa.type))

    def __repr__(self) -> str:
        return f"Value({self.ssa.type})"

    def _binary(self, op: str, other: object, reverse: bool = False) -> Value:
        rhs = self.graph.as_value(other, like=self)
        return self.graph.op1(op, rhs, self) if reverse else self.graph.op1(op, self, rhs)

    def __add__(self, other: object) -> Value:
        return self._binary("add", other)

    def __radd__(self, other: object) -> Value:
        return self._binary("add", other, reverse=True)

    def __sub__(self, other: object) -> Value:
        return self._binary("sub", other)

    def __rsub__(self, other: object) -> Value:
        return self._binary("sub", other, reverse=True)

    def __mul__(self, other: object) -> Value:
        return self._binary("mul", other)

    def __rmul__(self, other: object) -> Value:
        return self._binary("mul", other, reverse=True)

    def __truediv__(self, other: object) -> Value:
        return self._binary("div", other)

    def __rtruediv__(self, other: object) -> Value:
        return self._binary("div", other, reverse=True)

    def __matmul__(self, other: object) -> Value:
        return self._binary("matmul", other)

    def __rmatmul__(self, other: object) -> Value:
        return self._binary("matmul", other, reverse=True)

    def __neg__(self) -> Value:
        return self.graph.op1("neg", self)


class Graph:
    """Builds one ``func.func @main`` (see module doc)."""

    def __init__(self, *, fold_limit: int = FOLD_LIMIT) -> None:
        self._builder = FunctionBuilder("main", fold_limit=fold_limit)
        self._outputs: list[SSAValue] = []
        self._output_names: list[str | None] = []
        self._done = False

    def input(
        self,
        name: str,
        shape: Sequence[int | None],
        dtype: np.dtype | type | str = "float32",
        *,
        dim_names: Sequence[str] | None = None,
    ) -> Value:
        """A function argument; ``None`` dims are dynamic, ``dim_names`` ties them by name."""
        self._check_open()
        t = tensor_type(tuple(shape), dtype)
        return Value(self, self._builder.add_input(t, name=name, dim_names=dim_names))

    def constant(self, array: np.ndarray | float | int, name: str = "cst") -> Value:
        self._check_open()
        return Value(self, self._builder.constant(np.asarray(array), name))

    def as_value(self, x: object, *, like: Value | None = None) -> Value:
        """``x`` as a graph value: Values pass through, arrays and numbers become constants
        (numbers take ``like``'s dtype)."""
        if isinstance(x, Value):
            if x.graph is not self:
                raise ValueError("the value belongs to another Graph")
            return x
        if isinstance(x, np.ndarray):
            return self.constant(x)
        if isinstance(x, bool | int | float | np.number):
            dtype = like.dtype if like is not None else np.asarray(x).dtype
            return self.constant(np.asarray(x, dtype=dtype))
        raise TypeError(f"cannot use {type(x).__name__} as a graph value")

    def op(self, op_name: str, *operands: object, num_results: int = 1, **props: PropValue) -> Value | tuple[Value, ...]:
        """Build ``nn.<op_name>``; one ``Value`` for one result, else a tuple."""
        results = self._emit(op_name, operands, props, num_results)
        return results[0] if num_results == 1 else results

    def op1(self, op_name: str, *operands: object, **props: PropValue) -> Value:
        """``op`` for a single-result op."""
        return self._emit(op_name, operands, props, 1)[0]

    def _emit(self, op_name: str, operands: Sequence[object], props: Mapping[str, PropValue], num_results: int) -> tuple[Value, ...]:
        self._check_open()
        op_class = nn_op_class(op_name)
        first = next((o for o in operands if isinstance(o, Value)), None)
        values = [self.as_value(o, like=first).ssa for o in operands]
        try:
            results = self._builder.emit(op_class, values, props_attrs(props), num_results=num_results, name=op_name)
        except ValueError as e:
            raise ValueError(f"{op_class.name}: {e}") from e
        return tuple(Value(self, r) for r in results)

    def __getattr__(self, op_name: str) -> Callable[..., Value | tuple[Value, ...]]:
        if op_name.startswith("_"):
            raise AttributeError(op_name)
        try:
            nn_op_class(op_name)
        except LookupError as e:
            raise AttributeError(str(e)) from None

        def build(*operands: object, num_results: int = 1, **props: PropValue) -> Value | tuple[Value, ...]:
            return self.op(op_name, *operands, num_results=num_results, **props)

        build.__name__ = op_name
        return build

    def output(self, value: Value, name: str | None = None) -> None:
        """Add ``value`` as the next result of ``@main``."""
        self._check_open()
        ssa = self.as_value(value).ssa
        if name is not None:
            ssa.name_hint = value_name(name)
        self._outputs.append(ssa)
        self._output_names.append(name)

    def module(self) -> ModuleOp:
        """The finished module; the graph accepts no more ops afterwards."""
        self._check_open()
        self._done = True
        return self._builder.finish(self._outputs, output_names=self._output_names)

    def _check_open(self) -> None:
        if self._done:
            raise ValueError("Graph.module() was already called; start a new Graph")


__all__ = ["Graph", "Value"]
