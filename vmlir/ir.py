"""Reading and writing MLIR text with xDSL and our dialects.

Every door into the IR (the Python frontend, `vmlir-opt`, the tests) parses through
`parse_module`, because xDSL 0.74 silently misreads hex float literals inside
`dense<...>` (e.g. `dense<0xFF800000> : tensor<f32>`, the -inf JAX uses as the
initial value of max-reductions, becomes 4.28e9; in a complex pair it fails to parse). `fix_hex_floats` rewrites such
literals into the hex-string form `dense<"0x...">`, which xDSL reads exactly.
"""

from __future__ import annotations

import io
import re

import ml_dtypes
import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.dialects.func import Func
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.printer import Printer

_FLOAT_DTYPES = {
    "f16": np.dtype(np.float16),
    "bf16": np.dtype(ml_dtypes.bfloat16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
}

# `dense<BODY> : tensor<...xELT>` where BODY has no nested `<`/`>` (dense bodies never do).
_DENSE_RE = re.compile(
    r"dense<(?P<body>[^<>\"]*)>(?P<sep>\s*:\s*)(?P<type>tensor<(?P<shape>(?:[0-9?]+x)*)(?P<elt>bf16|f16|f32|f64|complex<(?:f32|f64)>)>)"
)
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_TOKEN_RE = re.compile(r"0x[0-9a-fA-F]+|[-+]?(?:inf|nan|[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?)")


def _dense_to_hex(match: re.Match[str]) -> str:
    body = match.group("body")
    if not _HEX_RE.search(body):
        return match.group(0)
    elt = match.group("elt")
    # A complex element is its real then its imaginary part, each a float of that width.
    dtype = _FLOAT_DTYPES[elt.removeprefix("complex<").removesuffix(">")]
    raw = bytearray()
    for token in _TOKEN_RE.findall(body):
        if token.startswith("0x"):
            raw += int(token, 16).to_bytes(dtype.itemsize, "little")
        else:
            raw += np.array(float(token), dtype=dtype).tobytes()
    # A single element is a splat; MLIR and xDSL both read a one-element hex string so.
    hex_body = "0x" + raw.hex().upper()
    return f'dense<"{hex_body}">{match.group("sep")}{match.group("type")}'


def fix_hex_floats(text: str) -> str:
    """Rewrite hex float literals in dense float attributes into the hex-string form."""
    return _DENSE_RE.sub(_dense_to_hex, text)


def make_context(allow_unregistered: bool = False) -> Context:
    """A context with builtin, func and our dialects (stablehlo, chlo, batch) loaded."""
    from vmlir.dialects.batch import Batch
    from vmlir.dialects.chlo import CHLO
    from vmlir.dialects.stablehlo import StableHLO

    ctx = Context(allow_unregistered=allow_unregistered)
    for dialect in (Builtin, Func, StableHLO, CHLO, Batch):
        ctx.load_dialect(dialect)
    return ctx


_SHARED_CONTEXTS: dict[bool, Context] = {}


def shared_context(allow_unregistered: bool = False) -> Context:
    """One context per process for the compiler's own use (the importer and the
    pipeline of `vmlir.compile`): loading the five dialects into a new one took ~0.3 ms
    per compilation (~5 ms the first time). Callers must not load dialects into it; `make_context` gives a
    context of one's own."""
    if not _SHARED_CONTEXTS:
        # The second is a copy of the first (loading the dialects into a context costs
        # ~5 ms in a fresh process), made before either is used: a context that allows
        # unregistered ops remembers each one it meets.
        strict = make_context()
        loose = strict.clone()
        loose.allow_unregistered = True
        _SHARED_CONTEXTS.update({False: strict, True: loose})
    return _SHARED_CONTEXTS[allow_unregistered]


def parse_module(text: str, ctx: Context | None = None, name: str = "<input>") -> ModuleOp:
    """Parse MLIR text (generic or custom form) into a verified-parseable module."""
    ctx = ctx or make_context()
    return Parser(ctx, fix_hex_floats(text), name).parse_module()


def print_generic(op: Operation) -> str:
    """The generic form of `op`, which jaxlib's MLIR parser accepts."""
    out = io.StringIO()
    Printer(stream=out, print_generic_format=True).print_op(op)
    return out.getvalue() + "\n"


def print_custom(op: Operation) -> str:
    """The custom (pretty) form of `op`, for people reading the IR."""
    out = io.StringIO()
    Printer(stream=out).print_op(op)
    return out.getvalue() + "\n"
