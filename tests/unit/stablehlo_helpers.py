"""Shared by the StableHLO dialect tests: an xDSL context with only builtin, func and
our stablehlo dialect, and attributes printed by xDSL and by jaxlib."""

from __future__ import annotations

from io import StringIO

from jax._src.interpreters import mlir as jmlir
from jax._src.lib.mlir import ir
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.ir import Attribute
from xdsl.printer import Printer

from vmlir.dialects import stablehlo as shlo


def context() -> Context:
    ctx = Context(allow_unregistered=False)
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    ctx.load_dialect(shlo.StableHLO)
    return ctx


def print_attr(attr: Attribute) -> str:
    stream = StringIO()
    Printer(stream=stream).print_attribute(attr)
    return stream.getvalue()


def jaxlib_attr(text: str) -> str:
    with jmlir.make_ir_context():
        return str(ir.Attribute.parse(text))
