"""stablehlo.fft, ApproxTopK and stablehlo.composite under vmlir.vmap, against jax.vmap;
and constants of every element type (the complex zero of a skipped masked region).

The fft cases run as one program per in_axes configuration (dict in, dict out).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from difftest import assert_same
from jax import lax
from xdsl.dialects.builtin import (
    BFloat16Type,
    ComplexType,
    Float16Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    f32,
    i1,
    i32,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Region
from xdsl.rewriter import InsertPoint

import vmlir
from vmlir.ir import print_generic
from vmlir.passes.builder import Builder
from vmlir.runtime import xla

B = 3

FFTS = {
    # name: (function, per-example shape, complex input)
    "fft": (jnp.fft.fft, (8,), True),
    "ifft": (jnp.fft.ifft, (2, 8), True),
    "rfft": (jnp.fft.rfft, (8,), False),
    "irfft": (jnp.fft.irfft, (5,), True),
    "fft2": (jnp.fft.fft2, (4, 6), True),
    "rfft2": (jnp.fft.rfft2, (4, 6), False),
    "irfft2": (jnp.fft.irfft2, (4, 4), True),
    "fftn": (jnp.fft.fftn, (2, 4, 4), True),
    "ifftn": (jnp.fft.ifftn, (2, 3, 4), True),
    "rfftn": (jnp.fft.rfftn, (2, 4, 6), False),
    "irfftn": (jnp.fft.irfftn, (2, 4, 3), True),
    "hfft": (jnp.fft.hfft, (5,), True),
    "ihfft": (jnp.fft.ihfft, (8,), False),
    "fft_axis0": (lambda x: jnp.fft.fft(x, axis=0), (8, 3), True),
    "lax_fft": (lambda x: lax.fft(x, "IFFT", (3, 4)), (2, 3, 4), True),
}


def _example(rng, shape, complex_):
    x = rng.normal(size=shape)
    if complex_:
        x = x + 1j * rng.normal(size=shape)
    return x.astype(np.complex64 if complex_ else np.float32)


@pytest.mark.parametrize("where", ["first", "last"])
def test_every_fft_type_and_rank(where: str):
    """FFT, IFFT, RFFT, IRFFT over 1 to 3 trailing dims, the batch axis first or last
    (inside the transformed dims: moved out of them)."""
    rng = np.random.default_rng(0)
    args, axes = {}, {}
    for name, (_, shape, complex_) in FFTS.items():
        axis = 0 if where == "first" else len(shape)
        args[name] = np.stack([_example(rng, shape, complex_) for _ in range(B)], axis=axis)
        axes[name] = axis

    def f(xs):
        return {name: FFTS[name][0](x) for name, x in xs.items()}

    want = jax.jit(jax.vmap(f, in_axes=(axes,)))(args)
    got = vmlir.compile(vmlir.vmap(f, in_axes=(axes,)))(args)
    assert_same(got, want, rtol=1e-4, atol=1e-4)


def test_approx_top_k():
    """approx_max_k / approx_min_k (ApproxTopK custom_call, with its comparator function),
    batch axis 1, against jax.vmap."""
    x = np.random.default_rng(1).normal(size=(16, 5)).astype(np.float32)

    def f(v):
        return lax.approx_max_k(v, 3), lax.approx_min_k(v, 2)

    got = vmlir.compile(vmlir.vmap(f, in_axes=1))(x)
    assert_same(got, jax.vmap(f, in_axes=1)(x))


def test_composite_keeps_its_name_and_batches_its_decomposition():
    """lax.composite (jax.vmap has no rule for it): the result is what the decomposition
    computes batched, and the final program still holds the named composite."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)

    def decomposition(a, b):
        return jnp.sin(a) * 2 + b

    def f(a, b):
        return lax.composite(decomposition, name="my.sin2")(a, b)

    compiled = vmlir.compile(vmlir.vmap(f, in_axes=(1, None)))
    assert_same(compiled(x.T, y), jax.vmap(decomposition, in_axes=(1, None))(x.T, y))
    final = compiled.lower(x.T, y).as_text("stablehlo")
    assert '"stablehlo.composite"' in final and 'name = "my.sin2"' in final


