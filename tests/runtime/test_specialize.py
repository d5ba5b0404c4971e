"""Symbols, the specialisation policy and ``refine_types``."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.diagnostics import DynirError
from dynir.ir.types import shape_of
from dynir.runtime.specialize import (
    InputError,
    ModelInput,
    SpecPolicy,
    build_symbols,
    refine_types,
    spec_arg_types,
)
from tests.runtime.runtime_testlib import tied_model

F32 = np.dtype(np.float32)
X = ModelInput("x", F32, (None, None, 8), ("batch", "seq", ""))
MASK = ModelInput("mask", F32, (None, 1, None), ("batch", "", "seq"))
IDS = ModelInput("ids", F32, (None, None), ("", ""))


def test_dims_with_one_name_are_one_symbol() -> None:
    table = build_symbols([X, MASK], None)
    assert [s.name for s in table.symbols] == ["batch", "seq"]
    assert [d.describe() for d in table.symbols[1].dims] == ["input 'x' dim 1", "input 'mask' dim 2"]
    assert table.values([(2, 5, 8), (2, 1, 5)]) == [2, 5]


def test_tied_dims_that_differ_name_both_inputs() -> None:
    table = build_symbols([X, MASK], None)
    with pytest.raises(InputError) as error:
        table.values([(2, 5, 8), (2, 1, 6)])
    assert str(error.value) == "input 'x' dim 1 and input 'mask' dim 2 are both 'seq' but have sizes 5 and 6"


def test_unnamed_dims_are_separate_symbols() -> None:
    table = build_symbols([IDS], None)
    assert [s.name for s in table.symbols] == ["ids[0]", "ids[1]"]


def test_declared_dims_tie_and_take_bounds() -> None:
    table = build_symbols([X, IDS], {"ids": {1: ("seq", 1, 16)}})
    seq = next(s for s in table.symbols if s.name == "seq")
    assert [d.describe() for d in seq.dims] == ["input 'x' dim 1", "input 'ids' dim 1"]
    assert (seq.low, seq.high, seq.declared) == (1, 16, True)
    with pytest.raises(InputError) as error:
        table.values([(1, 17, 8), (3, 17)])
    assert str(error.value) == "input 'x' dim 1 ('seq') is 17, outside the declared bounds [1, 16]"


@pytest.mark.parametrize(
    ("dynamic", "message"),
    [
        ({"y": {0: "n"}}, "dynamic=: the model has no input 'y' (inputs: x)"),
        ({"x": {2: "n"}}, "dynamic=: input 'x' dim 2 is static (8) in the model and cannot be symbolic"),
        ({"x": {3: "n"}}, "dynamic=: input 'x' dim 3 is out of range for rank 3"),
        ({"x": {1: ("seq", 9, 2)}}, "dynamic=: input 'x' dim 1: expected a name, (name,) or (name, min, max) "
                                     "with 0 <= min <= max, got ('seq', 9, 2)"),
    ],
)
def test_bad_declarations(dynamic: object, message: str) -> None:
    with pytest.raises(DynirError) as error:
        build_symbols([X], dynamic)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_auto_policy_goes_symbolic_on_the_second_value_only() -> None:
    table = build_symbols([X, MASK], None)
    policy = SpecPolicy(table, None)
    assert policy.choose([1, 5]) == ((1, 5, 8), (1, 1, 5))
    assert policy.choose([1, 7]) == ((1, None, 8), (1, 1, None))
    assert policy.choose([1, 9]) == ((1, None, 8), (1, 1, None))
    assert policy.choose([2, 9]) == ((None, None, 8), (None, 1, None))


def test_exact_symbolic_and_declared_policies() -> None:
    table = build_symbols([X, MASK], None)
    exact = SpecPolicy(table, False)
    assert [exact.choose([1, n]) for n in (5, 7)] == [((1, 5, 8), (1, 1, 5)), ((1, 7, 8), (1, 1, 7))]
    assert SpecPolicy(table, True).choose([1, 5]) == ((None, None, 8), (None, 1, None))
    # Declared dims are symbolic from the first call; undeclared ones follow the default policy.
    option = {"x": {1: "seq"}}
    declared = SpecPolicy(build_symbols([X, MASK], option), option)
    assert declared.choose([1, 5]) == ((1, None, 8), (1, 1, None))
    assert declared.choose([2, 5]) == ((None, None, 8), (None, 1, None))


def test_refine_types_propagates_static_sizes() -> None:
    module = tied_model()
    inputs = [ModelInput("x", F32, (None, None, 8)), ModelInput("z", F32, (None, None, 8))]
    refined = refine_types(module, spec_arg_types(inputs, ((2, None, 8), (2, None, 8))))
    refined.verify()
    main = next(iter(refined.ops))
    result_types = [shape_of(t) for t in main.function_type.outputs.data]  # type: ignore[attr-defined]
    assert result_types == [(2, None, 8)]
    assert "tensor<2x?x8xf32>" in dynir.print_ir(refined)
    assert "tensor<?x?x8xf32>" in dynir.print_ir(module)  # the input module is untouched
    # The refined module computes the same thing.
    x = np.ones((2, 3, 8), np.float32)
    np.testing.assert_array_equal(dynir.interpret(refined, x, x)[0], dynir.interpret(module, x, x)[0])


def test_refine_types_reports_incompatible_types() -> None:
    inputs = [ModelInput("x", F32, (2, 3, 8)), ModelInput("z", F32, (2, 4, 8))]
    with pytest.raises(DynirError, match="'nn.add' op"):
        refine_types(tied_model(), spec_arg_types(inputs, ((2, 3, 8), (2, 4, 8))))
