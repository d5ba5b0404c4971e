"""The int8 micro-kernel (``quant.packed_matmul`` on VNNI panels): compiled kernels are
bit-identical to ``dynir.interpret`` of the module *before* packing, for unsigned and
signed activations and weights, non-zero zero points on both sides, sizes that are not
multiples of the panel (K % 4, N % 32, M % 8), M = 0 and 1, and a dynamic batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, i8, i32
from xdsl.ir import BlockArgument

import dynir
from dynir.backends.llvm import compile_module
from dynir.builder.function import FunctionBuilder
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import int_attr, ints_attr
from dynir.dialects.quant import ops as q
from dynir.dialects.quant.packed import pack_int8_weights, unpack_int8_panels
from dynir.dialects.quant.types import u8
from dynir.ir.context import make_context
from dynir.ir.types import tensor_type
from dynir.lowering.builder import is_partitioned
from dynir.lowering.kernels import build_kernel
from dynir.passes._fusion_utils import make_group
from dynir.passes.prepack_weights import PrepackWeightsPass
from dynir.remarks import collect_remarks

from .conftest import assert_bit_exact

RNG = np.random.default_rng(7)


def ints(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, int(info.max) + 1, shape).astype(dtype)


def build(body: Callable[[FunctionBuilder], list]) -> ModuleOp:  # type: ignore[type-arg]
    fb = FunctionBuilder()
    return fb.finish(body(fb))


def packed_ops(module: ModuleOp) -> tuple[list[str], list[str]]:
    """The op names after ``prepack-weights`` and its remarks."""
    clone = module.clone()
    with collect_remarks() as remarks:
        PrepackWeightsPass().apply(make_context(), clone)
    return [op.name for op in clone.walk() if op.name.startswith("quant.")], [r.message for r in remarks]


def test_pack_and_unpack_round_trip() -> None:
    b = ints((13, 70), np.uint8)
    packed = pack_int8_weights(b, np.full(70, 130, np.uint8), np.arange(70), 32)
    assert packed.panels.shape == (3, 4, 32, 4) and packed.terms.shape == (3, 96)
    np.testing.assert_array_equal(unpack_int8_panels(packed.panels, 13, 70), (b.astype(np.int16) - 128).astype(np.int8))
    assert packed.row_sums  # zb' = 130 - 128 = 2
    np.testing.assert_array_equal(packed.terms[0, :70], (b.astype(np.int64) - 128).sum(0) - 13 * 2)
    assert not packed.terms[:, 70:].any()


def _matmuls(fb: FunctionBuilder) -> list:  # type: ignore[type-arg]
    # u8 x s8, K % 4 = 1, N % 32 = 6, per-column non-zero weight zero points (row sums).
    a1 = fb.add_input(tensor_type((None, 13), u8))
    z1 = fb.add_input(tensor_type((), u8))
    m1 = fb.emit(q.MatmulOp, [a1, fb.constant(ints((13, 70), np.int8), "b1"), z1, fb.constant(ints((70,), np.int8), "bz1")])
    # s8 activations of rank 3 (rows flattened), u8 weights with a scalar zero point,
    # one activation zero point per row.
    a2 = fb.add_input(tensor_type((None, 3, 22), i8))
    z2 = fb.add_input(tensor_type((3, 1), i8))
    m2 = fb.emit(q.MatmulOp, [a2, fb.constant(ints((22, 33), np.uint8), "b2"), z2, fb.constant(np.array(133, np.uint8), "bz2")])
    # zero weight zero point (symmetric: no row sums), per-row dynamic activation zero points.
    a3 = fb.add_input(tensor_type((None, 64), u8))
    z3 = fb.add_input(tensor_type((None, 1), u8))
    m3 = fb.emit(q.MatmulOp, [a3, fb.constant(ints((64, 16), np.int8), "b3"), z3, fb.constant(np.zeros((), np.int8), "bz3")])
    return [*m1, *m2, *m3]


def test_matmul_u8_s8_zero_points_and_tails() -> None:
    module = build(_matmuls)
    names, remarks = packed_ops(module)
    assert names == ["quant.packed_matmul"] * 3, remarks
    assert "packed int8 B (13x70) into 3 VNNI panels of 32 columns" in remarks

    def inputs(rows: int) -> list[np.ndarray]:
        return [
            ints((rows, 13), np.uint8), np.array(131, np.uint8),
            ints((rows, 3, 22), np.int8), ints((3, 1), np.int8),
            ints((rows, 64), np.uint8), ints((rows, 1), np.uint8),
        ]

    assert_bit_exact(module, [inputs(19), inputs(1), inputs(0), inputs(8)])


def _gemms(fb: FunctionBuilder) -> list:  # type: ignore[type-arg]
    a = fb.add_input(tensor_type((None, 37), i8))
    az = fb.add_input(tensor_type((), i8))
    # trans_b, a bias per column, weight zero points per output channel (rows of B).
    w = fb.constant(ints((41, 37), np.int8), "w")
    g1 = fb.emit(q.GemmOp, [a, w, fb.constant(ints((41,), np.int32) // 4, "c"), az, fb.constant(ints((41, 1), np.int8), "wz")],
                 {"trans_b": int_attr(1)})
    # no transpose, bias (1, N), u8 weights.
    g2 = fb.emit(q.GemmOp, [a, fb.constant(ints((37, 9), np.uint8), "w2"), fb.constant(ints((1, 9), np.int32), "c2"), az,
                            fb.constant(np.array(3, np.uint8), "wz2")])
    # a bias per row and column is not folded: the loop nest runs it.
    g3 = fb.emit(q.GemmOp, [a, fb.constant(ints((37, 5), np.int8), "w3"), fb.add_input(tensor_type((None, 5), i32)), az,
                            fb.constant(np.zeros((), np.int8), "wz3")])
    return [*g1, *g2, *g3]


def test_gemm_trans_b_bias_and_fallback() -> None:
    module = build(_gemms)
    names, remarks = packed_ops(module)
    assert sorted(names) == ["quant.gemm", "quant.packed_matmul", "quant.packed_matmul"]
    assert "not packed: the bias c is not a constant with one value per column" in remarks

    def inputs(rows: int) -> list[np.ndarray]:
        return [ints((rows, 37), np.int8), np.array(-5, np.int8), ints((rows, 5), np.int32) // 8]

    assert_bit_exact(module, [inputs(21), inputs(1), inputs(0)])


def _epilogue(fb: FunctionBuilder) -> list:  # type: ignore[type-arg]
    a = fb.add_input(tensor_type((None, 30), u8))
    acc = fb.emit(q.MatmulOp, [a, fb.constant(ints((30, 45), np.int8), "w"), fb.constant(np.array(9, np.uint8), "az"),
                               fb.constant(ints((45,), np.int8), "wz")])[0]
    shifted = fb.emit(ew.AddOp, [acc, fb.constant(ints((45,), np.int32) // 2, "bias")])[0]
    return fb.emit(ew.ReluOp, [shifted])


def test_fused_epilogue_gets_i32_accumulators() -> None:
    """A group of the int8 matmul and its elementwise consumers (as fuse-epilogue makes
    them): the kernel applies them to the corrected accumulators before its store."""
    module = build(_epilogue)
    grouped = module.clone()
    main = next(op for op in grouped.ops if isinstance(op, func.FuncOp))
    group = make_group([op for op in main.body.block.ops if op.name in ("quant.matmul", "nn.add", "nn.relu")], "epilogue")
    PrepackWeightsPass().apply(make_context(), grouped)
    assert [op.name for op in group.body.block.ops][0] == "quant.packed_matmul"
    kernel = build_kernel(group, "epilogue_0")
    kernel.attributes["kernel"] = kernel.sym_name
    run = compile_module(ModuleOp([kernel.clone()]))["epilogue_0"]
    for rows in (11, 1, 0):
        a = ints((rows, 30), np.uint8)
        (want,) = dynir.interpret(module, a)
        args = [a.view(np.int8) if v.owner is not None and isinstance(v, BlockArgument) else v.owner.array()  # type: ignore[union-attr]
                for v in group.inputs]
        out = np.full((rows, 45), -1, np.int32)
        run(*[x.view(np.int8) if x.dtype == np.uint8 else x for x in args], out, *((0, 1) if is_partitioned(kernel) else ()))
        np.testing.assert_array_equal(out, want)


CONVS = [  # channels, out channels, kernel, stride, pad, group, input, weight, weight zero points
    (5, 12, 3, 1, 1, 1, np.uint8, np.int8, False),  # "same" 3x3: row copy, K % 4 = 1
    (6, 10, 1, 1, 0, 1, np.int8, np.int8, True),  # 1x1: row copy, signed input, column sums
    (4, 6, 3, 2, 1, 2, np.uint8, np.uint8, True),  # strided, grouped, u8 weights: element copy
    (3, 9, 3, 1, 0, 1, np.int8, np.int8, False),  # unpadded 3x3: output narrower than input
]


def _convs(fb: FunctionBuilder) -> list:  # type: ignore[type-arg]
    outs = []
    for c, m, k, s, p, g, x_type, w_type, w_zero in CONVS:
        x = fb.add_input(tensor_type((None, c, None, None), u8 if x_type == np.uint8 else i8))
        w = fb.constant(ints((m, c // g, k, k), w_type), "w")
        wz = fb.constant(ints((m, 1, 1, 1), w_type) if w_zero else np.zeros((), w_type), "wz")
        props = {"strides": ints_attr([s, s]), "pads": ints_attr([p] * 4), "group": int_attr(g)}
        outs += fb.emit(q.ConvOp, [x, w, fb.constant(ints((m,), np.int32) // 1000, "b"), fb.constant(ints((), x_type), "xz"), wz], props)
    return outs


def test_conv_row_copy_element_copy_and_zero_points() -> None:
    module = build(_convs)
    names, remarks = packed_ops(module)
    assert names == ["quant.packed_conv"] * 4, remarks

    def inputs(n: int, h: int, w: int) -> list[np.ndarray]:
        return [ints((n, c, h, w), x_type) for c, _, _, _, _, _, x_type, _, _ in CONVS]

    assert_bit_exact(module, [inputs(2, 7, 9), inputs(1, 3, 3), inputs(1, 40, 3), inputs(0, 3, 3)])


STRIDED = [  # channels, out channels, (kh, kw), strides, pads (t, l, b, r), dilations, group, input, weight zero points
    (3, 16, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, np.uint8, False),  # the ResNet stem: C = 3, K % 4 = 3
    (8, 12, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1, np.int8, True),  # 1x1 stride-2 downsample, column sums
    (6, 9, (3, 3), (3, 3), (1, 0, 2, 1), (1, 1), 3, np.uint8, False),  # stride 3, asymmetric pads, groups
    (4, 5, (3, 2), (1, 2), (2, 1, 0, 1), (2, 3), 1, np.int8, True),  # dilations, mixed strides, 3x2 kernel
    (5, 33, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1, np.uint8, False),  # "valid" 3x3 (narrower output), M % 8 = 1
    (4, 8, (5, 5), (2, 1), (4, 4, 4, 4), (1, 1), 2, np.int8, False),  # padding wider than the input
]


def _strided(fb: FunctionBuilder) -> list:  # type: ignore[type-arg]
    outs = []
    for c, m, kernel, strides, pads, dilations, g, x_type, w_zero in STRIDED:
        x = fb.add_input(tensor_type((None, c, None, None), u8 if x_type == np.uint8 else i8))
        w = fb.constant(ints((m, c // g, *kernel), np.int8), "w")
        wz = fb.constant(ints((m, 1, 1, 1), np.int8) if w_zero else np.zeros((), np.int8), "wz")
        props = {"strides": ints_attr(list(strides)), "pads": ints_attr([pads[0], pads[1], pads[2], pads[3]]),
                 "dilations": ints_attr(list(dilations)), "group": int_attr(g)}
        outs += fb.emit(q.ConvOp, [x, w, fb.constant(ints((m,), np.int32) // 1000, "b"), fb.constant(ints((), x_type), "xz"), wz], props)
    return outs


def test_conv_phase_planes_strides_dilations_pads_groups() -> None:
    """Strided, dilated and "valid" windows go through the phase planes (a per-call
    repack of the input): bit-exact for odd and tiny sizes, batch 0 and 1, and output
    rows that do not divide the 32-column panels."""
    module = build(_strided)
    names, remarks = packed_ops(module)
    assert names == ["quant.packed_conv"] * len(STRIDED), remarks

    def inputs(n: int, h: int, w: int) -> list[np.ndarray]:
        return [ints((n, c, h, w), x_type) for c, _, _, _, _, _, _, x_type, _ in STRIDED]

    # (3, 61, 45) runs on two threads: the second part starts inside an image.
    assert_bit_exact(module, [inputs(2, 13, 11), inputs(1, 9, 23), inputs(1, 10, 6), inputs(0, 9, 9), inputs(3, 17, 8), inputs(3, 61, 45)])
