"""Shared setup of the ONNX backend conformance suite (``onnx.backend.test``).

Each test module builds a ``BackendTest`` for one target and marks the tests listed in
its expected-failure file as ``expectedFailure``: a listed test that starts passing
fails the suite (a ratchet), so the lists only ever shrink. Regenerate a list with
``python tests/onnx_backend/update_expected_failures.py TARGET``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import onnx.backend.test

HERE = Path(__file__).parent

# Tests that cannot run here at all (not failures of dynir): the "real" model tests
# download their models from the internet, which this project never does.
NOT_RUNNABLE = [
    r"^test_(bvlc_alexnet|densenet121|inception_v1|inception_v2|resnet50|shufflenet|squeezenet|vgg19|zfnet512)_",
    r"_cuda$",
]


def expected_failures(target: str) -> dict[str, str]:
    """``{test name: reason}`` from ``expected_failures_<target>.txt``."""
    entries: dict[str, str] = {}
    path = HERE / f"expected_failures_{target}.txt"
    if not path.exists():
        return entries
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition("#")
        entries[name.strip()] = reason.strip()
    return entries


def backend_test_cases(backend: Any, module_name: str, target: str) -> dict[str, type]:
    """The unittest classes to put in a test module's globals."""
    suite = onnx.backend.test.BackendTest(backend, module_name)
    for name in expected_failures(target):
        suite.xfail(f"^{re.escape(name)}$")
    cases = suite.test_cases
    # Tests that cannot run here are left out of collection rather than reported as
    # thousands of skips: the suite generates a CUDA twin of every test.
    not_runnable = [re.compile(p) for p in NOT_RUNNABLE]
    for case in cases.values():
        for name in [n for n in vars(case) if n.startswith("test_")]:
            if any(p.search(name) for p in not_runnable):
                delattr(case, name)
    return cases


def all_test_names(backend: Any) -> set[str]:
    suite = onnx.backend.test.BackendTest(backend, __name__)
    return {name for case in suite.test_cases.values() for name in dir(case) if name.startswith("test_")}
