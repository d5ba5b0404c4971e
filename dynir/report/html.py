"""The compile report as one self-contained HTML page.

Sections, top to bottom: the pass list (each step, its time, its remark count, linking
to its snapshot), time per step, the final kernels with the source ops (ONNX nodes)
behind each, every remark, then one section per snapshot with its remarks, a diff
against the previous snapshot and the full IR (large constants elided). Long texts are
cut at ``MAX_LINES`` lines so that reports of large models stay small enough to open.
"""

from __future__ import annotations

import datetime
import difflib
import html
from collections.abc import Sequence
from pathlib import Path

from dynir.diagnostics import DynirError
from dynir.remarks import Remark
from dynir.report.assets import SCRIPT, STYLE
from dynir.report.recorder import KernelOrigin, Snapshot

MAX_LINES = 4000
"""Lines shown per IR text or diff; the rest is summarised in one line."""

MAX_DIFF_INPUT_LINES = 40000
"""Texts longer than this are not diffed (difflib's time grows with their product)."""


def write_report(snapshots: Sequence[Snapshot], remarks: Sequence[Remark], timings: Sequence[tuple[str, float]],
                 kernels: Sequence[KernelOrigin], path: str | Path, *, title: str = "") -> Path:
    """Render the report and write it to ``path``; ``DynirError`` when it cannot be written."""
    target = Path(path)
    page = render_report(snapshots, remarks, timings, kernels, title=title)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise DynirError(f"cannot write the report '{path}': {error.strerror}") from None
    return target


def render_report(snapshots: Sequence[Snapshot], remarks: Sequence[Remark], timings: Sequence[tuple[str, float]],
                  kernels: Sequence[KernelOrigin], *, title: str = "") -> str:
    total = sum(seconds for _, seconds in timings)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    heading = f"dynir compile report{': ' + title if title else ''}"
    body = "\n".join([
        f"<header><h1>{_e(heading)}</h1><p class=\"meta\">{_e(stamp)} &middot; {len(snapshots)} snapshots &middot; "
        f"{len(kernels)} kernels &middot; {len(remarks)} remarks &middot; {total * 1e3:.1f} ms in all</p></header>",
        "<div class=\"toolbar\"><button id=\"expand-all\">expand all</button> "
        "<button id=\"collapse-all\">collapse all</button> "
        "<input id=\"filter\" type=\"search\" placeholder=\"show snapshots containing...\"></div>",
        _pass_list(snapshots, remarks),
        _timing_table(timings),
        _kernel_table(kernels),
        _remark_table(remarks),
        *(_snapshot_section(i, snapshots, remarks) for i in range(len(snapshots))),
    ])
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(heading)}</title><style>{STYLE}</style></head>\n"
            f"<body>\n{body}\n<script>{SCRIPT}</script>\n</body></html>\n")


def _pass_list(snapshots: Sequence[Snapshot], remarks: Sequence[Remark]) -> str:
    items: list[str] = []
    for i, snap in enumerate(snapshots):
        count = sum(1 for r in remarks if r.pass_name == snap.name)
        badge = f"<span class=\"badge\">{count} remark{'s' if count != 1 else ''}</span>" if count else ""
        time = f" <span class=\"muted\">{snap.seconds * 1e3:.1f} ms</span>" if snap.seconds is not None else ""
        items.append(f"<li class=\"pass\"><a href=\"#snapshot-{i}\">{_e(snap.name)}</a>{time}{badge}</li>")
    return f"<nav id=\"pass-list\"><h2>Passes</h2><ol start=\"0\">{''.join(items)}</ol></nav>"


def _timing_table(timings: Sequence[tuple[str, float]]) -> str:
    if not timings:
        return ""
    longest = max(seconds for _, seconds in timings) or 1e-12
    total = sum(seconds for _, seconds in timings) or 1e-12
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td class=\"num\">{seconds * 1e3:.2f}</td><td class=\"num\">{seconds / total:.0%}</td>"
        f"<td><span class=\"bar\" style=\"width:{max(1, round(300 * seconds / longest))}px\"></span></td></tr>"
        for name, seconds in timings
    )
    return (f"<section id=\"timings\"><h2>Time per step</h2><table><tr><th>step</th><th>ms</th><th>share</th><th></th></tr>"
            f"{rows}<tr><th>total</th><td class=\"num\">{total * 1e3:.2f}</td><td></td><td></td></tr></table></section>")


