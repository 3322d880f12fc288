"""The console tools vmlir-opt and vmlir-translate, run as their users run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

VMAP_PROGRAM = """
func.func @main(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %r = "batch.vmap"(%x) <{axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [1 : i64]}> ({
  ^bb0(%v: tensor<3xf32>):
    %s = "stablehlo.multiply"(%v, %v) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}
"""


def _run(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", f"vmlir.tools.{tool}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def _assert_clean_failure(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


# --- vmlir-opt ----------------------------------------------------------------------------


def test_opt_help_lists_our_passes():
    """vmlir-opt --help names the three batch passes."""
    proc = _run("opt", "--help")
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r"\s+", "", proc.stdout)  # argparse may wrap a name at its hyphen
    for name in ("batch-propagate-axes", "batch-vectorize", "batch-lower"):
        assert name in text


def test_opt_malformed_input(tmp_path):
    """Malformed .mlir: exit code 1, a diagnostic at FILE:LINE:COL, no traceback."""
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f( {\n")
    proc = _run("opt", str(bad))
    _assert_clean_failure(proc)
    assert proc.stderr.startswith(f"vmlir-opt: error: {bad}:1:15")
    assert "Expected argument or type" in proc.stderr


def test_opt_input_that_ends_inside_a_region(tmp_path):
    """A function missing its closing brace: the error says the input ended, and where."""
    bad = tmp_path / "open.mlir"
    bad.write_text(VMAP_PROGRAM.rsplit("}", 1)[0])
    proc = _run("opt", str(bad))
    _assert_clean_failure(proc)
    lines = VMAP_PROGRAM.rsplit("}", 1)[0].count("\n") + 1
    assert proc.stderr.startswith(f"vmlir-opt: error: {bad}:{lines}:1: unexpected end of input"), proc.stderr
    assert "missing '}'" in proc.stderr


def test_opt_input_that_ends_inside_an_argument_list(tmp_path):
    """Cut inside a function's argument attributes: the message reads as one sentence."""
    bad = tmp_path / "args.mlir"
    bad.write_text("func.func @f(%x: tensor<4xf32> {\n")
    proc = _run("opt", str(bad))
    _assert_clean_failure(proc)
    assert proc.stderr.strip() == (
        f"vmlir-opt: error: {bad}:2:1: unexpected end of input: expected bare-id or "
        "string-literal here as part of attribute entry! (a region, block or op is not "
        "closed: missing '}' or ')'?)"
    ), proc.stderr


def test_opt_missing_unreadable_and_binary_input(tmp_path):
    """A missing file, a folder, bytes that are not UTF-8, an -o into a missing folder:
    exit code 1, one error line naming the problem, no traceback."""
    missing = tmp_path / "missing.mlir"
    proc = _run("opt", str(missing))
    _assert_clean_failure(proc)
    assert proc.stderr == f"vmlir-opt: error: No such file or directory: '{missing}'\n"
    proc = _run("opt", str(tmp_path))
    _assert_clean_failure(proc)
    assert proc.stderr == f"vmlir-opt: error: Is a directory: '{tmp_path}'\n"
    binary = tmp_path / "binary.mlir"
    binary.write_bytes(b"\xff\xfe\x00")
    proc = _run("opt", str(binary))
    _assert_clean_failure(proc)
    assert "can't decode byte 0xff" in proc.stderr
    src = tmp_path / "ok.mlir"
    src.write_text(VMAP_PROGRAM)
    out = tmp_path / "no-folder" / "out.mlir"
    proc = _run("opt", str(src), "-o", str(out))
    _assert_clean_failure(proc)
    assert proc.stderr == f"vmlir-opt: error: No such file or directory: '{out}'\n"


def test_opt_empty_input_is_an_empty_module(tmp_path):
    """An input without operations (empty, or comments only) is an empty module, as
    mlir-opt reads it; with --no-implicit-module it is still an error."""
    for text in ("", "// nothing here yet\n\n"):
        src = tmp_path / "empty.mlir"
        src.write_text(text)
        proc = _run("opt", str(src))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["builtin.module", "{", "}"]
        proc = _run("opt", "-p", "batch-vectorize,batch-lower", str(src))
        assert proc.returncode == 0, proc.stderr
    proc = _run("opt", "--no-implicit-module", str(src))
    _assert_clean_failure(proc)


def test_opt_offers_only_the_mlir_target(tmp_path):
    """xDSL's assembly targets need its low-level dialects: asking for one is a usage
    error (argparse's exit code 2), never a crash in the printer."""
    src = tmp_path / "ok.mlir"
    src.write_text(VMAP_PROGRAM)
    proc = _run("opt", "-t", "x86-asm", str(src))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # argparse names the program as it was started (`python -m` here).
    assert proc.stderr.splitlines()[-1].endswith(
        "error: argument -t/--target: invalid choice: 'x86-asm' (choose from mlir)"
    )
    assert _run("opt", "-t", "mlir", str(src)).returncode == 0


def test_opt_unknown_pass(tmp_path):
    """An unknown pass name: exit code 1, one error line naming it, no traceback."""
    src = tmp_path / "ok.mlir"
    src.write_text(VMAP_PROGRAM)
    proc = _run("opt", "-p", "no-such-pass", str(src))
    _assert_clean_failure(proc)
    assert proc.stderr == "vmlir-opt: error: Unrecognized passes: ['no-such-pass']\n"


def test_opt_failing_pass_is_a_clean_error(tmp_path):
    """batch-lower before batch-vectorize fails with its message, exit 1, no traceback."""
    src = tmp_path / "vmap.mlir"
    src.write_text(VMAP_PROGRAM)
    proc = _run("opt", "-p", "batch-lower", str(src))
    _assert_clean_failure(proc)
    assert proc.stderr == (
        "vmlir-opt: error: batch-lower found a batch.vmap: run batch-vectorize before batch-lower\n"
    )


def test_opt_pipeline_output_is_accepted_by_jaxlib(tmp_path):
    """The full pipeline turns a batch.vmap into StableHLO that jaxlib's parser accepts."""
    src = tmp_path / "vmap.mlir"
    src.write_text(VMAP_PROGRAM)
    opt = _run("opt", "-p", "batch-propagate-axes,batch-vectorize,batch-lower", str(src))
    assert opt.returncode == 0, opt.stderr
    assert "batch." not in opt.stdout
    assert "stablehlo.transpose" in opt.stdout  # out_axes = 1
    out = tmp_path / "out.mlir"
    out.write_text(opt.stdout)
    translated = _run("translate", "--to-jaxlib", str(out))
    assert translated.returncode == 0, translated.stderr
    assert '"stablehlo.multiply"' in translated.stdout


def test_opt_keeps_hex_floats(tmp_path):
    """vmlir-opt reads a hex -inf as -inf and prints it back as its bit pattern."""
    src = tmp_path / "inf.mlir"
    src.write_text(
        "func.func @main() -> tensor<f32> {\n"
        '  %0 = "stablehlo.constant"() <{value = dense<0xFF800000> : tensor<f32>}> '
        ": () -> tensor<f32>\n"
        "  func.return %0 : tensor<f32>\n}\n"
    )
    proc = _run("opt", str(src))
    assert proc.returncode == 0, proc.stderr
    assert "dense<0xff800000>" in proc.stdout.lower()


# --- vmlir-translate --------------------------------------------------------------------------


def test_translate_from_python_prints_batch_vmap():
    """--from-python on a seed prints the batch-stage module with a batch.vmap."""
    proc = _run(
        "translate", "--from-python", "vmlir.examples.seeds:sum_of_squares", "--args", "(f32[4,3],)"
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch.vmap(" in proc.stdout
    assert "tensor<4x3xf32>" in proc.stdout


def test_translate_print_op_generic():
    """--print-op-generic prints the stage in the generic form."""
    proc = _run(
        "translate",
        "--from-python",
        "vmlir.examples.seeds:sum_of_squares",
        "--args",
        "(f32[4,3],)",
        "--print-op-generic",
    )
    assert proc.returncode == 0, proc.stderr
    assert '"batch.vmap"(' in proc.stdout


def test_translate_stablehlo_stage_has_no_batch_dialect():
    """--stage stablehlo prints the final module, with nothing of the batch dialect left."""
    proc = _run(
        "translate",
        "--from-python",
        "vmlir.examples.seeds:sum_of_squares",
        "--args",
        "(f32[4,3],)",
        "--stage",
        "stablehlo",
    )
    assert proc.returncode == 0, proc.stderr
    assert "stablehlo.reduce(" in proc.stdout
    assert "batch." not in proc.stdout


def test_translate_missing_function():
    """A function the module does not have: exit code 1, one error line, no traceback."""
    proc = _run(
        "translate", "--from-python", "vmlir.examples.seeds:no_such_fn", "--args", "(f32[4,3],)"
    )
    _assert_clean_failure(proc)
    assert proc.stderr == (
        "vmlir-translate: error: AttributeError: module 'vmlir.examples.seeds' has no "
        "attribute 'no_such_fn'\n"
    )


def test_translate_to_jaxlib_rejects_garbage():
    """--to-jaxlib on text jaxlib cannot parse: exit code 1, no traceback."""
    proc = _run("translate", "--to-jaxlib", stdin="garbage\n")
    _assert_clean_failure(proc)
    assert proc.stderr.startswith("vmlir-translate: error: MLIRError: ")
