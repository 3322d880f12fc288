"""batch-propagate-axes: which values inside a `batch.vmap` vary between examples.

Expects: `batch.vmap` ops (possibly nested) whose bodies hold per-example ops.
Does: a forward data-flow analysis per `batch.vmap` body. A body argument varies when its
`in_axes` entry is an axis. An op's results vary when an operand does, or (for ops with
regions) when a value a region yields or reads from outside varies. Control flow is
analysed inside: a `case`/`if` varies when its index does or a branch yields a varying
value; a `while` is a fixpoint over its carries (a carry varies when its initial value
does or the body makes it vary; when the predicate varies, every carry the body changes
varies too, since examples stop at different iterations). `batch.any`/`batch.all` are
uniform by definition; so are psum/pmax/pmin/all_gather over the vmap's own axis name,
while axis_index, psum_scatter and all_to_all over it vary (ppermute: as its operand).
Everything else is uniform: the same for every example, so vectorization keeps it
unbatched (computed once, never broadcast just to carry a batch axis). Nested
`batch.vmap` ops are analysed relative to their own axis.
Guarantees: every op directly inside a `batch.vmap` body, and inside the regions of its
control-flow ops, carries `batch.varying = array<i1: ...>` with one flag per result. The IR
is otherwise unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import (
    VARYING_ATTR,
    AllOp,
    AnyOp,
    MaskedOp,
    VmapOp,
    YieldOp,
    varying_attr,
    vmaps_in,
)
from vmlir.dialects.batch_collectives import (
    COLLECTIVE_OPS,
    AllToAllOp,
    AxisIndexOp,
    PpermuteOp,
    PsumScatterOp,
)

VARYING_COLLECTIVES = (AxisIndexOp, PsumScatterOp, AllToAllOp)
"""Collectives over the vmap's own axis whose result varies whatever their operand."""

CONTROL_FLOW = (hlo.CaseOp, hlo.IfOp, hlo.WhileOp, MaskedOp)
"""Ops whose regions hold per-example code that the analysis (and vectorization) enters."""


def _reads_varying_capture(op: Operation, varying: set[SSAValue]) -> bool:
    """Whether an op nested in `op`'s regions reads a varying value."""
    for region in op.regions:
        for inner in region.walk():
            if any(v in varying for v in inner.operands):
                return True
    return False


def _terminator_operands(op: Operation) -> Iterator[SSAValue]:
    for region in op.regions:
        for block in region.blocks:
            if block.last_op is not None:
                yield from block.last_op.operands


def _analyse_block(block: Block, varying: set[SSAValue], name: str | None) -> None:
    for op in block.ops:
        _analyse_op(op, varying, name)


def _analyse_while(op: hlo.WhileOp, varying: set[SSAValue], name: str | None) -> None:
    cond, body = op.cond.block, op.body.block
    carried = [v in varying for v in op.operands]
    while True:
        for block in (cond, body):
            for arg, c in zip(block.args, carried):
                if c:
                    varying.add(arg)
        _analyse_block(cond, varying, name)
        _analyse_block(body, varying, name)
        pred_varies = cond.last_op.operands[0] in varying  # type: ignore[union-attr]
        yields = body.last_op.operands  # type: ignore[union-attr]
        new = [
            c or y in varying or (pred_varies and y is not arg)
            for c, y, arg in zip(carried, yields, body.args)
        ]
        if new == carried:
            break
        carried = new
    for result, c in zip(op.results, carried):
        if c:
            varying.add(result)


def _introduces_variation(op: Operation, name: str | None) -> bool:
    """Whether `op` is a collective over `name` whose result varies even for a uniform
    operand (each example gets its own index or block)."""
    return isinstance(op, VARYING_COLLECTIVES) and name in op.axis_names


_PLAIN: dict[type[Operation], bool] = {}
"""Per op class: whether its ops are plain (no special case below applies to an op
without regions), so most ops of a long program skip the isinstance chain."""


def _is_plain(kind: type[Operation]) -> bool:
    plain = _PLAIN.get(kind)
    if plain is None:
        plain = _PLAIN[kind] = not issubclass(kind, (AnyOp, AllOp, *COLLECTIVE_OPS))
    return plain


def _analyse_op(op: Operation, varying: set[SSAValue], name: str | None) -> None:
    if not op.regions and _is_plain(type(op)):
        if any(v in varying for v in op.operands):
            varying.update(op.results)
        return
    if isinstance(op, (AnyOp, AllOp)):
        return
    if isinstance(op, COLLECTIVE_OPS) and name in op.axis_names:
        if _introduces_variation(op, name) or (
            isinstance(op, PpermuteOp) and any(v in varying for v in op.operands)
        ):
            varying.update(op.results)
        return
    if isinstance(op, hlo.WhileOp):
        _analyse_while(op, varying, name)
        return
    if isinstance(op, CONTROL_FLOW):
        for region in op.regions:
            for block in region.blocks:
                _analyse_block(block, varying, name)
        if any(v in varying for v in op.operands) or any(
            v in varying for v in _terminator_operands(op)
        ):
            varying.update(op.results)
        return
    # Other ops with regions (reduce, sort, nested vmap, ...) compute from their own
    # operands; their regions only see per-element values or their own example, or our
    # axis index (a nested vmap's body may ask for the outer axis' index).
    if (
        any(v in varying for v in op.operands)
        or _reads_varying_capture(op, varying)
        or any(_introduces_variation(inner, name) for r in op.regions for inner in r.walk())
    ):
        varying.update(op.results)


def varying_values(vmap: VmapOp) -> set[SSAValue]:
    """The values of `vmap`'s body that vary between the examples of `vmap`."""
    block = vmap.body.block
    varying: set[SSAValue] = {
        arg for arg, axis in zip(block.args, vmap.in_axes_list) if axis is not None
    }
    _analyse_block(block, varying, vmap.name_of_axis)
    return varying


def analysed_ops(block: Block) -> Iterator[Operation]:
    """The ops the analysis is about: `block`'s ops and those in control-flow regions."""
    for op in block.ops:
        if isinstance(op, YieldOp):
            continue
        yield op
        if isinstance(op, CONTROL_FLOW):
            for region in op.regions:
                for inner in region.blocks:
                    yield from analysed_ops(inner)


@dataclass(frozen=True)
class BatchPropagateAxesPass(ModulePass):
    """Annotate ops in `batch.vmap` bodies with `batch.varying` (see module doc)."""

    name = "batch-propagate-axes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for vmap in vmaps_in(op):
            varying = varying_values(vmap)
            for inner in analysed_ops(vmap.body.block):
                if inner.results:
                    inner.attributes[VARYING_ATTR] = varying_attr(
                        [r in varying for r in inner.results]
                    )
