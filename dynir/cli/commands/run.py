"""``dynir run model.onnx [--inputs file.npz] [--check]``: compile and execute a model.

    $ dynir run model.onnx                      # random inputs (fixed seed), prints a summary
    $ dynir run model.onnx --inputs x.npz -o y.npz
    $ dynir run model.onnx --check              # compare with onnxruntime, per output
    $ dynir run model.onnx --profile            # per-kernel times, slowest first

Dynamic dims of random inputs take ``--dim NAME=SIZE`` (an ONNX ``dim_param``) or 1.
``--check`` exits 1 when an output differs from onnxruntime beyond rtol/atol.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dynir.diagnostics import DynirError, error_text

NAME = "run"
HELP = "compile a model for the CPU and run it on given or random inputs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="an .onnx file")
    parser.add_argument("--inputs", metavar="NPZ", help="inputs by name in a .npz file (default: random)")
    parser.add_argument("-o", "--output", metavar="NPZ", help="write the outputs to this .npz file")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a named dynamic dim for random inputs (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--check", action="store_true", help="compare every output with onnxruntime")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance of --check (default 1e-3)")
    parser.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance of --check (default 1e-4)")
    parser.add_argument("--no-fuse", action="store_true", help="compile without the fusion passes")
    parser.add_argument("--profile", type=int, nargs="?", const=10, metavar="RUNS",
                        help="time every kernel over RUNS calls (default 10) and print the slowest")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the kernels (default: all cores)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import dynir
    from dynir.cli.inputs import parse_dims, random_inputs

    if args.profile is not None and args.profile < 1:
        raise DynirError(f"--profile needs at least 1 run, got {args.profile}")
    model = dynir.compile(args.model, fuse=not args.no_fuse, threads=args.threads)
    if args.inputs:
        feeds = _load_npz(args.inputs)
    else:
        feeds = random_inputs(model, parse_dims(args.dim), seed=args.seed)
    outputs = model.run(feeds)
    for name, value in outputs.items():
        print(f"{name}: {value.dtype} {value.shape}  {_summary(value)}")
    if args.output:
        np.savez(args.output, **outputs)
    if args.profile is not None:
        print(model.profile(*[feeds[i.name] for i in model.inputs], runs=args.profile).table())
    if not args.check:
        return 0
    reference = _onnxruntime(args.model, feeds, list(outputs))
    ok = True
    print(f"{'output':<24} {'max abs err':>12} {'max rel err':>12}  within rtol={args.rtol:g} atol={args.atol:g}")
    for name, value in outputs.items():
        want = reference[name]
        abs_err, rel_err = _errors(value, want)
        close = value.shape == want.shape and bool(np.allclose(value, want, rtol=args.rtol, atol=args.atol, equal_nan=True))
        ok &= close
        print(f"{name:<24} {abs_err:>12.3e} {rel_err:>12.3e}  {'yes' if close else 'NO'}")
    return 0 if ok else 1


def _load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise DynirError(f"cannot open '{path}': no such file") from None
    except (OSError, ValueError) as error:
        raise DynirError(f"'{path}' is not a .npz file: {error}") from None


def _summary(value: np.ndarray) -> str:
    if value.size == 0 or value.dtype.kind not in "fiub":
        return ""
    v = value.astype(np.float64)
    return f"min {v.min():.4g}  max {v.max():.4g}  mean {v.mean():.4g}"


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    if got.shape != want.shape or got.size == 0:
        return (float("inf") if got.shape != want.shape else 0.0), 0.0
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    rel = diff / np.maximum(np.abs(want.astype(np.float64)), 1e-12)
    return float(diff.max()), float(rel.max())


def _onnxruntime(model: str, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise DynirError("--check needs onnxruntime (pip install onnxruntime)") from None
    session = ort.InferenceSession(str(Path(model)), providers=["CPUExecutionProvider"])
    results = session.run(names, feeds)
    return dict(zip(names, results))
