"""dynir: a multi-level IR deep-learning compiler on xDSL.

Public API (each loads its machinery on first use)::

    dynir.import_onnx(path_or_model) -> ModuleOp
    dynir.compile(model, target="cpu") -> CompiledModel
    dynir.interpret(module, *arrays) -> list[np.ndarray]
    dynir.parse(text) -> ModuleOp / dynir.print_ir(module) -> str
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "interpret": ("dynir.interpreter", "interpret"),
    "import_onnx": ("dynir.importers.onnx", "import_onnx"),
    "parse": ("dynir.ir.text", "parse"),
    "print_ir": ("dynir.ir.text", "print_ir"),
    "make_context": ("dynir.ir.context", "make_context"),
    "builder": ("dynir.builder", None),
    "Preprocess": ("dynir.preprocess", "Preprocess"),
    "compile": ("dynir.compiler", "compile"),
    "CompiledModel": ("dynir.runtime.compiled_model", "CompiledModel"),
    "quantize": ("dynir.quantization.calibrate", "quantize"),
}

if TYPE_CHECKING:
    from dynir.interpreter import interpret as interpret
    from dynir.ir.context import make_context as make_context


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'dynir' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
