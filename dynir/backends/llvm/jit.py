"""Optimise, compile and load translated modules; look kernels up by name.

Lifetimes (the part that crashes when done wrong):

- one process-wide ORC ``LLJIT``, created on first use and never freed;
- one process-wide ``TargetMachine`` (``target.host_target_machine``) that runs the O3
  pipeline and emits object code; no engine ever owns it, so nothing frees it early;
- one JIT *library* per ``compile_module`` call, under a unique name, holding that
  module's object code. Its ``ResourceTracker`` is owned by the ``CompiledModule`` and
  shared with each ``CompiledKernel``; when the last of them is collected, the tracker is
  disposed and ORC unmaps the code. Symbols never clash across modules: each library is
  its own namespace, and ``add_current_process`` resolves ``expf``/``aligned_alloc``/``free``.

Compiling to an object with our own target machine (instead of handing IR to the JIT)
keeps code generation under one set of options: host CPU, host features, O3.
"""

from __future__ import annotations

import functools
import itertools
import threading

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects.builtin import ModuleOp

from dynir.backends.llvm.abi import CompiledKernel
from dynir.backends.llvm.errors import TranslationError
from dynir.backends.llvm.target import host_target_machine, initialize_llvm
from dynir.backends.llvm.translate import ExportedKernel, TranslateOptions, exported_kernels, translate_module

_LINK_LOCK = threading.Lock()
_LIBRARY_IDS = itertools.count()


@functools.cache
def _lljit() -> llvm.LLJIT:
    initialize_llvm()
    return llvm.create_lljit_compiler()


def optimize(module: llvm.ModuleRef, speed_level: int = 3) -> None:
    """Run the new-pass-manager pipeline at ``speed_level`` with loop and SLP vectorisation."""
    tuning = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    tuning.loop_vectorization = speed_level >= 2
    tuning.slp_vectorization = speed_level >= 2
    pass_builder = llvm.create_pass_builder(host_target_machine(), tuning)
    pass_builder.getModulePassManager().run(module, pass_builder)


def parse_llvm(module: ir.Module) -> llvm.ModuleRef:
    """The llvmlite IR module as an LLVM module, verified (a failure is a translator bug)."""
    initialize_llvm()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    return parsed


def emit_llvm_ir(module: ModuleOp, *, optimized: bool = False, options: TranslateOptions | None = None) -> str:
    """LLVM IR text for ``module``: as translated, or after the O3 pipeline."""
    translated = translate_module(module, options)
    if not optimized:
        return str(translated)
    parsed = parse_llvm(translated)
    optimize(parsed)
    return str(parsed)


class CompiledModule:
    """Machine code for one module, loaded in the process; ``module["name"]`` is a kernel."""

    def __init__(self, tracker: llvm.ResourceTracker, exports: dict[str, ExportedKernel]) -> None:
        self._tracker = tracker
        self.exports = exports
        self._kernels: dict[str, CompiledKernel] = {}

    @property
    def library_name(self) -> str:
        return str(self._tracker.name)

    def kernel(self, name: str) -> CompiledKernel:
        """The exported function ``@name``; KeyError lists the available ones."""
        export = self.exports.get(name)
        if export is None:
            raise KeyError(f"no kernel @{name}; this module exports {sorted(self.exports)}")
        if name not in self._kernels:
            address = self._tracker[export.symbol]
            self._kernels[name] = CompiledKernel(name, export.signature, address, self._tracker)
        return self._kernels[name]

    def __getitem__(self, name: str) -> CompiledKernel:
        return self.kernel(name)

    def __repr__(self) -> str:
        return f"CompiledModule({self.library_name}: {', '.join('@' + n for n in self.exports)})"


def compile_module(
    module: ModuleOp, options: TranslateOptions | None = None, *, speed_level: int = 3
) -> CompiledModule:
    """Translate, optimise, compile and load ``module``; its public functions become kernels."""
    exports = exported_kernels(module)
    parsed = parse_llvm(translate_module(module, options))
    if speed_level > 0:
        optimize(parsed, speed_level)
    return load_object(host_target_machine().emit_object(parsed), exports)


def load_native(llvm_ir: str, symbols: list[str]) -> tuple[llvm.ResourceTracker, dict[str, int]]:
    """Compile hand-written LLVM IR text (runtime helpers, not kernels) at O2 and load it:
    the tracker that keeps the code mapped, and the address of each of ``symbols``."""
    initialize_llvm()
    parsed = llvm.parse_assembly(llvm_ir)
    parsed.verify()
    optimize(parsed, speed_level=2)
    tracker = _link(host_target_machine().emit_object(parsed), symbols, "dynir_native")
    return tracker, {symbol: int(tracker[symbol]) for symbol in symbols}


def load_object(object_code: bytes, exports: dict[str, ExportedKernel]) -> CompiledModule:
    """Link object code into a fresh JIT library and resolve the exported kernels."""
    tracker = _link(object_code, [export.symbol for export in exports.values()], "dynir_module")
    return CompiledModule(tracker, exports)


def _link(object_code: bytes, symbols: list[str], prefix: str) -> llvm.ResourceTracker:
    """``object_code`` as a fresh JIT library (a unique name) exporting ``symbols``."""
    builder = llvm.JITLibraryBuilder().add_object_img(object_code).add_current_process()
    for symbol in symbols:
        builder.export_symbol(symbol)
    with _LINK_LOCK:
        library = f"{prefix}_{next(_LIBRARY_IDS)}"
        try:
            return builder.link(_lljit(), library)
        except RuntimeError as error:
            raise TranslationError(f"JIT linking of {library} failed: {error}") from None
