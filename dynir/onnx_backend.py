"""dynir as an ONNX backend (``onnx.backend.base.Backend``), for the conformance suite.

``onnx.backend.test.BackendTest(dynir.onnx_backend, __name__)`` runs the node and model
tests shipped inside the ``onnx`` package through dynir::

    rep = dynir.onnx_backend.prepare(model, "CPU")          # imports (and compiles)
    outputs = rep.run([x, y])

``target="interpret"`` runs the reference interpreter; ``target="cpu"`` compiled code
(once the CPU backend is present). Inputs that ops need at import time (Reshape's
``shape``, Slice's ``starts`` ... fed as graph inputs by the node tests) are handled by
value specialisation: when the import asks for such an input, the model is re-imported
with those inputs pinned to the values of the call, and cached by value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from dynir.diagnostics import DynirError
from dynir.importers.onnx import import_onnx
from dynir.importers.onnx.registry import OnnxImportError
from dynir.interpreter import interpret
from xdsl.dialects.builtin import ModuleOp

TARGETS = ("interpret", "cpu")


class DynirBackendRep(BackendRep):
    """A prepared model: one specialisation per set of pinned input values."""

    def __init__(self, model: onnx.ModelProto, target: str) -> None:
        self.model = model
        self.target = target
        self.input_names = _graph_input_names(model)
        self._pinned_names: list[str] = []
        self._generic: Any = None
        self._specialised: dict[bytes, tuple[Any, list[int]]] = {}
        self._prepare_generic()

    def _prepare_generic(self) -> None:
        # An input a converter needs at import time is pinned, and the model is then
        # specialised per call on that input's value (``_specialise``).
        try:
            self._generic = self._build(import_onnx(self.model))
        except OnnxImportError as e:
            self._pin(e)

    def _pin(self, error: OnnxImportError) -> None:
        name = error.unknown_value
        if name is None or name not in self.input_names or name in self._pinned_names:
            raise error
        self._pinned_names.append(name)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        arrays = _as_list(inputs, self.input_names)
        try:
            if self._generic is not None:
                return tuple(self._generic(*arrays))
            executable, kept = self._specialise(arrays)
            return tuple(executable(*[arrays[i] for i in kept]))
        except DynirError as error:
            # Compiled code sizes its buffers from shapes alone; an op whose output size
            # depends on input *values* (Range fed by graph inputs) needs those values
            # pinned. Pin every scalar input once and specialise on them.
            scalars = [n for n, a in zip(self.input_names, arrays) if a.size == 1 and n not in self._pinned_names]
            if "dynamic dim at run time" not in str(error) or not scalars:
                raise
            self._pinned_names += scalars
            self._generic = None
            executable, kept = self._specialise(arrays)
            return tuple(executable(*[arrays[i] for i in kept]))

    def _specialise(self, arrays: list[np.ndarray]) -> tuple[Any, list[int]]:
        while True:
            pinned = {self.input_names.index(n): arrays[self.input_names.index(n)] for n in self._pinned_names}
            key = b"".join(
                str(i).encode() + a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()
                for i, a in sorted(pinned.items())
            )
            if key in self._specialised:
                return self._specialised[key]
            known = {self.input_names[i]: a for i, a in pinned.items()}
            try:
                module = import_onnx(self.model, known_inputs=known)
            except OnnxImportError as e:
                self._pin(e)
                continue
            kept = [i for i in range(len(arrays)) if i not in pinned]
            self._specialised[key] = (self._build(module), kept)
            return self._specialised[key]

    def _build(self, module: ModuleOp) -> Any:
        if self.target == "interpret":
            return lambda *arrays: interpret(module, *arrays)
        from dynir.compiler import compile_module

        return compile_module(module, cache_dir=False)


class DynirBackend(Backend):
    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return device.upper() == "CPU"

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() == "CPU"

    @classmethod
    def prepare(
        cls, model: onnx.ModelProto, device: str = "CPU", target: str = "interpret", **kwargs: Any
    ) -> DynirBackendRep:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
        return DynirBackendRep(model, target)

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU", outputs_info: Any = None, **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        raise NotImplementedError("dynir runs whole models; use run_model")


def _graph_input_names(model: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _as_list(inputs: Any, names: list[str]) -> list[np.ndarray]:
    if isinstance(inputs, dict):
        return [np.asarray(inputs[n]) for n in names]
    return [np.asarray(a) for a in inputs]


prepare = DynirBackend.prepare
run_model = DynirBackend.run_model
run_node = DynirBackend.run_node
supports_device = DynirBackend.supports_device
is_compatible = DynirBackend.is_compatible


class CompiledBackend(DynirBackend):
    """The same backend running JIT-compiled CPU code (``target="cpu"``)."""

    @classmethod
    def prepare(
        cls, model: onnx.ModelProto, device: str = "CPU", target: str = "cpu", **kwargs: Any
    ) -> DynirBackendRep:
        return super().prepare(model, device, target=target, **kwargs)
