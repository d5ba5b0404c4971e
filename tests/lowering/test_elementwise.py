"""Scalar lowering of every elementwise ``nn`` op (dynir/lowering/scalar.py): compiled
kernels vs the numpy references, for every element type each op accepts.

Modules take a ``?`` dim and are run on several shapes (size 5, 1 and 0, and a dynamic
dim that broadcasts at run time). Inputs hold the awkward values: NaN, infinities,
signed zeros, halves (round-half-to-even), integer extremes, zero and -1 divisors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from dynir.dialects.nn import ALL_OPS
from dynir.dialects.nn.elementwise import BinaryElementwiseOp, ElementKind, UnaryElementwiseOp
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.scalar import LoweringError, emit_scalar, has_scalar_form

RNG = np.random.default_rng(7)
FLOATS = ["float32", "float64", "float16"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
ALL_DTYPES = [*FLOATS, *INTS, "bool"]
KINDS = {
    ElementKind.FLOAT: FLOATS,
    ElementKind.NUMERIC: [*FLOATS, *INTS],
    ElementKind.BOOL: ["bool"],
    ElementKind.ANY: ALL_DTYPES,
}
FLOAT_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -2.5, -0.5, 1e-4, -1e-4, 30.0, -30.0]

# Property variants per op (each becomes its own output); ops not listed run once bare.
VARIANTS: dict[str, list[dict[str, object]]] = {
    "leaky_relu": [{}, {"alpha": 0.3}],
    "gelu": [{}, {"approximate": "tanh"}],
    "hard_sigmoid": [{}, {"alpha": 0.3, "beta": 0.4}],
    "elu": [{}, {"alpha": 0.5}],
    "selu": [{}, {"alpha": 1.5, "gamma": 2.0}],
    "clip": [{"min": -2.5, "max": 3.5}, {"min": 0.0}, {"max": 100.7}, {"min": -1e10, "max": 1e10}],
}


def elementwise_ops() -> list[tuple[str, int, ElementKind]]:
    """(short name, operand count, accepted elements) of every unary/binary elementwise op."""
    found: list[tuple[str, int, ElementKind]] = []
    for op in ALL_OPS:
        if issubclass(op, UnaryElementwiseOp):
            found.append((op.name.removeprefix("nn."), 1, op.ELEMENTS))
        elif issubclass(op, BinaryElementwiseOp):
            found.append((op.name.removeprefix("nn."), 2, op.ELEMENTS))
    return found


def variants(name: str, dtype: str) -> list[dict[str, object]]:
    if name == "mod":
        return [{"fmod": 1}] if dtype in FLOATS else [{}, {"fmod": 1}]
    return VARIANTS.get(name, [{}])


def values(shape: Sequence[int], dtype: str) -> np.ndarray:
    """Random values of ``dtype`` salted with the special values of that type."""
    dt = np.dtype(dtype)
    size = int(np.prod(shape))
    if dt == np.bool_:
        return RNG.random(shape) < 0.5
    if dt.kind == "f":
        flat = (RNG.standard_normal(size) * 4).astype(dt)
        specials = np.array(FLOAT_SPECIALS, dtype=dt)
    else:
        info = np.iinfo(dt)
        flat = RNG.integers(info.min, info.max, size=size, endpoint=True, dtype=dt)
        specials = np.array([info.min, info.max, 0, 1, 2, info.max // 2 + 1] + ([-1, -2] if info.min else []), dt)
    picks = RNG.random(size) < 0.3
    flat[picks] = RNG.choice(specials, size=int(picks.sum()))
    return flat.reshape(shape)


def small_ints(shape: Sequence[int], dtype: str) -> np.ndarray:
    """Small exponents for integer pow (results mostly in range), negative included."""
    low = -2 if np.dtype(dtype).kind == "i" else 0
    return RNG.integers(low, 6, size=shape).astype(dtype)


def assert_matches(module: ModuleOp, labels: Sequence[str], cases: Sequence[Sequence[np.ndarray]], rtol: float, atol: float) -> None:
    """Compile once; per case and output, compare with the reference (NaN == NaN)."""
    compiled = dynir.compile(module)
    for inputs in cases:
        got = compiled(*inputs)
        with np.errstate(all="ignore"):
            want = dynir.interpret(module, *inputs)
        shapes = [a.shape for a in inputs]
        for label, g, w in zip(labels, got, want, strict=True):
            assert (g.dtype, g.shape) == (w.dtype, w.shape), f"{label} on {shapes}"
            if w.dtype.kind == "f":
                np.testing.assert_allclose(
                    g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True,
                    err_msg=f"{label} on inputs {shapes}",
                )
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{label} on inputs {shapes}\n{inputs}")


def tolerance(dtype: str) -> tuple[float, float]:
    return (2e-3, 1e-4) if dtype == "float16" else (1e-5, 1e-6)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_every_elementwise_op_matches_its_reference(dtype: str) -> None:
    g = Graph()
    x = g.input("x", (None, 4), dtype)
    y = g.input("y", (None, 1), dtype)
    labels: list[str] = []
    for name, arity, kind in elementwise_ops():
        if dtype not in KINDS[kind]:
            continue
        for props in variants(name, dtype):
            operands = [x, y] if arity == 2 else [x]
            g.output(g.op1(name, *operands, **props))  # type: ignore[arg-type]
            labels.append(f"nn.{name} {props} {dtype}")
    assert labels
    cases = [[values((5, 4), dtype), values((5, 1), dtype)], [values((6, 4), dtype), values((1, 1), dtype)]]
    cases += [[values((1, 4), dtype), values((1, 1), dtype)], [values((0, 4), dtype), values((1, 1), dtype)]]
    assert_matches(g.module(), labels, cases, *tolerance(dtype))


def test_every_elementwise_op_has_a_scalar_lowering() -> None:
    names = {name for name, _, _ in elementwise_ops()}
    assert len(names) >= 40
    for op in ALL_OPS:
        if op.name.removeprefix("nn.") in names or op.name in ("nn.where", "nn.cast"):
            assert has_scalar_form(op.create(result_types=[])), op.name


@pytest.mark.parametrize("source", ALL_DTYPES)
def test_cast_to_every_type(source: str) -> None:
    """ONNX Cast as numpy's astype: truncation toward zero, wrapping int to int, and
    numpy's own results for NaN, infinities and out-of-range floats."""
    g = Graph()
    x = g.input("x", (None,), source)
    for target in ALL_DTYPES:
        g.output(g.cast(x, to=np.dtype(target)))
    big = [3e9, -3e9, 300.7, -300.7, 1e20, -1e20, 2.0**63, 2.0**64, 70000.0, 127.9, 128.0, 255.5, 256.0, 65504.0, -0.9]
    with np.errstate(all="ignore"):  # f16 overflows to inf, as intended
        extra = np.array(big, dtype=source) if source in FLOATS else values((16,), source)
    inputs = np.concatenate([values((40,), source), extra])
    labels = [f"cast {source} -> {target}" for target in ALL_DTYPES]
    with np.errstate(all="ignore"):
        assert_matches(g.module(), labels, [[inputs], [inputs[:1]], [inputs[:0]]], *tolerance(source))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "uint8", "bool"])
