"""The tables of ``dynir bench``: one for the terminal (``rich``) and one in Markdown for
``docs/performance.md`` (``--markdown``), both from the same cells.

Columns: model, median latency of each library, dynir / onnxruntime, dynir's speed
(GFLOP/s when compute-bound, GB/s when memory-bound) with the share of the machine's
measured limit of each library (with ``--peak``), cold and warm compile time, and the
max error against onnxruntime (``!`` past the tolerance).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dynir.bench.results import INT8_MIN_COSINE, MISMATCH_TOLERANCE, BenchResult, BenchRun

HEADERS = ["model", "dynir ms", "ort ms", "dynir/ort", "dynir speed", "% peak dynir/ort", "compile s cold/warm", "max err"]
INT8_HEADER = "cos vs float dynir/ort"
"""The extra column of a run with int8 rows: each library's int8 output against float."""
RIGHT_ALIGNED = set(HEADERS[1:]) | {INT8_HEADER}


def headers(run: BenchRun) -> list[str]:
    return HEADERS + [INT8_HEADER] if any(r.int8 for r in run.results) else HEADERS


def row_cells(result: BenchResult, run: BenchRun) -> list[str]:
    cells = _float_cells(result, run)
    if len(headers(run)) > len(HEADERS):
        cells.append(_cosines(result))
    return cells


def _cosines(result: BenchResult) -> str:
    if not result.int8:
        return "-"
    cell = " / ".join("-" if c is None else f"{c:.4f}" for c in (result.dynir_cosine, result.ort_cosine))
    return cell + (" !" if result.mismatch else "")


def _float_cells(result: BenchResult, run: BenchRun) -> list[str]:
    label = result.model if result.variant == "fused" else f"{result.model} ({result.variant})"
    if not result.ok:
        return [label, result.status, _ms(result.ort_ms), "-", "-", "-", _compile(result), "-"]
    speed = result.throughput(result.dynir_ms, run.peak)
    ort_speed = result.throughput(result.ort_ms, run.peak)
    shares = "-"
    if speed is not None and ort_speed is not None and speed[2] is not None and ort_speed[2] is not None:
        shares = f"{speed[2]:.0%} / {ort_speed[2]:.0%}"
    error = "-" if result.max_abs_error is None else f"{result.max_abs_error:.1e}"
    if result.mismatch and not result.int8:
        error += " !"
    return [
        label,
        _ms(result.dynir_ms),
        _ms(result.ort_ms),
        "-" if result.ratio is None else f"{result.ratio:.2f}x",
        "-" if speed is None else f"{speed[0]:.1f} {speed[1]}",
        shares,
        _compile(result),
        error,
    ]


def footnotes(run: BenchRun) -> list[str]:
    """What the numbers mean, and why a row has none."""
    notes = [
        f"median of {run.runs} timed calls each, alternating blocks, {run.threads} thread(s) for dynir and onnxruntime; "
        "dynir/ort below 1.00x means dynir is faster",
    ]
    if run.peak is not None:
        notes.append(
            f"peak: {run.peak.gflops:.0f} GFLOP/s float32 (numpy matmul, {run.peak.blas}), "
            f"{run.peak.bandwidth_gbs:.1f} GB/s copy bandwidth, {run.peak.threads} threads"
        )
        notes += run.peak.notes
    notes += run.notes
    if any(r.mismatch and not r.int8 for r in run.results):
        notes.append(f"!: max error above {MISMATCH_TOLERANCE:g} x the largest onnxruntime output value")
    notes += _int8_notes(run)
    notes += [f"{r.model}: {r.status}: {r.error}" for r in run.results if not r.ok]
    return notes


def _int8_notes(run: BenchRun) -> list[str]:
    rows = [r for r in run.results if r.int8]
    if not rows:
        return []
    notes = [
        "int8 rows: dynir's int8 (int8-dynamic: quantize{mode=dynamic}; int8-static: 16 calibration samples, "
        "seeds 100-115) against onnxruntime's quantize_dynamic / quantize_static (QDQ, per channel, same samples); "
        f"max err is against onnxruntime's int8, '{INT8_HEADER}' is each library's output cosine against the "
        f"float model (! below {INT8_MIN_COSINE:g})",
    ]
    for r in rows:
        if r.int8_layers is not None:
            done, total = r.int8_layers
            kept = f" ({total - done} kept in float: int8 would be slower or is unsupported)" if done < total else ""
            notes.append(f"{r.model} ({r.variant}): dynir quantized {done} of {total} layers{kept}")
    return notes


TABLE_WIDTH = 140
"""Width of the output when it is not a terminal (logs, files)."""


def make_console() -> Console:
    """A console for tables: the terminal's width, or ``TABLE_WIDTH`` when piped."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=TABLE_WIDTH, highlight=False)


def print_table(run: BenchRun, console: Console | None = None, title: str = "dynir vs onnxruntime") -> None:
    console = console or Console()
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for header in headers(run):
        table.add_column(header, justify="right" if header in RIGHT_ALIGNED else "left", no_wrap=header == "model")
    for result in run.results:
        cells = row_cells(result, run)
        style = None if result.ok and not result.mismatch else "red"
        table.add_row(*(Text(cell) for cell in cells), style=style)  # Text: "[seq=?]" is not markup
    console.print(table)
    for note in footnotes(run):
        console.print(f"  {note}", highlight=False, markup=False, soft_wrap=True)


def markdown_table(run: BenchRun) -> str:
    columns = headers(run)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---:" if h in RIGHT_ALIGNED else "---" for h in columns) + "|"]
    for result in run.results:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row_cells(result, run)) + " |")
    return "\n".join(lines) + "\n"


def markdown_page(run: BenchRun) -> str:
    """``docs/performance.md``: the table with the command, the machine and the versions."""
    versions = ", ".join(f"{name} {v}" for name, v in run.versions.items())
    notes = "\n".join(f"- {note}" for note in footnotes(run))
    return f"""# Performance

The latest `dynir bench` table. Regenerate it with the command below (it rewrites this
page); compare numbers only between runs on the same machine.

```sh
{run.command}
```

- Machine: {run.machine.describe()}
- Versions: {versions}

{markdown_table(run)}
{notes}

Columns: median latency of each library on the same inputs; `dynir/ort` below 1.00x
means dynir is faster; `dynir speed` is GFLOP/s for compute-bound models and GB/s of
minimum memory traffic (weights + inputs + outputs once) for memory-bound ones; `% of
peak` compares each library with the machine's measured float32 matmul peak or copy
bandwidth (`--peak`; measured once at the start, so a busy machine can push it past
100%); compile time is `dynir.compile` plus the first call (dynir compiles lazily) less
one median run, cold with an empty kernel cache and warm with it filled; `max err` is
the largest absolute difference from onnxruntime's outputs.
"""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _compile(result: BenchResult) -> str:
    if result.compile_cold_s is None:
        return "-"
    warm = "-" if result.compile_warm_s is None else f"{result.compile_warm_s:.2f}"
    return f"{result.compile_cold_s:.2f} / {warm}"
