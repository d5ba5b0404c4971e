"""``dynir-opt``: the mlir-opt of dynir, built on xDSL's ``xDSLOptMain``.

Reads a ``.mlir`` file (``-`` for stdin, ``example:NAME`` for a bundled example),
verifies it, runs a pipeline and prints the result with its resource blobs::

    dynir-opt model.mlir -p 'canonicalize,cse' --timing -o out.mlir

What it adds to ``xdsl-opt`` (flags in ``opt_args.py``, pass manager in
``pass_runner.py``): a location on every parsed op and diagnostics in the
``file:line:col: error:`` format (exit 1), named pipelines (``--fuse`` ...) applied in
command-line order, verification after every pass, per-pass IR dumps, timing and
remarks, and crash reproducers (exit 2).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Dialect
from xdsl.passes import ModulePass, get_pass_option_infos
from xdsl.xdsl_opt_main import xDSLOptMain

from dynir.cli.opt_args import EMIT_LLVM, PIPELINE_STEPS, add_opt_arguments
from dynir.cli.pass_runner import PassCrash, PassRunner, PipelineReport, reproducer_pipeline
from dynir.cli.printing import PrintOptions, print_module
from dynir.cli.progress import progress_bar
from dynir.diagnostics import DynirError, SourceText, close_names, error_text, parse_source, verify_module
from dynir.ir.constants import BLOBS
from dynir.ir.context import dynir_dialects
from dynir.pipeline import NAMED_PIPELINES, build_pipeline, pass_registry
from dynir.report.recorder import CompileRecorder
from dynir.plugins import plugin_dialects

SPLIT_MARKER = "// -----"
LLVM_TARGET = "llvm"


class DynirOptMain(xDSLOptMain):
    """``xDSLOptMain`` with dynir's dialects, passes, flags, diagnostics and pass manager."""

    passes: list[ModulePass]

    def register_all_dialects(self) -> None:
        super().register_all_dialects()  # type: ignore[no-untyped-call]
        for dialect in [*dynir_dialects(), *plugin_dialects()]:
            if dialect.name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(dialect.name, _constant(dialect))

    def register_all_passes(self) -> None:
        for name, factory in pass_registry().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()  # type: ignore[no-untyped-call]
        # ``-t llvm``: the LLVM IR of the kernels (see ``_output``); xDSL only needs the name.
        self.available_targets[LLVM_TARGET] = self.available_targets["mlir"]

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        versions = f"dynir-opt {version('dynir')} (xDSL {version('xdsl')})"
        add_opt_arguments(arg_parser, NAMED_PIPELINES, list(self.available_targets), versions)
        arg_parser.add_argument("--report", metavar="FILE.html",
                                help="write an HTML report: the IR after every pass, diffs, per-pass time, remarks, "
                                "and the source ops behind each kernel (one file per chunk with --split-input-file)")

    def setup_pipeline(self) -> None:
        steps: list[str] = getattr(self.args, PIPELINE_STEPS) or []
        self.args.passes = ",".join(s for s in steps if s)
        self.passes = build_pipeline(self.args.passes, self.available_passes)
        for name in self.args.print_ir_after:
            if name not in self.available_passes:
                raise DynirError(f"--print-ir-after: unknown pass '{name}'{close_names(name, list(self.available_passes))}")

    # ------------------------------------------------------------------------------

    def run(self) -> int:
        if self.args.list_passes:
            self._list_passes(sys.stdout)
            return 0
        source = read_source(self.args.input_file)
        passes = self.passes
        if self.args.run_reproducer:
            pipeline = reproducer_pipeline(source.text)
            if pipeline is None:
                raise DynirError(f"{source.name}: --run-reproducer: the first line is not \"// dynir-opt -p '...'\"")
            passes = build_pipeline(pipeline, self.available_passes)
        chunks = split_chunks(source.text) if self.args.split_input_file else [(source.text, 0)]
        results: list[str] = []
        for index, (chunk, line_offset) in enumerate(chunks):
            try:
                results.append(self._process(source, chunk, line_offset, passes, index if len(chunks) > 1 else None))
            except DynirError as error:
                if not self.args.verify_diagnostics:
                    raise
                results.append(error_text(error) + "\n")
        self._write_output(f"{SPLIT_MARKER}\n".join(results))
        return 0

    def _process(self, source: SourceText, chunk: str, line_offset: int, passes: list[ModulePass],
                 chunk_index: int | None) -> str:
        timings: list[tuple[str, float]] = []
        start = time.perf_counter()
        BLOBS.begin_parse()
        module = parse_source(self.ctx, source, line_offset=line_offset, chunk=chunk)
        verify_module(module, source)
        timings.append(("(parse and verify input)", time.perf_counter() - start))
        dump = self._dump_dir(chunk_index)
        if dump is not None:
            (dump / "00-input.mlir").write_text(self._print(module), encoding="utf-8")
        recorder = CompileRecorder(source.name) if self.args.report else None
        report = self._run_passes(module, passes, source, dump, recorder)
        timings += report.timings
        if recorder is not None:
            recorder.record_run(report, module)
            recorder.write(_report_path(self.args.report, chunk_index))
        start = time.perf_counter()
        text = self._output(module)
        timings.append(("(print output)", time.perf_counter() - start))
        if self.args.remarks:
            for remark in report.remarks:
                print(remark, file=sys.stderr)
        if self.args.timing:
            print_timing(timings, sys.stderr)
        return text

    def _run_passes(self, module: ModuleOp, passes: list[ModulePass], source: SourceText,
                    dump: Path | None, recorder: CompileRecorder | None = None) -> PipelineReport:
        runner = PassRunner(passes, verify_each=self.args.verify_each, reproducer_dir=self.args.reproducer_dir,
                            print_ir=lambda m: self._print(m, debuginfo=True), source=source)
        if recorder is not None:
            recorder.snapshot("input", module)
            runner.observers.append(recorder.observe)
        after = set(self.args.print_ir_after)

        def show(index: int, p: ModulePass, m: ModuleOp) -> None:
            if self.args.print_ir_after_all or p.name in after:
                print(f"// -----// IR Dump After {p.name} //----- //\n{self._print(m)}", file=sys.stderr)
            if dump is not None:
                (dump / f"{index:02d}-{p.name}.mlir").write_text(self._print(m), encoding="utf-8")

        runner.observers.append(show)
        quiet = self.args.print_ir_after_all or after or self.args.timing or self.args.remarks
        with progress_bar("running passes", total=len(passes), enabled=None if passes and not quiet else False) as bar:
            runner.on_pass_start = lambda p: bar.label(p.name)
            runner.observers.append(lambda i, p, m: bar.step(p.name))
            return runner.run(self.ctx, module)

    def _dump_dir(self, chunk_index: int | None) -> Path | None:
        if self.args.dump_dir is None:
            return None
        folder = Path(self.args.dump_dir)
        if chunk_index is not None:
            folder = folder / f"chunk-{chunk_index:02d}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DynirError(f"--dump-dir: cannot create '{folder}': {error.strerror}") from None
        return folder

    def _print(self, module: ModuleOp, *, debuginfo: bool = False) -> str:
        options = PrintOptions(self.args.elide_constants, self.args.print_op_generic, debuginfo or self.args.print_debuginfo)
        return print_module(module, self.ctx.loaded_dialects, options)

    def _output(self, module: ModuleOp) -> str:
        if self.args.target == LLVM_TARGET or getattr(self.args, EMIT_LLVM, False):
            return llvm_ir_of_kernels(module, optimized=True)
        if self.args.target == "mlir":
            return self._print(module)
        return self.output_resulting_program(module)

    def _write_output(self, text: str) -> None:
        if self.args.output_file is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        try:
            Path(self.args.output_file).write_text(text, encoding="utf-8")
        except OSError as error:
            raise DynirError(f"cannot write '{self.args.output_file}': {error.strerror}") from None

    def _list_passes(self, out: IO[str]) -> None:
        for name in sorted(self.available_passes):
            try:
                infos = get_pass_option_infos(self.available_passes[name]())
            except Exception:  # a pass whose module fails to import is still listed
                infos = ()
            options = ", ".join(f"{i.name.replace('_', '-')}: {i.expected_type}" for i in infos)
            out.write(f"{name}{'{' + options + '}' if options else ''}\n")


