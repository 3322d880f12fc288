"""The chlo dialect (vmlir.dialects.chlo) and the batching of the functions that emit it.

Pinned here: every chlo op JAX 0.10.2 emits is read by our parser from what JAX prints
and printed back into text that jaxlib reads (and so are the StableHLO ops JAX emits
next to them that dialects/stablehlo/ gained with this dialect); the functions that
lower to chlo ops batch like jax.vmap for every position of the batch axis (elementwise
ones through the shared elementwise rule, top_k through its own rule); and the
verifiers reject malformed ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as sp
import numpy as np
import pytest
from jax import lax
from xdsl.utils.exceptions import ParseError, VerifyException

import vmlir
from vmlir.dialects import chlo
from vmlir.dialects import stablehlo as hlo
from vmlir.frontend.locations import inline_locations
from vmlir.ir import make_context, parse_module, print_generic
from vmlir.jaxmlir import parse_with_jaxlib

from difftest import axis_variants, check

F = np.float32


def _f32(*shape: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, F)


def _c64(*shape: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, np.complex64)


# ---------------------------------------------------------------------------
# Every emitted chlo op: JAX's text -> our IR -> generic text -> jaxlib
# ---------------------------------------------------------------------------

_tri_conj = lambda a, b: lax.linalg.triangular_solve(  # noqa: E731
    a, b, left_side=True, lower=True, conjugate_a=True
)

# op name -> (a function JAX lowers to it, argument shapes, platform to lower for).
# chlo.conj only appears next to triangular_solve, which on CPU is a LAPACK
# custom_call (with attributes we do not read), so it is lowered for GPU.
Emitter = tuple[Callable[..., Any], list[jax.ShapeDtypeStruct], str]

EMITTERS: dict[str, Emitter] = {
    "chlo.erf": (lax.erf, [_f32(3)], "cpu"),
    "chlo.erfc": (sp.erfc, [_f32(3)], "cpu"),
    "chlo.erf_inv": (sp.erfinv, [_f32(3)], "cpu"),
    "chlo.lgamma": (sp.gammaln, [_f32(3)], "cpu"),
    "chlo.digamma": (sp.digamma, [_f32(3)], "cpu"),
    "chlo.sinh": (jnp.sinh, [_f32(3)], "cpu"),
    "chlo.cosh": (jnp.cosh, [_f32(3)], "cpu"),
    "chlo.asin": (jnp.arcsin, [_f32(3)], "cpu"),
    "chlo.acos": (jnp.arccos, [_c64(3)], "cpu"),
    "chlo.atan": (jnp.arctan, [_f32(3)], "cpu"),
    "chlo.asinh": (jnp.arcsinh, [_c64(3)], "cpu"),
    "chlo.acosh": (jnp.arccosh, [_f32(3)], "cpu"),
    "chlo.atanh": (jnp.arctanh, [_f32(3)], "cpu"),
    "chlo.square": (jnp.square, [_f32(3)], "cpu"),
    "chlo.conj": (_tri_conj, [_c64(3, 3), _c64(3, 2)], "cuda"),
    "chlo.bessel_i1e": (sp.i1e, [_f32(3)], "cpu"),
    "chlo.next_after": (jnp.nextafter, [_f32(3), _f32(3)], "cpu"),
    "chlo.polygamma": (lambda x: sp.polygamma(1, x), [_f32(3)], "cpu"),
    "chlo.zeta": (sp.zeta, [_f32(3), _f32(3)], "cpu"),
    "chlo.mulhi": (lax.mulhi, [jax.ShapeDtypeStruct((3,), np.uint32)] * 2, "cpu"),
    "chlo.top_k": (lambda x: lax.top_k(x, 2), [_f32(4, 5)], "cpu"),
}


def _max_pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID").sum()


def _conv_nhwc(x, w):
    return lax.conv_general_dilated(
        x, w, (2, 1), [(1, 1), (0, 2)], lhs_dilation=(1, 2), rhs_dilation=(2, 1),
        dimension_numbers=("NHWC", "HWIO", "NCHW"),
    )


def _rbg_normal(key_data):
    return jax.random.normal(jax.random.wrap_key_data(key_data, impl="rbg"), (3,))


# The StableHLO ops JAX emits next to the chlo ones that dialects/stablehlo/ lacked.
STABLEHLO_EMITTERS: dict[str, Emitter] = {
    "reduce_precision": (lambda x: lax.reduce_precision(x, 5, 10), [_f32(3)], "cpu"),
    "convolve": (jnp.convolve, [_f32(8), _f32(3)], "cpu"),
    "conv_nhwc_dilated": (_conv_nhwc, [_f32(1, 7, 7, 2), _f32(3, 3, 2, 4)], "cpu"),
    "conv_grouped": (
        lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", feature_group_count=2),
        [_f32(1, 4, 5, 5), _f32(4, 2, 3, 3)],
        "cpu",
    ),
    "rfft": (jnp.fft.rfft, [_f32(8)], "cpu"),
    "ifft2": (jnp.fft.ifft2, [_c64(4, 4)], "cpu"),
    "triangular_solve": (
        lambda a, b: jax.scipy.linalg.solve_triangular(a, b, trans=1, unit_diagonal=True),
        [_f32(3, 3), _f32(3)],
        "cuda",
    ),
    "rng_uniform": (lambda a, b: lax.rng_uniform(a, b, (3,)), [_f32(), _f32()], "cpu"),
    "rng_bit_generator": (_rbg_normal, [jax.ShapeDtypeStruct((4,), np.uint32)], "cpu"),
    "select_and_scatter": (jax.grad(_max_pool), [_f32(1, 1, 6, 6)], "cpu"),
}


def _jax_text(emitter: Emitter, debug_info: bool) -> str:
    fn, avals, platform = emitter
    lowered = jax.jit(fn).trace(*avals).lower(lowering_platforms=(platform,))
    return lowered.compiler_ir("stablehlo").operation.get_asm(
        print_generic_op_form=True, enable_debug_info=debug_info
    )


def test_every_chlo_op_has_an_emitter():
    """EMITTERS covers exactly the ops the dialect defines, so a new definition
    cannot go untested against JAX's own output."""
    assert {op.name for op in chlo.CHLO.operations} == set(EMITTERS)


