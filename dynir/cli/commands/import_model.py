"""``dynir import model.onnx [-o out.mlir] [--elide-constants N]``: ONNX -> ``nn`` dialect.

    $ dynir import resnet18.onnx -o resnet18.mlir
    $ dynir import resnet18.onnx --elide-constants 16 | less     # reading only, no weights

The output re-parses with every weight (``dense_resource`` blobs follow the module),
unless ``--elide-constants`` replaces large constants by MLIR's placeholder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynir.diagnostics import DynirError, error_text

NAME = "import"
HELP = "convert an ONNX model into the nn dialect and print it as MLIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the .onnx file (external data files beside it are read)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the MLIR here instead of stdout")
    parser.add_argument(
        "--elide-constants",
        metavar="N",
        type=int,
        default=None,
        help="print constants with more than N elements as dense_resource<__elided__> (not re-parsable)",
    )


def run(args: argparse.Namespace) -> int:
    from dynir.cli.printing import PrintOptions, print_module
    from dynir.importers.onnx import import_onnx
    from dynir.ir.context import make_context

    if args.elide_constants is not None and args.elide_constants < 0:
        print("error: --elide-constants needs a count >= 0", file=sys.stderr)
        return 1
    try:
        module = import_onnx(args.model)
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1
    text = print_module(module, make_context().loaded_dialects, PrintOptions(elide_above=args.elide_constants))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as error:
        print(f"error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0
