"""The pretty (custom) syntax: byte-compatible with upstream StableHLO's printer.

jaxlib's own printer is the reference: JAX lowers a program, jaxlib prints it in the pretty
form, we parse that text and print it back, and the two texts agree op for op (after
renaming SSA values, which each printer picks on its own). The generic form keeps working
for every op, and `as_text(stage, generic=True)` gives it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from xdsl.utils.exceptions import ParseError, VerifyException

import vmlir
from vmlir.dialects.stablehlo import ConstantOp
from vmlir.ir import parse_module, print_custom, print_generic
from vmlir.jaxmlir import parse_with_jaxlib

CASES = Path(__file__).parents[1] / "lit" / "dialects" / "stablehlo" / "pretty.mlir"


def _program(x, y, i, b):
    a = jnp.sin(x) + y * 2.0 - jnp.exp(x)
    c = jnp.where(x > y, a, -a)
    d = c.astype(jnp.int32).astype(jnp.float32)
    e = jnp.broadcast_to(d[0], (4, 3)).reshape(3, 4).T
    g = jnp.dot(e, x)
    h = jnp.sum(g, axis=0) + jnp.max(g, axis=1).sum()
    k = lax.cond(b, lambda: h * 2, lambda: h + 1)
    w = lax.while_loop(lambda s: s[0] < 10, lambda s: (s[0] + 1, s[1] * 1.5), (i, k))
    s = lax.switch(i, [lambda: w[1], lambda: w[1] + 1, lambda: w[1] * 3])
    io = jnp.arange(4.0) + s[:4].sum()
    cat = jnp.concatenate([io, io[1:3]])
    batched = jnp.einsum("bij,bjk->bik", x[None], y[None])
    return cat, jnp.argmax(cat), -jnp.inf + cat, lax.rsqrt(cat), cat.astype(jnp.bfloat16), batched


def _jaxlib_pretty() -> str:
    f32 = jax.ShapeDtypeStruct((3, 3), jnp.float32)
    args = (f32, f32, jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), jnp.bool_))
    return str(jax.jit(_program).lower(*args).compiler_ir("stablehlo"))


def _ops(text: str) -> list[str]:
    """The op lines of `text`, SSA values renamed in order of definition (each printer picks
    its own names, and jaxlib reuses them in sibling regions); module, function and
    func.return lines left out (their syntax is not StableHLO's)."""
    env: dict[str, str] = {}
    count = [0]

    def define(name: str) -> str:
        env[name] = f"%@{count[0]}"  # `@` keeps renamed values out of the SSA pattern
        count[0] += 1
        return env[name]

    def use(name: str) -> str:
        return env.get(name) or define(name)

    def binding(m: re.Match[str]) -> str:
        value = use(m.group(2))
        return f"{define(m.group(1))} = {value}"

    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("func.func"):
            for name in re.findall(r"(%\w+):", s):
                define(name)
            continue
        if not s or s.startswith(("module", "builtin.module", "return", "func.return")):
            continue
        results: list[str] = []
        if m := re.match(r"^(%[\w#:]+(?:, %[\w#:]+)*) = (.*)$", s):
            results, s = m.group(1).split(", "), m.group(2)
        s = re.sub(r"^(func\.)?call @", "func.call @", s)
        s = re.sub(r"0x[0-9a-f]+\b", lambda m: "0x" + m.group(0)[2:].upper(), s)
        # while bindings and reducer arguments define the names they introduce
        s = re.sub(r"(%\w+) = (%[\w#]+)", binding, s)
        if s.startswith("reducer"):
            s = re.sub(r"(%\w+)(?=:)", lambda m: define(m.group(1)), s)
        s = re.sub(r"%\w+(?:#\d+)?", lambda m: use(m.group(0)), s)
        for r in results:
            if m := re.match(r"^(%\w+):(\d+)$", r):
                for k in range(int(m.group(2))):
                    define(f"{m.group(1)}#{k}")
            else:
                define(r)
        out.append(s)
    return out


def test_jax_program_prints_as_jaxlib_does():
    """JAX's program in jaxlib's pretty form, parsed and printed by us, is jaxlib's text."""
    reference = _jaxlib_pretty()
    assert "applies stablehlo.add" in reference and "stablehlo.while(" in reference
    ours = print_custom(parse_module(reference))
    assert _ops(ours) == _ops(reference)


def _chlo_program(x, y):
    special = jax.scipy.special
    return special.erf(x), lax.lgamma(x), jnp.sinh(x), jnp.arcsin(x), jnp.nextafter(x, y)


def test_chlo_elementwise_ops_print_as_jaxlib_does():
    """CHLO's elementwise ops (sharing StableHLO's elementwise base) print CHLO's syntax."""
    f32 = jax.ShapeDtypeStruct((4,), jnp.float32)
    reference = str(jax.jit(_chlo_program).lower(f32, f32).compiler_ir("stablehlo"))
    assert "chlo.erf %arg0 : tensor<4xf32> -> tensor<4xf32>" in reference
    ours = print_custom(parse_module(reference))
    assert _ops(ours) == _ops(reference)


def test_jaxlib_prints_our_pretty_text_back_unchanged():
    """Every form in the lit cases: jaxlib parses our print and prints the same text."""
    ours = print_custom(parse_module(CASES.read_text()))
    assert _ops(parse_with_jaxlib(ours, generic=False)) == _ops(ours)


def test_pretty_and_generic_forms_round_trip():
    """pretty -> generic -> pretty gives the same text, and jaxlib parses the generic one."""
    pretty = print_custom(parse_module(CASES.read_text()))
    generic = print_generic(parse_module(pretty))
    assert '"stablehlo.reduce"(' in generic and "stablehlo.reduce(" not in generic
    assert print_custom(parse_module(generic)) == pretty
    assert _ops(parse_with_jaxlib(generic, generic=False)) == _ops(pretty)


def test_hex_float_splat_in_pretty_form_is_exact():
    """A -inf splat written in the pretty form (as jaxlib prints it) parses to -inf."""
    text = "%c = stablehlo.constant dense<0xFF800000> : tensor<2xf32>"
    (op,) = [o for o in parse_module(text).walk() if isinstance(o, ConstantOp)]
    values = np.asarray(op.value.get_values(), dtype=np.float32)  # type: ignore[attr-defined]
    assert np.all(np.isneginf(values)), values


def test_as_text_is_pretty_unless_generic_is_asked():
    """as_text(stage) prints the pretty form; generic=True the generic one, which jaxlib reads."""
    lowered = vmlir.compile(vmlir.vmap(lambda x: jnp.sum(x * x))).lower(np.ones((4, 3), np.float32))
    for stage in ("batch", "stablehlo"):
        pretty, generic = lowered.as_text(stage), lowered.as_text(stage, generic=True)
        assert "stablehlo.multiply %" in pretty and '"stablehlo.multiply"(' not in pretty
        assert '"stablehlo.multiply"(' in generic
    assert "applies stablehlo.add" in lowered.as_text("stablehlo")
    parse_with_jaxlib(lowered.as_text("stablehlo", generic=True))
    assert '"stablehlo.multiply"(' in lowered.as_text("jax", generic=True)
    assert "stablehlo.multiply %" in lowered.as_text("jax")


# --- invalid custom syntax: exact errors ------------------------------------------------

_VMAP = """func.func @f(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x) in_axes AXES out_axes [0] size SIZE : (tensor<4x3xf32>) -> tensor<4x3xf32> {
    batch.yield %v : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}"""


def _f(params: str, body: str) -> str:
    return f"func.func @f({params}) {{\n  {body}\n  func.return\n}}"


INVALID = {
    "vmap_axes_count": (
        _VMAP.replace("AXES", "[0, none]").replace("SIZE", "4"),
        "in_axes must name one axis (or none) per operand: 2 axes for 1 operands",
    ),
    "vmap_axis_out_of_range": (
        _VMAP.replace("AXES", "[2]").replace("SIZE", "4"),
        "in_axes entry 2 is out of range for tensor<4x3xf32>",
    ),
    "reduce_applies_non_commutative": (
        _f(
            "%x: tensor<4xf32>, %z: tensor<f32>",
            "%r = stablehlo.reduce(%x init: %z) applies stablehlo.subtract across dimensions"
            " = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>",
        ),
        "'applies' needs a commutative binary stablehlo op, got stablehlo.subtract",
    ),
    "reduce_precision_format": (
        _f(
            "%x: tensor<4xf32>",
            "%r = stablehlo.reduce_precision %x, format = f5m10 : tensor<4xf32>",
        ),
        "expected exponent mantissa in format e#m#",
    ),
    "while_without_cond": (
        _f(
            "%x: tensor<i32>",
            "%r = stablehlo.while(%i = %x) : tensor<i32>\n  do {\n"
            "    stablehlo.return %i : tensor<i32>\n  }",
        ),
        "Expected 'cond'",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_custom_syntax_is_a_parse_error(case: str):
    """Malformed custom syntax is a ParseError whose last line is the exact message."""
    text, message = INVALID[case]
    with pytest.raises(ParseError) as info:
        parse_module(text)
    assert str(info.value).strip().splitlines()[-1].strip() == message


def test_custom_vmap_is_verified_like_the_generic_one():
    """A well-formed custom batch.vmap with a wrong size fails the verifier's check."""
    module = parse_module(_VMAP.replace("AXES", "[0]").replace("SIZE", "5"))
    with pytest.raises(VerifyException) as info:
        module.verify()
    assert str(info.value) == "operand 0 has size 4 on its mapped axis 0, but axis_size is 5"


# --- every elementwise op of the dialect against jaxlib -------------------------------------

_INT_OPS = {"popcnt", "count_leading_zeros", "not", "and", "or", "xor", "shift_left",
            "shift_right_arithmetic", "shift_right_logical"}  # fmt: skip


def _elementwise_line(op: type, i: int) -> str | None:
    from vmlir.dialects.stablehlo import BinaryElementwiseOp, UnaryElementwiseOp

    short = op.name.split(".", 1)[1]
    t = "tensor<4xi32>" if short in _INT_OPS else "tensor<4xf32>"
    if short in ("real", "imag"):
        return f'%r{i} = "{op.name}"(%c) : (tensor<4xcomplex<f32>>) -> tensor<4xf32>'
    if short == "complex":
        pair = "(tensor<4xf32>, tensor<4xf32>)"
        return f'%r{i} = "{op.name}"(%x, %x) : {pair} -> tensor<4xcomplex<f32>>'
    if short == "is_finite":
        return f'%r{i} = "{op.name}"(%x) : (tensor<4xf32>) -> tensor<4xi1>'
    if short == "reduce_precision":
        return None  # has its own case in the lit file
    a = "%n" if t == "tensor<4xi32>" else "%x"
    if issubclass(op, UnaryElementwiseOp):
        return f'%r{i} = "{op.name}"({a}) : ({t}) -> {t}'
    if issubclass(op, BinaryElementwiseOp):
        return f'%r{i} = "{op.name}"({a}, {a}) : ({t}, {t}) -> {t}'
    return None


def test_every_elementwise_op_prints_as_jaxlib_does():
    """Each unary/binary StableHLO op, generic in, pretty out: jaxlib's pretty print of the
    same op is ours."""
    from vmlir.dialects.stablehlo import StableHLO

    ops = enumerate(StableHLO.operations)
    lines = [line for i, op in ops if (line := _elementwise_line(op, i))]
    assert len(lines) > 40
    text = (
        "func.func @f(%x: tensor<4xf32>, %n: tensor<4xi32>, %c: tensor<4xcomplex<f32>>) {\n  "
        + "\n  ".join(lines)
        + "\n  func.return\n}\n"
    )
    ours = print_custom(parse_module(text))
    assert _ops(ours) == _ops(parse_with_jaxlib(text, generic=False))
