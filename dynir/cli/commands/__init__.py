"""The subcommands of ``dynir``, one module each.

A command module defines ``NAME`` (the subcommand), ``HELP`` (one line), and
``add_arguments(parser)`` and ``run(args) -> int``. ``dynir/cli/main.py`` loads the
modules listed here in order and skips one that does not exist yet, so a subcommand
appears in ``dynir --help`` exactly when its module lands.
"""

COMMAND_MODULES: list[str] = [
    "import_model",  # dynir import: ONNX -> nn dialect
    "run",  # dynir run: compile and execute a model
    "emit",  # dynir emit: print the IR of one pipeline level
    "bench",  # dynir bench: time dynir against onnxruntime
    "demo",  # dynir demo: the end-to-end tour
    "cache",  # dynir cache: inspect/clear the kernel cache
    "explain_recompiles",  # dynir explain-recompiles: why a model recompiled
    "example",  # dynir example: bundled example programs
    "calibrate",  # dynir calibrate: calibrate on samples, write the static int8 IR
    "quant_report",  # dynir quant-report: per-layer int8 accuracy against float
]
