"""``CompiledModel``: what ``dynir.compile`` returns.

``model(*arrays)`` returns a list of numpy arrays in the graph's output order;
``model.run({"name": array})`` takes and returns names. Every call is guarded: input
count, dtype, rank and static dims are checked, with an error naming the input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from dynir.diagnostics import DynirError
from dynir.ir.types import Shape, format_shape
from dynir.runtime.executable import Executable


class InputError(DynirError):
    """A call whose inputs do not fit the model."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype
    shape: Shape
    dim_names: tuple[str, ...] = ()
    """ONNX ``dim_param`` names of the dims ("" = unnamed); empty when none are named."""

    def describe(self) -> str:
        return f"{self.name}: {format_shape(self.shape)} {self.dtype}"


class CompiledModel:
    def __init__(
        self,
        module: ModuleOp,
        executable: Executable,
        inputs: Sequence[InputSpec],
        output_names: Sequence[str],
    ) -> None:
        self.module = module
        self.executable = executable
        self.inputs = list(inputs)
        self.output_names = list(output_names)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        checked = self.check_inputs(arrays)
        return self.executable.run(checked)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [i.name for i in self.inputs if i.name not in feeds]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
        unknown = sorted(set(feeds) - {i.name for i in self.inputs})
        if unknown:
            raise InputError(f"unknown input(s): {', '.join(unknown)}; the model takes {self._signature()}")
        outputs = self(*[feeds[i.name] for i in self.inputs])
        return dict(zip(self.output_names, outputs))

    def check_inputs(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs ({self._signature()}), got {len(arrays)}")
        checked: list[np.ndarray] = []
        for spec, value in zip(self.inputs, arrays):
            array = np.asarray(value)
            if array.dtype != spec.dtype:
                raise InputError(f"input '{spec.name}' must have dtype {spec.dtype}, got {array.dtype}")
            if array.ndim != len(spec.shape):
                raise InputError(
                    f"input '{spec.name}' must have rank {len(spec.shape)} ({format_shape(spec.shape)}), "
                    f"got shape {array.shape}"
                )
            for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
                if want is not None and want != got:
                    raise InputError(
                        f"input '{spec.name}' dim {axis} must be {want} ({format_shape(spec.shape)}), "
                        f"got shape {array.shape}"
                    )
            checked.append(array if array.flags.c_contiguous else np.ascontiguousarray(array))
        return checked

    def _signature(self) -> str:
        return ", ".join(i.describe() for i in self.inputs)

    def __repr__(self) -> str:
        return f"CompiledModel({self._signature()} -> {', '.join(self.output_names)})"
