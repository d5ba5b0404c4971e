"""Loop lowering of ``nn.resize``: compiled kernels vs the numpy reference.

Every coordinate transformation mode with every nearest rounding rule, linear and
cubic (with ``exclude_outside`` and another ``cubic_coeff_a``), sizes-only resizes whose
scale is known at run time only (including dims that turn out unchanged, which the
reference skips), ``tf_crop_and_resize`` extrapolation, N-d multilinear, and element
types other than f32. Nearest is exact; linear and cubic mix in f64 like the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from dynir.builder.ops import PropValue
from dynir.dialects.nn.resize import ResizeOp
from dynir.lowering.scalar import LoweringError

RNG = np.random.default_rng(0)


def compile_symbolic(module: ModuleOp) -> dynir.CompiledModel:
    """Compile with every ``?`` dim symbolic (the kernels read sizes at run time) and no
    disk cache, so each run exercises the current lowering."""
    return dynir.compile(module, dynamic=True, cache_dir=False)
ROI: list[float] = [0.0, 0.0, 0.1, -0.2, 1.0, 1.0, 0.8, 1.3]


def random_array(shape: Sequence[int], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return RNG.random(tuple(shape)) > 0.5
    if np.issubdtype(np.dtype(dtype), np.integer):
        return RNG.integers(-100, 100, size=tuple(shape)).astype(dtype)
    return RNG.standard_normal(tuple(shape)).astype(dtype)


def assert_close(module: ModuleOp, shapes: Sequence[Sequence[int]], dtype: str = "float32", rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Compile ``module`` (one input) once and compare with the reference on each shape."""
    compiled = compile_symbolic(module)
    for shape in shapes:
        x = random_array(shape, dtype)
        got = compiled(x)
        want = dynir.interpret(module, x)
        for position, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g.shape == w.shape and g.dtype == w.dtype, f"output {position} for {shape}"
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {position} for input {shape}")


def resizes_module(shape: Sequence[int | None], dtype: str, resizes: Sequence[dict[str, PropValue]]) -> ModuleOp:
    g = Graph()
    x = g.input("x", tuple(shape), dtype)
    for props in resizes:
        g.output(g.resize(x, **props))
    return g.module()


def with_roi(coords: str, props: dict[str, PropValue]) -> dict[str, PropValue]:
    props = {"coordinate_transformation_mode": coords, **props}
    if coords == "tf_crop_and_resize":
        props.update(roi=ROI, extrapolation_value=-2.5)
    return props


SCALES: list[list[float]] = [[1.0, 1.0, 2.0, 0.6], [1.0, 1.0, 0.5, 1.7]]


@pytest.mark.parametrize("coords", ResizeOp.COORDINATE_MODES)
def test_nearest_every_rounding_rule(coords: str) -> None:
    resizes = [
        with_roi(coords, {"mode": "nearest", "nearest_mode": rule, "scales": scales})
        for rule in ResizeOp.NEAREST_MODES
        for scales in SCALES
    ]
    assert_close(resizes_module((None, 2, None, None), "float32", resizes), [(2, 2, 5, 4), (1, 2, 3, 7)], rtol=0, atol=0)


@pytest.mark.parametrize("coords", ResizeOp.COORDINATE_MODES)
def test_linear_and_cubic(coords: str) -> None:
    resizes = [with_roi(coords, {"mode": "linear", "scales": scales}) for scales in SCALES]
    resizes += [with_roi(coords, {"mode": "cubic", "scales": scales}) for scales in SCALES]
    resizes.append(with_roi(coords, {"mode": "cubic", "scales": SCALES[0], "cubic_coeff_a": -0.5, "exclude_outside": 1}))
    assert_close(resizes_module((None, 2, None, None), "float32", resizes), [(2, 2, 5, 4), (1, 2, 3, 7)])


