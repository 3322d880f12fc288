"""Batching rules: chlo ops (see passes/rules/__init__.py for the rule contract).

The elementwise chlo ops need no entry: they subclass `stablehlo.ElementwiseOp`, so
`rule_for` gives them the elementwise rule. Only `chlo.top_k` is left.
"""

from __future__ import annotations

from xdsl.ir import Operation

from vmlir.dialects.batch import insert_axis
from vmlir.dialects.chlo import TopKOp
from vmlir.passes.rules.context import Rule, RuleContext, RuleResult, tensor_type


def top_k_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """top_k works on the last dimension, so a batch axis there is moved to the front;
    anywhere else it is just one more leading dimension and stays put (no transpose)."""
    (x,), (a,) = operands, axes
    last = tensor_type(x).get_num_dims() - 1
    if a == last:
        x, a = ctx.move_axis(x, a, 0), 0
    result_types = [insert_axis(tensor_type(r), a, ctx.axis_size) for r in op.results]
    return ctx.rebuild(op, [x], result_types).results, [a, a]


RULES: dict[type[Operation], Rule] = {TopKOp: top_k_rule}
