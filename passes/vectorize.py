"""batch-vectorize: replace each `batch.vmap` by batched ops, one batching rule per op.

Expects: `batch.vmap` ops, optionally annotated by batch-propagate-axes (the analysis is
run here when the `batch.varying` annotations are missing).
Does: innermost `batch.vmap` first, walks the body in order and maps every value to its
batched replacement and batch axis (None = uniform). Uniform ops are copied unchanged
(computed once for the whole batch); varying ops go through their rule in
`vmlir.passes.rules`. At the yield, each result is put on its `out_axes` axis with
`batch.move_axis` (or given one with `batch.broadcast` when uniform). A nested vmap,
vectorized first, leaves plain ops in the outer body, which are then batched again.
Guarantees: no `batch.vmap`/`batch.yield` remain; `batch.move_axis` and
`batch.broadcast` may (batch-lower turns them into StableHLO).
Errors: an op without a batching rule, or a varying value yielded with out_axes none,
raise VmlirUnsupportedError / VmlirError naming the op.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects.batch import VARYING_ATTR, VmapOp, YieldOp
from vmlir.errors import VmlirError
from vmlir.passes.propagate_axes import varying_values
from vmlir.passes.rules import Axis, RuleContext, rule_for, where


def _annotated_varying(op) -> list[bool] | None:
    attr = op.attributes.get(VARYING_ATTR)
    if not isinstance(attr, DenseArrayBase):
        return None
    return [bool(v) for v in attr.get_values()]


def vectorize_vmap(vmap: VmapOp) -> None:
    """Replace one `batch.vmap` (with no nested vmap left inside) by batched ops."""
    ctx = RuleContext(vmap.size, InsertPoint.before(vmap))
    block = vmap.body.block
    env: dict[SSAValue, tuple[SSAValue, Axis]] = {
        arg: (operand, axis) for arg, operand, axis in zip(block.args, vmap.args, vmap.in_axes_list)
    }
    mapping: dict[SSAValue, SSAValue] = {arg: new for arg, (new, _) in env.items()}
    analysed: set[SSAValue] | None = None

    def lookup(v: SSAValue) -> tuple[SSAValue, Axis]:
        # Values from outside the vmap are the same for every example.
        return env.get(v, (v, None))

    for op in list(block.ops):
        if isinstance(op, YieldOp):
            continue
        operands, axes = zip(*(lookup(v) for v in op.operands)) if op.operands else ((), ())
        flags = _annotated_varying(op)
        if flags is None:
            analysed = analysed if analysed is not None else varying_values(vmap)
            flags = [r in analysed for r in op.results]
        if not any(flags) and all(a is None for a in axes):
            clone = op.clone(value_mapper=mapping)
            clone.attributes.pop(VARYING_ATTR, None)
            ctx.emit(clone)
            for r, c in zip(op.results, clone.results):
                env[r] = (c, None)
            continue
        if all(a is None for a in axes):
            raise VmlirError(
                f"{where(op)} is marked varying but reads only uniform values; its region "
                "captures a varying value, which has no batching rule yet"
            )
        results, result_axes = rule_for(op)(ctx, op, list(operands), list(axes))
        for r, new, axis in zip(op.results, results, result_axes, strict=True):
            env[r] = (new, axis)
            mapping[r] = new

    term = block.last_op
    assert isinstance(term, YieldOp)
    outs: list[SSAValue] = []
    for j, (v, out_axis) in enumerate(zip(term.values, vmap.out_axes_list)):
        new, axis = lookup(v)
        if out_axis is None:
            if axis is not None:
                raise VmlirError(
                    f"vmap has mapped output (result {j}) but out_axes is None"
                )
            outs.append(new)
        else:
            outs.append(ctx.to_axis(new, axis, out_axis))
    Rewriter.replace_op(vmap, [], outs)


@dataclass(frozen=True)
class BatchVectorizePass(ModulePass):
    """Turn every `batch.vmap` into batched ops (see module doc)."""

    name = "batch-vectorize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Post-order: a nested vmap is vectorized before the vmap that contains it.
        vmaps = [o for o in op.walk() if isinstance(o, VmapOp)]
        for vmap in reversed(vmaps):
            vectorize_vmap(vmap)
