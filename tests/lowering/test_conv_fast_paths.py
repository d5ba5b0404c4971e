"""The fast paths of the implicit-GEMM conv: compiled results vs ``dynir.interpret``.

- ``X_col`` packing (``conv_window.py``): the *shifted* masked loads (stride 1, input rows
  as long as the output's) and the gathers (strides, valid padding, dilation), checked on
  the kernel IR too, for 1x1/3x3/7x7 windows, groups, 1-D/3-D convs, f64, batch 0/1/2 and
  ``?`` spatial dims, with widths that are not multiples of the 16/32-lane panel.
- the finish: epilogues read at the flat output position (residual add, per-channel
  operands) and at the unflattened one (an operand broadcast along one spatial dim, a
  transposed, sliced or reshaped operand in a hand-fused group, ``?`` spatial dims), with
  the decision of ``epilogue_reads_flat`` asserted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, f32

import dynir
from dynir.backends.llvm import compile_module as compile_kernels
from dynir.builder import Graph
from tests.lowering import conv_testlib
from dynir.builder.ops import PropValue
from dynir.ir.context import make_context
from dynir.lowering.families import conv_gemm
from dynir.lowering.families.contraction import vector_tile
from dynir.lowering.microkernel import Tile
from dynir.pipeline import FUSION_PIPELINE, build_pipeline

RNG = np.random.default_rng(5)


def rand(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def conv_graph(
    x_shape: Sequence[int | None], w_shape: Sequence[int], dtype: str = "float32", **props: PropValue
) -> tuple[Graph, object]:
    g = Graph()
    x = g.input("x", list(x_shape), dtype)
    y = g.conv(x, g.constant(rand(*w_shape, dtype=dtype) * 0.3), g.constant(rand(w_shape[0], dtype=dtype)), **props)
    return g, y


def conv_module(x_shape: Sequence[int | None], w_shape: Sequence[int], dtype: str = "float32", **props: PropValue) -> ModuleOp:
    g, y = conv_graph(x_shape, w_shape, dtype, **props)
    g.output(g.relu(y))
    return g.module()


def assert_matches(module: ModuleOp, input_sets: Sequence[Sequence[np.ndarray]], tol: float = 1e-4) -> None:
    conv_testlib.assert_matches(module, input_sets, tol)


def lowered(module: ModuleOp) -> str:
    """The module after fusion and ``lower-to-loops`` (the kernels' loop-level IR)."""
    module = module.clone()
    context = make_context()
    for p in build_pipeline(f"{FUSION_PIPELINE},lower-to-loops"):
        p.apply(context, module)
    return str(module)


@contextmanager
def flat_decisions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records what ``epilogue_reads_flat`` decides while kernels are built."""
    decisions: list[bool] = []
    original = conv_gemm.epilogue_reads_flat

    def spy(*args: object) -> bool:
        decision = original(*args)  # type: ignore[arg-type]
        decisions.append(decision)
        return decision

    monkeypatch.setattr(conv_gemm, "epilogue_reads_flat", spy)
    yield decisions


# -- X_col packing -------------------------------------------------------------------

# (x shape, w shape, props, packing the kernel uses)
PACKING_CASES: dict[str, tuple[tuple[int, ...], tuple[int, ...], dict[str, PropValue], str]] = {
    "3x3_same_shifted": ((2, 5, 11, 13), (12, 5, 3, 3), {"pads": [1, 1, 1, 1]}, "shifted"),
    "3x3_valid_gather": ((1, 5, 11, 13), (12, 5, 3, 3), {}, "gather"),
    "3x3_stride2_asymmetric_pads": ((2, 4, 9, 14), (8, 4, 3, 3), {"strides": [2, 2], "pads": [1, 0, 0, 2]}, "gather"),
    "3x3_dilated_same_shifted": ((1, 3, 10, 7), (9, 3, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, "shifted"),
    "5x3_rows_same_shifted": ((1, 3, 6, 35), (9, 3, 5, 3), {"pads": [0, 1, 0, 1]}, "shifted"),
    "7x7_stride2_stem": ((1, 3, 37, 41), (16, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}, "gather"),
    "1x1_stride2_gather": ((2, 6, 9, 10), (10, 6, 1, 1), {"strides": [2, 2]}, "gather"),
    "1x1_padded_shifted": ((1, 6, 5, 4), (10, 6, 1, 1), {"pads": [1, 0, 1, 0]}, "shifted"),
    "grouped_3x3_shifted": ((2, 8, 7, 19), (16, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}, "shifted"),
    "grouped_strided_gather": ((1, 6, 9, 9), (12, 2, 3, 3), {"group": 3, "strides": [2, 1]}, "gather"),
}


@pytest.mark.parametrize("case", sorted(PACKING_CASES))
def test_packing_paths_match_the_reference(case: str) -> None:
    x_shape, w_shape, props, packing = PACKING_CASES[case]
    module = conv_module(x_shape, w_shape, **props)
    kernels = lowered(module)
    assert ("vecx.gather" in kernels) == (packing == "gather")
    assert_matches(module, [[rand(*x_shape)]])


def test_dynamic_spatial_dims_fall_back_to_gathers() -> None:
    """``?`` rows: the shifted form cannot be proven, so gathers; batch 0, 1 and 2; tiny images."""
    module = conv_module([None, 4, None, None], (12, 4, 3, 3), pads=[1, 1, 1, 1])
    assert "vecx.gather" in lowered(module)
    shapes = [(2, 4, 7, 21), (1, 4, 1, 1), (0, 4, 5, 5), (1, 4, 2, 40), (1, 4, 33, 3)]
    assert_matches(module, [[rand(*s)] for s in shapes])


def test_dynamic_batch_static_rows_stay_shifted() -> None:
    module = conv_module([None, 4, 9, 17], (8, 4, 3, 3), pads=[1, 1, 1, 1])
    assert "vecx.gather" not in lowered(module)
    assert_matches(module, [[rand(2, 4, 9, 17)], [rand(1, 4, 9, 17)], [rand(0, 4, 9, 17)]])


def test_one_and_three_dimensional_windows() -> None:
    conv1d = conv_module([None, 3, 50], (8, 3, 5), pads=[2, 2])
    assert "vecx.gather" not in lowered(conv1d)
    assert_matches(conv1d, [[rand(2, 3, 50)], [rand(0, 3, 50)]])
    conv1d_strided = conv_module([1, 3, 47], (8, 3, 4), strides=[3], pads=[1, 2])
    assert_matches(conv1d_strided, [[rand(1, 3, 47)]])
    conv3d = conv_module([1, 3, 5, 6, 7], (8, 3, 3, 3, 3), pads=[1, 1, 1, 1, 1, 1])
    assert "vecx.gather" not in lowered(conv3d)
    assert_matches(conv3d, [[rand(1, 3, 5, 6, 7)]])
    conv3d_strided = conv_module([1, 3, 5, 6, 7], (8, 3, 2, 3, 2), strides=[2, 1, 2], pads=[0, 1, 1, 1, 0, 0])
    assert "vecx.gather" in lowered(conv3d_strided)
    assert_matches(conv3d_strided, [[rand(1, 3, 5, 6, 7)]])


def test_double_precision_uses_eight_lanes_of_i64() -> None:
    shifted = conv_module([1, 3, 6, 11], (8, 3, 3, 3), "float64", pads=[1, 1, 1, 1])
    gathered = conv_module([1, 3, 9, 11], (8, 3, 3, 3), "float64", strides=[2, 2], pads=[1, 1, 1, 1])
    assert "vector<8xi64>" in lowered(gathered)
    assert_matches(shifted, [[rand(1, 3, 6, 11, dtype="float64")]], tol=1e-10)
    assert_matches(gathered, [[rand(1, 3, 9, 11, dtype="float64")]], tol=1e-10)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "props"),
    [
        ((2, 8, 7, 7), (200, 8, 3, 3), {"pads": [1, 1, 1, 1]}),  # 3 chunks of 72, 72, 56 channels
        ((1, 16, 14, 14), (520, 16, 1, 1), {"strides": [2, 2]}),  # gathers: chunks of 264 and 256
        ((1, 8, 5, 5), (256, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),  # 2 chunks in each group
    ],
)
def test_small_images_split_channels_into_chunks(x_shape: tuple[int, ...], w_shape: tuple[int, ...], props: dict[str, PropValue]) -> None:
    """Few panels: the parallel loop also splits the output channels (``chunk_rows``)."""
    module = conv_module(x_shape, w_shape, **props)
    kernels = lowered(module)
    min_rows = conv_gemm.GATHER_CHUNK_MIN_ROWS if "vecx.gather" in kernels else conv_gemm.CHUNK_MIN_ROWS
    out_positions = 49 if x_shape[2] != 5 else 25
    channels = w_shape[0] // int(props.get("group", 1))  # type: ignore[arg-type]
    assert conv_gemm.chunk_rows(channels, out_positions, _tile(), min_rows) < channels
    assert_matches(module, [[rand(*x_shape)]])


def _tile() -> Tile:
    tile = vector_tile(f32)
    assert tile is not None
    return tile


def test_deep_reduction_spans_cache_blocks_with_padding() -> None:
    """K = 64 * 9 = 576: three KC blocks, each packing its own taps."""
    module = conv_module([1, 64, 6, 9], (20, 64, 3, 3), pads=[1, 1, 1, 1])
    assert_matches(module, [[rand(1, 64, 6, 9)]], tol=5e-4)


def test_padding_never_leaks_non_finite_inputs() -> None:
    """Padding lanes are zeroed by bits, not by multiplying: an inf/nan next to the border
    must not reach outputs whose window only touches it through the padding."""
    module = conv_module([1, 2, 6, 6], (4, 2, 3, 3), pads=[1, 1, 1, 1])
    strided = conv_module([1, 2, 6, 6], (4, 2, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1])
    x = rand(1, 2, 6, 6)
    x[0, 0, 5, 5] = np.inf
    x[0, 1, 0, 0] = np.nan
    for m in (module, strided):
        (got,) = dynir.compile(m, cache_dir=False)(x)
        (want,) = dynir.interpret(m, x)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)


# -- the finish ----------------------------------------------------------------------


def epilogue_module(kind: str, x_shape: Sequence[int], w_shape: Sequence[int], **props: PropValue) -> tuple[ModuleOp, list[int]]:
    """Conv + add of an operand of ``kind`` + relu; returns the module and that operand's shape."""
    g, y = conv_graph(x_shape, w_shape, **props)
    n, m, h, w = y.shape  # type: ignore[attr-defined]
    shapes = {"residual": [n, m, h, w], "channel": [m, 1, 1], "scalar_row": [1, 1, 1, w], "per_row": [1, m, h, 1]}
    g.output(g.relu(g.add(y, g.input("r", shapes[kind], "float32"))))
    return g.module(), shapes[kind]


@pytest.mark.parametrize(
    ("kind", "flat"), [("residual", True), ("channel", True), ("per_row", False), ("scalar_row", False)]
)
@pytest.mark.parametrize("window", ["1x1", "3x3_same", "3x3_stride2"])
def test_epilogue_at_flat_or_unflattened_positions(
    monkeypatch: pytest.MonkeyPatch, kind: str, flat: bool, window: str
) -> None:
    props: dict[str, PropValue] = {
        "1x1": {}, "3x3_same": {"pads": [1, 1, 1, 1]}, "3x3_stride2": {"strides": [2, 2], "pads": [1, 1, 1, 1]},
    }[window]
    kernel = 1 if window == "1x1" else 3
    module, operand_shape = epilogue_module(kind, (2, 6, 9, 13), (20, 6, kernel, kernel), **props)
    with flat_decisions(monkeypatch) as decisions:
        compiled = dynir.compile(module, cache_dir=False)
        x, r = rand(2, 6, 9, 13), rand(*operand_shape)
        (got,) = compiled(x, r)
    assert decisions == [flat]
    (want,) = dynir.interpret(module, x, r)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# View ops inside an epilogue group (fuse-epilogue does not put them there today, but the
# kernel builder accepts such groups): the operand's indices are permuted, offset or
# recomputed, so the flat position would be wrong and the finish must unflatten.
VIEW_GROUP = """
func.func @main(%x: tensor<2x6x9x13xf32>, %w: tensor<20x6x3x3xf32>, %b: tensor<20xf32>, %r: tensor<{r_type}xf32>) -> tensor<2x20x9x13xf32> {{
  %y = fusion.group (%x, %w, %b, %r) {{kind = "epilogue"}} : (tensor<2x6x9x13xf32>, tensor<20x6x3x3xf32>, tensor<20xf32>, tensor<{r_type}xf32>) -> (tensor<2x20x9x13xf32>) {{
  ^bb0(%a0: tensor<2x6x9x13xf32>, %a1: tensor<20x6x3x3xf32>, %a2: tensor<20xf32>, %a3: tensor<{r_type}xf32>):
    %c = nn.conv %a0, %a1, %a2 {{pads = array<i64: 1, 1, 1, 1>}} : (tensor<2x6x9x13xf32>, tensor<20x6x3x3xf32>, tensor<20xf32>) -> tensor<2x20x9x13xf32>
    %v = {view} : (tensor<{r_type}xf32>) -> tensor<2x20x9x13xf32>
    %s = nn.add %c, %v : (tensor<2x20x9x13xf32>, tensor<2x20x9x13xf32>) -> tensor<2x20x9x13xf32>
    fusion.yield %s : tensor<2x20x9x13xf32>
  }}
  func.return %y : tensor<2x20x9x13xf32>
}}
"""

VIEWS = {
    "transposed": ((2, 20, 13, 9), "nn.transpose %a3 {perm = array<i64: 0, 1, 3, 2>}", False),
    "sliced_from_zero": ((2, 20, 9, 16), "nn.slice %a3 {starts = array<i64: 0>, ends = array<i64: 13>, axes = array<i64: 3>}", False),
    "sliced_channels": ((2, 24, 9, 13), "nn.slice %a3 {starts = array<i64: 3>, ends = array<i64: 23>, axes = array<i64: 1>}", True),
    "flattened": ((2, 20, 117), "nn.reshape %a3 {shape = array<i64: 2, 20, 9, 13>}", False),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_ops_in_the_epilogue(monkeypatch: pytest.MonkeyPatch, view: str) -> None:
    r_shape, view_op, flat = VIEWS[view]
    text = VIEW_GROUP.format(r_type="x".join(map(str, r_shape)), view=view_op)
    module = dynir.parse(text)
    with flat_decisions(monkeypatch) as decisions:
        for p in build_pipeline("lower-to-loops"):
            p.apply(make_context(), module)
    assert decisions == [flat]
    (kernel,) = [op.clone() for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data != "main"]
    inputs = [rand(2, 6, 9, 13), rand(20, 6, 3, 3), rand(20), rand(*r_shape)]
    out = np.empty((2, 20, 9, 13), np.float32)
    compile_kernels(ModuleOp([kernel]))[kernel.sym_name.data](*inputs, out, 0, 1)
    (want,) = dynir.interpret(dynir.parse(text), *inputs)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_dynamic_epilogue_uses_unflattened_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    g = Graph()
    x = g.input("x", [None, 5, None, None], "float32")
    y = g.conv(x, g.constant(rand(16, 5, 3, 3)), g.constant(rand(16)), pads=[1, 1, 1, 1])
    g.output(g.relu(g.add(y, g.input("r", [None, 16, None, None], "float32"))))
    module = g.module()
    with flat_decisions(monkeypatch) as decisions:
        assert_matches(module, [[rand(2, 5, 7, 9), rand(2, 16, 7, 9)], [rand(1, 5, 1, 1), rand(1, 16, 1, 1)],
                                [rand(1, 5, 4, 4), rand(1, 16, 1, 4)]])
    assert decisions == [False]


def test_batch_norm_epilogue_reads_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    g, y = conv_graph((1, 4, 10, 19), (24, 4, 3, 3), pads=[1, 1, 1, 1])
    stats = [g.constant(rand(24)) for _ in range(3)]
    var = g.constant(np.abs(rand(24)) + 0.5)
    y = g.batch_norm(g.relu(y), *stats[:2], stats[2], var)  # after the relu: not folded into the weights
    g.output(g.add(y, g.input("r", [1, 24, 10, 19], "float32")))
    module = g.module()
    with flat_decisions(monkeypatch) as decisions:
        assert_matches(module, [[rand(1, 4, 10, 19), rand(1, 24, 10, 19)]])
    assert decisions == [True]
