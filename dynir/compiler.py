"""``dynir.compile``: from a model to a ``CompiledModel``, step by step.

The pass pipeline is ``dynir.pipeline.compile_pipeline``; each stage is a registered
pass, so ``dynir-opt -p`` can replay any prefix of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr, TensorType
from xdsl.passes import PassPipeline

from dynir.diagnostics import DynirError
from dynir.dialects.nn.base import DIM_NAMES, VALUE_NAME
from dynir.interpreter import entry_function
from dynir.ir.context import make_context
from dynir.ir.types import numpy_dtype, shape_of
from dynir.pipeline import compile_pipeline, pass_registry
from dynir.runtime.compiled_model import CompiledModel, InputSpec
from dynir.runtime.executable import build_executable

TARGETS = ("cpu",)


def to_module(model: Any) -> ModuleOp:
    """Accept an ONNX path or ``ModelProto``, an xDSL module of ``nn`` ops, or a builder graph."""
    if isinstance(model, ModuleOp):
        return model.clone()
    if isinstance(model, (str, os.PathLike, onnx.ModelProto)):
        from dynir.importers.onnx import import_onnx

        return import_onnx(model)
    module_fn = getattr(model, "module", None)
    if callable(module_fn):
        built = module_fn()
        if isinstance(built, ModuleOp):
            return built
    raise DynirError(f"cannot compile a {type(model).__name__}: pass an ONNX path/ModelProto, a ModuleOp or a builder graph")


def compile(model: Any, target: str = "cpu", *, fuse: bool = True, **options: Any) -> CompiledModel:  # noqa: A001
    """Compile ``model`` for ``target``; see ``to_module`` for what ``model`` may be."""
    if target not in TARGETS:
        raise DynirError(f"unknown target {target!r}; available: {', '.join(TARGETS)}")
    if options:
        raise DynirError(f"unknown compile option(s): {', '.join(sorted(options))}")
    return compile_module(to_module(model), fuse=fuse)


def compile_module(module: ModuleOp, *, fuse: bool = True) -> CompiledModel:
    """Lower ``module`` (not modified) to kernels, JIT them, and wrap the host program."""
    from dynir.backends.llvm.jit import compile_module as jit_compile

    module = module.clone()
    host = entry_function(module)
    inputs = _input_specs(host)
    outputs = _output_names(host)
    ctx = make_context()
    PassPipeline.parse_spec(pass_registry(), compile_pipeline(fuse=fuse)).apply(ctx, module)
    module.verify()
    kernel_module = _kernel_module(module)
    compiled = jit_compile(kernel_module)
    kernels = {op.sym_name.data: compiled[op.sym_name.data] for op in kernel_module.ops if isinstance(op, func.FuncOp)}
    executable = build_executable(entry_function(module, host.sym_name.data), kernels)
    return CompiledModel(module, executable, inputs, outputs)


def _kernel_module(module: ModuleOp) -> ModuleOp:
    kernels = [op.clone() for op in module.ops if isinstance(op, func.FuncOp) and "kernel" in op.attributes]
    return ModuleOp(kernels)


def _input_specs(host: func.FuncOp) -> list[InputSpec]:
    specs: list[InputSpec] = []
    for i, arg in enumerate(host.body.block.args):
        t = arg.type
        assert isinstance(t, TensorType)
        name = _attr_name(host.arg_attrs, i) or arg.name_hint or f"input{i}"
        specs.append(InputSpec(name, numpy_dtype(t.element_type), shape_of(t), _dim_names(host.arg_attrs, i)))
    return specs


def _output_names(host: func.FuncOp) -> list[str]:
    n = len(host.function_type.outputs.data)
    return [_attr_name(host.res_attrs, i) or f"output{i}" for i in range(n)]


def _dim_names(attrs: object, i: int) -> tuple[str, ...]:
    data: Sequence[object] = getattr(attrs, "data", ()) or ()
    if i < len(data) and isinstance(data[i], DictionaryAttr):
        names = data[i].data.get(DIM_NAMES)  # type: ignore[union-attr]
        if isinstance(names, ArrayAttr):
            return tuple(n.data for n in names.data if isinstance(n, StringAttr))
    return ()


def _attr_name(attrs: object, i: int) -> str | None:
    data: Sequence[object] = getattr(attrs, "data", ()) or ()
    if i < len(data):
        entry = data[i]
        if isinstance(entry, DictionaryAttr):
            name = entry.data.get(VALUE_NAME)
            if isinstance(name, StringAttr):
                return name.data
    return None


def run_reference(module: ModuleOp, *arrays: np.ndarray) -> list[np.ndarray]:
    """The interpreter's answer, for differential checks."""
    from dynir.interpreter import interpret

    return interpret(module, *arrays)
