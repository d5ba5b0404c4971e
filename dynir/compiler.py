"""``dynir.compile``: from a model to a ``CompiledModel``, step by step.

``dynir.compile(model)`` imports the model and lowers its declared types once (so an
op the backend cannot compile fails here, not at the first call), then returns a
``CompiledModel`` that compiles specialisations on demand (``dynamic=``, see
``dynir.runtime.specialize``). One specialisation, in ``SpecialisationBuilder``:

1. the disk cache (``dynir.runtime.cache``): a hit skips every step below;
2. ``refine_types``: the entry function with the specialisation's argument types;
3. ``dynir.pipeline.compile_pipeline``: fusion, then ``lower-to-loops`` (each stage a
   registered pass, so ``dynir-opt -p`` can replay any prefix of it);
4. the kernels -> LLVM IR -> O3 -> object code, linked into the JIT;
5. the host function -> ``HostPlan`` -> ``Executable``; the object code and the plan go
   to the disk cache.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr, TensorType

from dynir.backends.llvm.jit import CompiledModule, load_object, optimize, parse_llvm
from dynir.backends.llvm.target import host_target_machine
from dynir.backends.llvm.translate import ExportedKernel, TranslateOptions, exported_kernels, translate_module
from dynir.diagnostics import DynirError
from dynir.dialects.nn.base import DIM_NAMES, VALUE_NAME
from dynir.interpreter import entry_function
from dynir.ir.context import make_context
from dynir.ir.types import numpy_dtype, shape_of
from dynir.pipeline import compile_pipeline
from dynir.report import CompileRecorder, run_pipeline
from dynir.runtime.artefact import Artefact, constant_values, make_artefact
from dynir.runtime.cache import CacheWarning, DiskCache, canonical_ir, key_of, key_parts
from dynir.runtime.compiled_model import Built, CompiledModel, InputSpec
from dynir.runtime.executable import Executable, Kernel, executable_from_plan, host_plan
from dynir.runtime.parallel import check_threads
from dynir.runtime.specialize import DynamicOption, Spec, refine_types, spec_arg_types

TARGETS = ("cpu",)


KERNEL_OPTIONS = TranslateOptions(reassoc_reductions=True)
"""How compiled models translate their kernels: float reductions (softmax and
layer_norm sums, reduce_*) may reassociate, so LLVM vectorises them with partial sums,
as onnxruntime's kernels do; results differ from the interpreter's numpy order by
rounding only. Without it every sum was a scalar loop (softmax 12x128x128: 0.8 ms)."""

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


CacheDirOption = str | os.PathLike[str] | bool | None
"""``None``: the default cache directory (see ``dynir.runtime.cache``); a path: that
directory; ``False``: no disk cache."""


def compile(  # noqa: A001
    model: Any,
    target: str = "cpu",
    *,
    fuse: bool = True,
    dynamic: DynamicOption = None,
    recompile_limit: int | None = 8,
    cache_dir: CacheDirOption = None,
    report: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    **options: Any,
) -> CompiledModel:
    """Compile ``model`` for ``target``; see ``to_module`` for what ``model`` may be.

    Compilation is lazy and shape-polymorphic: each call whose shapes no compiled
    specialisation covers builds one (``dynamic`` picks the policy, see
    ``dynir.runtime.specialize``), first looking in the disk cache at ``cache_dir``.
    ``report="out.html"`` writes the compile report of the declared input types: the
    IR after every pass, diffs, per-pass times, remarks and each kernel's ONNX nodes.
    ``threads`` (default: every core this process may use) is how many threads run the
    partitioned kernels; the compiled code does not depend on it.
    """
    if target not in TARGETS:
        raise DynirError(f"unknown target {target!r}; available: {', '.join(TARGETS)}")
    if options:
        raise DynirError(f"unknown compile option(s): {', '.join(sorted(options))}")
    return compile_module(
        to_module(model), fuse=fuse, dynamic=dynamic, recompile_limit=recompile_limit,
        cache_dir=cache_dir, label=_label(model), report=report, threads=threads,
    )


def compile_module(
    module: ModuleOp,
    *,
    fuse: bool = True,
    dynamic: DynamicOption = None,
    recompile_limit: int | None = 8,
    cache_dir: CacheDirOption = None,
    label: str = "module",
    report: str | os.PathLike[str] | None = None,
    threads: int | None = None,
) -> CompiledModel:
    """A ``CompiledModel`` of ``module`` (not modified); specialisations compile on first use."""
    threads = check_threads(threads)
    if recompile_limit is not None and (not isinstance(recompile_limit, int) or recompile_limit < 1):
        raise DynirError(f"recompile_limit must be a positive integer or None, got {recompile_limit!r}")
    module = module.clone()
    host = entry_function(module)
    inputs = _input_specs(host)
    outputs = _output_names(host)
    cache = None if cache_dir is False else DiskCache(None if cache_dir in (None, True) else cache_dir)  # type: ignore[arg-type]
    recorder = CompileRecorder(label) if report is not None else None
    builder = SpecialisationBuilder(module, inputs, fuse=fuse, cache=cache, label=label, recorder=recorder,
                                    threads=threads)
    builder.check_lowering(tuple(i.shape for i in inputs))
    if recorder is not None and report is not None:
        recorder.write(report)
        builder.recorder = None
    return CompiledModel(module, inputs, outputs, builder, dynamic=dynamic, recompile_limit=recompile_limit,
                         threads=threads)


class SpecialisationBuilder:
    """Builds one specialisation of a module: from the disk cache when it holds one,
    else refine types -> ``compile_pipeline`` -> LLVM object code -> host program.
    ``threads`` is a property of the host program only (not part of the cache key)."""

    def __init__(self, module: ModuleOp, inputs: Sequence[InputSpec], *, fuse: bool,
                 cache: DiskCache | None, label: str, recorder: CompileRecorder | None = None,
                 threads: int = 1) -> None:
        self.module = module
        self.threads = threads
        self.recorder = recorder
        self.inputs = list(inputs)
        self.pipeline = compile_pipeline(fuse=fuse)
        self.cache = cache
        self.label = label
        self.canonical = canonical_ir(module) if cache is not None else None
        self._lowered: dict[Spec, ModuleOp] = {}

    def check_lowering(self, spec: Spec) -> None:
        """Lower ``spec`` now, so that a model the backend cannot compile fails in
        ``dynir.compile`` rather than at its first call; the lowered module is kept for
        when the first call needs that spec. Skipped when the disk cache shows that this
        compiler compiled the model before."""
        if self.cache is not None and self.canonical is not None and self.recorder is None:
            parts = self._parts(spec)
            if self.cache.contains(parts) or self.cache.compiled_before(parts):
                return
        self._lowered[spec] = self._lower(spec)

    def _parts(self, spec: Spec) -> dict[str, str]:
        assert self.canonical is not None
        return key_parts(self.canonical.sha256, _inputs_part(self.inputs, spec), self._pipeline_part())

    def __call__(self, spec: Spec, description: str) -> Built:
        start = time.perf_counter()
        parts: dict[str, str] = {}
        if self.cache is not None and self.canonical is not None:
            parts = self._parts(spec)
            artefact = self.cache.lookup(parts, label=self.label, spec=description)
            if artefact is not None:
                executable = self._load(artefact)
                if executable is not None:
                    return Built(executable, "disk", key_of(parts), time.perf_counter() - start)
        object_code, exports, host = self._compile(spec)
        plan, constants = host_plan(host)
        executable = executable_from_plan(plan, _kernels(load_object(object_code, exports)), constants,
                                          threads=self.threads)
        seconds = time.perf_counter() - start
        if self.cache is not None and self.canonical is not None:
            artefact = make_artefact(object_code, exports, plan, constants, self.canonical.constants)
            self.cache.store(parts, artefact, label=self.label, spec=description, seconds=seconds)
        return Built(executable, "compiled", key_of(parts) if parts else "", seconds)

    def _pipeline_part(self) -> str:
        return f"{self.pipeline} | {KERNEL_OPTIONS} | O3"

    def _lower(self, spec: Spec) -> ModuleOp:
        refined = refine_types(self.module, spec_arg_types(self.inputs, spec), entry_function(self.module).sym_name.data)
        run_pipeline(make_context(), refined, self.pipeline, self.recorder)
        refined.verify()
        return refined

    def _compile(self, spec: Spec) -> tuple[bytes, dict[str, ExportedKernel], func.FuncOp]:
        refined = self._lowered.pop(spec, None) or self._lower(spec)
        self._lowered.clear()  # only ever kept for the first specialisation
        kernel_module = _kernel_module(refined)
        exports = exported_kernels(kernel_module)
        parsed = parse_llvm(translate_module(kernel_module, KERNEL_OPTIONS))
        optimize(parsed)
        return host_target_machine().emit_object(parsed), exports, entry_function(refined)

    def _load(self, artefact: Artefact) -> Executable | None:
        assert self.canonical is not None
        try:
            values = constant_values(artefact, self.canonical.constants)
            kernels = _kernels(load_object(artefact.object_code, artefact.exports))
            return executable_from_plan(artefact.plan, kernels, values, threads=self.threads)
        except (DynirError, KeyError) as error:
            warnings.warn(f"dynir cache: cannot load a stored specialisation ({error}); recompiling",
                          CacheWarning, stacklevel=4)
            return None


def _kernels(compiled: CompiledModule) -> dict[str, Kernel]:
    return {name: compiled[name] for name in compiled.exports}


def _inputs_part(inputs: Sequence[InputSpec], spec: Spec) -> str:
    return ", ".join(f"{i.name}:{'x'.join('?' if d is None else str(d) for d in shape)}:{i.dtype}"
                     for i, shape in zip(inputs, spec))


def _label(model: object) -> str:
    if isinstance(model, (str, os.PathLike)):
        return Path(model).stem
    if isinstance(model, onnx.ModelProto):
        return model.graph.name or "onnx model"
    return "module"


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
    entry = data[i] if i < len(data) else None
    if isinstance(entry, DictionaryAttr):
        names = entry.data.get(DIM_NAMES)
        if isinstance(names, ArrayAttr):
            return tuple(n.data if isinstance(n, StringAttr) else "" for n in names.data)
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
