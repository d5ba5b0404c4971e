"""Every way the importer refuses a model: one ``OnnxImportError`` with one exact message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from tests.importers.onnx.graph_testlib import initializer, model, node, value_info
from onnx import TensorProto, helper

from dynir.importers.onnx import OnnxImportError, import_onnx


def error_of(m: onnx.ModelProto | str | Path, **kwargs: object) -> str:
    with pytest.raises(OnnxImportError) as info:
        import_onnx(m, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def relu_model() -> onnx.ModelProto:
    return model([node("Relu", ["x"], ["y"], "relu")], [value_info("x", [2])], ["y"])


# -- files that are not models --------------------------------------------------------


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("hello, this is not a model\n")
    assert error_of(path) == f"{path}: error: not an ONNX model, or a truncated or corrupted one (it does not decode)"


def test_truncated_file(tmp_path: Path) -> None:
    whole = relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(whole[: len(whole) - 7])
    assert error_of(path) == f"{path}: error: not an ONNX model, or a truncated or corrupted one (it does not decode)"


def test_empty_file_has_no_graph(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert error_of(path) == f"{path}: error: not an ONNX model (it has no graph)"


def test_model_proto_without_graph() -> None:
    assert error_of(onnx.ModelProto(ir_version=8)) == "error: not an ONNX model (it has no graph)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.onnx"
    assert error_of(path) == f"{path}: error: cannot read the file: No such file or directory"


# -- opsets and operators -------------------------------------------------------------------


def test_opset_too_old() -> None:
    newest = onnx.defs.onnx_opset_version()
    assert error_of(model([], [], [], opset=6)) == f"error: opset 6 is not supported (dynir reads opsets 7 to {newest})"


def test_opset_too_new() -> None:
    newest = onnx.defs.onnx_opset_version()
    message = error_of(model([], [], [], opset=newest + 1))
    assert message == f"error: opset {newest + 1} is not supported (dynir reads opsets 7 to {newest})"


def test_domain_not_imported() -> None:
    m = model([node("Relu", ["x"], ["y"], "r", domain="com.example")], [value_info("x", [2])], ["y"])
    assert error_of(m) == (
        "error: node 'r' (com.example.Relu) uses domain 'com.example', which the model does not import (opset_import)"
    )


def test_every_unsupported_operator_is_listed_before_converting() -> None:
    nodes = [
        node("Refuse", ["x"], ["a"], "refuse_first", mode="cubic"),  # would fail if converted
        node("FancyOp", ["x"], ["b"], "fancy_1", domain=""),
        node("FancyOp", ["b"], ["c"], "", domain=""),
        node("OtherOp", ["c"], ["d"], "other", domain=""),
        node("FancyOp", ["d"], ["y"], "fancy_3", domain=""),
    ]
    m = model(nodes, [value_info("x", [2])], ["y"], opset=13)
    assert error_of(m) == (
        "error: 2 unsupported operators: FancyOp (opset 13; nodes 'fancy_1', #2, 'fancy_3'), "
        "OtherOp (opset 13; node 'other')"
    )


def test_many_unsupported_nodes_are_summarised() -> None:
    names = [f"n{i}" for i in range(8)]
    nodes = [node("FancyOp", ["x"], [f"o{i}"], n, domain="") for i, n in enumerate(names)]
    m = model(nodes, [value_info("x", [2])], ["o0"])
    assert error_of(m) == (
        "error: 1 unsupported operator: FancyOp (opset 17; nodes 'n0', 'n1', 'n2', 'n3', 'n4' and 3 more)"
    )


def test_converter_error_names_node_op_and_opset(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save(model([node("Refuse", ["x"], ["y"], "Conv_12", mode="cubic")], [value_info("x", [2])], ["y"]), path)
    assert error_of(path) == f"{path}: error: node 'Conv_12' (test.dynir.Refuse, opset 1): mode 'cubic' is not supported"


def test_shape_inference_error_becomes_node_error() -> None:
    inputs = [value_info("a", [2]), value_info("b", [3])]
    m = model([node("Add", ["a", "b"], ["y"], "add")], inputs, ["y"])
    assert error_of(m) == "error: node 'add' (test.dynir.Add, opset 1): shapes 2, 3 do not broadcast (axis 0)"


def test_folding_error_becomes_node_error() -> None:
    nodes = [node("Gather", ["t", "i"], ["y"], "gather")]
    consts = [initializer("t", np.arange(3, dtype=np.float32)), initializer("i", np.array([5], np.int64))]
    message = error_of(model(nodes, [], ["y"], consts))
    assert message.startswith("error: node 'gather' (test.dynir.Gather, opset 1): cannot evaluate on its constant inputs: ")


# -- values -------------------------------------------------------------------------------------


def test_undefined_value() -> None:
    m = model([node("Add", ["x", "ghost"], ["y"], "add")], [value_info("x", [2])], ["y"])
    assert error_of(m) == "error: node 'add' (test.dynir.Add) uses 'ghost', which no graph input, initializer or node defines"


def test_value_used_before_definition() -> None:
    nodes = [node("Relu", ["a"], ["y"], "second"), node("Relu", ["x"], ["a"], "first")]
    m = model(nodes, [value_info("x", [2])], ["y"])
    assert error_of(m) == (
        "error: node 'second' (test.dynir.Relu) uses 'a' before node 'first' defines it "
        "(nodes must be in topological order)"
    )


def test_dangling_output() -> None:
    m = model([node("Relu", ["x"], ["y"])], [value_info("x", [2])], ["y", "nowhere"])
    assert error_of(m) == "error: graph output 'nowhere' is not produced by any node, input or initializer"


def test_used_optional_output_that_is_not_produced() -> None:
    nodes = [node("ReluWithMask", ["x"], ["y", "mask"], "rm"), node("Relu", ["mask"], ["z"], "user")]
    m = model(nodes, [value_info("x", [2])], ["z"])
    assert error_of(m) == (
        "error: node 'user' (test.dynir.Relu, opset 1): input 'mask' is output #1 of node 'rm' "
        "(test.dynir.ReluWithMask), which dynir does not produce"
    )


def test_graph_output_that_is_not_produced() -> None:
    m = model([node("ReluWithMask", ["x"], ["y", "mask"], "rm")], [value_info("x", [2])], ["y", "mask"])
    assert error_of(m) == (
        "error: graph output 'mask' is output #1 of node 'rm' (test.dynir.ReluWithMask), which dynir does not produce"
    )


# -- tensors --------------------------------------------------------------------------------------


def test_raw_data_length_mismatch() -> None:
    t = initializer("w", np.zeros(6, np.float32))
    t.dims[:] = [2, 4]
    assert error_of(model([], [], ["w"], [t])) == "error: initializer 'w': data holds 24 bytes, but shape 2x4 of FLOAT needs 32"


def test_typed_data_length_mismatch() -> None:
    t = TensorProto(name="k", data_type=TensorProto.INT64, dims=[3], int64_data=[1, 2])
    assert error_of(model([], [], ["k"], [t])) == "error: initializer 'k': data holds 2 values, but shape 3 needs 3"


def test_huge_initializer_is_refused_before_allocating() -> None:
    t = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 21, 1 << 21])
    assert error_of(model([], [], ["huge"], [t])) == (
        "error: initializer 'huge': shape 2097152x2097152 has 4398046511104 elements "
        "(17592186044416 bytes), more than any model dynir can run"
    )


def test_negative_initializer_dim() -> None:
    t = TensorProto(name="neg", data_type=TensorProto.FLOAT, dims=[-1, 2])
    assert error_of(model([], [], ["neg"], [t])) == "error: initializer 'neg': shape -1x2 has a negative dim"


def test_huge_input_is_refused() -> None:
    m = model([node("Relu", ["x"], ["y"])], [value_info("x", [1 << 30, 1 << 30, "n"])], ["y"])
    assert error_of(m) == (
        "error: graph input 'x' has shape 1073741824x1073741824x?, more than any model dynir can run"
    )


def test_unsupported_initializer_type() -> None:
    t = helper.make_tensor("s", TensorProto.STRING, [1], [b"a"])
    assert error_of(model([], [], ["s"], [t])) == "error: initializer 's': element type STRING is not supported"


def test_bfloat16_initializer_is_refused() -> None:
    t = TensorProto(name="bf", data_type=TensorProto.BFLOAT16, dims=[1], int32_data=[0x3F80])
    assert error_of(model([], [], ["bf"], [t])) == "error: initializer 'bf': element type BFLOAT16 is not supported"


# -- inputs -----------------------------------------------------------------------------------------


def test_input_without_shape() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    m = model([node("Relu", ["x"], ["y"])], [x], ["y"])
    assert error_of(m) == "error: graph input 'x' has no shape (unknown rank is not supported)"


def test_sequence_input() -> None:
    x = helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, [2])
    m = model([node("Relu", ["x"], ["y"])], [x], ["y"])
    assert error_of(m) == "error: graph input 'x' is a sequence_type value; only tensors are supported"


def test_string_input() -> None:
    m = model([node("Relu", ["x"], ["y"])], [value_info("x", [2], TensorProto.STRING)], ["y"])
    assert error_of(m) == "error: graph input 'x': element type STRING is not supported"


def test_known_input_that_is_not_an_input() -> None:
    assert error_of(relu_model(), known_inputs={"z": np.zeros(2)}) == (
        "error: known_inputs names 'z', which is not a graph input (inputs: x)"
    )


def test_known_input_with_wrong_shape() -> None:
    message = error_of(relu_model(), known_inputs={"x": np.zeros(3, np.float32)})
    assert message == "error: known input 'x' has shape 3, but the graph input is tensor<2xf32>"


def test_known_input_with_wrong_dtype() -> None:
    message = error_of(relu_model(), known_inputs={"x": np.zeros(2, np.complex64)})
    assert message == "error: known input 'x' has dtype complex64, but the graph input is tensor<2xf32>"


def test_cli_import_reports_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from dynir.cli.commands import import_model

    path = tmp_path / "notes.onnx"
    path.write_text("not a model")
    parser = argparse.ArgumentParser()
    import_model.add_arguments(parser)
    assert import_model.run(parser.parse_args([str(path)])) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{path}: error: not an ONNX model, or a truncated or corrupted one (it does not decode)\n"
