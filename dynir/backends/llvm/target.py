"""The host CPU as an LLVM target: triple, CPU name, features, vector width.

One ``TargetMachine`` serves the whole process for optimisation and object emission; it is
never handed to an execution engine (MCJIT would take ownership and free it), so it lives
as long as the process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import llvmlite.binding as llvm


@dataclass(frozen=True)
class HostTarget:
    """What the backend needs to know about the CPU it compiles for."""

    triple: str
    cpu: str
    features: str
    data_layout: str
    vector_width_bits: int

    @property
    def f32_lanes(self) -> int:
        """How many f32 fit one vector register (16 on AVX-512, 8 on AVX2, 4 on SSE/NEON)."""
        return self.vector_width_bits // 32


def initialize_llvm() -> None:
    """Native target and asm printer; ``llvm.initialize()`` raises in llvmlite 0.50."""
    _initialize_once()


@functools.cache
def _initialize_once() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.cache
def host_target_machine() -> llvm.TargetMachine:
    """The process-wide target machine: host CPU and features, opt level 3, JIT code model."""
    initialize_llvm()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=3,
        jit=True,
    )


@functools.cache
def host_target() -> HostTarget:
    """The host description, read once."""
    machine = host_target_machine()
    features = llvm.get_host_cpu_features().flatten()
    return HostTarget(
        triple=machine.triple,
        cpu=llvm.get_host_cpu_name(),
        features=features,
        data_layout=str(machine.target_data),
        vector_width_bits=_vector_width_bits(features),
    )


def _vector_width_bits(features: str) -> int:
    enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    if "avx512f" in enabled:
        return 512
    if "avx" in enabled or "avx2" in enabled:
        return 256
    return 128
