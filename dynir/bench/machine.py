"""The machine a benchmark ran on: its description, the software versions, and its
measured limits (``dynir bench --peak``).

``measure_peak`` times numpy's float32 matmul (4096^3, every core) for the compute
limit and a large array copy (bytes read + written, every core) for the memory limit::

    peak = measure_peak()
    peak.gflops, peak.bandwidth_gbs     # e.g. 466.0, 51.2

OpenBLAS picks its kernel from ``OPENBLAS_CORETYPE`` when set; some machines set it to
an older core (Haswell) that halves the matmul peak. ``Peak.notes`` says so, with the
command that measures the real peak.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

MATMUL_SIZE = 4096
COPY_BYTES = 256 * 2**20
"""Each copy buffer: far larger than any L3 cache, so the copy streams from DRAM."""


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    system: str

    def describe(self) -> str:
        return f"{self.cpu}, {self.cores} cores, {self.memory_gib:.0f} GiB RAM, {self.system}"


@dataclass(frozen=True)
class Peak:
    """Measured float32 compute peak and memory bandwidth, with caveats."""

    gflops: float
    bandwidth_gbs: float
    threads: int
    blas: str
    notes: list[str] = field(default_factory=list[str])

    @property
    def balance(self) -> float:
        """FLOPs per byte at which a kernel stops being memory-bound (the ridge point)."""
        return self.gflops / self.bandwidth_gbs

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def this_machine() -> Machine:
    return Machine(_cpu_name(), os.cpu_count() or 1, _memory_gib(), f"{platform.system()} {platform.machine()}")


def versions() -> dict[str, str]:
    """Versions of everything that decides a timing."""
    from llvmlite import binding

    found = {"python": platform.python_version()}
    for package in ("dynir", "xdsl", "llvmlite", "onnxruntime", "onnx", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    found["LLVM"] = ".".join(str(part) for part in binding.llvm_version_info)
    return found


def measure_peak(threads: int | None = None, repeats: int = 3) -> Peak:
    """Best of ``repeats`` for a 4096^3 float32 matmul and a 256 MiB copy, on ``threads``
    cores (default: all)."""
    threads = threads or os.cpu_count() or 1
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        gflops = _matmul_gflops(repeats)
    blas = ", ".join(
        f"{i.get('internal_api', '?')} {i.get('version', '')} ({i.get('architecture', '?')} kernel)".replace("  ", " ")
        for i in threadpool_info() if i.get("user_api") == "blas"
    ) or "unknown BLAS"
    return Peak(gflops, _copy_gbs(threads, repeats), threads, blas, _blas_notes())


def _matmul_gflops(repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32)
    b = rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: thread pool and page faults
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2 * MATMUL_SIZE**3 / best / 1e9


def _copy_gbs(threads: int, repeats: int) -> float:
    """Bytes read + written per second by ``threads`` threads, each copying its own slice."""
    source = np.ones(COPY_BYTES // 4, dtype=np.float32)
    target = np.zeros_like(source)
    slices = [slice(i * source.size // threads, (i + 1) * source.size // threads) for i in range(threads)]

    def copy_all() -> None:
        workers = [threading.Thread(target=np.copyto, args=(target[s], source[s])) for s in slices]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    copy_all()  # warm-up: page faults of the target
    best = min(_timed(copy_all) for _ in range(repeats))
    return 2 * source.nbytes / best / 1e9


def _timed(call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - start


def _blas_notes() -> list[str]:
    notes: list[str] = []
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        notes.append(
            f"OPENBLAS_CORETYPE={coretype} is set: OpenBLAS uses that core's kernel, which may be well below "
            "this CPU's peak (Haswell halves it on AVX-512 machines); to measure the real peak run "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE dynir bench --peak ...`"
        )
    return notes


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0
