"""``dynir-opt``: the mlir-opt of dynir, built on xDSL's ``xDSLOptMain``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from xdsl.xdsl_opt_main import xDSLOptMain

from dynir.ir.constants import BLOBS
from dynir.ir.context import dynir_dialects
from dynir.pipeline import pass_registry


class DynirOptMain(xDSLOptMain):
    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for dialect in dynir_dialects():
            self.ctx.register_dialect(dialect.name, lambda d=dialect: d)

    def register_all_passes(self) -> None:
        for name, factory in pass_registry().items():
            self.register_pass(name, factory)

    def parse_chunk(self, chunk, file_extension, offset=0):  # type: ignore[no-untyped-def]
        BLOBS.begin_parse()
        return super().parse_chunk(chunk, file_extension, offset)


def main(argv: Sequence[str] | None = None) -> int:
    DynirOptMain(description="dynir modular optimizer driver", args=argv).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
