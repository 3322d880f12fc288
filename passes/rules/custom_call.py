"""Batching rules for `stablehlo.custom_call`, dispatched on the call's target name.

An external kernel's treatment of a batch axis is only known from what the target
computes: the linear-algebra kernels (`linalg.py`, one table for every backend) and XLA's
`ApproxTopK` have rules; any other target is an error naming it.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, i64
from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.errors import VmlirUnsupportedError
from vmlir.host_callbacks import PYTHON_CALLBACK_TARGETS
from vmlir.passes.rules.context import Axis, Rule, RuleContext, RuleResult, tensor_type, where
from vmlir.passes.rules.linalg import kernel_family, linalg_call_rule
from vmlir.passes.rules.loop import loop_rule


def approx_top_k_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    """`ApproxTopK(inputs..., inits...)` reduces every input along `reduction_dim` (in
    `mhlo.backend_config`); the batch axis goes first and that dimension moves by one.
    The init values are scalars that JAX derives from the dtype, never from an example."""
    half = len(operands) // 2
    if any(a is not None for a in axes[half:]):
        raise VmlirUnsupportedError(
            f"{where(op)}: ApproxTopK with initial values that differ between examples"
        )
    config = op.attributes.get("mhlo.backend_config")
    if not isinstance(config, DictionaryAttr) or "reduction_dim" not in config.data:
        raise VmlirUnsupportedError(
            f"{where(op)}: ApproxTopK without a reduction_dim in mhlo.backend_config"
        )
    entries = dict(config.data)
    dim = entries["reduction_dim"]
    assert isinstance(dim, IntegerAttr)
    entries["reduction_dim"] = IntegerAttr(dim.value.data + 1, i64)
    inputs = [ctx.to_axis(v, a, 0) for v, a in zip(operands[:half], axes[:half])]
    attrs = {k: v for k, v in op.attributes.items() if not k.startswith("batch.")}
    attrs["mhlo.backend_config"] = DictionaryAttr(entries)
    new = ctx.emit(
        op.create(
            operands=[*inputs, *operands[half:]],
            result_types=[insert_axis(tensor_type(r), 0, ctx.axis_size) for r in op.results],
            properties=dict(op.properties),
            attributes=attrs,
            location=op.location,
        )
    )
    return list(new.results), [0] * len(new.results)


def python_callback_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    """A call back into Python (jax.debug.print, jax.pure_callback, io_callback) runs once
    per example, in order, with that example's values: what jax.vmap does for debug
    callbacks and `vmap_method="sequential"`. A pure_callback that declares itself
    vectorized (`"expand_dims"`, `"broadcast_all"`) is called once with the whole batch
    by jax.vmap; per example it returns the same values, in more calls."""
    return loop_rule(ctx, op, operands, axes, why=None, drop=_PER_EXAMPLE_SHARDING)


_PER_EXAMPLE_SHARDING = ("sdy.sharding",)
"""jax pins a callback to device 0 of the per-example computation's mesh, a symbol that
is not part of our program."""


def custom_call_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    target = op.properties["call_target_name"].data  # type: ignore[union-attr]
    family = kernel_family(target)
    if family is not None:
        return linalg_call_rule(ctx, op, operands, axes, family)
    if target == "ApproxTopK":
        return approx_top_k_rule(ctx, op, operands, axes)
    if target in PYTHON_CALLBACK_TARGETS:
        return python_callback_rule(ctx, op, operands, axes)
    raise VmlirUnsupportedError(
        f"{where(op)}: custom_call @{target} has no batching rule (vmlir knows the "
        "linear-algebra kernels of passes/rules/linalg.py, ApproxTopK and Python callbacks)"
    )


RULES: dict[type[Operation], Rule] = {hlo.CustomCallOp: custom_call_rule}
