"""``dynir-opt`` pipelines and instrumentation: named pipelines in command-line order,
IR dumps, timing, remarks, elided constants, resource blobs, stdin/stdout/-o."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from dynir import pipeline
from dynir.ir.constants import dense_value
from dynir.ir.text import parse
from dynir.remarks import remark

ADD_RELU = """\
func.func @bias_relu(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, -2.0, 3.0, -4.0]> : tensor<4xf32>} : tensor<4xf32>
  %unused = nn.relu %b : (tensor<4xf32>) -> tensor<4xf32>
  %0 = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}
"""


def with_resource(values: np.ndarray) -> str:
    blob = "0x08000000" + values.astype(np.float32).tobytes().hex()
    return f"""\
func.func @weights() -> tensor<{values.size}xf32> {{
  %w = nn.constant {{value = dense_resource<w> : tensor<{values.size}xf32>}} : tensor<{values.size}xf32>
  func.return %w : tensor<{values.size}xf32>
}}
{{-#
  dialect_resources: {{
    builtin: {{
      w: "{blob}"
    }}
  }}
#-}}
"""


@dataclass(frozen=True)
class RemarkReluPass(ModulePass):
    """Says why it would (not) touch each relu: a stand-in for a deciding pass."""

    name = "test-remark-relu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in op.walk():
            if inner.name == "nn.relu":
                remark(inner, f"relu of {inner.operands[0].type}: kept")


def test_parse_verify_print_round_trip_from_stdin(run_opt) -> None:
    result = run_opt("-", stdin=ADD_RELU.encode())
    assert result.code == 0
    again = run_opt(stdin=result.out.encode())
    assert again.out == result.out
    assert "%1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>" in result.out


def test_passes_run_and_output_file(tmp_path: Path, run_opt) -> None:
    out = tmp_path / "out.mlir"
    result = run_opt("-", "-p", "dce", "-o", str(out), stdin=ADD_RELU.encode())
    assert (result.code, result.out, result.err) == (0, "", "")
    text = out.read_text()
    assert "%unused" not in text  # dce removed the dead relu
    assert text.count("nn.relu") == 1


def test_named_pipelines_apply_in_command_line_order(tmp_path: Path, run_opt, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pipeline.NAMED_PIPELINES, "test-clean", ("dce,cse", "remove dead and duplicate ops"))
    monkeypatch.setitem(pipeline.NAMED_PIPELINES, "test-canon", ("canonicalize", "canonicalize"))
    help_text = run_opt("--help")
    assert help_text.code == 0
    assert re.search(r"--test-clean\s+remove dead and duplicate ops \(= -p 'dce,cse'\)", help_text.out)
    dump = tmp_path / "dump"
    result = run_opt("-", "-p", "cse", "--test-canon", "--test-clean", "--dump-dir", str(dump), stdin=ADD_RELU.encode())
    assert result.code == 0
    names = sorted(p.name for p in dump.iterdir())
    assert names == ["00-input.mlir", "01-cse.mlir", "02-canonicalize.mlir", "03-dce.mlir", "04-cse.mlir"]
    assert "%unused" in (dump / "00-input.mlir").read_text()
    assert "%unused" not in (dump / "01-cse.mlir").read_text()
    assert (dump / "04-cse.mlir").read_text() == result.out


def test_help_advertises_no_named_pipeline_that_does_not_exist(run_opt) -> None:
    text = run_opt("--help").out
    for flag in ("--print-ir-after-all", "--print-ir-after", "--dump-dir", "--timing", "--remarks",
                 "--split-input-file", "--verify-diagnostics", "--elide-constants", "--verify-each", "-o"):
        assert re.search(rf"(^|\s){re.escape(flag)}[\s=,]", text), flag
    for flag, (steps, _) in pipeline.NAMED_PIPELINES.items():
        assert f"--{flag}" in text
        pipeline.build_pipeline(steps)  # every advertised pipeline names existing passes
    for later in ("--quantize", "--plan-buffers", "--fuse"):
        assert (later in text) == (later.removeprefix("--") in pipeline.NAMED_PIPELINES)
    assert "--lower-to-llvm" in text  # lower-to-loops, then print LLVM IR (not a pass pipeline)


def test_print_ir_after_all_and_after_one_pass(run_opt) -> None:
    result = run_opt("-", "-p", "cse,dce", "--print-ir-after-all", stdin=ADD_RELU.encode())
    headers = [line for line in result.err.split("\n") if line.startswith("// -----// IR Dump After")]
    assert headers == ["// -----// IR Dump After cse //----- //", "// -----// IR Dump After dce //----- //"]
    only = run_opt("-", "-p", "cse,dce", "--print-ir-after", "dce", stdin=ADD_RELU.encode())
    assert only.err.startswith("// -----// IR Dump After dce //----- //\nbuiltin.module {")
    assert "After cse" not in only.err
    unknown = run_opt("-", "--print-ir-after", "dcee", stdin=ADD_RELU.encode())
    assert unknown.code == 1
    assert unknown.err.startswith("error: --print-ir-after: unknown pass 'dcee'; did you mean 'dce'")


def test_timing_table_lists_each_pass(run_opt) -> None:
    result = run_opt("-", "-p", "cse,dce", "--timing", stdin=ADD_RELU.encode())
    assert result.code == 0
    rows = result.err.rstrip("\n").split("\n")
    assert rows[0].split() == ["wall", "ms", "share", "pass"]
    names = [row.split(maxsplit=2)[2] for row in rows[1:]]
    assert names == ["(parse and verify input)", "cse", "dce", "(print output)", "total"]
    times = [float(row.split()[0]) for row in rows[1:]]
    assert all(t >= 0 for t in times)
    assert times[-1] == pytest.approx(sum(times[:-1]), abs=0.05)


def test_remarks_name_pass_location_and_message(run_opt, registered) -> None:
    registered(RemarkReluPass)
    result = run_opt("-", "-p", "test-remark-relu", "--remarks", stdin=ADD_RELU.encode())
    assert result.code == 0
    assert result.err.split("\n")[:2] == [
        "<stdin>:3:3: remark: [test-remark-relu] relu of tensor<4xf32>: kept",
        "<stdin>:5:3: remark: [test-remark-relu] relu of tensor<?x4xf32>: kept",
    ]


def test_resource_blobs_survive_dynir_opt(run_opt) -> None:
    values = np.linspace(-1, 1, 40, dtype=np.float32)
    result = run_opt("-", "-p", "cse", stdin=with_resource(values).encode())
    assert result.code == 0
    assert "dialect_resources" in result.out
    module = parse(result.out)
    (constant,) = [op for op in module.walk() if op.name == "nn.constant"]
    np.testing.assert_array_equal(dense_value(constant.properties["value"]), values)


def test_elide_constants_is_display_only(run_opt) -> None:
    values = np.arange(40, dtype=np.float32)
    result = run_opt("-", "--elide-constants", "16", stdin=with_resource(values).encode())
    assert result.code == 0
    assert "%w = nn.constant {value = dense_resource<__elided__> : tensor<40xf32>} : tensor<40xf32>" in result.out
    assert "dialect_resources" not in result.out
    small = run_opt("-", "--elide-constants", "3", stdin=ADD_RELU.encode())
    assert "dense_resource<__elided__> : tensor<4xf32>" in small.out
    kept = run_opt("-", "--elide-constants", "4", stdin=ADD_RELU.encode())
    assert "dense<[1.000000e+00, -2.000000e+00, 3.000000e+00, -4.000000e+00]>" in kept.out
    negative = run_opt("-", "--elide-constants", "-1", stdin=ADD_RELU.encode())
    assert negative.code == 2  # argparse usage error
    assert "expected a non-negative integer, got '-1'" in negative.err


def test_split_input_file_keeps_chunks_and_line_numbers(tmp_path: Path, run_opt) -> None:
    source = tmp_path / "two.mlir"
    source.write_text(f"{ADD_RELU}// -----\n{ADD_RELU}")
    dump = tmp_path / "dump"
    result = run_opt(str(source), "--split-input-file", "-p", "dce", "--dump-dir", str(dump))
    assert result.code == 0
    assert result.out.count("// -----\n") == 1
    assert sorted(p.name for p in dump.iterdir()) == ["chunk-00", "chunk-01"]
    located = run_opt(str(source), "--split-input-file", "--print-debuginfo")
    assert f'loc("{source}":5:3)' in located.out
    assert f'loc("{source}":12:3)' in located.out


def test_list_passes_shows_options(run_opt) -> None:
    result = run_opt("--list-passes")
    assert result.code == 0
    listed = result.out.split("\n")
    assert "canonicalize" in listed
    assert "expand-math-to-polynomials{terms: int|None}" in listed


def test_bundled_example_through_installed_script(run_script) -> None:
    result = run_script("dynir-opt", "example:conv_block", "-p", "canonicalize,cse")
    assert (result.code, result.err) == (0, "")
    assert "func.func @conv_block(%x: tensor<?x8x4x4xf32>) -> tensor<?x128xf32>" in result.out
    assert "nn.flatten" in result.out


def test_version(run_opt) -> None:
    from importlib.metadata import version

    result = run_opt("--version")
    assert result.code == 0
    assert result.out == f"dynir-opt {version('dynir')} (xDSL {version('xdsl')})\n"
