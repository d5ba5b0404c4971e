"""Suite-wide test setup: the compile cache goes to a temporary folder, so test runs never
read entries from (or write them to) the user's ``~/.cache/dynir``. Tests that exercise the
cache pass their own ``cache_dir=``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("DYNIR_CACHE_DIR")
    os.environ["DYNIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("dynir-cache"))
    yield
    if previous is None:
        os.environ.pop("DYNIR_CACHE_DIR", None)
    else:
        os.environ["DYNIR_CACHE_DIR"] = previous
