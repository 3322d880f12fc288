"""batch-mask-control-flow: linearize control flow whose predicate varies between examples.

Expects: `batch.vmap` bodies with per-example `stablehlo.case` / `if` / `while`.
Does, per `batch.vmap` (relative to its own examples):
- `case`/`if` with a UNIFORM index/predicate stay real control flow (batch-vectorize only
  vectorizes their branches).
- `case`/`if` with a VARYING index/predicate: each branch k runs in a `batch.masked`
  region under its mask m_k (index == k; the last branch takes every other index, as
  stablehlo.case does), and the results merge with `stablehlo.select`. Inside an already
  masked region the masks compose (`and` with the enclosing mask).
- `while` with a VARYING predicate: the loop runs while `batch.any` example is active
  (its predicate and the enclosing mask hold); the active flag is an extra carry,
  evaluated before the loop and at the end of each iteration (the cond only reduces it);
  the body runs in a `batch.masked` region under it and each carry it changes is kept
  with `select(active, new, old)`, so a finished example's values never change again and
  inactive examples cannot keep the loop alive. Carries the body passes through
  unchanged stay as they are (and uniform).
- Region skipping (`region-skipping=true`, the default): a masked branch whose cost (op
  count, expensive ops weighing more) is at least `skip-threshold` is guarded by a uniform
  `stablehlo.case` on `batch.any(mask)`, so a branch no example takes is not executed.
Guarantees: in every `batch.vmap`, every `case`/`if`/`while` left has a uniform
index/predicate. Examples outside a mask may compute garbage (division by zero,
out-of-range indices) inside `batch.masked`; it is never selected into their results.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType, UnitAttr, i1, i32
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import ACROSS_SHARDS_ATTR, AnyOp, MaskedOp, VmapOp, YieldOp, vmaps_in
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS
from vmlir.passes.builder import Builder
from vmlir.passes.propagate_axes import varying_values

LANE_LOOP_ATTR = "batch.lane_loop"
"""Marks a while this pass masked: its cond returns `batch.any(active)` of its last carry,
the active flag; its body keeps finished examples with selects and computes the next
flag. Lane compaction relies on exactly that shape."""

_EXPENSIVE = (hlo.DotGeneralOp, hlo.WhileOp, hlo.ReduceOp, hlo.GatherOp, hlo.ScatterOp, hlo.SortOp)


def region_cost(region: Region) -> int:
    """A rough cost: one per op, ten per op that loops or contracts."""
    return sum(10 if isinstance(op, _EXPENSIVE) else 1 for op in region.walk())


@dataclass
class _Masker:
    varying: set[SSAValue]
    region_skipping: bool
    skip_threshold: int

    def block(self, block: Block, mask: SSAValue | None) -> None:
        for op in list(block.ops):
            self.op(op, mask)

    def op(self, op: Operation, mask: SSAValue | None) -> None:
        if not op.regions:
            return  # only control flow is rewritten, and every kind of it has regions
        if isinstance(op, (hlo.CaseOp, hlo.IfOp)):
            selector = op.operands[0]
            if selector in self.varying:
                self.linearize_branches(op, mask)
                return
        elif isinstance(op, hlo.WhileOp):
            if op.cond.block.last_op.operands[0] in self.varying:  # type: ignore[union-attr]
                self.mask_while(op, mask)
                return
        elif isinstance(op, MaskedOp):
            self.block(op.body.block, op.mask)
            return
        elif isinstance(op, VmapOp):
            return  # its examples are not ours; it is masked relative to itself
        for region in op.regions:
            for inner in region.blocks:
                self.block(inner, mask)

    def branch_masks(self, op: Operation, b: Builder, mask: SSAValue | None) -> list[SSAValue]:
        if isinstance(op, hlo.IfOp):
            pred = op.operands[0]
            masks = [pred, b.not_(pred)]  # regions: true_branch, false_branch
        else:
            index, n = op.operands[0], len(op.regions)
            index_type = index.type
            assert isinstance(index_type, TensorType)
            masks = [b.compare(index, b.constant(index_type, k), "EQ") for k in range(n - 1)]
            if masks:
                taken = masks[0]
                for m in masks[1:]:
                    taken = b.binary(hlo.OrOp, taken, m)
                masks.append(b.not_(taken))  # out-of-range indices take the last branch
            else:
                masks.append(b.constant(TensorType(i1, []), True))
        return [b.and_mask(m, mask) for m in masks]

    def masked_region(self, b: Builder, region: Region, m: SSAValue, types: list) -> list[SSAValue]:
        """Move `region` (ending in stablehlo.return) into a batch.masked under `m`."""
        term = region.block.last_op
        assert isinstance(term, hlo.ReturnOp)
        Rewriter.replace_op(term, YieldOp(list(term.operands)))
        region.parent_op().detach_region(region)  # type: ignore[union-attr]
        masked = MaskedOp(m, region, types)
        # Skipping a region with a collective is a per-device decision when the batch is
        # sharded: the devices would no longer meet in it.
        if (
            self.region_skipping
            and region_cost(region) >= self.skip_threshold
            and not _holds_collective(region)
        ):
            any_op = AnyOp(m)
            b.emit(any_op)
            index = b.emit(hlo.ConvertOp.create(operands=[any_op.result], result_types=[TensorType(i32, [])]))
            skip = Block()
            skip_b = Builder(InsertPoint.at_end(skip))
            zeros = [skip_b.constant(t, 0) for t in types]
            skip.add_op(hlo.ReturnOp(*zeros))
            run = Block()
            run.add_ops([masked, hlo.ReturnOp(*masked.results)])
            guard = hlo.CaseOp.create(
                operands=[index], result_types=types, regions=[Region(skip), Region(run)]
            )
            Rewriter.insert_op(guard, b.ip)
            self.block(masked.body.block, m)
            return list(guard.results)
        Rewriter.insert_op(masked, b.ip)
        self.block(masked.body.block, m)
        return list(masked.results)

    def linearize_branches(self, op: Operation, mask: SSAValue | None) -> None:
        b = Builder(InsertPoint.before(op))
        types = [r.type for r in op.results]
        masks = self.branch_masks(op, b, mask)
        regions = list(op.regions)
        outs = [self.masked_region(b, r, m, types) for r, m in zip(regions, masks)]
        merged = outs[-1]
        for k in reversed(range(len(outs) - 1)):
            merged = [b.select(masks[k], outs[k][j], merged[j]) for j in range(len(types))]
        Rewriter.replace_op(op, [], merged)

    def mask_while(self, op: hlo.WhileOp, mask: SSAValue | None) -> None:
        """The lane loop (module doc). The active flag is an extra carry: the predicate is
        evaluated before the loop and at the end of each iteration, on the new carries,
        and the cond only asks `batch.any(active)`. Evaluating it in the cond and again
        in the body to mask it (what jax.vmap's loop does) costs one evaluation more per
        iteration: Newton's sqrt ran ~1.7x faster with the flag carried."""
        cond, body = op.cond.block, op.body.block
        cond_ret, body_ret = cond.last_op, body.last_op
        assert isinstance(cond_ret, hlo.ReturnOp) and isinstance(body_ret, hlo.ReturnOp)
        flag = TensorType(i1, [])
        yields = list(body_ret.operands)
        old_body_ops = [o for o in body.ops if o is not body_ret]
        for o in old_body_ops:
            o.detach()
        body.erase_op(body_ret)
        active0 = _predicate(cond, list(op.operands), Builder(InsertPoint.before(op)), mask)
        # body: run the old body masked by the carried flag, keep what finished examples
        # had, and evaluate the predicate on the new carries.
        active = body.insert_arg(flag, len(body.args))
        carried = list(body.args[:-1])
        bb = Builder(InsertPoint.at_end(body))
        inner = Block()
        inner.add_ops(old_body_ops)
        inner.add_op(YieldOp(yields))
        masked = MaskedOp(active, Region(inner), [y.type for y in yields])
        Rewriter.insert_op(masked, bb.ip)
        outs = [
            # A carry the body passes through unchanged needs no select (and stays uniform).
            arg if y is arg else bb.select(active, new, arg)
            for new, y, arg in zip(masked.results, yields, carried)
        ]
        # A finished example's carries no longer change, so its predicate stays false.
        body.add_op(hlo.ReturnOp(*outs, _predicate(cond, outs, bb, mask)))
        # cond: loop while any example is active.
        for o in reversed(list(cond.ops)):
            cond.erase_op(o)
        cond_active = cond.insert_arg(flag, len(cond.args))
        any_active = AnyOp(cond_active)
        if any(_holds_collective(r) for r in op.regions):
            any_active.attributes[ACROSS_SHARDS_ATTR] = UnitAttr()
        cond.add_ops([any_active, hlo.ReturnOp(any_active.result)])
        loop = hlo.WhileOp.create(
            operands=[*op.operands, active0],
            result_types=[*(r.type for r in op.results), flag],
            regions=[op.detach_region(r) for r in list(op.regions)],
            attributes={**op.attributes, LANE_LOOP_ATTR: UnitAttr()},
            location=op.location,
        )
        Rewriter.replace_op(op, loop, list(loop.results[:-1]))
        self.block(inner, active)


def _holds_collective(region: Region) -> bool:
    return any(isinstance(o, COLLECTIVE_OPS) for o in region.walk())


def _predicate(cond: Block, carries: list[SSAValue], b: Builder, mask: SSAValue | None) -> SSAValue:
    """A loop's predicate (its cond block, copied) on `carries`, and the enclosing mask."""
    ret = cond.last_op
    assert isinstance(ret, hlo.ReturnOp)
    mapping: dict[SSAValue, SSAValue] = dict(zip(cond.args, carries))
    for o in cond.ops:
        if o is not ret:
            Rewriter.insert_op(o.clone(value_mapper=mapping), b.ip)
    pred = ret.operands[0]
    return b.and_mask(mapping.get(pred, pred), mask)


def mask_control_flow(vmap: VmapOp, region_skipping: bool = True, skip_threshold: int = 20) -> None:
    """Linearize the varying control flow of one `batch.vmap` (see module doc)."""
    if not any(op.regions for op in vmap.body.block.ops):
        return  # no control flow: nothing to linearize, and no analysis needed
    _Masker(varying_values(vmap), region_skipping, skip_threshold).block(vmap.body.block, None)


@dataclass(frozen=True)
class BatchMaskControlFlowPass(ModulePass):
    """Linearize varying `case`/`if`/`while` under masks (see module doc)."""

    name = "batch-mask-control-flow"

    region_skipping: bool = True
    skip_threshold: int = 20

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for vmap in vmaps_in(op):
            mask_control_flow(vmap, self.region_skipping, self.skip_threshold)
