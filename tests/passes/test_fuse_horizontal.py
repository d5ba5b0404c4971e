"""fuse-horizontal: sibling matmuls merged into one wider matmul; results unchanged."""

from __future__ import annotations

import numpy as np
from fusion_checks import check_compiled, group_ops, groups, run_passes

from dynir.builder import Graph
from dynir.interpreter import entry_function, interpret

RNG = np.random.default_rng(4)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def qkv_module(with_bias: bool) -> object:
    g = Graph()
    x = g.input("x", (None, None, 8), "float32")
    outs = []
    for i, n in enumerate((8, 8, 4)):
        y = g.matmul(x, g.constant(f32(8, n), name=f"w{i}"))
        if with_bias:
            y = y + g.constant(f32(n), name=f"b{i}")
        outs.append(g.relu(y))
    for y in outs:
        g.output(y)
    return g.module()


def test_qkv_merge_with_biases() -> None:
    module = qkv_module(with_bias=True)
    merged, _ = run_passes(module, "fuse-horizontal")  # type: ignore[arg-type]
    names = [op.name for op in entry_function(merged).body.block.ops]
    assert names.count("nn.matmul") == 1 and names.count("nn.add") == 1 and names.count("nn.slice") == 3
    x = f32(2, 3, 8)
    for got, want in zip(interpret(merged, x), interpret(module, x)):  # type: ignore[arg-type]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_merged_projection_fuses_into_one_epilogue_and_slices_into_consumers() -> None:
    module = qkv_module(with_bias=True)
    fused, _ = run_passes(module, "fuse-horizontal,fuse-epilogue,fuse-elementwise")  # type: ignore[arg-type]
    kinds = sorted(tuple(group_ops(g)) for g in groups(fused))
    assert kinds == [("nn.matmul", "nn.add")] + [("nn.slice", "nn.relu")] * 3
    for batch, seq in ((2, 3), (1, 1)):
        check_compiled(module, f32(batch, seq, 8), rtol=1e-4, atol=1e-5)  # type: ignore[arg-type]


def test_without_biases() -> None:
    module = qkv_module(with_bias=False)
    merged, _ = run_passes(module, "fuse-horizontal")  # type: ignore[arg-type]
    names = [op.name for op in entry_function(merged).body.block.ops]
    assert names.count("nn.matmul") == 1 and names.count("nn.add") == 0
    check_compiled(module, f32(2, 3, 8), rtol=1e-4, atol=1e-5)  # type: ignore[arg-type]
