"""Reading ONNX tensors (initializers, ``Constant`` values) into numpy, safely.

Every tensor is checked before anything is allocated: its element type must be one
dynir has, its size must be one a model could run with (``MAX_ELEMENTS``,
``MAX_BYTES``), and its data must be exactly as long as its shape says. External data
is read only from files inside the model's folder: absolute paths, ``..`` and symbolic
links that leave the folder are refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dynir.ir.types import element_type

MAX_ELEMENTS = 1 << 40
"""More elements than this in one tensor: no model that size can run."""

MAX_BYTES = 1 << 36
"""More bytes than this (64 GiB) in one tensor are refused before reading."""


class TensorDataError(ValueError):
    """A tensor whose data cannot be read; the message does not name the tensor."""


def element_type_name(data_type: int) -> str:
    try:
        return str(onnx.TensorProto.DataType.Name(data_type))
    except ValueError:
        return f"#{data_type}"


def numpy_dtype_of(data_type: int) -> np.dtype:
    """The numpy dtype for an ONNX element type that dynir supports."""
    if data_type == onnx.TensorProto.UNDEFINED:
        raise TensorDataError("it has no element type")
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(data_type))
        element_type(dtype)
    except (KeyError, ValueError, TypeError):
        raise TensorDataError(f"element type {element_type_name(data_type)} is not supported") from None
    return dtype


def check_size(dims: Sequence[int], dtype: np.dtype) -> int:
    """The element count of ``dims``; raises when a dim is negative or the size is absurd."""
    if any(d < 0 for d in dims):
        raise TensorDataError(f"shape {_shape(dims)} has a negative dim")
    count = math.prod(dims)
    if count > MAX_ELEMENTS or count * dtype.itemsize > MAX_BYTES:
        raise TensorDataError(
            f"shape {_shape(dims)} has {count} elements ({count * dtype.itemsize} bytes), "
            f"more than any model dynir can run"
        )
    return count


def tensor_array(tensor: onnx.TensorProto, model_dir: Path | None) -> np.ndarray:
    """The value of ``tensor``; ``model_dir`` is where external data files may live
    (None when the model did not come from a file). Raises ``TensorDataError``."""
    dtype = numpy_dtype_of(tensor.data_type)
    dims = [int(d) for d in tensor.dims]
    count = check_size(dims, dtype)
    nbytes = count * dtype.itemsize
    if tensor.HasField("segment"):
        raise TensorDataError("segmented tensors are not supported")
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raw = external_bytes(tensor, model_dir, nbytes)
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(dims)
    if tensor.raw_data or _typed_length(tensor) == 0:
        raw = tensor.raw_data
        if len(raw) != nbytes:
            raise TensorDataError(
                f"data holds {len(raw)} bytes, but shape {_shape(dims)} of "
                f"{element_type_name(tensor.data_type)} needs {nbytes}"
            )
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(dims)
    held = _typed_length(tensor)
    if held != count:
        raise TensorDataError(
            f"data holds {held} values, but shape {_shape(dims)} needs {count}"
        )
    return np.asarray(numpy_helper.to_array(tensor), dtype=dtype).reshape(dims)


def _typed_length(tensor: onnx.TensorProto) -> int:
    try:
        field = helper.tensor_dtype_to_field(tensor.data_type)
    except KeyError:
        return 0
    return len(getattr(tensor, field))


def external_bytes(tensor: onnx.TensorProto, model_dir: Path | None, nbytes: int) -> bytes:
    """The ``nbytes`` bytes of ``tensor``'s external data, from inside ``model_dir`` only."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    if not location:
        raise TensorDataError("its external data has no location")
    if model_dir is None:
        raise TensorDataError(
            f"its data is in external file '{location}', but the model was not loaded from a file"
        )
    path = safe_path(model_dir, location)
    offset = _int_entry(info, "offset", None) or 0
    length = _int_entry(info, "length", None)
    if length is not None and length != nbytes:
        raise TensorDataError(
            f"external data length {length} does not match its shape ({nbytes} bytes)"
        )
    if not path.is_file():
        raise TensorDataError(f"external data file '{location}' does not exist")
    available = path.stat().st_size - offset
    if available < nbytes:
        raise TensorDataError(
            f"external data file '{location}' holds {max(available, 0)} bytes from offset {offset}, "
            f"but its shape needs {nbytes}"
        )
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(nbytes)


def safe_path(model_dir: Path, location: str) -> Path:
    """``model_dir / location``, refusing any path that leads outside ``model_dir``."""
    if (
        PurePosixPath(location).is_absolute()
        or PureWindowsPath(location).is_absolute()
        or PureWindowsPath(location).drive
        or location.startswith(("/", "\\"))
    ):
        raise TensorDataError(f"external data path '{location}' is absolute; it must be inside the model's folder")
    parts = PurePosixPath(location.replace("\\", "/")).parts
    if ".." in parts:
        raise TensorDataError(f"external data path '{location}' leaves the model's folder")
    root = os.path.realpath(model_dir)
    real = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, real]) != root:
        raise TensorDataError(
            f"external data path '{location}' leaves the model's folder (through a symbolic link)"
        )
    return Path(real)


def _int_entry(info: dict[str, str], key: str, default: int | None) -> int | None:
    text = info.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise TensorDataError(f"external data {key} '{text}' is not an integer") from None
    if value < 0:
        raise TensorDataError(f"external data {key} {value} is negative")
    return value


def _shape(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims) or "scalar"
