"""``dynir demo``: the tour of dynir on a bundled model, in under a minute.

    $ dynir demo                       # the conv-BN-ReLU block
    $ dynir demo --model bert_layer    # a BERT-base encoder layer

Builds the model (random weights, fixed seed), imports it, runs the compile pipeline
and prints the program at each level in short form (nn ops -> kernels and the ONNX
nodes behind them -> one kernel's loops -> its LLVM IR after O3), runs it against
onnxruntime on the same inputs, prints the latency table, and writes the compile
report (``--report``, default ``dynir-demo.html``).
"""

from __future__ import annotations

import argparse
import re
import textwrap
import time

from rich.console import Console
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from dynir.bench.machine import this_machine, versions
from dynir.bench.results import BenchRun
from dynir.bench.runner import Settings, run_case
from dynir.bench.suite import bundled_case
from dynir.bench.table import make_console, print_table
from dynir.bench.timing import TimingPlan
from dynir.cli.progress import progress_bar
from dynir.models import MODELS
from dynir.report.recorder import CompileRecorder, KernelOrigin, run_pipeline

NAME = "demo"
HELP = "compile a bundled model, show each IR level, check it against onnxruntime and time it"

DEFAULT_MODEL = "conv_block"
SHOWN_LINES = 14
WIDTH = 110
CONTRACTIONS = ("nn.conv", "nn.matmul", "nn.gemm")
VECTOR_MATH = re.compile(r"= (fmul|fadd|fsub|fdiv|call .*(fma|fmuladd)).*<\d+ x (float|double)>")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), metavar="NAME",
                        help=f"a bundled model (default {DEFAULT_MODEL}; try bert_layer): {', '.join(sorted(MODELS))}")
    parser.add_argument("--report", default="dynir-demo.html", metavar="FILE.html",
                        help="where to write the compile report (default dynir-demo.html)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report")
    parser.add_argument("--runs", type=int, default=10, help="timed calls per library (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    parser.add_argument("--no-fuse", action="store_true", help="compile without the fusion passes")


def run(args: argparse.Namespace) -> int:
    console = make_console()
    case = bundled_case(args.model)
    model = case.model()
    console.print(f"[bold]dynir demo[/bold]: {case.name} - {case.description}")
    weights = case.weight_bytes() / 1e6
    console.print(f"  ONNX graph: {len(model.graph.node)} nodes, {weights:.1f} MB of weights, "
                  f"{case.flops() / 1e9:.2f} GFLOP per run\n")
    recorder = CompileRecorder(case.name)
    module = _compile_levels(console, model, recorder, fuse=not args.no_fuse)
    console.print(f"[bold]5. run[/bold]: compile (twice: cold, then warm), check against onnxruntime, time both")
    settings = Settings(max(1, args.threads), TimingPlan(runs=max(1, args.runs), budget_s=20.0))
    bench = BenchRun(f"dynir demo --model {case.name}", this_machine(), versions(), settings.threads, settings.plan.runs)
    with progress_bar(f"timing {case.name}") as bar:
        result = run_case(case, settings, fuse=not args.no_fuse, progress=bar.label)
    bench.results.append(result)
    if result.ok:
        verdict = "[red]DIFFERS[/red]" if result.mismatch else "[green]match[/green]"
        console.print(f"  outputs {verdict} onnxruntime's: max abs error {result.max_abs_error:.1e} "
                      f"({result.max_scaled_error:.1e} of the largest value)\n")
    print_table(bench, console, title=f"{case.name}: dynir vs onnxruntime")
    if not args.no_report:
        _write_report(console, recorder, module, args.report)
    del module
    return 0 if result.ok and not result.mismatch else 1


def _compile_levels(console: Console, model: object, recorder: CompileRecorder, *, fuse: bool) -> ModuleOp:
    """Import and run the compile pipeline with ``recorder``; print levels 1-4."""
    import dynir
    from dynir.ir.context import make_context
    from dynir.pipeline import compile_pipeline

    with recorder.stage("import ONNX"):
        module = dynir.import_onnx(model)
    host_text = recorder.print(module)
    _level(console, "1. nn dialect", "imported from ONNX; constants elided", _host_lines(host_text))
    start = time.perf_counter()
    run_pipeline(make_context(), module, compile_pipeline(fuse=fuse), recorder)
    seconds = time.perf_counter() - start
    kernels = recorder.kernels
    _level(console, "2. kernels", f"{len(kernels)} fusion group{'s' if len(kernels) != 1 else ''}, one kernel each; the ONNX nodes behind each",
           [_origin_line(k) for k in kernels])
    shown = _showcase(kernels)
    kernel = _kernel_function(module, shown)
    _level(console, "3. loops", f"kernel @{shown}: scf/memref/arith; pipeline took {seconds:.2f} s",
           _loop_lines(recorder.print(ModuleOp([kernel.clone()]))))
    from dynir.backends.llvm.jit import emit_llvm_ir

    llvm_ir = emit_llvm_ir(ModuleOp([kernel.clone()]), optimized=True)
    _level(console, "4. LLVM IR", f"@{shown} after LLVM O3 (excerpt)", llvm_excerpt(llvm_ir))
    return module


def _write_report(console: Console, recorder: CompileRecorder, module: ModuleOp, path: str) -> None:
    from dynir.backends.llvm.jit import emit_llvm_ir

    kernels = [op.clone() for op in module.ops if isinstance(op, func.FuncOp) and "kernel" in op.attributes]
    start = time.perf_counter()
    text = emit_llvm_ir(ModuleOp(kernels), optimized=True)
    seconds = time.perf_counter() - start
    recorder.add_text("LLVM IR after O3", text, seconds)
    recorder.timings.append(("LLVM translate + O3", seconds))
    written = recorder.write(path)
    console.print(f"\nreport: {written} (the IR after every pass, diffs, times, remarks; open it in a browser)")


def _level(console: Console, title: str, subtitle: str, lines: list[str]) -> None:
    console.print(f"[bold]{title}[/bold] [dim]({subtitle})[/dim]")
    for line in lines[:SHOWN_LINES]:
        console.print("    " + _clip(line), markup=False, soft_wrap=True)
    if len(lines) > SHOWN_LINES:
        console.print(f"    [dim]... {len(lines) - SHOWN_LINES} more lines[/dim]")
    console.print()


def _loop_lines(text: str) -> list[str]:
    """The kernel's body without its hoisted ``arith.constant`` lines, so the excerpt
    starts at the loops."""
    lines = textwrap.dedent("\n".join(text.splitlines()[1:-2])).splitlines()
    return [line for line in lines if "= arith.constant" not in line]


def _host_lines(text: str) -> list[str]:
    """The host function's ops, without the constants (counted instead)."""
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line.startswith(("%", "func.return")) and "nn.constant" not in line]
    constants = sum(1 for line in lines if "nn.constant" in line)
    return [*body, f"({constants} weight constants not shown)"] if constants else body


