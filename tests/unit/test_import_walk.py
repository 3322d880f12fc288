"""Importing JAX's module by walking jaxlib's objects (vmlir/frontend/from_jaxlib.py), and
printing the final module for jaxlib (vmlir/emit.py): both agree with the text path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax.interpreters import mlir
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, UnregisteredOp

import vmlir
from vmlir.dialects.stablehlo import ConstantOp
from vmlir.emit import emit_generic
from vmlir.frontend.from_jaxlib import module_from_jaxlib
from vmlir.frontend.importer import _parse, import_per_example
from vmlir.ir import parse_module, print_generic
from vmlir.jaxmlir import parse_with_jaxlib


def _helper(x):
    return jnp.sin(x) * 2.0


def _programs():
    def softmax_where(x):
        return jax.nn.softmax(x) + jnp.where(x > 0, -jnp.inf, x)

    def loop(x):
        def cond(s):
            return s[1] < 5

        def body(s):
            return (s[0] * 1.5 + jnp.float32(np.nan) * 0, s[1] + 1)

        return jax.lax.while_loop(cond, body, (x, 0))[0]

    def branches(x):
        return jax.lax.cond(jnp.sum(x) > 0, lambda v: v - 1.0, lambda v: -v, x)

    def constants(x):
        c = jnp.array([-np.inf, np.inf, -0.0, 1.5], jnp.float32)
        b = jnp.array([True, False, True, True])
        h = jnp.array([-np.inf, 2.0, -0.0, 3.0], jnp.float16)
        i = jnp.array([1, -2, 3, 2**40], jnp.int64) if jax.config.jax_enable_x64 else jnp.array([1, -2, 3, 7])
        return jnp.where(b, x * c, x) + h.astype(jnp.float32) + i.astype(jnp.float32) + jnp.max(x)

    def jitted_helper(x):
        return jax.jit(_helper)(x) + jnp.min(x)

    def bf16(x):
        return (x.astype(jnp.bfloat16) * jnp.bfloat16(-np.inf)).astype(jnp.float32)

    def complex_constant(x):
        # jaxlib aborts the process when a complex dense attribute is read from its Python
        # objects: the importer reads such constants from their text instead.
        z = x.astype(jnp.complex64) * jnp.complex64(1.5 - 2j) + jnp.complex64(-0.0 + 1j)
        return jnp.real(z * jnp.conj(z))

    return [softmax_where, loop, branches, constants, jitted_helper, bf16, complex_constant]


def _lowered(fn):
    lowered = jax.jit(fn).lower(jax.ShapeDtypeStruct((4,), jnp.float32))
    return lowered.compiler_ir("stablehlo")


@pytest.mark.parametrize("fn", _programs(), ids=lambda f: f.__name__)
def test_walk_builds_what_the_text_parser_builds(fn):
    """Op for op: the same names, properties, attributes, result types and locations as
    parsing JAX's printed text (with vmlir.ir's hex-float fix)."""
    module = _lowered(fn)
    text = module.operation.get_asm(print_generic_op_form=True, enable_debug_info=True)
    by_text = {f.sym_name.data: f for f in _parse(text).ops}
    by_walk = {f.sym_name.data: f for f in module_from_jaxlib(module).ops}
    assert by_text.keys() == by_walk.keys()
    for name, f in by_text.items():
        g = by_walk[name]
        assert f.function_type == g.function_type
        for a, b in zip(f.body.walk(), g.body.walk(), strict=True):
            assert (a.name, a.properties, a.attributes) == (b.name, b.properties, b.attributes)
            assert [r.type for r in a.results] == [r.type for r in b.results]
            assert a.location == b.location


_SPECIALS = [-np.inf, np.inf, np.nan, -0.0]


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
@pytest.mark.parametrize("value", _SPECIALS, ids=["-inf", "inf", "nan", "-0"])
def test_special_splats_are_bit_exact(dtype, value):
    """A splat of -inf/inf/NaN/-0.0 in each float type imports as its exact bit pattern."""
    elt = {np.float16: "f16", ml_dtypes.bfloat16: "bf16", np.float32: "f32", np.float64: "f64"}[dtype]
    bits = np.array(value, dtype=dtype).tobytes()[::-1].hex().upper()
    text = (
        '"builtin.module"() ({\n'
        f'  "func.func"() <{{function_type = () -> tensor<2x{elt}>, sym_name = "main"}}> ({{\n'
        f'    %0 = "stablehlo.constant"() <{{value = dense<0x{bits}> : tensor<2x{elt}>}}> : () -> tensor<2x{elt}>\n'
        f'    "func.return"(%0) : (tensor<2x{elt}>) -> ()\n'
        "  }) : () -> ()\n"
        "}) : () -> ()\n"
    )
    ctx = mlir.make_ir_context()
    module = mlir.ir.Module.parse(text, context=ctx)
    (const,) = [op for op in module_from_jaxlib(module).walk() if isinstance(op, ConstantOp)]
    attr = const.value
    assert isinstance(attr, DenseIntOrFPElementsAttr)
    assert attr.data.data == np.array([value, value], dtype=dtype).tobytes()


def test_op_no_dialect_defines_is_kept_by_name():
    """Dispatch is by op name through the context: an op no dialect defines becomes an
    unregistered op of that name (vectorization names it if it meets a batched value)."""
    text = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "mydialect.frob"(%arg0) {level = 3 : i64} : (tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""
    ctx = mlir.make_ir_context()
    ctx.allow_unregistered_dialects = True
    module = mlir.ir.Module.parse(text, context=ctx)
    (frob,) = [op for op in module_from_jaxlib(module).walk() if isinstance(op, UnregisteredOp)]
    assert frob.op_name.data == "mydialect.frob"
    assert "level" in frob.properties


def test_shardy_mesh_at_top_level_is_dropped():
    """A top-level `sdy.mesh` (JAX adds one around typed PRNG keys) is read and dropped."""
    text = """
"builtin.module"() ({
  "sdy.mesh"() <{mesh = #sdy.mesh<[]>, sym_name = "empty_mesh"}> : () -> ()
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "stablehlo.sine"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""
    module = mlir.ir.Module.parse(text, context=mlir.make_ir_context())
    batched = import_per_example(module, [0], [0], 4)
    names = [op.name for op in batched.walk()]
    assert "stablehlo.sine" in names
    assert not any(isinstance(op, UnregisteredOp) for op in batched.walk())


def test_compiled_max_reduction_keeps_minus_inf(assert_same):
    """End to end through the walk: max of all-negative rows (init -inf) matches jax.vmap."""
    x = -np.abs(np.random.default_rng(0).normal(size=(3, 5))).astype(np.float32) - 1e30
    assert_same(vmlir.compile(vmlir.vmap(jnp.max))(x), jax.vmap(jnp.max)(x))


@pytest.mark.parametrize("fn", _programs(), ids=lambda f: f.__name__)
def test_emit_is_what_the_xdsl_printer_means(fn):
    """jaxlib reads the emitted final module as the same module as xDSL's generic print."""
    text = vmlir.compile(vmlir.vmap(fn)).lower(jax.ShapeDtypeStruct((3, 4), jnp.float32)).as_text()
    module = parse_module(text)
    assert parse_with_jaxlib(emit_generic(module)) == parse_with_jaxlib(print_generic(module))