def _kernel_table(kernels: Sequence[KernelOrigin]) -> str:
    if not kernels:
        return "<section id=\"kernels\"><h2>Kernels</h2><p class=\"muted\">no kernels (lower-to-loops did not run)</p></section>"
    rows = "".join(
        f"<tr><td><code>@{_e(k.kernel)}</code></td><td>{'<br>'.join(_e(op) for op, _ in k.ops)}</td>"
        f"<td>{'<br>'.join(_e(loc) or '<span class=muted>unknown</span>' for _, loc in k.ops)}</td></tr>"
        for k in kernels
    )
    return (f"<section id=\"kernels\"><h2>Kernels and where they came from</h2><table>"
            f"<tr><th>kernel</th><th>ops</th><th>source (ONNX node)</th></tr>{rows}</table></section>")


def _remark_table(remarks: Sequence[Remark]) -> str:
    if not remarks:
        return "<section id=\"remarks\"><h2>Remarks</h2><p class=\"muted\">no pass emitted a remark</p></section>"
    rows = "".join(
        f"<tr><td>{_e(r.pass_name)}</td><td><code>{_e(r.op_name)}</code></td><td>{_e(r.location)}</td><td>{_e(r.message)}</td></tr>"
        for r in remarks
    )
    return (f"<section id=\"remarks\"><h2>Remarks</h2><table><tr><th>pass</th><th>op</th><th>location</th>"
            f"<th>message</th></tr>{rows}</table></section>")


def _snapshot_section(index: int, snapshots: Sequence[Snapshot], remarks: Sequence[Remark]) -> str:
    snap = snapshots[index]
    time = f" <small class=\"muted\">{snap.seconds * 1e3:.1f} ms</small>" if snap.seconds is not None else ""
    own = [r for r in remarks if r.pass_name == snap.name]
    remark_list = ("<ul class=\"remarks\">" + "".join(f"<li>{_e(str(r))}</li>" for r in own) + "</ul>") if own else ""
    parts = [f"<section class=\"snapshot\" id=\"snapshot-{index}\"><h2>{index}. {_e(snap.name)}{time}</h2>", remark_list]
    if index > 0 and snap.diff and snapshots[index - 1].diff:
        parts.append(_diff_block(snapshots[index - 1], snap))
    lines = snap.text.splitlines()
    parts.append(f"<details{' open' if index == 0 else ''}><summary>IR after {_e(snap.name)} ({len(lines)} lines)</summary>"
                 f"<pre class=\"ir\">{_e(_cut(lines))}</pre></details></section>")
    return "".join(parts)


def _diff_block(before: Snapshot, after: Snapshot) -> str:
    old, new = before.text.splitlines(), after.text.splitlines()
    if len(old) + len(new) > MAX_DIFF_INPUT_LINES:
        return f"<p class=\"muted\">diff against {_e(before.name)} not shown: {len(old) + len(new)} lines</p>"
    diff = list(difflib.unified_diff(old, new, before.name, after.name, lineterm="", n=3))
    if not diff:
        return f"<p class=\"muted\">no change against {_e(before.name)}</p>"
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    shown = "".join(f"<span class=\"{_diff_class(line)}\">{_e(line) or ' '}</span>" for line in diff[:MAX_LINES])
    if len(diff) > MAX_LINES:
        shown += f"<span class=\"hunk\">... {len(diff) - MAX_LINES} more diff lines not shown</span>"
    return (f"<details open><summary>diff against {_e(before.name)} (+{added} -{removed} lines)</summary>"
            f"<pre class=\"diff\">{shown}</pre></details>")


def _diff_class(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+") and not line.startswith("+++"):
        return "add"
    if line.startswith("-") and not line.startswith("---"):
        return "del"
    return "ctx"


def _cut(lines: list[str]) -> str:
    if len(lines) <= MAX_LINES:
        return "\n".join(lines)
    return "\n".join(lines[:MAX_LINES]) + f"\n... {len(lines) - MAX_LINES} more lines not shown"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
