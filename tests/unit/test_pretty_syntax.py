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
from jax import lax

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
