"""`vmlir-opt`: xdsl-opt with vmlir's dialects and passes, and user-facing errors.

Everything xdsl-opt offers is here (`-p` pipelines, `--print-between-passes`,
`--time-passes`, `--split-input-file`, `--verify-diagnostics`, ...). Differences:
input is read through `vmlir.ir.fix_hex_floats` (xDSL misreads hex float literals); an
input with no operations (empty, or only comments) is an empty module, as for mlir-opt;
the only output target is `mlir` (xDSL's assembly targets need its own low-level dialects,
never vmlir's IR); and a malformed input or a failing pass prints a diagnostic and exits
with code 1, without a Python traceback.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

from vmlir.fastimport import compiler_imports

# xDSL's import with the dataclass code cache and the collector paused
# (vmlir/fastimport.py). Measured on a small lit input: this import 0.28-0.43 s (was
# 0.44-0.54 s); the whole run 0.57-0.65 s (was 0.64-0.75 s; numpy alone is ~0.13 s).
with compiler_imports("cli"):
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.parser import Parser
    from xdsl.utils.exceptions import DiagnosticException, ParseError, VerifyException
    from xdsl.xdsl_opt_main import xDSLOptMain

    from vmlir.errors import VmlirError
    from vmlir.ir import fix_hex_floats


_COMMENTS = re.compile(r"//[^\n]*")


class VmlirOptMain(xDSLOptMain):
    version_format = "vmlir-opt (vmlir) built on xdsl {xdsl_version}"

    def __init__(self, args: list[str] | None = None):
        super().__init__(description="vmlir modular optimizer driver", args=args)

    def register_all_frontends(self) -> None:
        def parse_mlir(io: IO[bytes]):
            text = io.read().decode()
            if not _COMMENTS.sub("", text).strip() and not self.args.no_implicit_module:
                return ModuleOp([])
            return Parser(self.ctx, fix_hex_floats(text), self.get_input_name()).parse_module(
                not self.args.no_implicit_module
            )

        self.available_frontends["mlir"] = parse_mlir

    def register_all_targets(self) -> None:
        super().register_all_targets()
        self.available_targets = {"mlir": self.available_targets["mlir"]}

    # VmlirError is a plain Exception (importing vmlir must not import xDSL); xdsl-opt
    # reports DiagnosticExceptions per `// -----` chunk under --verify-diagnostics.
    def parse_chunk(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().parse_chunk(*args, **kwargs)
        except VmlirError as e:
            raise DiagnosticException(str(e)) from e

    def apply_passes(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply_passes(*args, **kwargs)
        except VmlirError as e:
            raise DiagnosticException(str(e)) from e


def _parse_error_text(e: ParseError) -> str:
    # At the end of the input xDSL's message names only the construct it was in
    # (" in block definition", under an empty source line): say what happened.
    if e.span.start >= len(e.span.input.content.rstrip()):
        loc = e.span.get_location()
        detail = e.msg.strip()
        if detail:
            detail = (" " if detail.startswith("in ") else ": ") + detail[0].lower() + detail[1:]
        return (f"{loc}: unexpected end of input{detail} "
                "(a region, block or op is not closed: missing '}' or ')'?)")
    return str(e)


def main(args: list[str] | None = None) -> int:
    try:
        with compiler_imports("cli"):  # the dialects and passes the run loads
            VmlirOptMain(args).run()
    except ParseError as e:
        print(f"vmlir-opt: error: {_parse_error_text(e)}", file=sys.stderr)
        return 1
    except (VerifyException, DiagnosticException, VmlirError) as e:
        print(f"vmlir-opt: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # unknown passes and file types (xDSL), input that is not UTF-8
        print(f"vmlir-opt: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a missing or unreadable input, an unwritable -o
        what = f"{e.strerror}: '{e.filename}'" if e.filename else str(e)
        print(f"vmlir-opt: error: {what}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, the traceback on request
        if os.environ.get("VMLIR_TRACEBACK"):
            raise
        print(f"vmlir-opt: internal error: {type(e).__name__}: {e} "
              "(set VMLIR_TRACEBACK=1 for the traceback)", file=sys.stderr)
        return 2
    return 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
