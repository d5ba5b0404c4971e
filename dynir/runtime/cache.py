"""The persistent compile cache: compiled specialisations on disk, shared by processes.

Where: ``cache_dir=`` of ``dynir.compile``, else ``$DYNIR_CACHE_DIR``, else
``$XDG_CACHE_HOME/dynir``, else ``~/.cache/dynir``. Layout::

    <dir>/entries/ab/<key>.json               metadata (JSON, with its own checksum)
    <dir>/entries/ab/<key>.<sha16>.bin        object code, then extra constants (raw bytes)
    <dir>/lookups/last.json                   the last lookup (for ``dynir cache explain``)
    <dir>/lookups/<ir16>.json                 the last lookup of each model

The key is the SHA-256 of ``key_parts``: the canonical IR (constants by content
digest), the input dtypes and shapes of the specialisation, the pass pipeline and
translation options, dynir's version and a hash of its sources, llvmlite's and LLVM's
versions, and the target triple, CPU name and features. Every file is written to a
temporary name and renamed into place, the metadata last (it is the commit point); the
payload's name carries its checksum, so two concurrent writers never mix halves. A
metadata file that does not parse, fails its checksum, or points at a payload of the
wrong size or checksum is ignored with a ``CacheWarning`` and rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr, ModuleOp
from xdsl.ir import Attribute
from xdsl.printer import Printer

from dynir.diagnostics import DynirError
from dynir.ir.constants import dense_value
from dynir.runtime.executable import contiguous
from dynir.runtime.artefact import (
    Artefact,
    ArtefactError,
    array_digest,
    exports_from_json,
    exports_to_json,
    plan_from_json,
    plan_to_json,
)

FORMAT = 1
ENV_VAR = "DYNIR_CACHE_DIR"

PART_DESCRIPTIONS: dict[str, str] = {
    "ir": "the model's IR (ops, attributes or weights)",
    "inputs": "the input dtypes/shapes of the specialisation",
    "pipeline": "the pass pipeline or its options",
    "dynir_version": "dynir's version",
    "dynir_source": "dynir's source code",
    "llvmlite": "llvmlite's version",
    "llvm": "LLVM's version",
    "triple": "the target triple",
    "cpu": "the CPU name",
    "features": "the CPU features",
}


class CacheWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated, tampered) or could not be written."""


def default_cache_dir() -> Path:
    """``$DYNIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/dynir``, else ``~/.cache/dynir``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dynir"


# --------------------------------------------------------------------------------------
# The key.


@functools.cache
def source_hash() -> str:
    """SHA-256 over dynir's own Python sources (``dynir``, ``dynir.dialects``, ``dynir.passes``)."""
    import dynir
    import dynir.dialects
    import dynir.passes

    roots = sorted({Path(m.__file__).resolve().parent for m in (dynir, dynir.dialects, dynir.passes) if m.__file__})
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root.parent)).encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def toolchain_parts() -> dict[str, str]:
    """The parts of the key that describe the compiler and the machine, not the model."""
    import llvmlite
    import llvmlite.binding as llvm

    import dynir
    from dynir.backends.llvm.target import host_target

    target = host_target()
    return {
        "dynir_version": dynir.__version__,
        "dynir_source": source_hash(),
        "llvmlite": llvmlite.__version__,
        "llvm": ".".join(str(p) for p in llvm.llvm_version_info),
        "triple": target.triple,
        "cpu": target.cpu,
        "features": target.features,
    }


def key_parts(ir_hash: str, inputs: str, pipeline: str) -> dict[str, str]:
    return {"ir": ir_hash, "inputs": inputs, "pipeline": pipeline, **toolchain_parts()}


def key_of(parts: Mapping[str, str]) -> str:
    return hashlib.sha256(_canonical_json(dict(parts)).encode()).hexdigest()


class _DigestPrinter(Printer):
    """Prints constant payloads as their content digest: resource keys are per-process."""

    def print_attribute(self, attribute: Attribute) -> None:
        if isinstance(attribute, DenseIntOrFPElementsAttr | DenseResourceAttr):
            self.print_string(f"dense_sha256<{array_digest(dense_value(attribute))}> : ")
            super().print_attribute(attribute.get_type())
            return
        super().print_attribute(attribute)


@dataclass(frozen=True)
class CanonicalIR:
    """A module's identity: the SHA-256 of its canonical text, and its constants by digest."""

    sha256: str
    constants: dict[str, np.ndarray]


