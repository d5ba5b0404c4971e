"""The expected-failure lists name real tests, each with a reason."""

import pytest

import dynir.onnx_backend
from tests.onnx_backend.conformance import all_test_names, expected_failures


@pytest.mark.parametrize("target", ["interpret", "cpu"])
def test_lists_name_existing_tests_with_reasons(target: str) -> None:
    names = all_test_names(dynir.onnx_backend)
    listed = expected_failures(target)
    stale = sorted(set(listed) - names)
    assert not stale, f"expected_failures_{target}.txt lists tests that do not exist: {stale[:10]}"
    assert all(reason for reason in listed.values()), "every expected failure needs a reason"