# ----------------------------------------------------------------------------------


def llvm_ir_of_kernels(module: ModuleOp, *, optimized: bool) -> str:
    """LLVM IR of the module's kernel functions (``lower-to-loops`` must have run)."""
    from xdsl.dialects import func

    from dynir.backends.llvm.jit import emit_llvm_ir
    from dynir.compiler import KERNEL_OPTIONS

    kernels = [op.clone() for op in module.ops if isinstance(op, func.FuncOp) and "kernel" in op.attributes]
    if not kernels:
        raise DynirError("-t llvm / --lower-to-llvm: the module has no kernels; run lower-to-loops first")
    return emit_llvm_ir(ModuleOp(kernels), optimized=optimized, options=KERNEL_OPTIONS)  # what dynir.compile runs


def _report_path(path: str, chunk_index: int | None) -> Path:
    """``--report out.html``, or ``out.chunk-03.html`` for chunk 3 of a split input."""
    target = Path(path)
    return target if chunk_index is None else target.with_name(f"{target.stem}.chunk-{chunk_index:02d}{target.suffix}")


def _constant(dialect: Dialect) -> Callable[[], Dialect]:
    return lambda: dialect


def read_source(path: str) -> SourceText:
    """The input as text: a file, ``-`` (stdin) or ``example:NAME``; ``DynirError`` for a
    missing file or bytes that are not UTF-8."""
    if path == "-":
        data, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        if path.startswith("example:"):
            from dynir.examples import path as example_path

            path = str(example_path(path.removeprefix("example:")))
        try:
            data, name = Path(path).read_bytes(), path
        except FileNotFoundError:
            raise DynirError(f"cannot open '{path}': no such file") from None
        except OSError as error:
            raise DynirError(f"cannot read '{path}': {error.strerror}") from None
    try:
        return SourceText(name, data.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DynirError(
            f"{name}:{line}:{column}: error: input is not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "dynir-opt reads MLIR text files"
        ) from None


def split_chunks(text: str) -> list[tuple[str, int]]:
    """``--split-input-file``: the chunks between ``// -----`` lines and the line offset of each."""
    chunks: list[tuple[str, int]] = []
    offset = 0
    for chunk in text.split(SPLIT_MARKER):
        chunks.append((chunk, offset))
        offset += chunk.count("\n")
    return chunks


def print_timing(timings: list[tuple[str, float]], out: IO[str]) -> None:
    """``--timing``: wall time per pass, in run order, with each one's share."""
    total = sum(seconds for _, seconds in timings) or 1e-12
    out.write(f"{'wall ms':>10}  {'share':>6}  pass\n")
    for name, seconds in timings:
        out.write(f"{seconds * 1e3:>10.2f}  {seconds / total:>6.1%}  {name}\n")
    out.write(f"{total * 1e3:>10.2f}  {1:>6.1%}  total\n")


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return DynirOptMain(description="dynir-opt: parse, verify, transform and print dynir IR", args=argv).run()
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1
    except PassCrash as crash:
        if debug:
            traceback.print_exception(crash.__cause__ or crash, file=sys.stderr)
        print(str(crash), file=sys.stderr)
        if crash.reproducer:
            print(f"reproducer: {crash.reproducer} (replay: dynir-opt {crash.reproducer} --run-reproducer)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (an internal bug: one line, traceback with --debug)
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