def canonical_ir(module: ModuleOp) -> CanonicalIR:
    from dynir.dialects.nn.constant import ConstantOp

    stream = io.StringIO()
    _DigestPrinter(stream=stream).print_op(module)
    constants: dict[str, np.ndarray] = {}
    for op in module.walk():
        if isinstance(op, ConstantOp):
            array = contiguous(op.array())
            constants[array_digest(array)] = array
    return CanonicalIR(hashlib.sha256(stream.getvalue().encode()).hexdigest(), constants)


def _canonical_json(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------------------
# The store.


@dataclass(frozen=True)
class EntryInfo:
    key: str
    label: str
    spec: str
    size: int
    created: float


class DiskCache:
    """One cache directory (see module doc)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()

    @property
    def entries_dir(self) -> Path:
        return self.directory / "entries"

    def _meta_path(self, key: str) -> Path:
        return self.entries_dir / key[:2] / f"{key}.json"

    # lookups ---------------------------------------------------------------------------
    def contains(self, parts: Mapping[str, str]) -> bool:
        """Whether an entry for ``parts`` exists (not checked; not recorded as a lookup)."""
        return self._meta_path(key_of(parts)).exists()

    def compiled_before(self, parts: Mapping[str, str]) -> bool:
        """Whether this model was compiled before by this compiler for this machine: its
        last recorded lookup differs from ``parts`` in the input shapes at most, and that
        entry exists."""
        try:
            record = json.loads((self.directory / "lookups" / f"{parts.get('ir', '')[:16]}.json").read_text())
            other = dict(record["parts"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        same = all(other.get(p) == v for p, v in parts.items() if p != "inputs")
        return same and self._meta_path(str(record.get("key", ""))).exists()

    def lookup(self, parts: Mapping[str, str], *, label: str = "", spec: str = "") -> Artefact | None:
        """The artefact stored under ``parts``, or None (a corrupt entry warns and is removed)."""
        key = key_of(parts)
        artefact: Artefact | None = None
        path = self._meta_path(key)
        if path.exists():
            try:
                artefact = self._read(key, path)
            except (ArtefactError, OSError, ValueError) as error:
                warnings.warn(f"dynir cache: ignoring corrupt entry {key[:16]} ({error}); rebuilding it",
                              CacheWarning, stacklevel=3)
                _remove(path)
        self._record_lookup(key, parts, artefact is not None, label, spec)
        return artefact

    def _read(self, key: str, path: Path) -> Artefact:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict):
            raise ArtefactError("metadata is not a JSON object")
        claimed = meta.pop("meta_sha256", None)
        if claimed != hashlib.sha256(_canonical_json(meta).encode()).hexdigest():
            raise ArtefactError("metadata checksum mismatch")
        if meta.get("format") != FORMAT or meta.get("key") != key or key_of(meta.get("parts", {})) != key:
            raise ArtefactError("metadata does not belong to this key")
        payload_info = meta["payload"]
        payload = (path.parent / str(payload_info["file"])).read_bytes()
        if len(payload) != payload_info["size"]:
            raise ArtefactError(f"payload is {len(payload)} bytes, expected {payload_info['size']} (truncated?)")
        if hashlib.sha256(payload).hexdigest() != payload_info["sha256"]:
            raise ArtefactError("payload checksum mismatch")
        object_size = int(payload_info["object_size"])
        extra: dict[str, np.ndarray] = {}
        for c in meta["extra_constants"]:
            raw = payload[int(c["offset"]):int(c["offset"]) + int(c["nbytes"])]
            extra[str(c["digest"])] = np.frombuffer(raw, dtype=np.dtype(c["dtype"])).reshape(c["shape"])
        return Artefact(payload[:object_size], exports_from_json(meta["exports"]), plan_from_json(meta["plan"]),
                        [str(d) for d in meta["constants"]], extra)

    # stores ----------------------------------------------------------------------------
    def store(self, parts: Mapping[str, str], artefact: Artefact, *, label: str, spec: str, seconds: float) -> str:
        """Write ``artefact`` under ``parts`` (atomically); returns the key. A failure to
        write warns and leaves the cache as it was."""
        key = key_of(parts)
        payload = bytearray(artefact.object_code)
        extra: list[dict[str, Any]] = []
        for digest, array in artefact.extra_constants.items():
            data = array.tobytes()
            extra.append({"digest": digest, "dtype": array.dtype.str, "shape": list(array.shape),
                          "offset": len(payload), "nbytes": len(data)})
            payload += data
        payload_sha = hashlib.sha256(payload).hexdigest()
        meta: dict[str, Any] = {
            "format": FORMAT, "key": key, "parts": dict(parts), "label": label, "spec": spec,
            "created": time.time(), "compile_seconds": round(seconds, 4),
            "payload": {"file": f"{key}.{payload_sha[:16]}.bin", "size": len(payload), "sha256": payload_sha,
                        "object_size": len(artefact.object_code)},
            "exports": exports_to_json(artefact.exports), "plan": plan_to_json(artefact.plan),
            "constants": artefact.constant_digests, "extra_constants": extra,
        }
        meta["meta_sha256"] = hashlib.sha256(_canonical_json(meta).encode()).hexdigest()
        path = self._meta_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path.parent / meta["payload"]["file"], bytes(payload))
            _atomic_write(path, _canonical_json(meta).encode())
        except OSError as error:
            warnings.warn(f"dynir cache: cannot write {path}: {error}", CacheWarning, stacklevel=3)
        return key

    # lookup records (for explain) ------------------------------------------------------
    def _record_lookup(self, key: str, parts: Mapping[str, str], hit: bool, label: str, spec: str) -> None:
        record = {"key": key, "parts": dict(parts), "hit": hit, "label": label, "spec": spec, "time": time.time()}
        data = _canonical_json(record).encode()
        lookups = self.directory / "lookups"
        try:
            lookups.mkdir(parents=True, exist_ok=True)
            _atomic_write(lookups / "last.json", data)
            _atomic_write(lookups / f"{parts.get('ir', '')[:16]}.json", data)
        except OSError:
            pass  # explain is a convenience: never fail a compile over it

    # info / clear / explain ------------------------------------------------------------
    def entries(self) -> list[EntryInfo]:
        found: list[EntryInfo] = []
        for path in sorted(self.entries_dir.glob("*/*.json")):
            try:
                meta = json.loads(path.read_text())
                size = path.stat().st_size + int(meta["payload"]["size"])
                found.append(EntryInfo(str(meta["key"]), str(meta.get("label", "")), str(meta.get("spec", "")),
                                       size, float(meta.get("created", 0.0))))
            except (OSError, ValueError, KeyError, TypeError):
                found.append(EntryInfo(path.stem, "(unreadable)", "", path.stat().st_size, 0.0))
        return found

    def info(self) -> str:
        entries = self.entries()
        total = sum(e.size for e in entries)
        lines = [f"cache directory: {self.directory}", f"entries: {len(entries)} ({_human(total)})"]
        for e in sorted(entries, key=lambda e: e.created):
            lines.append(f"  {e.key[:16]}  {_human(e.size):>9}  {e.label or '-'}: {e.spec}")
        return "\n".join(lines)

    def clear(self) -> int:
        """Remove every entry and lookup record; returns how many entries there were."""
        count = len(list(self.entries_dir.glob("*/*.json")))
        for sub in ("entries", "lookups"):
            shutil.rmtree(self.directory / sub, ignore_errors=True)
        return count

    def explain(self, ir_hash: str | None = None) -> str:
        """Why the last lookup (of the model with ``ir_hash``, if given) hit or missed."""
        name = "last.json" if ir_hash is None else f"{ir_hash[:16]}.json"
        try:
            record = json.loads((self.directory / "lookups" / name).read_text())
        except (OSError, ValueError):
            which = "" if ir_hash is None else " of this model"
            raise DynirError(f"no lookup{which} recorded in {self.directory}") from None
        what = f"{record.get('label') or 'model'} ({record.get('spec', '')})"
        if record.get("hit"):
            return f"last lookup of {what} hit entry {record['key'][:16]}"
        stored = self._meta_path(str(record["key"])).exists()
        since = f" (compiled and stored since as {record['key'][:16]})" if stored else ""
        return f"last lookup of {what} missed{since}: " + self._closest(record["parts"], str(record["key"]))

    def _closest(self, parts: Mapping[str, str], key: str) -> str:
        best: tuple[int, list[str], str] | None = None
        for path in self.entries_dir.glob("*/*.json"):
            if path.stem == key:
                continue
            try:
                other = json.loads(path.read_text())["parts"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            differing = [p for p in sorted(set(parts) | set(other)) if parts.get(p) != other.get(p)]
            if best is None or len(differing) < best[0]:
                best = (len(differing), differing, str(path.stem))
        if best is None:
            return "the cache held no other entry"
        described = "; ".join(f"{p}: {PART_DESCRIPTIONS.get(p, p)} changed" for p in best[1])
        return f"the closest entry {best[2][:16]} differs in {len(best[1])} key part(s): {described}"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        _remove(Path(tmp))
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
