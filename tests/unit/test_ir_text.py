"""Reading MLIR text: hex float literals (xDSL misreads them) and JAX's debug locations."""

from __future__ import annotations

import inspect
import re
import math
import os

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, FileLineColLoc

import vmlir
from vmlir.frontend.locations import inline_locations
from vmlir.ir import fix_hex_floats, parse_module

DTYPES = {
    "f32": np.float32,
    "f64": np.float64,
    "f16": np.float16,
    "bf16": ml_dtypes.bfloat16,
}
SPECIALS = {"-inf": -np.inf, "+inf": np.inf, "nan": np.nan, "-0.0": -0.0}


def _mlir_hex(value: float, dtype) -> str:
    """The literal MLIR prints for `value`: its bit pattern, most significant byte first."""
    return "0x" + np.array(value, dtype=dtype).tobytes()[::-1].hex().upper()


def _constant_module(body: str, tensor_type: str) -> str:
    return f"""
"builtin.module"() ({{
  "func.func"() <{{function_type = () -> {tensor_type}, sym_name = "main"}}> ({{
    %0 = "stablehlo.constant"() <{{value = dense<{body}> : {tensor_type}}}> : () -> {tensor_type}
    "func.return"(%0) : ({tensor_type}) -> ()
  }}) : () -> ()
}}) : () -> ()
"""


def _parsed_values(body: str, tensor_type: str) -> tuple[float, ...]:
    module = parse_module(_constant_module(body, tensor_type))
    (const,) = [op for op in module.walk() if op.name == "stablehlo.constant"]
    attr = const.properties["value"]
    assert isinstance(attr, DenseIntOrFPElementsAttr)
    return tuple(attr.get_values())


def _assert_same_float(got: float, want: float) -> None:
    """Equal as IEEE values: NaN is NaN, infinities and zeros keep their sign."""
    if math.isnan(want):
        assert math.isnan(got), got
        return
    if math.isinf(want):
        assert math.isinf(got) and np.signbit(got) == np.signbit(want), got
        return
    assert got == want and np.signbit(got) == np.signbit(want), got


@pytest.mark.parametrize("special", SPECIALS, ids=list(SPECIALS))
@pytest.mark.parametrize("elt", DTYPES)
def test_hex_splat_is_read_exactly(elt, special):
    """A hex splat (dense<0x...>) of -inf/+inf/NaN/-0.0 parses to that very value."""
    want = SPECIALS[special]
    (got,) = _parsed_values(_mlir_hex(want, DTYPES[elt]), f"tensor<{elt}>")
    _assert_same_float(got, want)


@pytest.mark.parametrize("elt", DTYPES)
def test_hex_splat_fills_shaped_tensor(elt):
    """A hex splat of a shaped tensor gives the value in every element."""
    got = _parsed_values(_mlir_hex(-np.inf, DTYPES[elt]), f"tensor<2x3x{elt}>")
    assert len(got) == 6
    for g in got:
        _assert_same_float(g, -np.inf)


@pytest.mark.parametrize("elt", DTYPES)
def test_hex_list_is_read_exactly(elt):
    """A list of hex literals keeps each special value, in order."""
    wants = list(SPECIALS.values()) + [1.5]
    body = "[" + ", ".join(_mlir_hex(v, DTYPES[elt]) for v in wants) + "]"
    got = _parsed_values(body, f"tensor<{len(wants)}x{elt}>")
    assert len(got) == len(wants)
    for g, w in zip(got, wants):
        _assert_same_float(g, w)


@pytest.mark.parametrize("elt", DTYPES)
def test_mixed_hex_and_decimal_nested_list(elt):
    """A 2-D list mixing hex and decimal literals (as MLIR prints them) is read exactly."""
    dt = DTYPES[elt]
    body = f"[[{_mlir_hex(-np.inf, dt)}, 2.500000e+00], [-0.000000e+00, {_mlir_hex(np.nan, dt)}]]"
    got = _parsed_values(body, f"tensor<2x2x{elt}>")
    for g, w in zip(got, [-np.inf, 2.5, -0.0, np.nan], strict=True):
        _assert_same_float(g, w)