@pytest.mark.parametrize("name", sorted(EMITTERS))
def test_jax_output_parses_and_round_trips_through_jaxlib(name: str):
    """JAX's text for a function emitting `name` (debug locations inlined, as the
    frontend does) parses, verifies, and prints into text jaxlib reads back with the op."""
    text = _jax_text(EMITTERS[name], debug_info=True)
    assert f'"{name}"' in text, f"JAX no longer emits {name} for this function"
    module = parse_module(inline_locations(text))
    module.verify()
    ops = [op for op in module.walk() if op.name == name]
    assert ops and all(type(op).__module__ == chlo.__name__ for op in ops)
    assert f'"{name}"' in parse_with_jaxlib(print_generic(module))


@pytest.mark.parametrize("case", sorted(STABLEHLO_EMITTERS))
def test_new_stablehlo_ops_print_what_jax_printed(case: str):
    """Our print of JAX's module is, to jaxlib, the very module JAX printed: every
    property of the new ops (conv layouts, fft/rng/transpose enums, regions) survives."""
    text = _jax_text(STABLEHLO_EMITTERS[case], debug_info=False)
    module = parse_module(text)
    module.verify()
    assert parse_with_jaxlib(print_generic(module)) == parse_with_jaxlib(text)


@pytest.mark.parametrize(
    "layout", ["[b, 0, 0, f]x[o, i, 0, 1]->[b, f, 0, 1]", "[b, f, 0]x[o, b, 0]->[b, f, 0]"]
)
def test_conv_dimension_numbers_reject_a_malformed_layout(layout: str):
    """A layout naming a dimension twice, or with another tensor's letter, is a parse
    error at the layout rather than a wrong convolution later."""
    text = f'"test.op"() {{dn = #stablehlo.conv<{layout}>}} : () -> ()'
    with pytest.raises(ParseError, match="exactly once each"):
        parse_module(text, ctx=make_context(allow_unregistered=True))


def test_elementwise_chlo_ops_share_the_elementwise_base():
    """Every chlo op but top_k is an ElementwiseOp, which is what gives it the
    elementwise batching rule with no entry in the rule table."""
    for op in chlo.CHLO.operations:
        assert issubclass(op, hlo.ElementwiseOp) == (op is not chlo.TopKOp), op.name


