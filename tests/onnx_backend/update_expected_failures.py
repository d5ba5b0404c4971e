"""Regenerate ``expected_failures_<target>.txt`` from a run of the suite.

    python tests/onnx_backend/update_expected_failures.py interpret
    python tests/onnx_backend/update_expected_failures.py cpu

Runs every test of the suite without the current list and writes each failing test with
the first line of its error as the reason. Review the diff: the list should only shrink.
"""

from __future__ import annotations

import sys
import traceback
import unittest
from pathlib import Path

import onnx.backend.test

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import dynir.onnx_backend  # noqa: E402
from tests.onnx_backend.conformance import HERE, NOT_RUNNABLE  # noqa: E402


def main(target: str) -> int:
    backend = dynir.onnx_backend if target == "interpret" else dynir.onnx_backend.CompiledBackend
    suite_builder = onnx.backend.test.BackendTest(backend, __name__)
    for pattern in NOT_RUNNABLE:
        suite_builder.exclude(pattern)
    result = unittest.TestResult()
    suite_builder.test_suite.run(result)
    failures: dict[str, str] = {}
    for test, trace in [*result.failures, *result.errors]:
        name = test.id().rsplit(".", 1)[-1]
        failures[name] = _reason(trace)
    lines = [
        f"# ONNX backend conformance: tests that fail on target '{target}', with the reason.",
        "# A listed test that starts passing fails the suite; regenerate with",
        f"# python tests/onnx_backend/update_expected_failures.py {target}",
    ]
    lines += [f"{name}  # {reason}" for name, reason in sorted(failures.items())]
    out = HERE / f"expected_failures_{target}.txt"
    out.write_text("\n".join(lines) + "\n")
    print(f"{result.testsRun} run, {len(failures)} failing -> {out}")
    return 0


def _reason(trace: str) -> str:
    last = [line for line in trace.strip().splitlines() if line.strip()][-1]
    last = last.replace("#", "(hash)")
    return last[:200]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "interpret"))
