"""Running a pass pipeline with instrumentation: verify after each pass, time it, collect
its remarks, show the IR after it, and turn a crash into a reproducer.

``run_pipeline`` is the pass manager of ``dynir-opt``. For every pass it
1. keeps a clone of the IR before the pass (the reproducer, if the pass fails);
2. applies the pass with remarks attributed to it (``dynir.remarks.in_pass``);
3. verifies the module (unless disabled): invalid IR left by a pass is a bug in the
   pass, so it is an internal error naming the pass, not a user error;
4. calls the observers (``--print-ir-after-all``, ``--dump-dir`` ...).

A pass that raises ``PassFailedException`` rejects the user's input (exit 1); any
other exception is an internal error (``PassCrash``, exit 2) with a reproducer file.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException, VerifyException

from dynir.diagnostics import DynirError, SourceText, find_invalid_op, format_location
from dynir.pipeline import pass_spec_text
from dynir.remarks import Remark, collect_remarks, in_pass

REPRODUCER_HEADER = "// dynir-opt -p '{pipeline}'"
"""First line of a reproducer; ``dynir-opt --run-reproducer FILE`` replays it."""

Observer = Callable[[int, ModulePass, ModuleOp], None]
"""Called after pass number ``i`` (1-based) has run and verified."""


@dataclass
class PassCrash(Exception):
    """A pass raised, or left invalid IR: an internal error with a reproducer."""

    pass_name: str
    reason: str
    reproducer: str | None

    def __str__(self) -> str:
        return f"internal error: pass '{self.pass_name}' {self.reason}"


@dataclass
class PipelineReport:
    """What a run measured: wall seconds per pass (in order) and the remarks emitted."""

    timings: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])
    remarks: list[Remark] = field(default_factory=list[Remark])


@dataclass
class PassRunner:
    passes: Sequence[ModulePass]
    verify_each: bool = True
    observers: list[Observer] = field(default_factory=list[Observer])
    reproducer_dir: str | None = None
    print_ir: Callable[[ModuleOp], str] = str
    source: SourceText | None = None
    on_pass_start: Callable[[ModulePass], None] | None = None

    def run(self, ctx: Context, module: ModuleOp) -> PipelineReport:
        report = PipelineReport()
        with collect_remarks() as remarks:
            for index, p in enumerate(self.passes, start=1):
                if self.on_pass_start is not None:
                    self.on_pass_start(p)
                before = module.clone()
                start = time.perf_counter()
                self._apply(ctx, module, p, before)
                report.timings.append((p.name, time.perf_counter() - start))
                if self.verify_each:
                    self._verify_after(module, p, before)
                for observe in self.observers:
                    observe(index, p, module)
        report.remarks = list(remarks)
        return report

    def _apply(self, ctx: Context, module: ModuleOp, p: ModulePass, before: ModuleOp) -> None:
        try:
            with in_pass(p.name):
                p.apply(ctx, module)
        except PassFailedException as error:
            raise DynirError(f"pass '{p.name}' failed: {error}") from None
        except (KeyboardInterrupt, DynirError):
            raise
        except Exception as error:
            reason = f"raised {type(error).__name__}: {_first_line(error)}"
            raise PassCrash(p.name, reason, self._write_reproducer(before, p, reason)) from error

    def _verify_after(self, module: ModuleOp, p: ModulePass, before: ModuleOp) -> None:
        try:
            module.verify()
        except (VerifyException, ValueError) as error:
            op = find_invalid_op(module)
            where = f" (at {format_location(op)})" if op is not None else ""
            reason = f"left invalid IR: {_first_line(error)}{where}"
            raise PassCrash(p.name, reason, self._write_reproducer(before, p, reason)) from error

    def _write_reproducer(self, before: ModuleOp, p: ModulePass, reason: str) -> str | None:
        """The IR before ``p`` plus the pipeline that fails on it; the file's path."""
        header = REPRODUCER_HEADER.format(pipeline=pass_spec_text(p))
        text = f"{header}\n// pass '{p.name}' {reason}\n{self.print_ir(before)}"
        try:
            with tempfile.NamedTemporaryFile(
                "w", prefix="dynir-reproducer-", suffix=".mlir", dir=self.reproducer_dir,
                delete=False, encoding="utf-8",
            ) as f:
                f.write(text)
                return f.name
        except OSError:
            return None


def reproducer_pipeline(text: str) -> str | None:
    """The pipeline in a reproducer's first line, or ``None`` when it is not one."""
    first = text.split("\n", 1)[0]
    prefix, _, suffix = REPRODUCER_HEADER.partition("{pipeline}")
    if first.startswith(prefix) and first.endswith(suffix) and len(first) >= len(prefix) + len(suffix):
        return first[len(prefix) : len(first) - len(suffix)]
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "(no message)"
