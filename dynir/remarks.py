"""Optimisation remarks: passes that decide (fuse or not, quantize or keep fp32, reuse a
buffer or copy) say why, attached to the op the decision is about.

A pass calls ``remark(op, "not fused: producer has 3 users")``. The pass manager
collects remarks while a pipeline runs (``collect_remarks()``); ``dynir-opt --remarks``
prints them as ``file:line:col: remark: [pass] message`` and tests read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from xdsl.ir import Operation


@dataclass(frozen=True)
class Remark:
    pass_name: str
    op_name: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: remark: [{self.pass_name}] {self.message}"


_SINK: ContextVar[list[Remark] | None] = ContextVar("dynir_remarks", default=None)
_PASS: ContextVar[str] = ContextVar("dynir_current_pass", default="?")


def location_of(op: Operation) -> str:
    """``file:line:col`` or the ONNX node name of ``op``, as diagnostics print it."""
    from dynir.diagnostics import format_location

    return format_location(op)


def remark(op: Operation, message: str) -> None:
    """Record a remark about ``op`` (a no-op when nobody collects)."""
    sink = _SINK.get()
    if sink is not None:
        sink.append(Remark(_PASS.get(), op.name, location_of(op), message))


@contextmanager
def collect_remarks() -> Iterator[list[Remark]]:
    """Collect every remark emitted inside the ``with`` block."""
    sink: list[Remark] = []
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)


@contextmanager
def in_pass(name: str) -> Iterator[None]:
    """Attribute remarks emitted inside the block to pass ``name``."""
    token = _PASS.set(name)
    try:
        yield
    finally:
        _PASS.reset(token)
