"""batch-fuse's loop-invariant code motion for `stablehlo.while`.

Vectorization copies uniform ops into loop bodies unchanged (a uniform `w @ w.T` inside a
`fori_loop` stays inside), and JAX threads closed-over values through the loop as carried
values. These patterns make such values read from outside the loop and move what only
depends on outside values before the `while`, where it runs once. See `passes/fuse.py`.
"""

from __future__ import annotations

from collections.abc import Hashable

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.traits import IsTerminator, is_side_effect_free

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp


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
        wanted = _worth_hoisting(op)
        for region in (op.cond, op.body):
            for block in region.blocks:
                # In order: an op whose operands were just hoisted is hoistable in turn.
                for inner in list(block.ops):
                    if inner not in wanted or not _invariant(inner, op):
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


_CHEAP = (
    hlo.AbsOp, hlo.NegateOp, hlo.FloorOp, hlo.CeilOp, hlo.RoundNearestEvenOp,
    hlo.RoundNearestAfzOp, hlo.SignOp, hlo.NotOp, hlo.PopcntOp, hlo.IsFiniteOp,
    hlo.CountLeadingZerosOp, hlo.RealOp, hlo.ImagOp, hlo.ConvertOp, hlo.AddOp,
    hlo.SubtractOp, hlo.MultiplyOp, hlo.MaximumOp, hlo.MinimumOp, hlo.AndOp, hlo.OrOp,
    hlo.XorOp, hlo.ShiftLeftOp, hlo.ShiftRightArithmeticOp, hlo.ShiftRightLogicalOp,
    hlo.ComplexOp, hlo.CompareOp, hlo.SelectOp, hlo.ClampOp, hlo.BroadcastInDimOp,
    hlo.ReshapeOp, hlo.TransposeOp, hlo.IotaOp, BroadcastOp, MoveAxisOp,
)  # fmt: skip
"""Ops that cost about as much as reading their result: hoisted alone, a large one turns
into one more buffer the loop reads every iteration, where XLA would have fused it."""

SMALL = 1024
"""Results with at most this many elements are hoisted whatever they cost."""


def _worth_hoisting(loop: hlo.WhileOp) -> set[Operation]:
    """The loop-invariant ops of `loop`'s cond and body (top level) worth running once
    before it: all but large cheap ones (`_CHEAP`), which stay unless an op worth
    hoisting reads them (so `exp(1e-5 * a)` leaves together). Recomputing `1e-5 * a` in a
    memory-bound loop is cheaper than reading it: the Newton workload ran ~4% slower with
    it hoisted (docs/passes.md)."""
    candidates: list[Operation] = []
    chain: set[Operation] = set()
    for region in (loop.cond, loop.body):
        for block in region.blocks:
            for inner in block.ops:
                if _invariant(inner, loop, chain):
                    chain.add(inner)
                    candidates.append(inner)
    wanted: set[Operation] = set()
    for inner in reversed(candidates):
        if not isinstance(inner, _CHEAP) or _small(inner) or any(
            _top_level_user(use.operation, inner) in wanted
            for r in inner.results
            for use in r.uses
        ):
            wanted.add(inner)
    return wanted


def _small(op: Operation) -> bool:
    for r in op.results:
        t = r.type
        if isinstance(t, TensorType) and t.element_count() > SMALL:
            return False
    return True


def _top_level_user(user: Operation, of: Operation) -> Operation:
    """The op in `of`'s block that contains `user`."""
    block = of.parent_block()
    while user.parent_block() is not block and user.parent_op() is not None:
        user = user.parent_op()  # type: ignore[assignment]
    return user


def _inside(value: SSAValue, node: Operation) -> bool:
    return node.is_ancestor(value.owner)


def _invariant(op: Operation, loop: hlo.WhileOp, hoisted: set[Operation] | None = None) -> bool:
    """Whether `op` only reads values from outside `loop` (or results of `hoisted` ops,
    which will be)."""
    hoisted = hoisted or set()

    def from_loop(v: SSAValue) -> bool:
        return _inside(v, loop) and not (isinstance(v.owner, Operation) and v.owner in hoisted)

    if op.has_trait(IsTerminator) or not is_side_effect_free(op):
        return False
    if any(from_loop(v) for v in op.operands):
        return False
    for nested in op.walk():
        # Running a loop that the program might never reach could hang.
        if isinstance(nested, hlo.WhileOp):
            return False
        if nested is op:
            continue
        for v in nested.operands:
            if not _inside(v, op) and from_loop(v):
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

