"""batch-propagate-axes: which values inside a `batch.vmap` vary between examples.

Expects: `batch.vmap` ops (possibly nested) whose bodies hold per-example ops.
Does: a forward data-flow analysis per `batch.vmap` body. A body argument varies when its
`in_axes` entry is an axis; an op's results vary when any operand does, or when one of its
regions uses a varying value defined outside it. Everything else is uniform: the same for
every example, so vectorization keeps it unbatched (it is computed once, never broadcast
just to carry a batch axis). Nested `batch.vmap` ops are analysed relative to their own
axis; the nested op itself varies in the outer one when an operand does.
Guarantees: every op directly inside a `batch.vmap` body carries `batch.varying =
array<i1: ...>` with one flag per result. The IR is otherwise unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from vmlir.dialects.batch import VARYING_ATTR, VmapOp, YieldOp, varying_attr


def _uses_varying_capture(op: Operation, varying: set[SSAValue]) -> bool:
    """Whether an op nested in `op`'s regions reads a varying value from outside them."""
    for region in op.regions:
        for inner in region.walk():
            if any(v in varying for v in inner.operands):
                return True
    return False


def varying_values(vmap: VmapOp) -> set[SSAValue]:
    """The values of `vmap`'s body (arguments and op results) that vary between examples."""
    block = vmap.body.block
    varying: set[SSAValue] = {
        arg for arg, axis in zip(block.args, vmap.in_axes_list) if axis is not None
    }
    for op in block.ops:
        if any(v in varying for v in op.operands) or _uses_varying_capture(op, varying):
            varying.update(op.results)
    return varying


@dataclass(frozen=True)
class BatchPropagateAxesPass(ModulePass):
    """Annotate every op in a `batch.vmap` body with `batch.varying` (see module doc)."""

    name = "batch-propagate-axes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for vmap in [o for o in op.walk() if isinstance(o, VmapOp)]:
            varying = varying_values(vmap)
            for inner in vmap.body.block.ops:
                if isinstance(inner, YieldOp):
                    continue
                inner.attributes[VARYING_ATTR] = varying_attr(
                    [r in varying for r in inner.results]
                )
