"""`vmlir-translate`: between Python, our IR and jaxlib.

    vmlir-translate --from-python pkg.module:fn --args "(f32[4,3],)" [--in-axes 0]
                    [--out-axes 0] [--stage batch] [-p PIPELINE] [--print-op-generic]
                    [--derivative jvp|vjp]
        Trace a per-example Python function (or a `vmlir.vmap` object, whose own axes are
        used) on the given batched argument shapes and print the IR at `--stage`: "jax"
        (JAX's per-example StableHLO), "batch" (the default: our batch-dialect module),
        a pass name, or "stablehlo" (after the whole pipeline). `pkg.module` may also be a
        path to a .py file. The IR is printed in the pretty (custom) form, or in MLIR's
        generic form with --print-op-generic. `--derivative vjp` prints the reverse-mode
        program jax.grad runs through it instead (`Compiled.lower_vjp`), `--derivative
        jvp` the JVP one.

    vmlir-translate --to-jaxlib [--pretty] [FILE]
        Parse MLIR text (our final output) with jaxlib's own parser and print what it
        read, generic form (with --pretty: upstream StableHLO's pretty form, as jaxlib
        prints it). Fails, exit code 1, when jaxlib rejects it.

Argument shapes are written `f32[4,3]`, `i32[]`, `bool[5]`, nested in Python tuples,
lists and dicts for pytrees: `--args "((f32[5,3], f32[5]), f32[4,3])"`.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

_DTYPES = {
    "f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "u8": "uint8", "u32": "uint32", "bool": "bool",
}  # fmt: skip
_SHAPE_TOKEN = re.compile(r"\b(" + "|".join(_DTYPES) + r")\[([0-9, ]*)\]")


def parse_arg_shapes(spec: str) -> Any:
    """`"((f32[5,3], f32[5]), f32[4,3])"` -> the same tree of jax.ShapeDtypeStruct."""
    import jax
    import jax.numpy as jnp

    leaves: list[Any] = []

    def token(m: re.Match[str]) -> str:
        dims = tuple(int(d) for d in m.group(2).replace(" ", "").split(",") if d)
        leaves.append(jax.ShapeDtypeStruct(dims, jnp.dtype(_DTYPES[m.group(1)])))
        return f"__leaf{len(leaves) - 1}__"

    text = _SHAPE_TOKEN.sub(token, spec)
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot read argument shapes {spec!r}: {e.msg}") from e

    def build(node: ast.AST) -> Any:
        if isinstance(node, ast.Name) and node.id.startswith("__leaf"):
            return leaves[int(node.id[6:-2])]
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [build(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            return {ast.literal_eval(k): build(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
        raise ValueError(f"cannot read argument shapes {spec!r}: unexpected {ast.unparse(node)!r}")

    return build(tree)


def load_object(ref: str) -> Any:
    """`pkg.module:name` or `path/to/file.py:name`."""
    module_ref, _, name = ref.rpartition(":")
    if not module_ref or not name:
        raise ValueError(f"expected MODULE:NAME or FILE.py:NAME, got {ref!r}")
    if module_ref.endswith(".py"):
        path = Path(module_ref)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {module_ref}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_ref)
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def from_python(args: argparse.Namespace) -> str:
    import vmlir

    obj = load_object(args.from_python)
    if not isinstance(obj, vmlir.Vmapped):
        obj = vmlir.vmap(
            obj,
            in_axes=ast.literal_eval(args.in_axes),
            out_axes=ast.literal_eval(args.out_axes),
        )
    shapes = parse_arg_shapes(args.args)
    if not isinstance(shapes, tuple):
        shapes = (shapes,)
    compiled = vmlir.compile(obj, pipeline=args.passes)
    lower = {None: compiled.lower, "jvp": compiled.lower_jvp, "vjp": compiled.lower_vjp}
    return lower[args.derivative](*shapes).as_text(args.stage, generic=args.print_op_generic)


def to_jaxlib(args: argparse.Namespace) -> str:
    from vmlir.jaxmlir import parse_with_jaxlib

    text = Path(args.input).read_text() if args.input else sys.stdin.read()
    return parse_with_jaxlib(text, generic=not args.pretty) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vmlir-translate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--from-python", metavar="MODULE:FN", help="trace a Python function")
    mode.add_argument("--to-jaxlib", action="store_true", help="parse MLIR with jaxlib")
    parser.add_argument("input", nargs="?", help="MLIR file for --to-jaxlib (default: stdin)")
    parser.add_argument(
        "--pretty", action="store_true", help="--to-jaxlib: print jaxlib's pretty form"
    )
    parser.add_argument("--args", default="()", help="batched argument shapes, e.g. '(f32[4,3],)'")
    parser.add_argument("--in-axes", default="0", help="a Python literal, as for vmlir.vmap")
    parser.add_argument("--out-axes", default="0", help="a Python literal, as for vmlir.vmap")
    parser.add_argument("--stage", default="batch", help="jax | batch | PASS-NAME | stablehlo")
    parser.add_argument("-p", "--passes", default=None, help="pass pipeline (default: vmlir's)")
    parser.add_argument(
        "--print-op-generic", action="store_true", help="--from-python: print the generic form"
    )
    parser.add_argument(
        "--derivative",
        choices=["jvp", "vjp"],
        help="print the derivative program jax.jvp (jvp) or jax.grad / jax.vjp (vjp) runs",
    )
    args = parser.parse_args(argv)
    try:
        out = from_python(args) if args.from_python else to_jaxlib(args)
    except Exception as e:  # noqa: BLE001 - a CLI reports any failure as one line, no traceback
        print(f"vmlir-translate: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
