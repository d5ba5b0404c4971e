"""``dynir explain-recompiles model.onnx --call seq=8 --call seq=16 ...``: run a model on
random inputs of the given sizes, one call per ``--call``, and print the recompile
ledger: which specialisations were built, why (the guard that failed), and how long
each took.

    $ dynir explain-recompiles bert.onnx --call seq=8 --call seq=8 --call seq=31
    2 specialisations for 3 calls (2 compiled, 0 from the disk cache, 1 in-memory hits)
    #1 compiled in 0.52 s: first call
       -> hidden: 1x8x64 float32, attention_mask: 1x1x1x8 float32
    #2 compiled in 0.49 s: input 'hidden' dim 1 ('seq') was 8, now 31
       -> hidden: 1x?x64 float32, attention_mask: 1x1x1x? float32

``--call`` takes ``NAME=SIZE`` pairs separated by commas (unnamed dynamic dims are 1).
"""

from __future__ import annotations

import argparse

NAME = "explain-recompiles"
HELP = "run a model on a sequence of input sizes and explain every (re)compilation"

DYNAMIC_CHOICES = {"auto": None, "exact": False, "symbolic": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the .onnx (or .mlir) model")
    parser.add_argument("--call", action="append", default=[], metavar="DIMS",
                        help="one call with these dim sizes, e.g. 'seq=128' or 'batch=2,seq=7' (repeatable)")
    parser.add_argument("--dynamic", choices=sorted(DYNAMIC_CHOICES), default="auto",
                        help="specialisation policy: auto (default: exact, then symbolic where a dim changes), "
                             "exact (dynamic=False) or symbolic (dynamic=True)")
    parser.add_argument("--recompile-limit", type=int, default=8, metavar="N", help="recompile limit (default 8)")
    parser.add_argument("--cache-dir", metavar="DIR", help="the disk cache directory (default: $DYNIR_CACHE_DIR ...)")
    parser.add_argument("--no-cache", action="store_true", help="do not use the disk cache")


def run(args: argparse.Namespace) -> int:
    import dynir
    from dynir.cli.inputs import parse_dims, random_inputs
    from dynir.diagnostics import DynirError

    model_arg: object = args.model
    if args.model.endswith(".mlir"):
        from pathlib import Path

        model_arg = dynir.parse(Path(args.model).read_text(), args.model)
    if args.recompile_limit < 1:
        raise DynirError("--recompile-limit must be at least 1")
    model = dynir.compile(
        model_arg,
        dynamic=DYNAMIC_CHOICES[args.dynamic],
        recompile_limit=args.recompile_limit,
        cache_dir=False if args.no_cache else args.cache_dir,
    )
    calls = [parse_dims([p for p in call.split(",") if p]) for call in args.call] or [{}]
    for index, dims in enumerate(calls):
        feeds = random_inputs(model, dims, seed=index)
        model.run(feeds)
    print(model.explain())
    return 0
