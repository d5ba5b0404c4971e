"""Progress bars for CLI steps that can take more than a few seconds (``rich``).

Bars go to stderr and only appear on a terminal, so piped output and logs stay clean::

    with progress_bar("compiling kernels", total=len(kernels)) as bar:
        for kernel in kernels:
            bar.step(kernel.name)   # shows the current item, advances by one

    for layer in track(layers, "importing"):
        ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

T = TypeVar("T")


class Bar:
    """One running bar: ``step(label)`` advances it and names the current item."""

    def __init__(self, progress: Progress | None, task: TaskID | None, description: str) -> None:
        self._progress = progress
        self._task = task
        self._description = description

    def step(self, label: str = "", amount: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            text = f"{self._description}: {label}" if label else self._description
            self._progress.update(self._task, advance=amount, description=text)

    def label(self, label: str) -> None:
        """Name the current item without advancing."""
        self.step(label, amount=0)


@contextmanager
def progress_bar(description: str, total: float | None = None, *, stream: IO[str] | None = None,
                 enabled: bool | None = None) -> Iterator[Bar]:
    """A bar for the ``with`` block; ``total=None`` shows a spinner. ``enabled`` defaults
    to whether ``stream`` (stderr) is a terminal; a disabled bar's methods do nothing."""
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        enabled = stream.isatty()
    if not enabled:
        yield Bar(None, None, description)
        return
    console = Console(file=stream, force_terminal=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield Bar(progress, progress.add_task(description, total=total), description)


def track(items: Iterable[T], description: str, total: int | None = None, *, stream: IO[str] | None = None,
          enabled: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` with a bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total, stream=stream, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.step()
