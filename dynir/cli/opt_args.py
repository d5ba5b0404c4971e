"""The command line of ``dynir-opt``: xDSL's input/pipeline flags, dynir's named
pipelines (``--fuse`` ...) and the instrumentation flags, in one place.

``-p`` and the named-pipeline flags append to one list, so the passes run in the order
the flags are written: ``--fuse -p cse --quantize`` is ``fuse, cse, quantize``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

PIPELINE_STEPS = "pipeline_steps"
"""argparse destination shared by ``-p`` and the named-pipeline flags."""

EMIT_LLVM = "emit_llvm"
"""Set by ``--lower-to-llvm``: lower to loops, then print the kernels' LLVM IR."""


class _LowerToLLVM(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        steps = getattr(namespace, PIPELINE_STEPS) or []
        setattr(namespace, PIPELINE_STEPS, [*steps, "lower-to-loops"])
        setattr(namespace, EMIT_LLVM, True)


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got '{text}'")
    return value


def add_opt_arguments(parser: argparse.ArgumentParser, named_pipelines: Mapping[str, tuple[str, str]],
                      targets: list[str], version_text: str) -> None:
    """Every flag of ``dynir-opt``; ``named_pipelines`` maps flag to (pipeline, help)."""
    parser.add_argument("input_file", nargs="?", default="-",
                        help="a .mlir file, '-' for stdin (default), or example:NAME for a bundled example")
    parser.add_argument("-o", "--output-file", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument("-v", "--version", action="version", version=version_text)

    pipeline = parser.add_argument_group("pipeline (applied in command-line order)")
    pipeline.add_argument("-p", "--passes", dest=PIPELINE_STEPS, action="append", metavar="PIPELINE",
                          help="textual pipeline of registered passes, e.g. 'canonicalize,cse' or "
                          "'pass{option=1}' (see --list-passes)")
    for flag, (steps, why) in named_pipelines.items():
        pipeline.add_argument(f"--{flag}", dest=PIPELINE_STEPS, action="append_const", const=steps,
                              help=f"{why} (= -p '{steps}')")
    pipeline.add_argument("--lower-to-llvm", nargs=0, action=_LowerToLLVM,
                          help="lower to loops, then print the kernels' LLVM IR after LLVM's O3 pipeline "
                          "(-t llvm prints it for an already-lowered input)")
    pipeline.add_argument("--list-passes", action="store_true", help="list every registered pass and its options, then exit")
    pipeline.add_argument("--run-reproducer", action="store_true",
                          help="take the pipeline from the input's first line (a reproducer written by a crash)")
    pipeline.add_argument("--verify-each", action=argparse.BooleanOptionalAction, default=True,
                          help="verify the IR after every pass (default: on)")

    show = parser.add_argument_group("instrumentation")
    show.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    show.add_argument("--print-ir-after", action="append", default=[], metavar="PASS",
                      help="print the IR after each run of PASS to stderr (repeatable)")
    show.add_argument("--dump-dir", metavar="DIR",
                      help="write the input and the IR after each pass to DIR/00-input.mlir, DIR/01-<pass>.mlir, ...")
    show.add_argument("--timing", action="store_true", help="print a table of wall time per pass to stderr")
    show.add_argument("--remarks", action="store_true", help="print the optimisation remarks of the passes to stderr")
    show.add_argument("--reproducer-dir", metavar="DIR", help="where a crashing pass leaves its reproducer (default: the temp dir)")
    show.add_argument("--debug", action="store_true", help="show Python tracebacks of internal errors")

    io = parser.add_argument_group("input and output")
    io.add_argument("--split-input-file", action="store_true",
                    help="process each '// -----'-separated chunk of the input on its own")
    io.add_argument("--verify-diagnostics", action="store_true",
                    help="print diagnostics to the output instead of failing, and exit 0 (for lit tests)")
    io.add_argument("--allow-unregistered-dialect", action="store_true", help="accept ops of unknown dialects")
    io.add_argument("--elide-constants", type=non_negative_int, metavar="N",
                    help="print dense constants with more than N elements as dense_resource<__elided__> (display only)")
    io.add_argument("--print-op-generic", action="store_true", help="print ops in the generic format")
    io.add_argument("--print-debuginfo", action="store_true", help="print op locations (loc(...))")
    io.add_argument("-t", "--target", default="mlir", help=f"output target (default: mlir; others: {', '.join(t for t in targets if t != 'mlir')})")

    # Read by xDSLOptMain; dynir-opt does not expose them.
    parser.set_defaults(frontend=None, disable_verify=False, syntax_highlight=False, no_implicit_module=False,
                        parsing_diagnostics=False, shrink=False, print_no_properties=False,
                        print_between_passes=False, time_passes=False)
