"""Tests for the xDSL definition of the StableHLO dialect (vmlir.dialects.stablehlo).

The central property: JAX's generic-form StableHLO parses into xDSL with only
builtin, func and our stablehlo dialect loaded, verifies, and prints back to
text that jaxlib parses into the very same module.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from io import StringIO
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax._src.interpreters import mlir as jmlir
from jax._src.lib.mlir import ir
from stablehlo_helpers import context as _context
from xdsl.dialects.builtin import (
    ComplexType,
    DenseIntOrFPElementsAttr,
    ModuleOp,
    TensorType,
    f32,
    i1,
    i32,
)
from xdsl.ir import Attribute, Block, Region
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from vmlir.dialects import stablehlo as shlo

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _lower(f: Callable[..., Any], *args: Any) -> str:
    lowered = jax.jit(f).lower(*args).compiler_ir("stablehlo")
    return lowered.operation.get_asm(
        print_generic_op_form=True, enable_debug_info=False
    )


_HEX_F32_SPLAT = re.compile(r"dense<0x([0-9A-Fa-f]{8})>(?= : tensor<[0-9x]*f32>)")


def _decimal_stand_in(match: re.Match[str]) -> str:
    value = struct.unpack(">f", bytes.fromhex(match.group(1)))[0]
    if np.isnan(value):
        value = 0.0
    elif np.isinf(value):
        value = np.copysign(3.0e38, value)
    return f"dense<{value:e}>"


def _without_hex_floats(text: str) -> str:
    """
    Replace hex f32 splats (JAX's -inf, NaN) by decimal stand-ins.

    xDSL misreads hex float literals (the importer works around it); these
    tests pin the dialect's syntax, so both sides of the comparison start from
    the same rewritten text.
    """
    return _HEX_F32_SPLAT.sub(_decimal_stand_in, text)


def _print_generic(module: ModuleOp) -> str:
    stream = StringIO()
    Printer(stream=stream, print_generic_format=True).print_op(module)
    return stream.getvalue()


def _jaxlib_canonical(text: str) -> str:
    return str(ir.Module.parse(text, context=jmlir.make_ir_context()))


# ---------------------------------------------------------------------------
# JAX programs round trip through xDSL and back into jaxlib
# ---------------------------------------------------------------------------

_V = jnp.arange(4.0)
_W = jnp.ones((3, 4))
_X = jnp.ones((4,))
_B = jnp.ones((3,))


def _mse_tanh(w: jax.Array, x: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.mean((jnp.tanh(w @ x + b) - 1.0) ** 2)


def _while(x: jax.Array) -> Any:
    return lax.while_loop(
        lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 2.0), (0, x)
    )


PROGRAMS: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "sum_of_squares": (lambda v: jnp.sum(v**2), (_V,)),
    "tanh_affine": (lambda w, x, b: jnp.tanh(w @ x + b), (_W, _X, _B)),
    "rbf_kernel": (lambda x, y: jnp.exp(-0.5 * jnp.sum((x - y) ** 2)), (_X, _X)),
    "grad_tanh_mse": (jax.grad(_mse_tanh), (_W, _X, _B)),
    "softmax": (jax.nn.softmax, (_V,)),
    "argmax": (jnp.argmax, (_V,)),
    "cumsum": (jnp.cumsum, (_V,)),
    "dynamic_index": (lambda x, i: x[i], (_V, 2)),
    "gather": (lambda x, i: x[i], (_V, jnp.array([0, 2]))),
    "scatter_add": (lambda x, i: x.at[i].add(1.0), (_V, 2)),
    "sort": (jnp.sort, (_V,)),
    "argsort": (jnp.argsort, (_V,)),
    "cond": (
        lambda p, x: lax.cond(p, lambda x: x + 1, lambda x: x * 2, x),
        (True, _V),
    ),
    "while_loop": (_while, (_V,)),
    "where": (lambda x: jnp.where(x > 1, x, 0.0), (_V,)),
    "concatenate": (lambda x: jnp.concatenate([x, x]), (_V,)),
    "pad": (lambda x: jnp.pad(x, (1, 2)), (_V,)),
    "transpose": (lambda x: x.T, (_W,)),
    "reshape": (lambda x: x.reshape(2, 6), (_W,)),
    "integer": (
        lambda a, b: (a * b + 3) // 2 % 5 << 1,
        (jnp.arange(4), jnp.arange(4)),
    ),
    "boolean": (
        lambda a, b: (a & b) | ~a ^ b,
        (jnp.array([True, False]), jnp.array([True, True])),
    ),
    "batched_matmul_highest": (
        lambda a, b: jnp.einsum(
            "bij,bjk->bik", a, b, precision=lax.Precision.HIGHEST
        ),
        (jnp.ones((2, 3, 4)), jnp.ones((2, 4, 5))),
    ),
    "dot_algorithm": (
        lambda a, b: jnp.dot(a, b, precision=lax.DotAlgorithmPreset.F32_F32_F32),
        (jnp.ones((2, 3)), jnp.ones((3, 4))),
    ),
    "max_pool": (
        lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2), (1, 2, 2), "SAME"),
        (jnp.ones((1, 5, 5)),),
    ),
    "unary_zoo": (
        lambda x: (
            jnp.isfinite(x),
            jnp.abs(x),
            jnp.log(x),
            jnp.sqrt(x),
            lax.logistic(x),
            jnp.cbrt(x),
            jnp.round(x),
            jnp.sign(x),
            jnp.expm1(x),
            jnp.log1p(x),
            jax.nn.sigmoid(x),
            lax.rsqrt(x),
            jnp.tan(x),
            jnp.arctan2(x, x),
            x**x,
            jnp.floor(x),
            jnp.ceil(x),
            jnp.clip(x, 0.0, 1.0),
            lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO),
            lax.population_count(x.astype(jnp.int32)),
            lax.clz(x.astype(jnp.uint32)),
            lax.shift_right_logical(x.astype(jnp.int32), 1),
            lax.shift_right_arithmetic(x.astype(jnp.int32), 1),
            x.astype(jnp.bfloat16).astype(jnp.float16),
            lax.bitcast_convert_type(x, jnp.int16),
        ),
        (_V,),
    ),
    "complex": (
        lambda z: lax.complex(jnp.real(z), jnp.imag(z)) * z,
        (_V.astype(jnp.complex64),),
    ),
    "slices": (
        lambda x, i: (
            jnp.flip(x)[1:3],
            lax.dynamic_update_slice(x, jnp.ones(2), (i,)),
            lax.broadcasted_iota(jnp.float32, (2, 3), 1),
        ),
        (_V, 1),
    ),
    "switch_and_fori": (
        lambda x: lax.switch(
            1,
            [lambda x: x, lambda x: x + 1, lambda x: x * 2],
            lax.fori_loop(0, 3, lambda i, c: c + i, x),
        ),
        (_V,),
    ),
    "checkpoint_barrier": (
        jax.grad(jax.checkpoint(lambda y: jnp.sum(jnp.sin(y) * jnp.cos(y)))),
        (_V,),
    ),
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_jax_program_round_trips_through_jaxlib(program: str):
    """xDSL's generic print of a JAX program is the same module for jaxlib."""
    f, args = PROGRAMS[program]
    jax_text = _without_hex_floats(_lower(f, *args))

    module = Parser(_context(), jax_text).parse_module()
    module.verify()
    ours = _print_generic(module)

    assert _jaxlib_canonical(ours) == _jaxlib_canonical(jax_text)


def test_xdsl_print_is_a_fixed_point():
    """Printing, reparsing and printing again yields identical text."""
    text = _lower(jnp.argmax, _V)
    first = _print_generic(Parser(_context(), _without_hex_floats(text)).parse_module())
    second = _print_generic(Parser(_context(), first).parse_module())
    assert first == second


def test_discardable_attributes_are_kept():
    """Extra attributes such as mhlo.sharding survive the round trip."""
    text = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<4xf32>) -> tensor<4xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<4xf32>):
    %0 = "stablehlo.negate"(%arg0) {mhlo.frontend_attributes = {x = "1"}, mhlo.sharding = "{replicated}"} : (tensor<4xf32>) -> tensor<4xf32>
    "func.return"(%0) : (tensor<4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""
    ours = _print_generic(Parser(_context(), text).parse_module())
    assert 'mhlo.sharding = "{replicated}"' in ours
    assert _jaxlib_canonical(ours) == _jaxlib_canonical(text)


def test_if_round_trips_through_jaxlib():
    """stablehlo.if and stablehlo.logistic, which JAX no longer emits, round trip."""
    text = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<i1>, tensor<4xf32>) -> tensor<4xf32>,
                  sym_name = "main"}> ({
  ^bb0(%pred: tensor<i1>, %x: tensor<4xf32>):
    %0 = "stablehlo.if"(%pred) ({
      %1 = "stablehlo.logistic"(%x) : (tensor<4xf32>) -> tensor<4xf32>
      "stablehlo.return"(%1) : (tensor<4xf32>) -> ()
    }, {
      "stablehlo.return"(%x) : (tensor<4xf32>) -> ()
    }) : (tensor<i1>) -> tensor<4xf32>
    "func.return"(%0) : (tensor<4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""
    module = Parser(_context(), text).parse_module()
    module.verify()
    if_op = next(op for op in module.walk() if isinstance(op, shlo.IfOp))
    assert len(if_op.true_branch.block.ops) == 2
    assert _jaxlib_canonical(_print_generic(module)) == _jaxlib_canonical(text)


# ---------------------------------------------------------------------------
# op classes
# ---------------------------------------------------------------------------


def test_elementwise_ops_share_the_elementwise_base():
    """Every elementwise op is an ElementwiseOp; bitcast_convert is not."""
    elementwise = [
        op
        for op in shlo.StableHLO.operations
        if issubclass(op, shlo.ElementwiseOp)
    ]
    names = {op.name for op in elementwise}
    assert {"stablehlo.add", "stablehlo.convert", "stablehlo.compare"} <= names
    assert {"stablehlo.select", "stablehlo.clamp", "stablehlo.is_finite"} <= names
    assert len(elementwise) == 27 + 16 + 3
    assert not issubclass(shlo.BitcastConvertOp, shlo.ElementwiseOp)


def test_reduce_splits_operands_into_inputs_and_init_values():
    """A variadic reduce exposes its first half as inputs, second as inits."""
    text = _without_hex_floats(_lower(jnp.argmax, _V))
    module = Parser(_context(), text).parse_module()
    reduce = next(op for op in module.walk() if isinstance(op, shlo.ReduceOp))
    assert len(reduce.inputs) == 2
    assert len(reduce.init_values) == 2
    assert tuple(reduce.inputs) + tuple(reduce.init_values) == tuple(reduce.operands)
    assert [v.type for v in reduce.init_values] == [
        TensorType(f32, []),
        TensorType(i32, []),
    ]


def test_scatter_splits_operands_around_the_indices():
    """scatter's operands are inputs, then scatter_indices, then updates."""
    text = _lower(lambda x, i: x.at[i].add(1.0), _V, 2)
    module = Parser(_context(), text).parse_module()
    scatter = next(op for op in module.walk() if isinstance(op, shlo.ScatterOp))
    assert len(scatter.inputs) == 1 and len(scatter.updates) == 1
    assert scatter.scatter_indices is scatter.operands[1]


def test_compare_builder_defaults_to_an_i1_result():
    """CompareOp(lhs, rhs, direction) infers an i1 tensor of lhs's shape."""
    x = create_ssa_value(TensorType(f32, [4]))
    op = shlo.CompareOp(x, x, shlo.ComparisonDirection.LT, shlo.ComparisonType.FLOAT)
    op.verify()
    assert op.result.type == TensorType(i1, [4])
    assert op.comparison_direction == shlo.ComparisonDirectionAttr(
        shlo.ComparisonDirection.LT
    )


def test_unary_builders_infer_the_result_element_type():
    """is_finite infers i1, real and imag infer the complex part type."""
    x = create_ssa_value(TensorType(f32, [4]))
    z = create_ssa_value(TensorType(ComplexType(f32), [4]))
    assert shlo.IsFiniteOp(x).result.type == TensorType(i1, [4])
    assert shlo.RealOp(z).result.type == TensorType(f32, [4])
    assert shlo.ImagOp(z).result.type == TensorType(f32, [4])
    assert shlo.NegateOp(z).result.type == z.type


def test_transpose_builder_infers_the_result_shape():
    """TransposeOp without result type permutes the operand's shape."""
    x = create_ssa_value(TensorType(f32, [3, 4, 5]))
    op = shlo.TransposeOp(x, [2, 0, 1])
    op.verify()
    assert op.result.type == TensorType(f32, [5, 3, 4])


def test_select_accepts_a_scalar_predicate():
    """select verifies with a rank-0 pred and rank-1 branches."""
    pred = create_ssa_value(TensorType(i1, []))
    x = create_ssa_value(TensorType(f32, [4]))
    shlo.SelectOp(pred, x, x).verify()


def test_clamp_accepts_scalar_bounds():
    """clamp verifies with rank-0 min and max around a rank-1 operand."""
    bound = create_ssa_value(TensorType(f32, []))
    x = create_ssa_value(TensorType(f32, [4]))
    shlo.ClampOp(operands=[bound, x, bound], result_types=[x.type]).verify()


def _sum_body() -> Region:
    scalar = TensorType(f32, [])
    block = Block(arg_types=[scalar, scalar])
    add = shlo.AddOp(block.args[0], block.args[1])
    block.add_ops([add, shlo.ReturnOp(add.result)])
    return Region(block)


def test_reduce_builder_builds_a_verifiable_op():
    """ReduceOp(inputs, init_values, dimensions, body, types) verifies."""
    x = create_ssa_value(TensorType(f32, [4]))
    zero = create_ssa_value(TensorType(f32, []))
    op = shlo.ReduceOp([x], [zero], [0], _sum_body(), [TensorType(f32, [])])
    op.verify()
    assert op.dimensions.get_values() == (0,)


# ---------------------------------------------------------------------------
# verifier errors
# ---------------------------------------------------------------------------


def _tensor(*shape: int, element_type: Attribute = f32) -> Any:
    return create_ssa_value(TensorType(element_type, shape))


def test_elementwise_shape_mismatch_is_rejected():
    """An elementwise result must have the operands' shape."""
    x = _tensor(4)
    op = shlo.AddOp(x, x, TensorType(f32, [5]))
    with pytest.raises(
        VerifyException,
        match=re.escape(
            "stablehlo.add: operand shape [4] does not match result shape [5]"
        ),
    ):
        op.verify()


def test_is_finite_requires_an_i1_result():
    """is_finite must produce i1 elements."""
    op = shlo.IsFiniteOp(_tensor(4), TensorType(f32, [4]))
    with pytest.raises(
        VerifyException, match="stablehlo.is_finite: result element type must be i1"
    ):
        op.verify()


def test_compare_requires_an_i1_result():
    """compare must produce i1 elements."""
    x = _tensor(4)
    op = shlo.CompareOp(
        x, x, shlo.ComparisonDirection.EQ, result_type=TensorType(f32, [4])
    )
    with pytest.raises(
        VerifyException, match="stablehlo.compare: result element type must be i1"
    ):
        op.verify()


def test_broadcast_dimensions_must_match_operand_rank():
    """broadcast_in_dim needs one broadcast dimension per operand dimension."""
    op = shlo.BroadcastInDimOp(_tensor(3), [], TensorType(f32, [2, 3]))
    with pytest.raises(
        VerifyException,
        match="stablehlo.broadcast_in_dim: broadcast_dimensions has 0 entries "
        "but the operand has rank 1",
    ):
        op.verify()


def test_broadcast_dimension_must_be_in_result_range():
    """A broadcast dimension must name a result dimension."""
    op = shlo.BroadcastInDimOp(_tensor(3), [2], TensorType(f32, [2, 3]))
    with pytest.raises(
        VerifyException,
        match="stablehlo.broadcast_in_dim: broadcast dimension 2 is out of range "
        "for result rank 2",
    ):
        op.verify()


def test_broadcast_sizes_must_be_compatible():
    """An operand dimension is either 1 or the size of its result dimension."""
    op = shlo.BroadcastInDimOp(_tensor(3), [0], TensorType(f32, [2, 3]))
    with pytest.raises(
        VerifyException,
        match="stablehlo.broadcast_in_dim: operand dimension of size 3 cannot "
        "broadcast to result dimension 0 of size 2",
    ):
        op.verify()


def test_reshape_must_preserve_the_element_count():
    """reshape cannot change the number of elements."""
    op = shlo.ReshapeOp(_tensor(3, 4), TensorType(f32, [2, 5]))
    with pytest.raises(
        VerifyException,
        match="stablehlo.reshape: operand has 12 elements but the result has 10",
    ):
        op.verify()


def test_transpose_permutation_must_be_a_permutation():
    """transpose's permutation must be a permutation of range(rank)."""
    op = shlo.TransposeOp(_tensor(3, 4), [0, 0], TensorType(f32, [3, 3]))
    with pytest.raises(
        VerifyException,
        match=re.escape(
            "stablehlo.transpose: permutation [0, 0] is not a permutation of range(2)"
        ),
    ):
        op.verify()


def test_constant_value_type_must_match_result_type():
    """constant's value must have the result's type."""
    value = DenseIntOrFPElementsAttr.from_list(TensorType(f32, [2]), [1.0, 2.0])
    op = shlo.ConstantOp.create(
        properties={"value": value}, result_types=[TensorType(f32, [3])]
    )
    with pytest.raises(
        VerifyException,
        match=re.escape(
            "stablehlo.constant: value type tensor<2xf32> does not match "
            "result type tensor<3xf32>"
        ),
    ):
        op.verify()


def test_reduce_needs_one_result_per_input():
    """reduce produces exactly one result per reduced input."""
    x = _tensor(4)
    zero = _tensor()
    scalar = TensorType(f32, [])
    op = shlo.ReduceOp([x], [zero], [0], _sum_body(), [scalar, scalar])
    with pytest.raises(
        VerifyException,
        match=re.escape("stablehlo.reduce: expected one result per input (1), got 2"),
    ):
        op.verify()