def test_top_k_builder_infers_values_and_i32_indices():
    """TopKOp(x, k) replaces the last dimension by k; indices are int32 like JAX's."""
    module = parse_module(
        '"func.func"() <{function_type = (tensor<2x5xf32>) -> (), sym_name = "f"}> ({\n'
        "^bb0(%x: tensor<2x5xf32>):\n"
        '  "func.return"() : () -> ()\n'
        "}) : () -> ()"
    )
    x = next(op for op in module.walk() if op.name == "func.func").regions[0].block.args[0]
    op = chlo.TopKOp(x, 3)
    op.verify()
    assert [str(r.type) for r in op.results] == ["tensor<2x3xf32>", "tensor<2x3xi32>"]


_BAD_OPS = {
    "k larger than the last dimension": (
        '"chlo.top_k"(%m) <{k = 6 : i64}> : (tensor<2x5xf32>) -> '
        "(tensor<2x6xf32>, tensor<2x6xi32>)",
        "out of range",
    ),
    "indices not i32": (
        '"chlo.top_k"(%m) <{k = 2 : i64}> : (tensor<2x5xf32>) -> '
        "(tensor<2x2xf32>, tensor<2x2xi64>)",
        "indices must be i32",
    ),
    "wrong result shape": (
        '"chlo.top_k"(%m) <{k = 2 : i64}> : (tensor<2x5xf32>) -> '
        "(tensor<2x3xf32>, tensor<2x3xi32>)",
        "result shape",
    ),
    "binary operands of two shapes": (
        '"chlo.next_after"(%m, %v) : (tensor<2x5xf32>, tensor<5xf32>) -> tensor<2x5xf32>',
        "does not match",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_OPS))
def test_verifier_rejects(case: str):
    """Malformed chlo ops fail verification with a message naming the problem; binary
    ops in particular refuse implicit broadcasting, which the elementwise rule assumes."""
    op_text, message = _BAD_OPS[case]
    results = "%r:2" if "top_k" in op_text else "%r"
    text = (
        '"func.func"() <{function_type = (tensor<2x5xf32>, tensor<5xf32>) -> (), '
        'sym_name = "f"}> ({\n'
        "^bb0(%m: tensor<2x5xf32>, %v: tensor<5xf32>):\n"
        f"  {results} = {op_text}\n"
        '  "func.return"() : () -> ()\n'
        "}) : () -> ()"
    )
    with pytest.raises(VerifyException, match=message):
        parse_module(text).verify()


# ---------------------------------------------------------------------------
# Differential tests against jax.vmap, batch axis at every position
# ---------------------------------------------------------------------------

# Inputs are standard normal; functions with a smaller domain map them into it.
UNARY: dict[str, Callable[[Any], Any]] = {
    "erf": sp.erf,
    "erfc": sp.erfc,
    "erfinv": lambda x: sp.erfinv(0.9 * jnp.tanh(x)),
    "gammaln": sp.gammaln,
    "digamma": lambda x: sp.digamma(0.5 + jnp.abs(x)),
    "sinh": jnp.sinh,
    "cosh": jnp.cosh,
    "tan": jnp.tan,
    "arcsin": lambda x: jnp.arcsin(jnp.tanh(x)),
    "arccos": lambda x: jnp.arccos(jnp.tanh(x)),
    "arctan": jnp.arctan,
    "arcsinh": jnp.arcsinh,
    "arccosh": lambda x: jnp.arccosh(1.0 + jnp.abs(x)),
    "arctanh": lambda x: jnp.arctanh(0.9 * jnp.tanh(x)),
    "arcsinh_complex": lambda x: jnp.arcsinh(lax.complex(x, 2.0 * x)),
    "square": jnp.square,
    "isinf": lambda x: jnp.isinf(jnp.where(x > 0.3, jnp.inf, jnp.where(x < -0.3, -jnp.inf, x))),
    "isneginf": lambda x: jnp.isneginf(jnp.where(x > 0, jnp.inf, -jnp.inf)),
    "isposinf": lambda x: jnp.isposinf(jnp.where(x > 0, jnp.inf, -jnp.inf)),
    "i1e": sp.i1e,
    "i1": sp.i1,
    "polygamma": lambda x: sp.polygamma(1, 0.5 + jnp.abs(x)),
    "gelu_tanh": jax.nn.gelu,
    "gelu_exact": lambda x: jax.nn.gelu(x, approximate=False),
    "ndtr": sp.ndtr,
    "hypot": lambda x: jnp.hypot(x, 2.0),
    "reduce_precision": lambda x: lax.reduce_precision(x, 5, 10),
}

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "nextafter": jnp.nextafter,
    "zeta": lambda x, q: sp.zeta(1.5 + x * x, 0.5 + jnp.abs(q)),
    "polygamma_batched_n": lambda n, x: sp.polygamma(jnp.abs(n) % 3, 0.5 + jnp.abs(x)),
    # Large factors so the products really overflow into the high word.
    "mulhi_i32": lambda a, b: lax.mulhi(a * 1_000_003, b * 999_983),
    "mulhi_u32": lambda a, b: lax.mulhi(
        a.astype(jnp.uint32) * jnp.uint32(4_000_000_007),
        b.astype(jnp.uint32) * jnp.uint32(3_000_000_019),
    ),
}
_INT_BINARY = {"polygamma_batched_n", "mulhi_i32", "mulhi_u32"}
# Long expansions that XLA compiles slowly: scalar per-example operands, so 3 placements
# instead of 8 (nextafter and mulhi cover the batch axis behind a dimension).
_SCALAR_BINARY = {"polygamma_batched_n", "zeta"}

