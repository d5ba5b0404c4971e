"""``dynir bench``: time dynir against onnxruntime on the same inputs, in one process.

    $ dynir bench                                # the default suite (bundled models)
    $ dynir bench --suite tiny --runs 5          # small versions, seconds in all
    $ dynir bench model.onnx --dim batch=8       # your own model, random inputs
    $ dynir bench --peak --json out.json         # also measure the machine's limits
    $ dynir bench --variant int8-static          # int8 vs onnxruntime's quantize_static
    $ dynir bench --markdown docs/performance.md # rewrite the docs table

Prints one row per model (see ``dynir.bench.table``); exits 1 when a model fails to
compile or run, or its outputs differ from onnxruntime's.
"""

from __future__ import annotations

import argparse
import shlex

from dynir.bench.machine import measure_peak, this_machine, versions
from dynir.bench.results import BenchRun
from dynir.bench.runner import VARIANTS, Settings, run_case
from dynir.bench.suite import SUITES, BenchCase, file_case, suite_cases
from dynir.bench.table import make_console, markdown_page, print_table
from dynir.bench.timing import TimingPlan
from dynir.cli.progress import progress_bar
from dynir.diagnostics import DynirError

NAME = "bench"
HELP = "time compiled models against onnxruntime and print a table"



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL.onnx", help="ONNX files to time (default: the suite)")
    parser.add_argument("--suite", choices=list(SUITES), help="a bundled suite (default: 'default' when no model is given)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only the suite rows with this name (repeatable)")
    parser.add_argument("--variant", action="append", choices=VARIANTS, metavar="VARIANT",
                        help="compile with the fusion passes ('fused', default), without ('unfused'), or int8 next to "
                             "onnxruntime's own int8 ('int8-dynamic', 'int8-static': 16 calibration samples); repeatable")
    parser.add_argument("--threads", type=_positive, default=1, help="threads for dynir and onnxruntime (default 1)")
    parser.add_argument("--runs", type=_positive, default=10, help="timed calls per library and model (default 10)")
    parser.add_argument("--budget", type=float, default=30.0, metavar="SECONDS",
                        help="stop timing a model after this long, once each library has 3 calls (default 30)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a symbolic dim of the given ONNX files (default 1; repeatable)")
    parser.add_argument("--peak", action="store_true",
                        help="measure the machine's float32 peak and copy bandwidth and print each model's share of it")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as a Markdown page (docs/performance.md)")


def run(args: argparse.Namespace) -> int:
    cases = select_cases(args)
    variants: list[str] = args.variant or ["fused"]
    bench = BenchRun(command_line(args), this_machine(), versions(), args.threads, args.runs)
    console = make_console()
    if args.peak:
        with progress_bar("measuring the machine's peak (numpy matmul, copy)") as _:
            bench.peak = measure_peak()
    settings = Settings(args.threads, TimingPlan(runs=args.runs, budget_s=args.budget))
    with progress_bar("benchmarking", total=len(cases) * len(variants)) as bar:
        for case in cases:
            for variant in variants:
                label = case.name if variant == "fused" else f"{case.name} ({variant})"

                def tell(what: str, label: str = label) -> None:
                    bar.label(f"{label}: {what}")

                bench.results.append(run_case(case, settings, variant=variant, progress=tell))
                bar.step(label)
    print_table(bench, console)
    if args.json:
        console.print(f"results: {bench.write_json(args.json)}", highlight=False)
    if args.markdown:
        _write(args.markdown, markdown_page(bench))
        console.print(f"table: {args.markdown}", highlight=False)
    return 0 if all(r.ok and not r.mismatch for r in bench.results) else 1


def select_cases(args: argparse.Namespace) -> list[BenchCase]:
    from dynir.cli.inputs import parse_dims

    dims = parse_dims(args.dim)
    cases = [file_case(path, dims) for path in args.models]
    if args.suite or not args.models:
        suite = suite_cases(args.suite or "default")
        unknown = sorted(set(args.only) - {c.name for c in suite})
        if unknown:
            raise DynirError(f"--only {unknown[0]}: no such row in suite '{args.suite or 'default'}' "
                             f"(rows: {', '.join(c.name for c in suite)})")
        cases += [c for c in suite if not args.only or c.name in args.only]
    return cases


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would type it to reproduce this run."""
    words = ["dynir", "bench", *args.models]
    if args.suite:
        words += ["--suite", args.suite]
    for name in args.only:
        words += ["--only", name]
    for variant in args.variant or []:
        words += ["--variant", variant]
    for dim in args.dim:
        words += ["--dim", dim]
    words += ["--threads", str(args.threads), "--runs", str(args.runs)]
    if args.peak:
        words.append("--peak")
    if args.json:
        words += ["--json", args.json]
    if args.markdown:
        words += ["--markdown", args.markdown]
    return shlex.join(words)


def _write(path: str, text: str) -> None:
    from pathlib import Path

    try:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DynirError(f"cannot write '{path}': {error.strerror}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value
