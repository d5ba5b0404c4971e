"""Multi-core execution: ``KernelBuilder.parallel_loop`` kernels take ``(part, parts)``,
``finish_kernel`` keeps that only for kernels whose top-level work is all parallel, the
runtime splits them over a thread pool (``dynir.runtime.parallel``), ``threads=`` on
``dynir.compile``, and the disk cache keeps the partitioned signature."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp, f32
from xdsl.ir import SSAValue

import dynir
from dynir.backends.llvm import compile_module
from dynir.backends.llvm.translate import exported_kernels
from dynir.diagnostics import DynirError
from dynir.ir.types import tensor_type
from dynir.lowering.builder import KernelBuilder, finish_kernel, is_partitioned, new_kernel
from dynir.runtime import parallel
from dynir.runtime.artefact import exports_from_json, exports_to_json

RNG = np.random.default_rng(11)


@pytest.fixture
def split_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every partitioned kernel in parts, however small its buffers."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", 0)


def _plus_one_kernel(*, serial_tail: bool) -> ModuleOp:
    t = tensor_type((None, 3), f32)
    kernel, kb, (x,), (y,) = new_kernel("plus_one", [t], [t])
    with kb.parallel_loop(kb.dim(y, 0)) as (i, row):
        with row.loop(kb.dim(y, 1)) as (j, body):
            body.store(_add_one(body, body.load(x, [i, j])), y, [i, j])
    if serial_tail:
        with kb.loop(kb.dim(y, 0)) as (i, body):
            body.store(_add_one(body, body.load(y, [i, kb.index(0)])), y, [i, kb.index(0)])
    finish_kernel(kb)
    kernel.attributes["kernel"] = kernel.sym_name
    return ModuleOp([kernel])


def _add_one(kb: KernelBuilder, value: SSAValue) -> SSAValue:
    return kb.add(arith.AddfOp(value, kb.float_const(1.0, f32)))


def test_parallel_loop_adds_part_parameters_and_each_part_writes_its_rows() -> None:
    module = _plus_one_kernel(serial_tail=False)
    (kernel,) = module.ops
    assert is_partitioned(kernel)  # type: ignore[arg-type]
    assert [str(t) for t in kernel.function_type.inputs.data][-2:] == ["index", "index"]  # type: ignore[attr-defined]
    compiled = compile_module(module)
    x = RNG.standard_normal((7, 3)).astype(np.float32)
    y = np.full_like(x, np.nan)
    written: list[int] = []
    for part in range(3):
        before = np.isnan(y[:, 0]).sum()
        compiled["plus_one"](x, y, part, 3)
        written.append(int(before - np.isnan(y[:, 0]).sum()))
    assert written == [2, 2, 3]  # rows [0, 2), [2, 4), [4, 7)
    np.testing.assert_array_equal(y, x + 1)


def test_a_kernel_with_serial_top_level_work_is_not_partitioned() -> None:
    module = _plus_one_kernel(serial_tail=True)
    (kernel,) = module.ops
    assert not is_partitioned(kernel)  # type: ignore[arg-type]
    assert all(str(t).startswith("memref") for t in kernel.function_type.inputs.data)  # type: ignore[attr-defined]
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    y = np.empty_like(x)
    compile_module(module)["plus_one"](x, y)
    expected = x + 1
    expected[:, 0] += 1
    np.testing.assert_array_equal(y, expected)


def test_partitioned_signature_survives_the_disk_cache_codec() -> None:
    exports = exported_kernels(_plus_one_kernel(serial_tail=False))
    assert parallel.is_partitioned(exports["plus_one"].signature)
    again = exports_from_json(exports_to_json(exports))
    assert parallel.is_partitioned(again["plus_one"].signature)
    serial = exported_kernels(_plus_one_kernel(serial_tail=True))
    assert not parallel.is_partitioned(serial["plus_one"].signature)


CHAIN = """
func.func @main(%x: tensor<?x?x?xf32>, %y: tensor<?x1x?xf32>) -> tensor<?x?x?xf32> {
  %a = nn.add %x, %y : (tensor<?x?x?xf32>, tensor<?x1x?xf32>) -> tensor<?x?x?xf32>
  %b = nn.gelu %a : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %c = nn.softmax %b {axis = -1 : i64} : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %d = nn.transpose %c {perm = array<i64: 2, 0, 1>} : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %e = nn.reduce_sum %d {axes = array<i64: 2>, keepdims = 0 : i64} : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
  %f = nn.sigmoid %e : (tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %f, %c : tensor<?x?xf32>, tensor<?x?x?xf32>
}
"""

SHAPES = [(3, 5, 7), (1, 1, 1), (1, 37, 129), (0, 4, 5), (2, 0, 3), (5, 2, 0), (4, 17, 3)]


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_compiled_models_match_the_reference_on_any_thread_count(split_everything: None, threads: int) -> None:
    module = dynir.parse(CHAIN)
    model = dynir.compile(module, cache_dir=False, threads=threads)
    assert model.threads == threads
    for shape in SHAPES:
        x = RNG.standard_normal(shape).astype(np.float32)
        y = RNG.standard_normal((shape[0], 1, shape[2])).astype(np.float32)
        for got, want in zip(model(x, y), dynir.interpret(module, x, y)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


X = "tensor<?x4x9x?xf32>"

# (op line with %x as the input, result type, extra arguments): every family that splits.
FAMILY_OPS: dict[str, tuple[str, str, str]] = {
    "max_pool": (f"nn.max_pool %x {{kernel_shape = array<i64: 2, 1>, strides = array<i64: 2, 1>}} : ({X}) -> tensor<?x4x4x?xf32>",
                 "tensor<?x4x4x?xf32>", ""),
    "global_average_pool": (f"nn.global_average_pool %x : ({X}) -> tensor<?x4x1x1xf32>", "tensor<?x4x1x1xf32>", ""),
    "layer_norm": (f"nn.layer_norm %x, %s, %b {{axis = 2 : i64}} : ({X}, tensor<f32>, tensor<f32>) -> {X}", X,
                   ", %s: tensor<f32>, %b: tensor<f32>"),
    "instance_norm": (f"nn.instance_norm %x, %c, %c : ({X}, tensor<4xf32>, tensor<4xf32>) -> {X}", X, ", %c: tensor<4xf32>"),
    "tile": (f"nn.tile %x {{repeats = array<i64: 1, 1, 2, 1>}} : ({X}) -> tensor<?x4x18x?xf32>", "tensor<?x4x18x?xf32>", ""),
    "gather": (f"nn.gather %x, %i {{axis = 2 : i64}} : ({X}, tensor<3xi64>) -> tensor<?x4x3x?xf32>", "tensor<?x4x3x?xf32>",
               ", %i: tensor<3xi64>"),
    "argmax": (f"nn.argmax %x {{axis = 3 : i64}} : ({X}) -> tensor<?x4x9x1xi64>", "tensor<?x4x9x1xi64>", ""),
    "reduce_max": (f"nn.reduce_max %x {{axes = array<i64: 3>}} : ({X}) -> tensor<?x4x9x1xf32>", "tensor<?x4x9x1xf32>", ""),
    "concat": (f"nn.concat %x, %x {{axis = 1 : i64}} : ({X}, {X}) -> tensor<?x8x9x?xf32>", "tensor<?x8x9x?xf32>", ""),
    "log_softmax": (f"nn.log_softmax %x {{axis = 1 : i64}} : ({X}) -> {X}", X, ""),
}


def _family_module(name: str) -> ModuleOp:
    line, result, extra = FAMILY_OPS[name]
    return dynir.parse(f"""
func.func @main(%x: {X}{extra}) -> {result} {{
  %r = {line}
  func.return %r : {result}
}}""")


def _family_inputs(name: str, batch: int, width: int) -> list[np.ndarray]:
    x = RNG.standard_normal((batch, 4, 9, width)).astype(np.float32)
    extra = FAMILY_OPS[name][2]
    if "%s" in extra:
        return [x, np.array(1.5, np.float32), np.array(0.25, np.float32)]
    if "%c" in extra:
        return [x, RNG.standard_normal(4).astype(np.float32)]
    if "%i" in extra:
        return [x, np.array([8, 0, -2], np.int64)]
    return [x]


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
@pytest.mark.parametrize("name", sorted(FAMILY_OPS))
def test_split_families_match_the_reference(split_everything: None, name: str) -> None:
    module = _family_module(name)
    model = dynir.compile(module, cache_dir=False, threads=3)
    for batch, width in [(1, 5), (2, 1), (3, 33), (0, 4), (1, 0)]:
        if width == 0 and name in ("argmax", "max_pool"):
            continue  # no element to select / no window fits: a shape error by the op's definition
        arrays = _family_inputs(name, batch, width)
        (got,) = model(*arrays)
        (want,) = dynir.interpret(module, *arrays)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_resize_splits_batch_one_over_channels(split_everything: None) -> None:
    module = dynir.parse("""
func.func @main(%x: tensor<1x3x4x5xf32>) -> tensor<1x3x8x10xf32> {
  %r = nn.resize %x {mode = "linear", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<1x3x4x5xf32>) -> tensor<1x3x8x10xf32>
  func.return %r : tensor<1x3x8x10xf32>
}""")
    x = RNG.standard_normal((1, 3, 4, 5)).astype(np.float32)
    (got,) = dynir.compile(module, cache_dir=False, threads=2)(x)
    np.testing.assert_allclose(got, dynir.interpret(module, x)[0], rtol=1e-5, atol=1e-6)


def test_threads_must_be_a_positive_integer() -> None:
    module = dynir.parse(CHAIN)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DynirError, match=r"threads must be a positive integer or None, got "):
            dynir.compile(module, cache_dir=False, threads=bad)  # type: ignore[arg-type]


def test_default_threads_are_the_cores_this_process_may_use() -> None:
    model = dynir.compile(dynir.parse(CHAIN), cache_dir=False)
    assert model.threads == len(os.sched_getaffinity(0))


def test_a_disk_hit_runs_on_the_new_thread_count(split_everything: None, tmp_path: Path) -> None:
    module = dynir.parse(CHAIN)
    x = RNG.standard_normal((2, 6, 5)).astype(np.float32)
    y = RNG.standard_normal((2, 1, 5)).astype(np.float32)
    first = dynir.compile(module, cache_dir=tmp_path, threads=1)
    expected = first(x, y)
    second = dynir.compile(module, cache_dir=tmp_path, threads=4)
    for got, want in zip(second(x, y), expected):
        np.testing.assert_array_equal(got, want)
    assert second.stats.disk_hits == 1 and second.stats.compiles == 0


def test_concurrent_callers_share_the_pool(split_everything: None) -> None:
    module = dynir.parse(CHAIN)
    model = dynir.compile(module, cache_dir=False, threads=2)
    x = RNG.standard_normal((3, 40, 17)).astype(np.float32)
    y = RNG.standard_normal((3, 1, 17)).astype(np.float32)
    want = dynir.interpret(module, x, y)
    model(x, y)  # compile once, before the threads race
    failures: list[str] = []

    def call() -> None:
        for _ in range(20):
            for got, expected in zip(model(x, y), want):
                if not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
                    failures.append("mismatch")

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert failures == []


def test_pool_runs_every_part_and_reraises_a_failure() -> None:
    pool = parallel.worker_pool(3)
    seen: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def record(tag: int, part: int, parts: int) -> None:
        with lock:
            seen.append((tag, part, parts))

    pool.run_parts(record, [7], 3)
    assert sorted(seen) == [(7, 0, 3), (7, 1, 3), (7, 2, 3)]

    def fail_in_part_two(part: int, parts: int) -> None:
        if part == 2:
            raise RuntimeError("part 2 failed")

    with pytest.raises(RuntimeError, match="part 2 failed"):
        pool.run_parts(fail_in_part_two, [], 3)
    pool.run_parts(record, [8], 2)  # still usable
    assert (8, 1, 2) in seen


def test_small_work_runs_once_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", 100)
    calls: list[tuple[object, ...]] = []
    call = parallel.partitioned_call(lambda *args: calls.append(args), threads=2)
    call([1, 2], 99)
    assert calls == [(1, 2, 0, 1)]
    call([1, 2], 100)
    assert sorted(calls[1:]) == [(1, 2, 0, 2), (1, 2, 1, 2)]
