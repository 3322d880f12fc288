"""batch.custom_vmap: a function batched by its user's rule (jax.custom_batching.custom_vmap).

The rule is Python code written against jax, so the pass cannot run it: the frontend
registers a tracer (`register_rule_tracer`) that, given the rule's name, the axis size and
which operands are batched (on axis 0), traces the user's rule with jax at the batched
shapes and returns its program as our IR (a block ending in `func.return`) and which
results it batched. This module never imports jax; data still flows frontend -> passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.ir import Block, Operation

from vmlir.dialects.batch_collectives import CustomVmapOp
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.rules.context import RuleContext, RuleResult, where

RuleTracer = Callable[[str, int, Sequence[bool]], tuple[Block, list[bool]]]
"""(rule name, axis size, operand batched flags) -> (batched program, result batched flags)."""

_tracers: list[RuleTracer] = []


def register_rule_tracer(tracer: RuleTracer) -> None:
    """Called by the frontend: how to turn a custom_vmap rule into batched IR."""
    _tracers[:] = [tracer]


def custom_vmap_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """Uniform operands: the per-example body, inlined. Otherwise the user's rule at the
    batched shapes, with the batched operands moved to axis 0 (as jax.vmap passes them)."""
    assert isinstance(op, CustomVmapOp)
    vec = ctx.vectorizer
    block = op.body.block
    term = block.last_op
    assert term is not None
    if all(a is None for a in axes):
        for arg, v in zip(block.args, operands):
            vec.bind(arg, v, None)
        vec.run([o for o in block.ops if o is not term], ctx.insertion_point)
        looked = [vec.lookup(v) for v in term.operands]
        return [v for v, _ in looked], [a for _, a in looked]
    if not _tracers:
        raise VmlirUnsupportedError(
            f"{where(op)}: no custom_vmap rule tracer is registered (the rule "
            f"'{op.rule.data}' comes from vmlir's Python frontend)"
        )
    flags = [a is not None for a in axes]
    args = [v if a is None else ctx.move_axis(v, a, 0) for v, a in zip(operands, axes)]
    program, out_batched = _tracers[0](op.rule.data, ctx.axis_size, flags)
    # The rule's program is batched already: every value in it is uniform for this
    # vectorizer, which copies it, but still inlines what it calls per example (e.g.
    # sequential_vmap's rule maps the custom_vmap function itself).
    for arg, v in zip(program.args, args):
        vec.bind(arg, v, None)
    ret = program.last_op
    assert ret is not None
    vec.run([o for o in program.ops if o is not ret], ctx.insertion_point)
    results = [vec.lookup(v)[0] for v in ret.operands]
    return results, [0 if b else None for b in out_batched]


RULES = {CustomVmapOp: custom_vmap_rule}
