"""External tensor data: read from inside the model's folder only, checked before reading."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from dynir.importers.onnx import OnnxImportError, import_onnx
from dynir.interpreter import interpret
from dynir.ir.text import parse, print_ir
from tests.importers.onnx.graph_testlib import initializer, model, node, value_info

W = np.arange(300, dtype=np.float32).reshape(20, 15) / 7


def external_tensor(name: str, dims: list[int], location: str, **entries: str) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    for key, value in {"location": location, **entries}.items():
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def save_with(folder: Path, tensor: TensorProto) -> Path:
    path = folder / "model.onnx"
    onnx.save(model([node("Add", ["x", tensor.name], ["y"])], [value_info("x", [20, 15])], ["y"], [tensor]), path)
    return path


def error_of(path: Path | onnx.ModelProto) -> str:
    with pytest.raises(OnnxImportError) as info:
        import_onnx(path)
    return str(info.value)


def test_onnx_saved_external_data_is_read(tmp_path: Path) -> None:
    m = model([node("Add", ["x", "w"], ["y"])], [value_info("x", [20, 15])], ["y"], [initializer("w", W)])
    path = tmp_path / "model.onnx"
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").exists()
    module = parse(print_ir(import_onnx(path)))
    x = np.ones((20, 15), np.float32)
    np.testing.assert_array_equal(interpret(module, x)[0], x + W)


def test_offset_and_subfolder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "blob.bin").write_bytes(b"\x00" * 12 + W.tobytes() + b"tail")
    path = save_with(tmp_path, external_tensor("w", [20, 15], "data/blob.bin", offset="12", length=str(W.nbytes)))
    x = np.zeros((20, 15), np.float32)
    np.testing.assert_array_equal(interpret(import_onnx(path), x)[0], W)


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(W.tobytes())
    os.symlink(tmp_path / "real.bin", tmp_path / "link.bin")
    path = save_with(tmp_path, external_tensor("w", [20, 15], "link.bin"))
    np.testing.assert_array_equal(interpret(import_onnx(path), np.zeros((20, 15), np.float32))[0], W)


def test_absolute_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    location = str(tmp_path / "w.bin")
    path = save_with(tmp_path, external_tensor("w", [20, 15], location))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': external data path '{location}' is absolute; "
        "it must be inside the model's folder"
    )


def test_dotdot_escape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(W.tobytes())
    (tmp_path / "m").mkdir()
    path = save_with(tmp_path / "m", external_tensor("w", [20, 15], "sub/../../secret.bin"))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': external data path 'sub/../../secret.bin' leaves the model's folder"
    )


def test_symlink_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(W.tobytes())
    (tmp_path / "m").mkdir()
    os.symlink(tmp_path / "secret.bin", tmp_path / "m" / "w.bin")
    path = save_with(tmp_path / "m", external_tensor("w", [20, 15], "w.bin"))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': external data path 'w.bin' leaves the model's folder (through a symbolic link)"
    )


def test_symlinked_folder_leaving_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "w.bin").write_bytes(W.tobytes())
    (tmp_path / "m").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "m" / "data")
    path = save_with(tmp_path / "m", external_tensor("w", [20, 15], "data/w.bin"))
    assert "leaves the model's folder (through a symbolic link)" in error_of(path)


def test_missing_external_file(tmp_path: Path) -> None:
    path = save_with(tmp_path, external_tensor("w", [20, 15], "gone.bin"))
    assert error_of(path) == f"{path}: error: initializer 'w': external data file 'gone.bin' does not exist"


def test_external_file_too_short(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(W.tobytes()[:100])
    path = save_with(tmp_path, external_tensor("w", [20, 15], "w.bin", offset="40"))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': external data file 'w.bin' holds 60 bytes from offset 40, "
        "but its shape needs 1200"
    )


def test_external_length_disagrees_with_shape(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    path = save_with(tmp_path, external_tensor("w", [20, 15], "w.bin", length="1000"))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': external data length 1000 does not match its shape (1200 bytes)"
    )


def test_bad_offset(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    path = save_with(tmp_path, external_tensor("w", [20, 15], "w.bin", offset="ten"))
    assert error_of(path) == f"{path}: error: initializer 'w': external data offset 'ten' is not an integer"


def test_huge_external_tensor_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    path = save_with(tmp_path, external_tensor("w", [1 << 20, 1 << 20, 1 << 10], "w.bin"))
    assert error_of(path) == (
        f"{path}: error: initializer 'w': shape 1048576x1048576x1024 has 1125899906842624 elements "
        "(4503599627370496 bytes), more than any model dynir can run"
    )


def test_external_data_without_a_model_file() -> None:
    m = model([node("Add", ["x", "w"], ["y"])], [value_info("x", [20, 15])], ["y"], [external_tensor("w", [20, 15], "w.bin")])
    assert error_of(m) == (
        "error: initializer 'w': its data is in external file 'w.bin', but the model was not loaded from a file"
    )
