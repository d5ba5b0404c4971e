"""Every bad input of ``dynir-opt`` gets one clear diagnostic on stderr and exit code 1;
a crashing pass is an internal error (exit 2) with a reproducer that replays it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.passes import ModulePass

RELU = """\
func.func @relu(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = nn.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
"""


def mlir(tmp_path: Path, text: str | bytes, name: str = "in.mlir") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_syntax_error_has_location_source_line_and_caret(tmp_path: Path, run_script) -> None:
    src = "func.func @f() {\n  %0 = arith.constant 1 : i32 +\n}\n"
    mlir(tmp_path, src)
    result = run_script("dynir-opt", "in.mlir", cwd=tmp_path)
    assert result.code == 1
    assert result.err == (
        "in.mlir:2:31: error: unexpected '+' in block definition\n"
        "  %0 = arith.constant 1 : i32 +\n"
        "                              ^\n"
    )
    assert result.out == ""


def test_undefined_value_points_at_its_use(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, RELU.replace("nn.relu %x", "nn.relu %y"))
    result = run_opt(path)
    assert result.code == 1
    assert result.err == (
        f"{path}:2:16: error: use of undefined value '%y'\n"
        "  %0 = nn.relu %y : (tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "               ^~\n"
    )


def test_verifier_error_names_op_and_location(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, RELU.replace(") -> tensor<2x4xf32>\n", ") -> tensor<3x4xf32>\n").replace(
        "return %0 : tensor<2x4xf32>", "return %0 : tensor<3x4xf32>").replace("-> tensor<2x4xf32> {", "-> tensor<3x4xf32> {"))
    result = run_opt(path)
    assert result.code == 1
    first, quote, caret = result.err.rstrip("\n").split("\n")
    assert first == (
        f"{path}:2:3: error: 'nn.relu' op result #0 has type tensor<3x4xf32>, but its operands give "
        "tensor<2x4xf32> (shape 2x4)"
    )
    assert quote == "  %0 = nn.relu %x : (tensor<2x4xf32>) -> tensor<3x4xf32>"
    assert caret == "  ^"


def test_type_mismatch_between_uses_is_a_parse_error(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, RELU.replace("func.return %0 : tensor<2x4xf32>", "func.return %0 : tensor<9xf32>"))
    result = run_opt(path)
    assert result.code == 1
    assert result.err.startswith(f"{path}:3:15: error: operand is used with type tensor<9xf32>, but has been")


def test_unregistered_op_suggests_close_names(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, RELU.replace("nn.relu", "nn.relux"))
    result = run_opt(path)
    assert result.code == 1
    first, quote, caret = result.err.rstrip("\n").split("\n")
    assert first.startswith(f"{path}:2:8: error: unregistered operation 'nn.relux'; did you mean 'nn.relu'")
    assert caret == "       ^~~~~~~~"


def test_unregistered_dialect_and_the_flag_that_accepts_it(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, 'func.func @f() {\n  "foo.bar"() : () -> ()\n  func.return\n}\n')
    result = run_opt(path)
    assert result.code == 1
    assert result.err.split("\n")[0] == (
        f"{path}:2:3: error: unregistered dialect 'foo' (in op 'foo.bar'); "
        "pass --allow-unregistered-dialect to accept it"
    )
    accepted = run_opt(path, "--allow-unregistered-dialect")
    assert accepted.code == 0
    assert '"foo.bar"() : () -> ()' in accepted.out


def test_unknown_pass_lists_close_names(run_opt) -> None:
    result = run_opt("example:conv_block", "-p", "canonicalise")
    assert result.code == 1
    assert result.err == "error: unknown pass 'canonicalise'; did you mean 'canonicalize', 'canonicalize-dmp'?\n"


def test_bad_pass_option_names_option_and_type(run_opt) -> None:
    result = run_opt("example:conv_block", "-p", "expand-math-to-polynomials{terms=abc}")
    assert result.code == 1
    assert result.err == "error: option 'terms' of pass 'expand-math-to-polynomials' expects int|None, got 'abc'\n"


def test_unknown_pass_option_lists_the_options(run_opt) -> None:
    result = run_opt("example:conv_block", "-p", "expand-math-to-polynomials{term=3}")
    assert result.code == 1
    assert result.err == (
        "error: pass 'expand-math-to-polynomials' has no option 'term' (its options: terms: int|None)\n"
    )


def test_malformed_pipeline(run_opt) -> None:
    result = run_opt("example:conv_block", "-p", "cse{")
    assert result.code == 1
    assert result.err.startswith("error: bad pass pipeline 'cse{':\n")
    assert "Expected argument name here" in result.err


def test_file_that_is_not_utf8(tmp_path: Path, run_opt) -> None:
    path = mlir(tmp_path, b"func.func @f() {\n  \xff\xfe\n}\n")
    result = run_opt(path)
    assert result.code == 1
    assert result.err == f"{path}:2:3: error: input is not UTF-8 text (byte 0xff); dynir-opt reads MLIR text files\n"


def test_missing_file(tmp_path: Path, run_script) -> None:
    result = run_script("dynir-opt", "missing.mlir", cwd=tmp_path)
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: cannot open 'missing.mlir': no such file\n"


def test_empty_file_is_an_empty_module(tmp_path: Path, run_opt) -> None:
    for text in ("", "// only a comment\n"):
        result = run_opt(mlir(tmp_path, text))
        assert (result.code, result.err) == (0, "")
        assert result.out == "builtin.module {\n}\n"


def test_unknown_example(run_opt) -> None:
    result = run_opt("example:conv_blok")
    assert result.code == 1
    assert result.err.startswith("error: no bundled example 'conv_blok'; did you mean 'conv_block'?")


@dataclass(frozen=True)
class CrashPass(ModulePass):
    """Raises when it meets an op whose name ends with ``at``."""

    name = "test-crash"
    at: str = "never-matches"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in op.walk():
            if inner.name.endswith(self.at):
                raise RuntimeError(f"boom at {inner.name}")


@dataclass(frozen=True)
class BreakTypesPass(ModulePass):
    """Leaves invalid IR: gives every nn.relu result a wrong type."""

    name = "test-break-types"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in op.walk():
            if inner.name == "nn.relu":
                inner.results[0]._type = TensorType(f32, [7])  # pyright: ignore[reportPrivateUsage]


def test_crashing_pass_is_internal_error_with_replayable_reproducer(tmp_path: Path, run_opt, registered) -> None:
    registered(CrashPass)
    path = mlir(tmp_path, RELU)
    result = run_opt(path, "-p", "canonicalize,test-crash{at=relu},cse", "--reproducer-dir", str(tmp_path))
    assert result.code == 2
    assert result.out == ""
    message, where = result.err.rstrip("\n").split("\n")
    assert message == "internal error: pass 'test-crash' raised RuntimeError: boom at nn.relu"
    (reproducer,) = tmp_path.glob("dynir-reproducer-*.mlir")
    assert where == f"reproducer: {reproducer} (replay: dynir-opt {reproducer} --run-reproducer)"
    text = reproducer.read_text()
    assert text.split("\n")[0] == "// dynir-opt -p 'test-crash{at=\"relu\"}'"
    assert "nn.relu %x" in text
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    replayed = run_opt(str(reproducer), "--run-reproducer", "--reproducer-dir", str(replay_dir))
    assert replayed.code == 2
    assert replayed.err.split("\n")[0] == message
    # the pipeline of the header, given by hand, fails the same way
    by_hand = run_opt(str(reproducer), "-p", 'test-crash{at="relu"}', "--reproducer-dir", str(replay_dir))
    assert by_hand.err.split("\n")[0] == message


def test_pass_that_leaves_invalid_ir_is_internal_error(tmp_path: Path, run_opt, registered) -> None:
    registered(BreakTypesPass)
    path = mlir(tmp_path, RELU)
    result = run_opt(path, "-p", "test-break-types", "--reproducer-dir", str(tmp_path))
    assert result.code == 2
    assert result.err.split("\n")[0] == (
        "internal error: pass 'test-break-types' left invalid IR: 'nn.relu' op result #0 has type "
        f"tensor<7xf32>, but its operands give tensor<2x4xf32> (shape 2x4) (at {path}:2:3)"
    )
    (reproducer,) = tmp_path.glob("dynir-reproducer-*.mlir")
    assert "-> tensor<7xf32>" not in reproducer.read_text()  # the IR before the pass


def test_no_verify_each_lets_invalid_ir_through(tmp_path: Path, run_opt, registered) -> None:
    registered(BreakTypesPass)
    result = run_opt(mlir(tmp_path, RELU), "-p", "test-break-types", "--no-verify-each")
    assert result.code == 0
    assert "-> tensor<7xf32>" in result.out


def test_run_reproducer_needs_the_header(tmp_path: Path, run_opt) -> None:
    result = run_opt(mlir(tmp_path, RELU), "--run-reproducer")
    assert result.code == 1
    assert "--run-reproducer: the first line is not" in result.err


def test_verify_diagnostics_prints_each_chunk_and_exits_0(tmp_path: Path, run_opt) -> None:
    bad = RELU.replace("nn.relu %x", "nn.relu %y")
    path = mlir(tmp_path, f"{RELU}// -----\n{bad}")
    result = run_opt(path, "--split-input-file", "--verify-diagnostics")
    assert result.code == 0
    first, second = result.out.split("// -----\n")
    assert "nn.relu %x" in first
    assert second.startswith(f"{path}:7:16: error: use of undefined value '%y'\n")
    failing = run_opt(path, "--split-input-file")
    assert failing.code == 1
    assert failing.err.startswith(f"{path}:7:16: error:")