def _origin_line(kernel: KernelOrigin) -> str:
    ops = ", ".join(op.removeprefix("nn.") for op, _ in kernel.ops)
    nodes = [_node_name(loc) for _, loc in kernel.ops]
    sources = ", ".join(nodes) if len(nodes) <= 3 else f"{nodes[0]}, {nodes[1]}, ..., {nodes[-1]} ({len(nodes)} nodes)"
    return f"@{kernel.kernel:<24} {_clip(ops, 36):<36} <- {sources}"


def _node_name(location: str) -> str:
    match = re.search(r"node '([^']*)'", location)
    return match.group(1) if match else location or "?"


def _showcase(kernels: list[KernelOrigin]) -> str:
    """The kernel to show in full: the first convolution or matmul, else the first."""
    for k in kernels:
        if any(op in CONTRACTIONS for op, _ in k.ops):
            return k.kernel
    return kernels[0].kernel


def _kernel_function(module: ModuleOp, name: str) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == name)


def llvm_excerpt(llvm_ir: str, context: int = 8) -> list[str]:
    """The ``define`` line, then the block around the first vector arithmetic (what
    shows LLVM vectorised the loop), else the first lines of the body."""
    lines = llvm_ir.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("define")), 0)
    hit = next((i for i in range(start, len(lines)) if VECTOR_MATH.search(lines[i])), None)
    if hit is None:
        return lines[start:start + context + 1]
    first = max(start + 1, hit - context // 2)
    return [lines[start], "  ...", *lines[first:first + context]]


def _clip(line: str, width: int = WIDTH) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."

