"""``dynir cache info|clear|explain``: the persistent compile cache.

    $ dynir cache info                      # directory, entry count and size, one line per entry
    $ dynir cache clear                     # remove every entry
    $ dynir cache explain [model.onnx]      # why the last lookup (of that model) missed

The directory is ``--cache-dir``, else ``$DYNIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/dynir``,
else ``~/.cache/dynir`` (see ``dynir.runtime.cache``).
"""

from __future__ import annotations

import argparse

NAME = "cache"
HELP = "inspect, clear or explain the persistent compile cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["info", "clear", "explain"], help="what to do")
    parser.add_argument("model", nargs="?", help="explain: the model whose last lookup to explain (default: the last lookup)")
    parser.add_argument("--cache-dir", metavar="DIR", help="the cache directory (default: $DYNIR_CACHE_DIR or ~/.cache/dynir)")


def run(args: argparse.Namespace) -> int:
    from dynir.diagnostics import DynirError
    from dynir.runtime.cache import DiskCache, canonical_ir

    if args.model is not None and args.action != "explain":
        raise DynirError(f"'dynir cache {args.action}' takes no model")
    cache = DiskCache(args.cache_dir)
    if args.action == "info":
        print(cache.info())
    elif args.action == "clear":
        removed = cache.clear()
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {cache.directory}")
    else:
        ir_hash = None
        if args.model is not None:
            from dynir.compiler import to_module

            ir_hash = canonical_ir(to_module(args.model)).sha256
        print(cache.explain(ir_hash))
    return 0