@pytest.mark.parametrize("mode", ResizeOp.MODES)
def test_sizes_with_run_time_scales(mode: str) -> None:
    """``sizes`` only and ``?`` input dims: the scale is out/in at run time, and a dim whose
    run-time size equals its output size is left as is (the reference skips it)."""
    resizes: list[dict[str, PropValue]] = [
        {"mode": mode, "sizes": [1, 2, 5, 6], "coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "ceil"},
        {"mode": mode, "sizes": [1, 2, 5, 6], "coordinate_transformation_mode": "asymmetric", "nearest_mode": "simple"},
        {"mode": mode, "sizes": [1, 2, 5, 6], "coordinate_transformation_mode": "half_pixel_symmetric"},
        {"mode": mode, "sizes": [1, 2, 5, 6], "coordinate_transformation_mode": "align_corners"},
    ]
    assert_close(resizes_module((None, 2, None, None), "float32", resizes), [(1, 2, 5, 3), (1, 2, 7, 6), (1, 2, 5, 6), (1, 2, 1, 9)])


def test_static_shapes_and_unchanged_dims() -> None:
    resizes: list[dict[str, PropValue]] = [
        {"mode": "nearest", "scales": [1.0, 1.0, 3.0, 1.0], "nearest_mode": "ceil", "coordinate_transformation_mode": "tf_half_pixel_for_nn"},
        {"mode": "linear", "scales": [1.0, 1.0, 0.5, 2.0]},
        {"mode": "cubic", "sizes": [1, 3, 4, 4]},
        {"mode": "linear", "sizes": [1, 3, 9, 4], "coordinate_transformation_mode": "tf_crop_and_resize", "roi": ROI},
    ]
    assert_close(resizes_module((1, 3, 4, 4), "float32", resizes), [(1, 3, 4, 4)])


def test_multilinear_over_every_dim() -> None:
    resizes: list[dict[str, PropValue]] = [
        {"mode": "linear", "scales": [1.0, 1.0, 1.5, 2.0, 0.7]},
        {"mode": "linear", "scales": [2.0, 1.5, 1.0, 0.5, 3.0], "coordinate_transformation_mode": "align_corners"},
        {"mode": "cubic", "scales": [1.0, 2.0, 1.0, 1.0, 0.5]},
    ]
    assert_close(resizes_module((None, None, None, None, None), "float32", resizes), [(1, 2, 5, 3, 6), (2, 1, 1, 2, 2)])
    assert_close(resizes_module((None,), "float32", [{"mode": "linear", "scales": [2.5]}]), [(7,), (1,)])


@pytest.mark.parametrize("dtype", ["int8", "int64", "bool", "float16", "float64"])
def test_nearest_on_other_element_types(dtype: str) -> None:
    resizes: list[dict[str, PropValue]] = [
        {"mode": "nearest", "scales": [1.0, 1.0, 1.5, 2.0]},
        {"mode": "nearest", "sizes": [1, 2, 4, 4], "coordinate_transformation_mode": "tf_crop_and_resize", "roi": ROI, "extrapolation_value": -3.5},
    ]
    assert_close(resizes_module((None, 2, None, None), dtype, resizes), [(1, 2, 5, 3), (1, 2, 2, 2)], dtype, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_linear_and_cubic_on_other_floats(dtype: str) -> None:
    resizes: list[dict[str, PropValue]] = [
        {"mode": "linear", "scales": [1.0, 1.0, 1.5, 2.0]},
        {"mode": "cubic", "scales": [1.0, 1.0, 0.6, 2.0]},
        {"mode": "linear", "sizes": [1, 2, 4, 4], "coordinate_transformation_mode": "tf_crop_and_resize", "roi": ROI},
    ]
    tolerance = 1e-3 if dtype == "float16" else 1e-12
    assert_close(resizes_module((None, 2, None, None), dtype, resizes), [(1, 2, 5, 3)], dtype, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_interpolation_on_integers_is_a_lowering_error(mode: str) -> None:
    module = resizes_module((1, 2, 4, 4), "int32", [{"mode": mode, "scales": [1.0, 1.0, 2.0, 2.0]}])
    with pytest.raises(LoweringError, match=r"'nn.resize' on i32 has no loop lowering \(float element types only\)"):
        compile_symbolic(module)(np.ones((1, 2, 4, 4), np.int32))


def test_unsigned_nearest() -> None:
    """uint8 nearest is a copy; its crop fill needs an arith constant, which ``ui8``
    kernel buffers cannot hold yet (see the report on signless kernel buffers)."""
    module = resizes_module((None, 2, None, None), "uint8", [{"mode": "nearest", "scales": [1.0, 1.0, 1.5, 2.0]}])
    x = RNG.integers(0, 256, size=(1, 2, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(compile_symbolic(module)(x)[0], dynir.interpret(module, x)[0])
    crop = resizes_module((1, 2, 5, 3), "uint8", [{"mode": "nearest", "sizes": [1, 2, 4, 4], "coordinate_transformation_mode": "tf_crop_and_resize", "roi": ROI}])
    np.testing.assert_array_equal(compile_symbolic(crop)(x[:, :, :5, :3])[0], dynir.interpret(crop, x[:, :, :5, :3])[0])
