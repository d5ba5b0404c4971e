"""The ONNX graph importer core: signatures, dim names, initializers of every storage
kind, round trips with large weights, constant folding, known_inputs, locations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from tests.importers.onnx.graph_testlib import initializer, model, node, value_info
from onnx import TensorProto, helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DenseResourceAttr, ModuleOp, StringAttr

import dynir
from dynir.diagnostics import format_location
from dynir.dialects.nn.base import DIM_NAMES
from dynir.dialects.nn.constant import ConstantOp
from dynir.importers.onnx import import_onnx
from dynir.interpreter import interpret
from dynir.ir.text import parse, print_ir


def main_of(module: ModuleOp) -> func.FuncOp:
    (f,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    return f


def op_names(module: ModuleOp) -> list[str]:
    return [op.name for op in main_of(module).body.block.ops]


def bias_relu_model() -> onnx.ModelProto:
    b = np.array([1.0, -2.0, 3.0, -4.0], np.float32)
    nodes = [node("Add", ["x", "b"], ["s"], "add_0"), node("Relu", ["s"], ["y"], "relu_1")]
    return model(nodes, [value_info("x", ["batch", 4])], ["y"], [initializer("b", b)])


def test_dim_params_become_dynamic_dims_with_names() -> None:
    inputs = [value_info("a", ["batch", "seq", 8]), value_info("b", ["batch", None, 8])]
    nodes = [node("Add", ["a", "b"], ["y"])]
    module = import_onnx(model(nodes, inputs, ["y"]))
    module.verify()
    f = main_of(module)
    assert [str(t) for t in f.function_type.inputs] == ["tensor<?x?x8xf32>", "tensor<?x?x8xf32>"]
    assert [str(t) for t in f.function_type.outputs] == ["tensor<?x?x8xf32>"]
    assert f.arg_attrs is not None
    names = [[s.data for s in d.data[DIM_NAMES].data] for d in f.arg_attrs.data]  # type: ignore[union-attr]
    assert names == [["batch", "seq", ""], ["batch", "", ""]]


def test_bias_relu_matches_numpy_and_keeps_input_names() -> None:
    module = import_onnx(bias_relu_model())
    text = print_ir(module)
    assert (
        'func.func @main(%x: tensor<?x4xf32> {nn.name = "x", nn.dim_names = ["batch", ""]}) '
        '-> (tensor<?x4xf32> {nn.name = "y"})'
    ) in text
    assert op_names(module) == ["nn.constant", "nn.add", "nn.relu", "func.return"]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    (y,) = interpret(parse(text), x)
    np.testing.assert_array_equal(y, np.maximum(x + np.array([1, -2, 3, -4], np.float32), 0))


def test_inputs_that_are_initializers_are_not_arguments_ir3() -> None:
    m = bias_relu_model()
    m.graph.input.append(value_info("b", [4]))  # IR < 4 lists initializers among inputs
    m.ir_version = 3
    f = main_of(import_onnx(m))
    assert [str(t) for t in f.function_type.inputs] == ["tensor<?x4xf32>"]


def test_argument_and_result_order_follow_the_graph() -> None:
    inputs = [value_info("p", [2], TensorProto.INT64), value_info("q", [3])]
    nodes = [node("Relu", ["q"], ["rq"])]
    module = import_onnx(model(nodes, inputs, ["rq", "p", "q"]))
    f = main_of(module)
    assert [str(t) for t in f.function_type.inputs] == ["tensor<2xi64>", "tensor<3xf32>"]
    assert [str(t) for t in f.function_type.outputs] == ["tensor<3xf32>", "tensor<2xi64>", "tensor<3xf32>"]
    p, q = np.array([5, 6]), np.array([-1.0, 0.5, 2.0], np.float32)
    rq, p2, q2 = interpret(module, p, q)
    np.testing.assert_array_equal(rq, [0.0, 0.5, 2.0])
    np.testing.assert_array_equal(p2, p)
    np.testing.assert_array_equal(q2, q)


def typed_tensor(name: str, data_type: int, dims: list[int], field: str, values: list[int] | list[float]) -> onnx.TensorProto:
    t = TensorProto(name=name, data_type=data_type, dims=dims)
    getattr(t, field).extend(values)
    return t


def f16_bits(values: list[float]) -> list[int]:
    return [int(b) for b in np.array(values, np.float16).view(np.uint16)]


INITIALIZERS = [
    ("raw_f32", initializer("raw_f32", np.arange(6, dtype=np.float32).reshape(2, 3)), np.arange(6, dtype=np.float32).reshape(2, 3)),
    ("raw_i64_big", initializer("raw_i64_big", np.arange(40, dtype=np.int64)), np.arange(40, dtype=np.int64)),
    ("float_data", typed_tensor("float_data", TensorProto.FLOAT, [3], "float_data", [1.5, -2.0, 3.25]), np.array([1.5, -2.0, 3.25], np.float32)),
    ("int64_data", typed_tensor("int64_data", TensorProto.INT64, [2], "int64_data", [-7, 1 << 40]), np.array([-7, 1 << 40], np.int64)),
    ("double_data", typed_tensor("double_data", TensorProto.DOUBLE, [2], "double_data", [0.1, 1e300]), np.array([0.1, 1e300])),
    ("f16_int32", typed_tensor("f16_int32", TensorProto.FLOAT16, [3], "int32_data", f16_bits([0.5, -1.0, 65504.0])), np.array([0.5, -1.0, 65504.0], np.float16)),
    ("bool_int32", typed_tensor("bool_int32", TensorProto.BOOL, [2, 2], "int32_data", [1, 0, 0, 1]), np.array([[True, False], [False, True]])),
    ("int8_int32", typed_tensor("int8_int32", TensorProto.INT8, [3], "int32_data", [-128, 0, 127]), np.array([-128, 0, 127], np.int8)),
    ("uint8_raw", initializer("uint8_raw", np.array([0, 200, 255], np.uint8)), np.array([0, 200, 255], np.uint8)),
    ("uint64_data", typed_tensor("uint64_data", TensorProto.UINT64, [1], "uint64_data", [1 << 63]), np.array([1 << 63], np.uint64)),
    ("scalar", initializer("scalar", np.array(2.5, np.float32)), np.array(2.5, np.float32)),
    ("empty", initializer("empty", np.zeros((0, 3), np.float32)), np.zeros((0, 3), np.float32)),
]


@pytest.mark.parametrize("name,tensor,expected", INITIALIZERS, ids=[i[0] for i in INITIALIZERS])
def test_initializer_storage_kinds(name: str, tensor: onnx.TensorProto, expected: np.ndarray) -> None:
    module = import_onnx(model([], [], [name], [tensor]))
    (got,) = interpret(parse(print_ir(module)))
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_large_weights_round_trip_through_text(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((256, 300)).astype(np.float32)
    v = rng.integers(-100, 100, (1000,)).astype(np.int64)
    nodes = [node("Add", ["x", "w"], ["y"], "add_w"), node("Add", ["k", "v"], ["z"], "add_v")]
    inputs = [value_info("x", ["n", 256, 300]), value_info("k", [1000], TensorProto.INT64)]
    m = model(nodes, inputs, ["y", "z"], [initializer("layer1.weight", w), initializer("v", v)])
    # rename so that the Add uses the dotted initializer name
    m.graph.node[0].input[1] = "layer1.weight"
    onnx.save(m, tmp_path / "model.onnx")
    module = import_onnx(tmp_path / "model.onnx")
    constants = [op for op in module.walk() if isinstance(op, ConstantOp)]
    assert all(isinstance(c.value, DenseResourceAttr) for c in constants)
    assert constants[0].value.resource_handle.data.startswith("layer1.weight")  # type: ignore[union-attr]
    text = print_ir(module)
    assert "dialect_resources" in text
    reparsed = parse(text)
    reparsed.verify()
    x = rng.standard_normal((2, 256, 300)).astype(np.float32)
    k = np.arange(1000, dtype=np.int64)
    y, z = interpret(reparsed, x, k)
    np.testing.assert_array_equal(y, x + w)
    np.testing.assert_array_equal(z, k + v)
    assert print_ir(reparsed).count("0x08000000") == 2  # both blobs written back once each


def shape_chain_model(dims: list[int | str]) -> onnx.ModelProto:
    """Shape -> Gather(0) -> Concat(-1) -> Reshape: flatten all but the first dim."""
    nodes = [
        node("Shape", ["x"], ["s"], "shape", domain=""),
        node("Gather", ["s", "i0"], ["g"], "gather"),
        node("Concat", ["g", "m1"], ["c"], "concat", axis=0),
        node("Reshape", ["x", "c"], ["y"], "reshape", domain=""),
    ]
    consts = [initializer("i0", np.array([0], np.int64)), initializer("m1", np.array([-1], np.int64))]
    return model(nodes, [value_info("x", dims)], ["y"], consts)


def test_shape_gather_concat_reshape_folds_to_one_reshape() -> None:
    module = import_onnx(shape_chain_model([2, 3, 4]))
    assert op_names(module) == ["nn.reshape", "func.return"]
    text = print_ir(module)
    assert "nn.reshape %x {shape = array<i64: 2, -1>} : (tensor<2x3x4xf32>) -> tensor<2x12xf32>" in text
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(interpret(module, x)[0], x.reshape(2, 12))


def test_pytorch_flatten_chain_with_the_real_converters_folds() -> None:
    nodes = [
        node("Shape", ["x"], ["s"], "shape", domain=""),
        node("Gather", ["s", "zero"], ["n"], "gather", domain="", axis=0),
        node("Unsqueeze", ["n", "axes"], ["n1"], "unsqueeze", domain=""),
        node("Concat", ["n1", "minus_one"], ["target"], "concat", domain="", axis=0),
        node("Reshape", ["x", "target"], ["y"], "reshape", domain=""),
    ]
    consts = [
        initializer("zero", np.array(0, np.int64)),
        initializer("axes", np.array([0], np.int64)),
        initializer("minus_one", np.array([-1], np.int64)),
    ]
    m = model(nodes, [value_info("x", [2, 3, 4])], ["y"], consts)
    onnx.checker.check_model(m)
    module = dynir.import_onnx(m)
    assert op_names(module) == ["nn.reshape", "func.return"]


def test_shape_of_static_dims_folds_even_when_other_dims_are_dynamic() -> None:
    nodes = [node("Shape", ["x"], ["s"], "shape", domain="", start=1)]
    module = import_onnx(model(nodes, [value_info("x", ["n", 3, 4])], ["s"]))
    assert op_names(module) == ["nn.constant", "func.return"]
    (s,) = interpret(module, np.zeros((5, 3, 4), np.float32))
    np.testing.assert_array_equal(s, [3, 4])


def test_shape_of_dynamic_dim_is_not_folded() -> None:
    nodes = [node("Shape", ["x"], ["s"], "shape", domain="")]
    module = import_onnx(model(nodes, [value_info("x", ["n", 3])], ["s"]))
    assert op_names(module) == ["nn.shape", "func.return"]
    np.testing.assert_array_equal(interpret(module, np.zeros((5, 3), np.float32))[0], [5, 3])


def test_folding_constant_operands_of_a_node() -> None:
    a, b = np.array([1.0, -5.0], np.float32), np.array([2.0, 1.0], np.float32)
    nodes = [node("Add", ["a", "b"], ["s"]), node("Relu", ["s"], ["y"])]
    module = import_onnx(model(nodes, [], ["y"], [initializer("a", a), initializer("b", b)]))
    assert op_names(module) == ["nn.constant", "func.return"]
    np.testing.assert_array_equal(interpret(module)[0], [3.0, 0.0])


def test_known_inputs_become_constants_and_leave_the_signature() -> None:
    nodes = [node("Reshape", ["x", "shape"], ["y"], "reshape", domain="")]
    inputs = [value_info("x", ["n", 4]), value_info("shape", [2], TensorProto.INT64)]
    module = import_onnx(model(nodes, inputs, ["y"]), known_inputs={"shape": np.array([2, 2], np.int32)})
    f = main_of(module)
    assert [str(t) for t in f.function_type.inputs] == ["tensor<?x4xf32>"]
    assert op_names(module) == ["nn.reshape", "func.return"]
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_array_equal(interpret(module, x)[0], x.reshape(2, 2))


def test_known_input_used_as_output_is_a_constant() -> None:
    inputs = [value_info("x", [2]), value_info("k", [2], TensorProto.INT64)]
    module = import_onnx(model([node("Relu", ["x"], ["y"])], inputs, ["y", "k"]), known_inputs={"k": np.array([7, 8])})
    assert [str(t) for t in main_of(module).function_type.inputs] == ["tensor<2xf32>"]
    _, k = interpret(module, np.zeros(2, np.float32))
    np.testing.assert_array_equal(k, [7, 8])


def test_every_op_is_located_at_its_node(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save(bias_relu_model(), path)
    module = import_onnx(path)
    located = {op.name: format_location(op) for op in main_of(module).body.block.ops if op.name != "func.return"}
    assert located == {
        "nn.constant": f"{path}: initializer 'b'",
        "nn.add": f"{path}: node 'add_0' (test.dynir.Add)",
        "nn.relu": f"{path}: node 'relu_1' (test.dynir.Relu)",
    }


def test_unnamed_nodes_are_located_by_index() -> None:
    nodes = [node("Relu", ["x"], ["a"]), node("Relu", ["a"], ["y"])]
    module = import_onnx(model(nodes, [value_info("x", [2])], ["y"]))
    located = [format_location(op) for op in main_of(module).body.block.ops if op.name == "nn.relu"]
    assert located == ["node #0 (test.dynir.Relu)", "node #1 (test.dynir.Relu)"]


def test_locations_survive_printing_with_debug_info(tmp_path: Path) -> None:
    import io

    from xdsl.printer import Printer

    path = tmp_path / "model.onnx"
    onnx.save(bias_relu_model(), path)
    stream = io.StringIO()
    Printer(stream=stream, print_debuginfo=True).print_op(import_onnx(path))
    assert f'loc("node \'relu_1\' (test.dynir.Relu)"("{path}":0:0))' in stream.getvalue()


def test_unused_optional_output_is_fine() -> None:
    nodes = [node("ReluWithMask", ["x"], ["y", "mask"], "rm")]
    module = import_onnx(model(nodes, [value_info("x", [3])], ["y"]))
    np.testing.assert_array_equal(interpret(module, np.array([-1, 0, 2], np.float32))[0], [0, 0, 2])


def test_dead_nodes_are_dropped() -> None:
    nodes = [node("Relu", ["x"], ["unused"]), node("Relu", ["x"], ["y"], "kept")]
    module = import_onnx(model(nodes, [value_info("x", [3])], ["y"]))
    assert op_names(module) == ["nn.relu", "func.return"]


def test_default_domain_spelled_ai_onnx() -> None:
    m = shape_chain_model([2, 3, 4])
    del m.opset_import[0]
    m.opset_import.append(helper.make_opsetid("ai.onnx", 17))
    for n in m.graph.node:
        if n.domain == "":
            n.domain = "ai.onnx"
    assert op_names(import_onnx(m)) == ["nn.reshape", "func.return"]


def test_dim_names_only_where_named() -> None:
    module = import_onnx(model([node("Relu", ["x"], ["y"])], [value_info("x", [2, 3])], ["y"]))
    attrs = main_of(module).arg_attrs
    assert attrs is not None and DIM_NAMES not in attrs.data[0].data
    inputs = [value_info("x", [2, 3]), value_info("z", ["n"])]
    module = import_onnx(model([node("Relu", ["x"], ["y"])], inputs, ["y"]))
    attrs = main_of(module).arg_attrs
    assert attrs is not None and DIM_NAMES not in attrs.data[0].data
    assert attrs.data[1].data[DIM_NAMES] == ArrayAttr([StringAttr("n")])


# -- dynir import -----------------------------------------------------------------------------


def run_import(argv: list[str]) -> int:
    import argparse

    from dynir.cli.commands import import_model

    parser = argparse.ArgumentParser()
    import_model.add_arguments(parser)
    return import_model.run(parser.parse_args(argv))


def test_cli_import_writes_reparsable_mlir(tmp_path: Path) -> None:
    w = np.random.default_rng(2).standard_normal((4, 50)).astype(np.float32)
    m = model([node("Add", ["x", "w"], ["y"], "add")], [value_info("x", ["n", 4, 50])], ["y"], [initializer("w", w)])
    onnx.save(m, tmp_path / "model.onnx")
    out = tmp_path / "model.mlir"
    assert run_import([str(tmp_path / "model.onnx"), "-o", str(out)]) == 0
    x = np.ones((1, 4, 50), np.float32)
    np.testing.assert_array_equal(interpret(parse(out.read_text()), x)[0], x + w)


def test_cli_import_elides_constants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = model([node("Add", ["x", "w"], ["y"], "add")], [value_info("x", [40])], ["y"], [initializer("w", np.ones(40, np.float32))])
    onnx.save(m, tmp_path / "model.onnx")
    assert run_import([str(tmp_path / "model.onnx"), "--elide-constants", "10"]) == 0
    text = capsys.readouterr().out
    assert "nn.constant {value = dense_resource<__elided__> : tensor<40xf32>} : tensor<40xf32>" in text
    assert "dialect_resources" not in text
