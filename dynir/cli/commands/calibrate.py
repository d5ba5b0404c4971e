"""``dynir calibrate model.onnx --data samples.npz -o model.q.mlir``: static int8.

    $ dynir calibrate model.onnx --data samples.npz -o model.q.mlir
    $ dynir calibrate model.onnx --data samples.npz --method entropy --exclude fc_out --budget 0.999

``samples.npz`` holds one array per model input, named like the input, whose first
axis indexes the samples (``x[i]`` is sample ``i``'s ``x``). The float model runs on each
sample, every layer's input range is recorded on the IR, and the statically quantized
``nn``/``quant`` module is written (it runs with ``dynir run``-style tools or
``dynir.compile(dynir.parse(...))``). Remarks say which layers stayed in float and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dynir.diagnostics import DynirError, error_text

NAME = "calibrate"
HELP = "calibrate a model on samples and write its statically quantized (int8) IR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="an .onnx file")
    parser.add_argument("--data", required=True, metavar="NPZ", help="calibration samples: one array per input, samples on axis 0")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the MLIR here instead of stdout")
    add_quantization_arguments(parser)


def add_quantization_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``dynir quant-report``."""
    parser.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax",
                        help="how a range is taken from the samples (default minmax)")
    parser.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME",
                        help="keep a layer (ONNX node name) or op type (conv, matmul, gemm) in float; repeatable")
    parser.add_argument("--budget", metavar="B", help="least output accuracy: a cosine (0.999) or sqnr:DB")


def load_samples(path: str) -> list[dict[str, np.ndarray]]:
    """``samples.npz`` as one dict of inputs per sample."""
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise DynirError(f"cannot open '{path}': no such file") from None
    except (OSError, ValueError) as error:
        raise DynirError(f"'{path}' is not a .npz file: {error}") from None
    counts = {len(a) for a in arrays.values() if a.ndim > 0}
    if len(counts) != 1:
        raise DynirError(f"'{path}': every array needs the same number of samples on axis 0, got {sorted(counts)}")
    return [{k: a[i] for k, a in arrays.items()} for i in range(counts.pop())]


def calibrated(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """``(float module, quantized module, samples)`` for the parsed arguments."""
    from dynir.compiler import to_module
    from dynir.quantization.calibrate import calibrate_module

    module = to_module(args.model)
    samples = load_samples(args.data)
    budget = None if args.budget is None else (float(args.budget) if args.budget[0].isdigit() else args.budget)
    quantized = calibrate_module(module, samples, method=args.method, per_channel=not args.per_tensor,
                                 exclude=tuple(args.exclude), budget=budget)
    return module, quantized, samples


def run(args: argparse.Namespace) -> int:
    from dynir.cli.printing import PrintOptions, print_module
    from dynir.ir.context import make_context
    from dynir.remarks import collect_remarks

    try:
        with collect_remarks() as remarks:
            _, quantized, _ = calibrated(args)
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1
    for r in remarks:
        print(r, file=sys.stderr)
    text = print_module(quantized, make_context().loaded_dialects, PrintOptions())
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as error:
        print(f"error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0
