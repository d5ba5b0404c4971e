"""The recompile ledger: why each specialisation of a model was built, and the counters
of ``CompiledModel.stats``.

Every new specialisation adds a ``CompileRecord``: the guard that failed (input, dim,
symbol, old and new size) or ``first call``/``recompile limit``, the shapes chosen,
whether it was compiled or loaded from the disk cache, and how long that took.
``Ledger.explain()`` is what ``model.explain()`` and ``dynir explain-recompiles`` print::

    3 specialisations for 200 calls (2 compiled, 1 from the disk cache, 197 in-memory hits)
    #1 compiled in 0.41 s: first call
       -> hidden: 1x17x64 float32, attention_mask: 1x1x1x17 float32
    #2 compiled in 0.38 s: input 'hidden' dim 1 ('seq') was 17, now 5
       -> hidden: 1x?x64 float32, attention_mask: 1x1x1x? float32
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Reason = Literal["first call", "guard", "recompile limit", "requested"]
Source = Literal["compiled", "disk"]


@dataclass(frozen=True)
class GuardFailure:
    """Dim ``axis`` of ``input`` was ``old`` in the specialisation and is ``new`` now."""

    input: str
    axis: int
    symbol: str
    old: int
    new: int

    def describe(self) -> str:
        symbol = f" ('{self.symbol}')" if self.symbol else ""
        return f"input '{self.input}' dim {self.axis}{symbol} was {self.old}, now {self.new}"


@dataclass(frozen=True)
class CompileRecord:
    """One specialisation of the model and why it exists."""

    index: int
    reason: Reason
    failures: tuple[GuardFailure, ...]
    spec: str
    source: Source
    seconds: float
    key: str

    def describe(self) -> str:
        how = "compiled" if self.source == "compiled" else "loaded from the disk cache"
        if self.reason == "guard":
            why = "; ".join(f.describe() for f in self.failures) or "no compiled specialisation covers the call"
        elif self.reason == "recompile limit":
            why = "recompile limit reached: using the most generic specialisation"
            if self.failures:
                why += " (" + "; ".join(f.describe() for f in self.failures) + ")"
        else:
            why = self.reason
        return f"#{self.index} {how} in {self.seconds:.2f} s: {why}\n   -> {self.spec}"


@dataclass(frozen=True)
class RuntimeStats:
    """Counters of one ``CompiledModel``: ``calls`` that ran, specialisations ``compiles``
    (built here) and ``disk_hits`` (loaded from the disk cache), and ``cache_hits``: calls
    served by a specialisation already in memory."""

    calls: int
    compiles: int
    disk_hits: int
    cache_hits: int

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "compiles": self.compiles, "disk_hits": self.disk_hits, "cache_hits": self.cache_hits}


@dataclass
class Ledger:
    """The records of one model, in the order the specialisations were made."""

    records: list[CompileRecord] = field(default_factory=list[CompileRecord])

    def add(
        self, reason: Reason, failures: list[GuardFailure], spec: str, source: Source, seconds: float, key: str
    ) -> CompileRecord:
        record = CompileRecord(len(self.records) + 1, reason, tuple(failures), spec, source, seconds, key)
        self.records.append(record)
        return record

    @property
    def compiles(self) -> int:
        return sum(r.source == "compiled" for r in self.records)

    @property
    def disk_hits(self) -> int:
        return sum(r.source == "disk" for r in self.records)

    def most_changing_dim(self) -> str | None:
        """The dim whose guard failed most often (``input 'x' dim 1 ('seq')``), if any."""
        counts = Counter((f.input, f.axis, f.symbol) for r in self.records for f in r.failures)
        if not counts:
            return None
        (name, axis, symbol), _ = counts.most_common(1)[0]
        return f"input '{name}' dim {axis}" + (f" ('{symbol}')" if symbol else "")

    def explain(self, stats: RuntimeStats) -> str:
        n = len(self.records)
        calls = stats.calls
        head = (
            f"{n} specialisation{'s' if n != 1 else ''} for {calls} call{'s' if calls != 1 else ''} "
            f"({self.compiles} compiled, {self.disk_hits} from the disk cache, {stats.cache_hits} in-memory hits)"
        )
        return "\n".join([head, *(r.describe() for r in self.records)])
