"""The persistent compile cache: hits across models and processes, one miss per key
part, corrupt entries, concurrent writers, the cache directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import dynir
from dynir.runtime import cache as cache_module
from dynir.runtime.cache import CacheWarning, DiskCache, default_cache_dir
from tests.runtime.runtime_testlib import inputs, tied_expected, tied_model

REPO = Path(__file__).resolve().parents[2]


def run_tied(model: dynir.CompiledModel, batch: int = 2, seq: int = 3, scale: float = 0.5) -> None:
    x, z = inputs(batch, seq)
    (y,) = model(x, z)
    np.testing.assert_allclose(y, tied_expected(x, z, scale), rtol=1e-6, atol=1e-6)


def entry_files(directory: Path) -> tuple[list[Path], list[Path]]:
    return sorted(directory.glob("entries/*/*.json")), sorted(directory.glob("entries/*/*.bin"))


def test_a_second_model_loads_from_disk(tmp_path: Path) -> None:
    first = dynir.compile(tied_model(), cache_dir=tmp_path)
    run_tied(first, seq=3)
    run_tied(first, seq=4)
    assert first.stats.compiles == 2
    second = dynir.compile(tied_model(), cache_dir=tmp_path)
    run_tied(second, seq=3)
    run_tied(second, seq=9)
    assert second.stats.as_dict() == {"calls": 2, "compiles": 0, "disk_hits": 2, "cache_hits": 0}
    assert "loaded from the disk cache" in second.explain()
    metas, payloads = entry_files(tmp_path)
    assert len(metas) == len(payloads) == 2
    for meta in metas:  # JSON metadata and raw object code, never a pickle
        data = json.loads(meta.read_text())
        assert set(data["parts"]) == set(cache_module.PART_DESCRIPTIONS)
        payload = meta.parent / data["payload"]["file"]
        assert payload.read_bytes()[:4] == b"\x7fELF"


def miss_reason(directory: Path, model: dynir.CompiledModel, **call: int) -> str:
    run_tied(model, **call)
    assert model.stats.compiles == 1 and model.stats.disk_hits == 0
    return DiskCache(directory).explain()


@pytest.mark.parametrize("part", ["dynir_version", "dynir_source", "llvmlite", "llvm", "triple", "cpu", "features"])
def test_each_toolchain_part_of_the_key_misses(tmp_path: Path, part: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    changed = {**cache_module.toolchain_parts(), part: "changed"}
    monkeypatch.setattr(cache_module, "toolchain_parts", lambda: changed)
    reason = miss_reason(tmp_path, dynir.compile(tied_model(), cache_dir=tmp_path))
    assert f"differs in 1 key part(s): {part}: {cache_module.PART_DESCRIPTIONS[part]} changed" in reason


def test_ir_inputs_and_pipeline_parts_miss(tmp_path: Path) -> None:
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    reason = miss_reason(tmp_path, dynir.compile(tied_model(), cache_dir=tmp_path), seq=5)
    assert "differs in 1 key part(s): inputs: the input dtypes/shapes of the specialisation changed" in reason
    model = dynir.compile(tied_model(scale=0.25), cache_dir=tmp_path)
    x, z = inputs(2, 3)
    np.testing.assert_allclose(model(x, z)[0], tied_expected(x, z, 0.25), rtol=1e-6)
    assert model.stats.compiles == 1
    assert "differs in 1 key part(s): ir: the model's IR" in DiskCache(tmp_path).explain()
    reason = miss_reason(tmp_path, dynir.compile(tied_model(), cache_dir=tmp_path, fuse=False))
    assert "differs in 1 key part(s): pipeline: the pass pipeline or its options changed" in reason


def test_explain_of_a_hit_and_of_one_model(tmp_path: Path) -> None:
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    cache = DiskCache(tmp_path)
    assert cache.explain().startswith("last lookup of module (x: 2x3x8 float32, z: 2x3x8 float32) hit entry ")
    ir_hash = cache_module.canonical_ir(tied_model()).sha256
    assert cache.explain(ir_hash) == cache.explain()
    with pytest.raises(dynir.diagnostics.DynirError, match="no lookup of this model recorded"):
        cache.explain("0" * 64)


def corrupt_payload_truncated(meta: Path) -> None:
    payload = meta.parent / json.loads(meta.read_text())["payload"]["file"]
    payload.write_bytes(payload.read_bytes()[:100])


def corrupt_payload_flipped(meta: Path) -> None:
    payload = meta.parent / json.loads(meta.read_text())["payload"]["file"]
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0xFF
    payload.write_bytes(bytes(data))


def corrupt_metadata_tampered(meta: Path) -> None:
    data = json.loads(meta.read_text())
    data["plan"]["steps"][0]["kernel"] = "tampered"
    meta.write_text(json.dumps(data))


def corrupt_metadata_garbage(meta: Path) -> None:
    meta.write_text(meta.read_text()[: len(meta.read_text()) // 2])


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (corrupt_payload_truncated, "truncated"),
        (corrupt_payload_flipped, "payload checksum mismatch"),
        (corrupt_metadata_tampered, "metadata checksum mismatch"),
        (corrupt_metadata_garbage, ""),
    ],
)
def test_corrupt_entries_warn_and_are_rebuilt(tmp_path: Path, corrupt: object, reason: str) -> None:
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    (meta,), _ = entry_files(tmp_path)
    corrupt(meta)  # type: ignore[operator]
    model = dynir.compile(tied_model(), cache_dir=tmp_path)
    with pytest.warns(CacheWarning, match=f"dynir cache: ignoring corrupt entry [0-9a-f]{{16}} \\(.*{reason}"):
        run_tied(model)
    assert model.stats.compiles == 1 and model.stats.disk_hits == 0
    again = dynir.compile(tied_model(), cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_tied(again)
    assert again.stats.disk_hits == 1


CHILD = textwrap.dedent(
    """
    import json, sys, time, warnings
    warnings.simplefilter("error")
    import dynir
    from tests.runtime.runtime_testlib import inputs, tied_expected, tied_model
    import numpy as np
    model = dynir.compile(tied_model(), cache_dir=sys.argv[1])
    stats = []
    for seq in (3, 5, 7):
        x, z = inputs(2, seq)
        np.testing.assert_allclose(model(x, z)[0], tied_expected(x, z), rtol=1e-6, atol=1e-6)
    from dynir.runtime.cache import source_hash
    print(json.dumps({**model.stats.as_dict(), "source": source_hash()}))
    """
)


def run_children(directory: Path, count: int) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(directory)], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def same_sources(*runs: dict[str, object]) -> None:
    """Entries are keyed on dynir's source hash: a file edited between the processes
    (while developing) makes every lookup miss, rightly."""
    if len({r.pop("source") for r in runs}) != 1:
        pytest.skip("dynir's sources changed while the test ran")


def test_concurrent_writers_then_a_new_process_compiles_nothing(tmp_path: Path) -> None:
    writers = run_children(tmp_path, 2)
    assert all(w["compiles"] + w["disk_hits"] == 2 for w in writers)  # type: ignore[operator]
    metas, _ = entry_files(tmp_path)
    assert len(metas) == 2
    assert not list(tmp_path.glob("entries/*/*.tmp"))
    (reader,) = run_children(tmp_path, 1)
    same_sources(*writers, reader)
    assert reader == {"calls": 3, "compiles": 0, "disk_hits": 2, "cache_hits": 1}


def test_cache_directory_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNIR_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    model = dynir.compile(tied_model())
    run_tied(model)
    assert len(entry_files(tmp_path / "explicit")[0]) == 1
    monkeypatch.delenv("DYNIR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "dynir"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "dynir"
    off = dynir.compile(tied_model(), cache_dir=False)
    run_tied(off)
    assert off.stats.compiles == 1


def test_info_and_clear(tmp_path: Path) -> None:
    run_tied(dynir.compile(tied_model(), cache_dir=tmp_path))
    cache = DiskCache(tmp_path)
    lines = cache.info().splitlines()
    assert lines[0] == f"cache directory: {tmp_path}"
    assert lines[1].startswith("entries: 1 (")
    assert lines[2].endswith("module: x: 2x3x8 float32, z: 2x3x8 float32")
    assert cache.clear() == 1
    assert cache.info().splitlines()[1] == "entries: 0 (0 B)"
