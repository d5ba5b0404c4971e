"""Loop lowerings of the ``quant`` ops: compiled kernels are bit-identical to the numpy
references, on ``?`` dims with sizes 0, 1 and more, signed and unsigned storage."""

from __future__ import annotations

import numpy as np

import dynir

from .conftest import assert_bit_exact

RNG = np.random.default_rng(0)


def ints(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, int(info.max) + 1, shape).astype(dtype)


CONVERSIONS = """
func.func @main(%x: tensor<?x4xf32>, %s: tensor<4xf32>, %zs: tensor<i8>, %zu: tensor<1x4xui8>, %acc: tensor<?x4xi32>, %m: tensor<4xf32>) -> (tensor<?x4xi8>, tensor<?x4xui8>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xui8>) {
  %qs = quant.quantize %x, %s, %zs : (tensor<?x4xf32>, tensor<4xf32>, tensor<i8>) -> tensor<?x4xi8>
  %qu = quant.quantize %x, %s, %zu : (tensor<?x4xf32>, tensor<4xf32>, tensor<1x4xui8>) -> tensor<?x4xui8>
  %ds = quant.dequantize %qs, %s, %zs : (tensor<?x4xi8>, tensor<4xf32>, tensor<i8>) -> tensor<?x4xf32>
  %du = quant.dequantize %qu, %s, %zu : (tensor<?x4xui8>, tensor<4xf32>, tensor<1x4xui8>) -> tensor<?x4xf32>
  %r = quant.requantize %acc, %m, %zu : (tensor<?x4xi32>, tensor<4xf32>, tensor<1x4xui8>) -> tensor<?x4xui8>
  func.return %qs, %qu, %ds, %du, %r : tensor<?x4xi8>, tensor<?x4xui8>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xui8>
}
"""


def test_conversions_round_half_even_and_saturate() -> None:
    scale = np.array([0.5, 0.25, 0.1, 2.0], np.float32)
    ties = np.array([[0.25, -0.125, 0.05, 1.0], [0.75, 0.375, -0.15, 3.0], [1000, -1000, 13, -700]], np.float32)

    def inputs(rows: int, x: np.ndarray | None = None) -> list[np.ndarray]:
        x = RNG.normal(0, 30, (rows, 4)).astype(np.float32) if x is None else x
        return [x, scale, np.array(-3, np.int8), ints((1, 4), np.uint8), ints((x.shape[0], 4), np.int32) // 1000, scale / 7]

    assert_bit_exact(CONVERSIONS, [inputs(5), inputs(1), inputs(0), inputs(3, ties)])


def test_round_half_even_on_ties() -> None:
    module = dynir.parse(
        "func.func @main(%x: tensor<6xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<6xi8> {\n"
        "  %q = quant.quantize %x, %s, %z : (tensor<6xf32>, tensor<f32>, tensor<i8>) -> tensor<6xi8>\n"
        "  func.return %q : tensor<6xi8>\n}"
    )
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0], np.float32)
    args = [x, np.array(1.0, np.float32), np.array(0, np.int8)]
    want = np.array([0, 2, 2, 0, -2, 127], np.int8)
    np.testing.assert_array_equal(dynir.interpret(module, *args)[0], want)
    np.testing.assert_array_equal(dynir.compile(module, cache_dir=False)(*args)[0], want)


CONTRACTIONS = """
func.func @main(%a: tensor<?x?x8xui8>, %b: tensor<8x5xi8>, %az: tensor<ui8>, %bz: tensor<5xi8>, %g: tensor<?x8xi8>, %gw: tensor<5x8xui8>, %gb: tensor<5xi32>, %gz: tensor<?x1xi8>, %gwz: tensor<ui8>) -> (tensor<?x?x5xi32>, tensor<?x5xi32>) {
  %m = quant.matmul %a, %b, %az, %bz : (tensor<?x?x8xui8>, tensor<8x5xi8>, tensor<ui8>, tensor<5xi8>) -> tensor<?x?x5xi32>
  %y = quant.gemm %g, %gw, %gb, %gz, %gwz {trans_b = 1 : i64} : (tensor<?x8xi8>, tensor<5x8xui8>, tensor<5xi32>, tensor<?x1xi8>, tensor<ui8>) -> tensor<?x5xi32>
  func.return %m, %y : tensor<?x?x5xi32>, tensor<?x5xi32>
}
"""


def test_matmul_and_gemm_accumulate_in_i32() -> None:
    def inputs(batch: int, rows: int) -> list[np.ndarray]:
        return [
            ints((batch, rows, 8), np.uint8), ints((8, 5), np.int8), np.array(128, np.uint8), ints((5,), np.int8),
            ints((rows, 8), np.int8), ints((5, 8), np.uint8), ints((5,), np.int32) // 4, ints((rows, 1), np.int8),
            np.array(7, np.uint8),
        ]

    assert_bit_exact(CONTRACTIONS, [inputs(2, 3), inputs(1, 1), inputs(0, 2), inputs(2, 0)])


CONV = """
func.func @main(%x: tensor<?x4x?x?xui8>, %w: tensor<6x2x3x3xi8>, %b: tensor<6xi32>, %xz: tensor<ui8>, %wz: tensor<6x1x1x1xi8>) -> tensor<?x6x?x?xi32> {
  %y = quant.conv %x, %w, %b, %xz, %wz {pads = array<i64: 1, 0, 1, 2>, strides = array<i64: 2, 1>, group = 2 : i64} : (tensor<?x4x?x?xui8>, tensor<6x2x3x3xi8>, tensor<6xi32>, tensor<ui8>, tensor<6x1x1x1xi8>) -> tensor<?x6x?x?xi32>
  func.return %y : tensor<?x6x?x?xi32>
}
"""


def test_grouped_padded_conv() -> None:
    def inputs(n: int, h: int, w: int) -> list[np.ndarray]:
        return [ints((n, 4, h, w), np.uint8), ints((6, 2, 3, 3), np.int8), ints((6,), np.int32) // 8,
                np.array(100, np.uint8), ints((6, 1, 1, 1), np.int8)]

    assert_bit_exact(CONV, [inputs(2, 7, 6), inputs(1, 1, 1), inputs(0, 3, 3)])


DYNAMIC = """
func.func @main(%x: tensor<?x3xf32>) -> (tensor<?x3xui8>, tensor<f32>, tensor<ui8>) {
  %q, %s, %z = quant.dynamic_quantize %x : (tensor<?x3xf32>) -> (tensor<?x3xui8>, tensor<f32>, tensor<ui8>)
  func.return %q, %s, %z : tensor<?x3xui8>, tensor<f32>, tensor<ui8>
}
"""


def test_dynamic_quantize() -> None:
    sets = [
        [RNG.normal(0, 4, (5, 3)).astype(np.float32)],
        [np.abs(RNG.normal(0, 4, (2, 3))).astype(np.float32)],  # min is 0: zero point 0
        [-np.abs(RNG.normal(0, 4, (2, 3))).astype(np.float32)],  # max is 0: zero point 255
        [np.zeros((1, 3), np.float32)],  # max == min: scale 1
    ]
    assert_bit_exact(DYNAMIC, sets)