def test_where_broadcasts_three_ways(dtype: str) -> None:
    g = Graph()
    c = g.input("c", (None, 1), "bool")
    x = g.input("x", (4,), dtype)
    y = g.input("y", (None, 4), dtype)
    g.output(g.where(c, x, y))
    g.output(g.where(c, y, x))
    cases = [[values((3, 1), "bool"), values((4,), dtype), values((3, 4), dtype)]]
    cases.append([values((3, 1), "bool"), values((4,), dtype), values((1, 4), dtype)])
    cases.append([values((0, 1), "bool"), values((4,), dtype), values((0, 4), dtype)])
    assert_matches(g.module(), ["where", "where swapped"], cases, *tolerance(dtype))


@pytest.mark.parametrize(
    ("base", "exponent"),
    [("float32", "int64"), ("float32", "int8"), ("float16", "float32"), ("float64", "float32"),
     ("int32", "int64"), ("int8", "float32"), ("int64", "float32"), ("uint8", "float16"), ("int64", "int64")],
)  # fmt: skip
def test_pow_with_mixed_element_types(base: str, exponent: str) -> None:
    g = Graph()
    x = g.input("x", (None, 3), base)
    e = g.input("e", (3,), exponent)
    g.output(g.pow(x, e))
    if np.dtype(base).kind == "f":
        xs = np.abs(values((4, 3), base))
    else:
        xs = RNG.integers(0 if base.startswith("u") else -9, 10, size=(4, 3)).astype(base)
    es = small_ints((3,), exponent) if np.dtype(exponent).kind in "iu" else RNG.uniform(-2, 3, 3).astype(exponent)
    assert_matches(g.module(), [f"pow {base} ** {exponent}"], [[xs, es], [xs[:0], es]], *tolerance(base))


def test_fused_chain_keeps_each_ops_rounding() -> None:
    """A fused f16 chain rounds after each op, like the references (no f32 carry-over)."""
    g = Graph()
    x = g.input("x", (None, 8), "float16")
    g.output(g.tanh(g.exp(x) * x + x))
    inputs = [values((4, 8), "float16")]
    module = g.module()
    with np.errstate(all="ignore"):
        assert_matches(module, ["chain"], [inputs], 2e-3, 1e-4)


def test_op_without_scalar_form_raises_lowering_error_naming_it() -> None:
    from xdsl.dialects.builtin import TensorType, f32
    from xdsl.ir import Block

    from dynir.dialects.nn.contraction import MatmulOp

    block = Block(arg_types=[TensorType(f32, [2, 2])] * 2)
    matmul = MatmulOp.make(list(block.args))
    with pytest.raises(LoweringError, match="'nn.matmul' has no scalar lowering"):
        emit_scalar(KernelBuilder(Block()), matmul, [])


def test_sigmoid_and_tanh_are_exact_where_the_answer_is_exact() -> None:
    # tanh's large branch divides by a reciprocal estimate (vector_math.bounded_divide);
    # sigmoid must not: an estimate makes sigmoid(0) 0.49999997.
    module = dynir.parse(
        """
func.func @main(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>) {
  %s = nn.sigmoid %x : (tensor<?xf32>) -> tensor<?xf32>
  %t = nn.tanh %x : (tensor<?xf32>) -> tensor<?xf32>
  func.return %s, %t : tensor<?xf32>, tensor<?xf32>
}
"""
    )
    x = np.array([0.0, -0.0, np.inf, -np.inf, 40.0, -40.0, 200.0], np.float32)
    sigmoid, tanh = dynir.compile(module)(np.tile(x, 5))  # long enough for the vector loop
    np.testing.assert_array_equal(sigmoid[:7], np.array([0.5, 0.5, 1.0, 0.0, 1.0, np.exp(-40.0), 1.0], np.float32))
    np.testing.assert_array_equal(tanh[:7], [0.0, -0.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    assert np.signbit(tanh[1])
