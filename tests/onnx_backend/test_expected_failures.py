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


def test_compiled_path_passes_what_the_interpreter_passes() -> None:
    """The two lists are kept in step: compiled code fails no test the interpreter passes,
    except float16 graphs where fused kernels keep f32 intermediates (one rounding at the
    end) and land further from the reference than its per-op float16 rounding allows."""
    compiled_only = set(expected_failures("cpu")) - set(expected_failures("interpret"))
    assert all("fp16" in name for name in compiled_only), sorted(compiled_only)
    assert len(compiled_only) <= 4, sorted(compiled_only)
