"""fold-batchnorm: conv/gemm + batch_norm folded; results unchanged; remarks."""

from __future__ import annotations

import numpy as np
from fusion_checks import check_compiled, run_passes

import dynir
from dynir.builder import Graph
from dynir.interpreter import entry_function, interpret

RNG = np.random.default_rng(3)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def bn_params(c: int) -> list[np.ndarray]:
    return [f32(c), f32(c), f32(c), (np.abs(f32(c)) + 0.5).astype(np.float32)]


# Distinct names: the blob store keys large constants by name.


def conv_bn_module() -> object:
    g = Graph()
    x = g.input("x", (None, 3, 6, 6), "float32")
    y = g.conv(x, g.constant(f32(4, 3, 3, 3), name="w"), g.constant(f32(4), name="b"), pads=[1, 1, 1, 1])
    y = g.batch_norm(y, *(g.constant(p, name=f"bn{i}") for i, p in enumerate(bn_params(4))), epsilon=1e-3)
    g.output(g.relu(y))
    return g.module()


def gemm_bn_module(trans_b: int) -> object:
    g = Graph()
    x = g.input("x", (None, 5), "float32")
    w = f32(6, 5) if trans_b else f32(5, 6)
    y = g.gemm(x, g.constant(w, name="w"), g.constant(f32(6), name="c"), trans_b=trans_b, alpha=0.5, beta=2.0)
    g.output(g.batch_norm(y, *(g.constant(p, name=f"bn{i}") for i, p in enumerate(bn_params(6)))))
    return g.module()


def test_conv_bn_folds_and_keeps_results() -> None:
    module = conv_bn_module()
    folded, remarks = run_passes(module, "fold-batchnorm")  # type: ignore[arg-type]
    names = [op.name for op in entry_function(folded).body.block.ops]
    assert "nn.batch_norm" not in names and remarks == []
    x = f32(2, 3, 6, 6)
    np.testing.assert_allclose(interpret(folded, x)[0], interpret(module, x)[0], rtol=1e-4, atol=1e-5)  # type: ignore[arg-type]
    check_compiled(module, x, rtol=1e-4, atol=1e-5)  # type: ignore[arg-type]


def test_gemm_bn_folds_with_alpha_beta_and_transpose() -> None:
    for trans_b in (0, 1):
        module = gemm_bn_module(trans_b)
        folded, _ = run_passes(module, "fold-batchnorm")  # type: ignore[arg-type]
        assert "nn.batch_norm" not in [op.name for op in entry_function(folded).body.block.ops]
        x = f32(3, 5)
        np.testing.assert_allclose(interpret(folded, x)[0], interpret(module, x)[0], rtol=1e-4, atol=1e-5)  # type: ignore[arg-type]


def test_non_constant_parameters_are_not_folded() -> None:
    text = """
func.func @main(%x: tensor<1x1x4x4xf32>, %p: tensor<2xf32>) -> tensor<1x2x4x4xf32> {
  %w = nn.constant {value = dense<1.0> : tensor<2x1x1x1xf32>} : tensor<2x1x1x1xf32>
  %b = nn.constant {value = dense<0.0> : tensor<2xf32>} : tensor<2xf32>
  %0 = nn.conv %x, %w, %b : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %1 = nn.batch_norm %0, %p, %p, %p, %p : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %1 : tensor<1x2x4x4xf32>
}
"""
    _, remarks = run_passes(dynir.parse(text), "fold-batchnorm")
    assert remarks == ["not folded: batch_norm parameters are not constants"]