def test_scaled_dot_composite():
    """lax.scaled_dot (the xla.scaled_dot composite), some operands shared."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 4, 64)).astype(jnp.float8_e4m3fn)
    b = rng.normal(size=(64, 3)).astype(jnp.float8_e4m3fn)
    sa = np.ones((2, 4, 2), jnp.float8_e8m0fnu)
    sb = np.ones((2, 3), jnp.float8_e8m0fnu)

    def f(x, y, s, t):
        return lax.scaled_dot(x, y, lhs_scale=s, rhs_scale=t, preferred_element_type=jnp.float32)

    axes = (0, None, 0, None)
    got = vmlir.compile(vmlir.vmap(f, in_axes=axes))(a, b, sa, sb)
    assert_same(got, jax.vmap(f, in_axes=axes)(a, b, sa, sb))


def _big_branch(v):
    for _ in range(12):
        v = jnp.sin(v) * 0.5 + v * 0.25
    return v


def test_skipped_masked_branch_with_complex_values():
    """A batched-predicate cond over complex64 values with a branch big enough for region
    skipping: the skip path returns complex zeros (this used to raise TypeError)."""
    rng = np.random.default_rng(4)
    p = rng.normal(size=6).astype(np.float32)
    x = (rng.normal(size=(6, 3)) + 1j * rng.normal(size=(6, 3))).astype(np.complex64)

    def f(q, v):
        return lax.cond(q > 0, _big_branch, lambda w: w, v)

    compiled = vmlir.compile(vmlir.vmap(f))
    assert "batch.any" in compiled.lower(p, x).as_text("batch-mask-control-flow")
    assert_same(compiled(p, x), jax.vmap(f)(p, x), rtol=1e-4, atol=1e-5)


ui8 = IntegerType(8, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
CONSTANTS = [
    # element type, numpy dtype, values; x64 types need jax_enable_x64
    (ComplexType(f32), np.complex64, [0, 1.5 - 2j, complex(float("-inf"), 1)]),
    (ComplexType(Float64Type()), np.complex128, [0, 1e200 + 3j]),
    (i1, np.bool_, [True, False]),
    (ui8, np.uint8, [0, 255]),
    (ui32, np.uint32, [7, 2**32 - 1]),
    (i32, np.int32, [-3, 0]),
    (BFloat16Type(), jnp.bfloat16, [1.5, float("-inf")]),
    (Float16Type(), np.float16, [float("inf"), -0.25]),
    (f32, np.float32, [float("nan"), 0]),
    (Float64Type(), np.float64, [1e300, -1e-300]),
]


def _constant_program(element_type, shape, value) -> str:
    t = TensorType(element_type, shape)
    block = Block()
    c = Builder(InsertPoint.at_end(block)).constant(t, value)
    block.add_op(ReturnOp(c))
    return print_generic(ModuleOp([FuncOp("main", ([], [t]), Region(block))]))


@pytest.mark.parametrize("case", range(len(CONSTANTS)), ids=lambda i: str(CONSTANTS[i][1].__name__))
def test_builder_constants_of_every_element_type(case: int):
    """Builder.constant of every element type XLA runs (complex, bool, unsigned, bf16, f16,
    f64 with x64), scalar and broadcast, gives exactly the value asked for."""
    element_type, dtype, values = CONSTANTS[case]
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for value in values:
            for shape in ([], [2, 3]):
                text = _constant_program(element_type, shape, value)
                aval = jax.core.ShapedArray(tuple(shape), dtype)
                (got,) = jax.jit(lambda t=text, a=aval: xla.call(t, [], (a,)))()
                want = np.full(shape, value, dtype=dtype)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(np.asarray(got), want)


def test_composite_definition_round_trips_through_jaxlib():
    """JAX's text with a stablehlo.composite parses into our CompositeOp, verifies, and
    prints what jaxlib reads as the very module JAX printed."""
    from vmlir.dialects.stablehlo import CompositeOp
    from vmlir.ir import parse_module
    from vmlir.jaxmlir import parse_with_jaxlib

    f = lax.composite(lambda y, k: jnp.cos(y) + k, name="my.cos1", version=2)
    text = (
        jax.jit(lambda y: f(y, k=3))
        .lower(jax.ShapeDtypeStruct((4,), np.float32))
        .compiler_ir()
        .operation.get_asm(print_generic_op_form=True, enable_debug_info=False)
    )
    module = parse_module(text)
    module.verify()
    (op,) = [o for o in module.walk() if isinstance(o, CompositeOp)]
    assert op.composite_name.data == "my.cos1"
    assert parse_with_jaxlib(print_generic(module)) == parse_with_jaxlib(text)
