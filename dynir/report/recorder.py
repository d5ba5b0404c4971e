"""Recording a compilation for the report: the IR after every pass, per-pass time,
remarks, and where each kernel came from.

The compiler (or any driver) creates a ``CompileRecorder`` when a report is asked for
and runs its pipeline through ``run_pipeline``; without a recorder, ``run_pipeline``
applies the passes exactly as ``PassPipeline.apply`` does, at no extra cost::

    recorder = CompileRecorder("model.onnx") if report is not None else None
    run_pipeline(ctx, module, compile_pipeline(fuse=fuse), recorder)
    with timed_stage(recorder, "llvm-jit"):
        compiled = jit_compile(kernel_module)
    if recorder is not None:
        recorder.write(report)

``dynir-opt --report`` feeds the same recorder from its own ``PassRunner``
(``recorder.observe`` as an observer, then ``recorder.record_run``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline

from dynir.cli.pass_runner import PassRunner, PipelineReport
from dynir.cli.printing import PrintOptions, print_module
from dynir.diagnostics import format_loc_attr
from dynir.remarks import Remark

ELIDE_ABOVE = 16
"""Constants with more elements than this print as ``dense_resource<__elided__>``."""


@dataclass
class Snapshot:
    """The program after one step: MLIR text (``diff=True``) or another level's text."""

    name: str
    text: str
    seconds: float | None = None
    diff: bool = True
    """Whether a diff against the previous snapshot means something (same IR language)."""


@dataclass(frozen=True)
class KernelOrigin:
    """One final kernel and the ops behind it, with their source locations (ONNX nodes)."""

    kernel: str
    ops: tuple[tuple[str, str], ...]
    """(op name, location) of each op the kernel computes, in program order."""


@dataclass
class CompileRecorder:
    title: str = ""
    elide_above: int = ELIDE_ABOVE
    snapshots: list[Snapshot] = field(default_factory=list[Snapshot])
    remarks: list[Remark] = field(default_factory=list[Remark])
    timings: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])
    kernels: list[KernelOrigin] = field(default_factory=list[KernelOrigin])

    def snapshot(self, name: str, module: ModuleOp, seconds: float | None = None) -> None:
        self.snapshots.append(Snapshot(name, self.print(module), seconds))

    def add_text(self, name: str, text: str, seconds: float | None = None) -> None:
        """A snapshot at a level that is not MLIR (LLVM IR): shown, not diffed."""
        self.snapshots.append(Snapshot(name, text, seconds, diff=False))

    def observe(self, index: int, p: ModulePass, module: ModuleOp) -> None:
        """A ``PassRunner`` observer: snapshot the IR after each pass."""
        self.snapshot(p.name, module)

    def record_run(self, report: PipelineReport, module: ModuleOp) -> None:
        """After a ``PassRunner`` run observed by ``observe``: times, remarks, kernels."""
        observed = self.snapshots[len(self.snapshots) - len(report.timings):]
        for snap, (_, seconds) in zip(observed, report.timings):
            snap.seconds = seconds
        self.timings += report.timings
        self.remarks += report.remarks
        self.kernels = kernel_origins(module)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a step that is not a pass (import, LLVM JIT)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append((name, time.perf_counter() - start))

    def print(self, module: ModuleOp) -> str:
        return print_module(module, (), PrintOptions(elide_above=self.elide_above))

    def write(self, path: str | Path) -> Path:
        from dynir.report.html import write_report

        return write_report(self.snapshots, self.remarks, self.timings, self.kernels, path, title=self.title)


def run_pipeline(ctx: Context, module: ModuleOp, pipeline: str, recorder: CompileRecorder | None = None) -> None:
    """Apply the textual ``pipeline`` to ``module``; with a recorder, also snapshot, time
    and collect remarks after every pass (the input is the first snapshot)."""
    from dynir.pipeline import build_pipeline, pass_registry

    if recorder is None:
        PassPipeline.parse_spec(pass_registry(), pipeline).apply(ctx, module)
        return
    run_passes(ctx, module, build_pipeline(pipeline), recorder)


def run_passes(ctx: Context, module: ModuleOp, passes: Sequence[ModulePass], recorder: CompileRecorder) -> None:
    if not recorder.snapshots:
        recorder.snapshot("input", module)
    runner = PassRunner(passes, observers=[recorder.observe], print_ir=recorder.print)
    recorder.record_run(runner.run(ctx, module), module)


def timed_stage(recorder: CompileRecorder | None, name: str) -> AbstractContextManager[None]:
    """``recorder.stage(name)``, or nothing when there is no recorder."""
    return nullcontext() if recorder is None else recorder.stage(name)


def kernel_origins(module: ModuleOp) -> list[KernelOrigin]:
    """Every ``fusion.group`` with a kernel, and the ops (with locations) in its body."""
    from dynir.dialects.fusion import GroupOp, YieldOp

    origins: list[KernelOrigin] = []
    for op in module.walk():
        if isinstance(op, GroupOp) and op.kernel is not None:
            ops = tuple(
                (inner.name, format_loc_attr(inner.location))
                for inner in op.body.block.ops
                if not isinstance(inner, YieldOp)
            )
            origins.append(KernelOrigin(op.kernel.string_value(), ops))
    return origins
