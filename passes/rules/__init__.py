"""Batching rules: how each per-example op becomes one batched op.

One table, keyed by op type, in JAX's shape:

    rule(ctx, op, operands, batch_axes) -> (results, result_axes)

`operands` are the already-batched replacements of `op`'s operands; `batch_axes[i]` is
where operand i carries the batch axis, or None when it is uniform (the same for every
example, shaped as in the per-example program). A rule is only called when at least one
operand is batched. It builds new ops through `ctx.emit` (inserted before the
`batch.vmap` being vectorized) and returns one value and one axis per result of `op`.
Rules keep the batch axis where it is when they can, so no transpose is paid for nothing;
they move it (`batch.move_axis`) only where the op's semantics need a fixed position.
"""

from __future__ import annotations

from xdsl.dialects.builtin import UnregisteredOp
from xdsl.ir import Operation

from vmlir.dialects import stablehlo as hlo
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.rules import (
    chlo,
    collectives,
    composite,
    contraction,
    control,
    custom_call,
    custom_vmap,
    fft,
    indexing,
    linalg,
    misc,
    shape,
)
from vmlir.passes.rules.context import Axis, Rule, RuleContext, RuleResult, where
from vmlir.passes.rules.elementwise import elementwise_rule

__all__ = ["RULES", "Axis", "Rule", "RuleContext", "RuleResult", "rule_for", "where"]

RULES: dict[type[Operation], Rule] = {
    **shape.RULES,
    **contraction.RULES,
    **indexing.RULES,
    **misc.RULES,
    **chlo.RULES,
    **control.RULES,
    **collectives.RULES,
    **custom_vmap.RULES,
    **custom_call.RULES,
    **fft.RULES,
    **composite.RULES,
    **linalg.RULES,
}
"""The one table: op class -> batching rule (elementwise ops are matched by base class)."""


def rule_for(op: Operation) -> Rule:
    """The batching rule of `op`, or a VmlirUnsupportedError naming it."""
    if isinstance(op, hlo.ElementwiseOp):
        return elementwise_rule
    if isinstance(op, UnregisteredOp):
        raise VmlirUnsupportedError(
            f"vmlir has no definition of the op {where(op)} that JAX emitted for this "
            "function (no batching rule either)"
        )
    rule = RULES.get(type(op))
    if rule is None:
        raise VmlirUnsupportedError(f"no batching rule for {where(op)}")
    return rule
