"""Constant tensors: small ones inline as ``dense<...>``, large ones as MLIR
``dense_resource<key>`` blobs printed once at the end of the file.

xDSL keeps resource blobs as hex strings in the builtin dialect's
``OpAsmDialectInterface``. We replace that interface by ``BlobStore``, which keeps the
numpy array and writes hex only when the IR is printed, so importing a 100 MB model
does not build 200 MB of text, and parsing decodes each blob once.
"""

from __future__ import annotations

import re

import numpy as np
from xdsl.dialects.builtin import (
    Builtin,
    BytesAttr,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    TensorType,
)
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.ir import Attribute

from dynir.ir.types import numpy_dtype, shape_of, tensor_type

INLINE_LIMIT = 16
"""Constants with more elements than this become ``dense_resource`` blobs."""

_ALIGNMENT_PREFIX = np.uint32(8).tobytes()  # MLIR blobs start with their alignment


class BlobStore(OpAsmDialectInterface):
    """Resource blobs of the builtin dialect, kept as numpy arrays (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._arrays: dict[str, np.ndarray] = {}
        self._renamed: dict[str, str] = {}

    def begin_parse(self) -> None:
        """Call before parsing a file: its resource keys start a fresh rename table."""
        self._renamed.clear()

    def declare_resource(self, key: str) -> str:
        # The store is process-wide, so a parsed file may reuse a key that is taken. Its
        # handles are renamed, and the same key met again in the same parse (the blob in
        # the file's ``dialect_resources`` section) maps to the same fresh key.
        if key in self._renamed:
            return self._renamed[key]
        fresh = super().declare_resource(key)
        self._renamed[key] = fresh
        return fresh

    def add(self, key: str, array: np.ndarray) -> str:
        """Store ``array`` under a fresh key derived from ``key``; returns the key used."""
        # A fresh key, always: not through the parse rename table of ``declare_resource``.
        key = OpAsmDialectInterface.declare_resource(self, _sanitize(key))
        self._arrays[key] = np.ascontiguousarray(array)
        return key

    def array(self, key: str, t: TensorType) -> np.ndarray:
        cached = self._arrays.get(key)
        if cached is not None:
            return cached
        text = self._blob_storage.get(key)
        if not text:
            raise KeyError(f"dense_resource<{key}> has no data in the file's dialect_resources")
        raw = bytes.fromhex(text[2:])[4:]  # drop "0x" and the 4-byte alignment
        dtype = numpy_dtype(t.element_type)
        shape = tuple(int(d) for d in shape_of(t))  # resources are static
        count = int(np.prod(shape, dtype=np.int64))
        if len(raw) != count * dtype.itemsize:
            raise ValueError(
                f"dense_resource<{key}> holds {len(raw)} bytes, but {t} needs {count * dtype.itemsize}"
            )
        array = np.frombuffer(raw, dtype=dtype).reshape(shape)
        self._arrays[key] = array
        return array

    def build_resources(self, keys) -> dict[str, str]:  # type: ignore[override]
        out: dict[str, str] = {}
        for key in keys:
            array = self._arrays.get(key)
            if array is not None:
                out[key] = "0x" + (_ALIGNMENT_PREFIX + array.tobytes()).hex()
            elif self._blob_storage.get(key):
                out[key] = self._blob_storage[key]
        return out


def _sanitize(key: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_.]", "_", key) or "blob"
    return key if (key[0].isalpha() or key[0] == "_") else "_" + key


def _install_blob_store() -> BlobStore:
    interfaces = Builtin._interfaces  # pyright: ignore[reportPrivateUsage]
    for i, interface in enumerate(interfaces):
        if isinstance(interface, BlobStore):
            return interface
        if isinstance(interface, OpAsmDialectInterface):
            store = BlobStore()
            interfaces[i] = store
            return store
    store = BlobStore()
    interfaces.append(store)
    return store


BLOBS = _install_blob_store()


def dense_attr(array: np.ndarray, *, name: str = "blob", inline_limit: int = INLINE_LIMIT) -> Attribute:
    """The attribute that holds ``array``: inline ``dense`` when small, else a resource."""
    array = np.asarray(array)
    t = tensor_type(array.shape, array.dtype)
    if array.size > inline_limit:
        return DenseResourceAttr.from_params(BLOBS.add(name, array), t)
    data = np.ascontiguousarray(array, dtype=numpy_dtype(t.element_type)).tobytes()
    return DenseIntOrFPElementsAttr(t, BytesAttr(data))


def dense_value(attr: Attribute) -> np.ndarray:
    """The numpy array held by a ``dense`` or ``dense_resource`` attribute (read-only)."""
    if isinstance(attr, DenseResourceAttr):
        t = attr.type
        assert isinstance(t, TensorType)
        return BLOBS.array(attr.resource_handle.data, t)
    if isinstance(attr, DenseIntOrFPElementsAttr):
        t = attr.type
        dtype = numpy_dtype(t.element_type)
        shape = tuple(int(d) for d in t.get_shape())
        raw = attr.data.data
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(raw, dtype=dtype)
        if array.size == 1 and count != 1:  # splat
            return np.full(shape, array[0], dtype=dtype)
        return array.reshape(shape)
    raise TypeError(f"not a dense constant attribute: {attr}")
