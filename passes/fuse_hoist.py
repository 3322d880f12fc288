"""batch-fuse's loop-invariant code motion for `stablehlo.while`.

Vectorization copies uniform ops into loop bodies unchanged (a uniform `w @ w.T` inside a
`fori_loop` stays inside), and JAX threads closed-over values through the loop as carried
values. These patterns make such values read from outside the loop and move what only
depends on outside values before the `while`, where it runs once. See `passes/fuse.py`.
"""

from __future__ import annotations

from collections.abc import Hashable

from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.traits import IsTerminator, is_side_effect_free

from vmlir.dialects import stablehlo as hlo


class WhileInvariantCarryPattern(RewritePattern):
    """A carried value the body returns unchanged -> its initial value, read directly.

    Its block arguments always equal the while's operand, and so does its result; reading
    the operand instead makes whatever depends only on it loop invariant.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.WhileOp, rewriter: PatternRewriter) -> None:
        if len(op.cond.blocks) != 1 or len(op.body.blocks) != 1:
            return
        cond, body = op.cond.block, op.body.block
        ret = body.last_op
        if not isinstance(ret, hlo.ReturnOp):
            return
        for i, init in enumerate(op.operand):
            body_arg = body.args[i]
            if ret.operands[i] is not body_arg:
                continue
            # The return keeps the argument: the carry stays well formed for XLA (whose
            # while-loop simplifier drops it).
            rewriter.replace_uses_with_if(
                body_arg, init, lambda use, ret=ret: use.operation is not ret
            )
            rewriter.replace_all_uses_with(cond.args[i], init)
            rewriter.replace_all_uses_with(op.outputs[i], init)


class HoistLoopInvariantPattern(RewritePattern):
    """Side-effect-free ops of a while's cond or body whose operands (and whatever their
    regions read) are defined outside the loop -> before the loop, once. Identical hoisted
    ops (a constant in both the cond and the body) become one."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.WhileOp, rewriter: PatternRewriter) -> None:
        hoisted: dict[Hashable, Operation] | None = None
        for region in (op.cond, op.body):
            for block in region.blocks:
                # In order: an op whose operands were just hoisted is hoistable in turn.
                for inner in list(block.ops):
                    if not _invariant(inner, op):
                        continue
                    if hoisted is None:
                        # What already runs before the loop: a hoisted twin reuses it
                        # (e.g. an inner loop's constants, hoisted out in two steps).
                        hoisted = _keyed_ops_before(op)
                    key = _key(inner)
                    if key is not None and key in hoisted:
                        rewriter.replace(inner, [], hoisted[key].results)
                        continue
                    clone = inner.clone()
                    rewriter.insert(clone, InsertPoint.before(op))
                    rewriter.replace(inner, [], clone.results)
                    if key is not None:
                        hoisted[key] = clone


def _inside(value: SSAValue, node: Operation) -> bool:
    return node.is_ancestor(value.owner)


def _invariant(op: Operation, loop: hlo.WhileOp) -> bool:
    if op.has_trait(IsTerminator) or not is_side_effect_free(op):
        return False
    if any(_inside(v, loop) for v in op.operands):
        return False
    for nested in op.walk():
        # Running a loop that the program might never reach could hang.
        if isinstance(nested, hlo.WhileOp):
            return False
        if nested is op:
            continue
        for v in nested.operands:
            if not _inside(v, op) and _inside(v, loop):
                return False
    return True


def _keyed_ops_before(op: Operation) -> dict[Hashable, Operation]:
    """The region-free side-effect-free ops before `op` in its block, by `_key`."""
    keyed: dict[Hashable, Operation] = {}
    block = op.parent_block()
    if block is None:
        return keyed
    for prev in block.ops:
        if prev is op:
            break
        if is_side_effect_free(prev) and (key := _key(prev)) is not None:
            keyed.setdefault(key, prev)
    return keyed


def _key(op: Operation) -> Hashable | None:
    """What makes two region-free ops compute the same value."""
    if op.regions:
        return None
    try:
        key = (
            op.name,
            tuple(op.operands),
            tuple(sorted(op.properties.items())),
            tuple(sorted(op.attributes.items())),
            tuple(r.type for r in op.results),
        )
        hash(key)
    except TypeError:
        return None
    return key

