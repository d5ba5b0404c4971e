"""``dynir emit --target LEVEL model.onnx [-o FILE]``: the IR of one pipeline level.

    $ dynir emit --target nn model.onnx        # the imported nn dialect
    $ dynir emit --target loops model.onnx     # kernels: scf/memref/arith/math
    $ dynir emit --target llvm model.onnx -o model.ll   # LLVM IR after O3

The model may also be a ``.mlir`` file of ``nn`` ops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynir.diagnostics import DynirError, error_text

NAME = "emit"
HELP = "print a model at one IR level: nn, fused, loops or llvm"
LEVELS = ("nn", "fused", "loops", "llvm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="an .onnx file or a .mlir file of nn ops")
    parser.add_argument("--target", choices=LEVELS, default="llvm", help="the level to print (default: llvm)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--elide-constants", type=int, metavar="N", help="print large constants as placeholders")
    parser.add_argument("--no-fuse", action="store_true", help="skip the fusion passes")


def run(args: argparse.Namespace) -> int:
    try:
        text = emit(args.model, args.target, fuse=not args.no_fuse, elide=args.elide_constants)
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def emit(model: str, level: str, *, fuse: bool, elide: int | None) -> str:
    from xdsl.passes import PassPipeline

    from dynir.cli.opt import llvm_ir_of_kernels
    from dynir.cli.printing import PrintOptions, print_module
    from dynir.compiler import to_module
    from dynir.ir.context import make_context
    from dynir.pipeline import compile_pipeline, pass_registry

    module = _load(model) if model.endswith(".mlir") else to_module(model)
    ctx = make_context()
    stages = compile_pipeline(fuse=fuse).split(",")
    if level == "fused":
        stages = stages[: stages.index("lower-to-loops")]
    elif level == "nn":
        stages = []
    if stages:
        PassPipeline.parse_spec(pass_registry(), ",".join(stages)).apply(ctx, module)
    if level == "llvm":
        return llvm_ir_of_kernels(module, optimized=True)
    return print_module(module, ctx.loaded_dialects, PrintOptions(elide_above=elide))


def _load(path: str):  # type: ignore[no-untyped-def]
    from dynir.ir.text import parse

    try:
        text = Path(path).read_text()
    except OSError as error:
        raise DynirError(f"cannot read '{path}': {error.strerror}") from None
    return parse(text, path)