def test_lowercase_hex_is_read_exactly():
    """Lowercase hex (what xDSL itself prints) is read exactly too."""
    (got,) = _parsed_values("0xff800000", "tensor<f32>")
    _assert_same_float(got, -np.inf)


def test_decimal_dense_is_left_alone():
    """fix_hex_floats does not touch dense attributes without hex literals."""
    text = "dense<[-0.000000e+00, 1.500000e+00]> : tensor<2xf32>"
    assert fix_hex_floats(text) == text


def test_integer_hex_dense_is_left_alone():
    """fix_hex_floats only rewrites float tensors; an integer hex literal stays as written."""
    text = "dense<0x7F> : tensor<i32>"
    assert fix_hex_floats(text) == text


# --- end to end: the -inf that max-reductions start from -------------------------------


def _negative_inputs(seed: int) -> np.ndarray:
    return -np.abs(np.random.default_rng(seed).normal(size=(4, 5))).astype(np.float32) - 1.0


@pytest.mark.parametrize(
    "fn",
    [lambda x: jnp.max(x), jax.nn.logsumexp, jax.nn.softmax, lambda x: jnp.min(x * -1e37)],
    ids=["max", "logsumexp", "softmax", "min"],
)
def test_reductions_with_infinite_init_match_jax(fn, assert_same):
    """max/min-based functions on negative inputs match jax.vmap (init is exactly -inf/+inf)."""
    x = _negative_inputs(0)
    assert_same(vmlir.compile(vmlir.vmap(fn))(x), jax.vmap(fn)(x))


# --- JAX's debug locations ------------------------------------------------------------------


def _located(x):
    return jnp.sin(x) * 2.0


_LOCATED_LINE = inspect.getsourcelines(_located)[1] + 1


def _jax_text_with_locations() -> str:
    lowered = jax.jit(_located).lower(jax.ShapeDtypeStruct((3,), jnp.float32))
    return lowered.compiler_ir("stablehlo").operation.get_asm(
        print_generic_op_form=True, enable_debug_info=True
    )


def test_inline_locations_text_is_parseable():
    """JAX's location aliases (#locN) are resolved inline and parse_module accepts the text."""
    raw = _jax_text_with_locations()
    assert "#loc" in raw
    text = inline_locations(raw)
    assert "#loc" not in text
    module = parse_module(text)
    assert any(op.name == "stablehlo.sine" for op in module.walk())


def test_inline_locations_keep_the_user_line():
    """An op keeps a FileLineColLoc naming this test file and the line that made it."""
    module = parse_module(inline_locations(_jax_text_with_locations()))
    here = os.path.basename(__file__)
    (sine,) = [op for op in module.walk() if op.name == "stablehlo.sine"]
    loc = sine.location
    assert isinstance(loc, FileLineColLoc)
    assert os.path.basename(loc.filename.data) == here
    assert loc.line.data == _LOCATED_LINE


def test_inlined_helper_does_not_rename_the_callers_values():
    """jnp.where is a jit-ed helper (`call @_where(%1, %3, %7)`) in JAX's module: once
    inlined, the values passed to it keep their own numbering, not the helper's %argN."""
    text = (
        vmlir.compile(vmlir.vmap(lambda v: jnp.where(v > 1, v / 2, v * 3 + 1)))
        .lower(np.ones((3, 5), np.float32))
        .as_text("batch")
    )
    body = text.split("batch.vmap", 1)[1]
    assert "%arg0 = %0" in body  # the vmap's own parameter
    assert not re.search(r"%arg\d+(_\d+)? = stablehlo\.", body), body
    assert re.search(r"stablehlo\.select %\d+, %\d+, %\d+ :", body), body
