"""Shape inference, diagnostics and numpy semantics of the normalization ``nn`` ops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import f16, f32, i32
from xdsl.ir import Attribute
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn import normalization as norm
from dynir.dialects.nn.base import NNOp, float_attr, int_attr
from dynir.ir.types import Shape, element_type, shape_of, tensor_type

RNG = np.random.default_rng(2)


def build(
    op_class: type[NNOp], types: Sequence[tuple[Shape, Attribute]], props: Mapping[str, Attribute] | None = None
) -> NNOp:
    op = op_class.make([create_ssa_value(tensor_type(s, e)) for s, e in types], props)
    op.verify()
    return op


def run(op_class: type[NNOp], *arrays: np.ndarray, props: Mapping[str, Attribute] | None = None) -> np.ndarray:
    op = build(op_class, [(a.shape, element_type(a.dtype)) for a in arrays], props)
    (out,) = op.reference(*arrays)
    assert shape_of(op.results[0].type) == out.shape and out.dtype == arrays[0].dtype
    return out


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_softmax_and_log_softmax_match_numpy(axis: int) -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32) * 4
    props = {"axis": int_attr(axis)}
    np.testing.assert_allclose(run(norm.SoftmaxOp, x, props=props), softmax(x, axis), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(run(norm.LogSoftmaxOp, x, props=props), np.log(softmax(x, axis)), rtol=1e-5, atol=1e-6)


def test_softmax_is_numerically_stable() -> None:
    x = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(run(norm.SoftmaxOp, x), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], atol=1e-7)
    half_log = -np.log(2)
    want = [[half_log, half_log, -2000 + half_log], [-np.inf, half_log, half_log]]
    np.testing.assert_allclose(run(norm.LogSoftmaxOp, x), want, rtol=1e-6)
    half = run(norm.SoftmaxOp, np.array([1.0, 2.0], np.float16))
    np.testing.assert_allclose(half, softmax(np.array([1.0, 2.0]), 0), rtol=1e-3)


def test_softmax_inference_and_diagnostics() -> None:
    assert build(norm.SoftmaxOp, [((None, 0, 7), f32)]).results[0].type == tensor_type((None, 0, 7), f32)
    assert build(norm.LogSoftmaxOp, [((None,), f16)]).results[0].type == tensor_type((None,), f16)
    with pytest.raises(ValueError, match=r"^axis 3 out of range for rank 2$"):
        build(norm.SoftmaxOp, [((2, 3), f32)], {"axis": int_attr(3)})
    with pytest.raises(ValueError, match=r"^element type i32 is not a float type$"):
        build(norm.LogSoftmaxOp, [((2, 3), i32)])
    bad = norm.SoftmaxOp.create(
        operands=[create_ssa_value(tensor_type((2, 3), f32))],
        properties={"axis": int_attr(-3)},
        result_types=[tensor_type((2, 3), f32)],
    )
    with pytest.raises(VerifyException, match=r"^'nn.softmax' op axis -3 out of range for rank 2\n"):
        bad.verify()


def layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, axis: int, epsilon: float) -> np.ndarray:
    axes = tuple(range(axis % x.ndim, x.ndim))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    variance = x64.var(axis=axes, keepdims=True)
    return (x64 - mean) / np.sqrt(variance + epsilon) * scale + bias


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_layer_norm_matches_numpy(axis: int) -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32) * 3 + 1
    normalized_shape = x.shape[axis % 3 :]
    scale = RNG.standard_normal(normalized_shape).astype(np.float32)
    bias = RNG.standard_normal(normalized_shape[-1:]).astype(np.float32)
    props = {"axis": int_attr(axis), "epsilon": float_attr(1e-3)}
    out = run(norm.LayerNormOp, x, scale, bias, props=props)
    np.testing.assert_allclose(out, layer_norm(x, scale, bias, axis, 1e-3), rtol=1e-5, atol=1e-5)


def test_layer_norm_inference_and_diagnostics() -> None:
    op = build(norm.LayerNormOp, [((None, None, 768), f32), ((768,), f32), ((), f32)])
    assert op.results[0].type == tensor_type((None, None, 768), f32)
    build(norm.LayerNormOp, [((None, 4, None), f32), ((4, 1), f32), ((None,), f32)], {"axis": int_attr(1)})
    with pytest.raises(ValueError, match=r"^scale shape 5 does not broadcast to the normalized shape 4$"):
        build(norm.LayerNormOp, [((2, 4), f32), ((5,), f32), ((4,), f32)])
    with pytest.raises(ValueError, match=r"^bias shape 2x4 does not broadcast to the normalized shape 4$"):
        build(norm.LayerNormOp, [((2, 4), f32), ((4,), f32), ((2, 4), f32)])
    with pytest.raises(ValueError, match=r"^scale element type f16 differs from the input's f32$"):
        build(norm.LayerNormOp, [((2, 4), f32), ((4,), f16), ((4,), f32)])
    with pytest.raises(ValueError, match=r"^axis 2 out of range for rank 2$"):
        build(norm.LayerNormOp, [((2, 4), f32), ((4,), f32), ((4,), f32)], {"axis": int_attr(2)})
    with pytest.raises(ValueError, match=r"^epsilon must not be negative, got -1.0$"):
        build(norm.LayerNormOp, [((2, 4), f32), ((4,), f32), ((4,), f32)], {"epsilon": float_attr(-1)})


def test_batch_norm_matches_numpy() -> None:
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    scale, bias, mean = (RNG.standard_normal(3).astype(np.float32) for _ in range(3))
    variance = RNG.uniform(0.5, 2, 3).astype(np.float32)
    out = run(norm.BatchNormOp, x, scale, bias, mean, variance, props={"epsilon": float_attr(1e-3)})
    c = (1, 3, 1, 1)
    want = (x - mean.reshape(c)) / np.sqrt(variance.reshape(c) + 1e-3) * scale.reshape(c) + bias.reshape(c)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    rank2 = run(norm.BatchNormOp, x[:, :, 0, 0], scale, bias, mean, variance)
    np.testing.assert_allclose(rank2, (x[:, :, 0, 0] - mean) / np.sqrt(variance + 1e-5) * scale + bias, rtol=1e-5)


def test_batch_norm_diagnostics() -> None:
    params = [((8,), f32)] * 4
    op = build(norm.BatchNormOp, [((None, 8, None, None), f32), *params])
    assert op.results[0].type == tensor_type((None, 8, None, None), f32)
    build(norm.BatchNormOp, [((None, None, 3), f32), *params])  # dynamic channels accept any [C]
    with pytest.raises(ValueError, match=r"^mean shape 4 must be \[C\] with C = 8$"):
        build(norm.BatchNormOp, [((1, 8, 2), f32), ((8,), f32), ((8,), f32), ((4,), f32), ((8,), f32)])
    with pytest.raises(ValueError, match=r"^variance shape 8x1 must be \[C\] with C = 8$"):
        build(norm.BatchNormOp, [((1, 8, 2), f32), ((8,), f32), ((8,), f32), ((8,), f32), ((8, 1), f32)])
    with pytest.raises(ValueError, match=r"^input rank 1 is below 2 \(N x C x \.\.\.\)$"):
        build(norm.BatchNormOp, [((8,), f32), *params])


def test_instance_norm_matches_numpy() -> None:
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32) * 2 + 1
    scale, bias = RNG.standard_normal(3).astype(np.float32), RNG.standard_normal(3).astype(np.float32)
    out = run(norm.InstanceNormOp, x, scale, bias, props={"epsilon": float_attr(1e-4)})
    mean = x.mean(axis=(2, 3), keepdims=True)
    variance = x.var(axis=(2, 3), keepdims=True)
    want = (x - mean) / np.sqrt(variance + 1e-4) * scale.reshape(1, 3, 1, 1) + bias.reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_instance_norm_diagnostics() -> None:
    op = build(norm.InstanceNormOp, [((None, 3, None), f32), ((3,), f32), ((3,), f32)])
    assert op.results[0].type == tensor_type((None, 3, None), f32)
    with pytest.raises(ValueError, match=r"^input rank 2 is below 3 \(N x C x \.\.\.\)$"):
        build(norm.InstanceNormOp, [((2, 3), f32), ((3,), f32), ((3,), f32)])
    with pytest.raises(ValueError, match=r"^bias shape 4 must be \[C\] with C = 3$"):
        build(norm.InstanceNormOp, [((2, 3, 5), f32), ((3,), f32), ((4,), f32)])