# Series evaluated in a stablehlo.while around chlo.lgamma: slow to compile, so one
# mixed placement each (one operand uniform or batched at axis 1, the other at 0).
SERIES: dict[str, tuple[Callable[[Any, Any], Any], tuple[int | None, int | None]]] = {
    "gammainc": (lambda a, x: sp.gammainc(0.5 + jnp.abs(a), jnp.abs(x)), (None, 1)),
    "gammaincc": (lambda a, x: sp.gammaincc(0.5 + jnp.abs(a), jnp.abs(x)), (1, 0)),
}


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def _check_all_axes(fn: Callable[..., Any], per_example: list[np.ndarray], rng) -> None:
    for args, axes in axis_variants(per_example, size=3, rng=rng):
        check(fn, args, in_axes=axes, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_jax_vmap(name: str):
    """Each function batches like jax.vmap with the batch axis in front and behind."""
    rng = _rng(name)
    _check_all_axes(UNARY[name], [rng.normal(size=(4,)).astype(F)], rng)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_jax_vmap(name: str):
    """Each operand batched at either axis or unbatched, in every combination."""
    rng = _rng(name)
    shape = () if name in _SCALAR_BINARY else (4,)
    if name in _INT_BINARY:
        per_example = [rng.integers(-50, 50, size=shape).astype(np.int32) for _ in range(2)]
    else:
        per_example = [rng.normal(size=shape).astype(F) for _ in range(2)]
    _check_all_axes(BINARY[name], per_example, rng)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_series_functions_match_jax_vmap(name: str):
    """gammainc/gammaincc: chlo.lgamma inside a while loop batches like jax.vmap."""
    fn, axes = SERIES[name]
    rng = _rng(name)
    args = []
    for a in axes:
        shape = [4]
        if a is not None:
            shape.insert(a, 3)
        args.append(rng.normal(size=shape).astype(F))
    check(fn, args, in_axes=axes, rtol=1e-4, atol=1e-5)


TOP_K_CASES = {
    "vector": ((5,), -1),
    "matrix": ((4, 5), -1),
    "matrix_axis0": ((5, 4), 0),
}


@pytest.mark.parametrize("case", sorted(TOP_K_CASES))
def test_top_k_matches_jax_vmap(case: str):
    """k=2 values and indices, with the batch axis on the top_k dimension or not; an
    `axis=` other than the last reaches us as transposes around chlo.top_k."""
    shape, axis = TOP_K_CASES[case]
    rng = _rng(case)
    fn = lambda x: lax.top_k(x, 2, axis=axis)  # noqa: E731
    _check_all_axes(fn, [rng.normal(size=shape).astype(F)], rng)


@pytest.mark.parametrize(("in_axis", "moved"), [(0, False), (1, False), (2, True)])
def test_top_k_moves_the_batch_axis_only_off_the_last_dimension(in_axis: int, moved: bool):
    """A batch axis on top_k's dimension is transposed to the front; anywhere else the
    batched top_k runs where the batch axis already is, with no transpose."""
    shape = [4, 5]
    shape.insert(in_axis, 3)
    x = np.zeros(shape, F)
    compiled = vmlir.compile(vmlir.vmap(lambda v: lax.top_k(v, 2), in_axes=in_axis))
    text = compiled.lower(x).as_text("stablehlo", generic=True)
    before_top_k = text[: text.index('"chlo.top_k"')]
    assert ('"stablehlo.transpose"' in before_top_k) == moved
