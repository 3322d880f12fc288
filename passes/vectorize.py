"""batch-vectorize: replace each `batch.vmap` by batched ops, one batching rule per op.

Expects: `batch.vmap` ops, masked by batch-mask-control-flow (run again here on each vmap
just before it is vectorized). It does not need batch-propagate-axes' annotations: it
tracks where every value carries the batch axis itself, which agrees with the analysis.
Does: innermost `batch.vmap` first. Control flow that varies is masked first (again: a
nested vmap, once vectorized, can leave control flow that varies in the outer one). Then
the body is walked in order, mapping every value to its batched replacement and batch
axis (None = uniform). Uniform ops are copied unchanged (computed once for the whole
batch); varying ops go through their rule in `vmlir.passes.rules`; rules for control
flow vectorize their regions with the same machinery. At the yield, each result is put
on its `out_axes` axis with `batch.move_axis` (or given one with `batch.broadcast`).
Guarantees: no `batch.vmap`/`batch.yield`/`batch.masked`/`batch.any`/`batch.all` remain;
`batch.move_axis` and `batch.broadcast` may (batch-lower turns them into StableHLO).
Errors: an op without a batching rule, or a varying value yielded with out_axes none,
raise VmlirUnsupportedError / VmlirError naming the op.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects.batch import (
    VARYING_ATTR,
    AllOp,
    AnyOp,
    MaskedOp,
    VmapOp,
    YieldOp,
    insert_axis,
    vmaps_in,
)
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS, CustomVmapOp
from vmlir.dialects.batch_shards import MeshShards
from vmlir.errors import VmlirAxisError, VmlirError
from vmlir.passes.mask_control_flow import mask_control_flow
from vmlir.passes.rules import Axis, RuleContext, rule_for
from vmlir.passes.rules.strategy import check as check_strategy

_ALWAYS_RULE = (AnyOp, AllOp, MaskedOp, CustomVmapOp, *COLLECTIVE_OPS)
"""Batch ops that need their rule even when uniform (a lane reduction of a uniform value is
the value itself; a masked region is inlined; psum of a uniform value is axis_size × it,
axis_index varies): copying them would leave batch ops behind.
An op whose regions hold one goes through its rule too."""


_ALWAYS_BY_TYPE: dict[type[Operation], bool] = {}


def _always_rule(op: Operation) -> bool:
    # By type, once: isinstance against the tuple's ABCs, for every op, was a tenth of
    # the pass's time on a long elementwise chain.
    kind = type(op)
    known = _ALWAYS_BY_TYPE.get(kind)
    if known is None:
        known = _ALWAYS_BY_TYPE[kind] = issubclass(kind, _ALWAYS_RULE)
    return known


def _holds_batch_ops(op: Operation) -> bool:
    return _always_rule(op) or any(
        _always_rule(inner) for region in op.regions for inner in region.walk()
    )


def _copy_flat(op: Operation, operands: Sequence[SSAValue]) -> Operation:
    """`op.clone()` of an op without regions or successors, on `operands`, without its
    `batch.varying` flags. xDSL's clone sets the operands twice (at creation, then again
    from the value map), ~3x the cost of creating the op; a long program copies
    hundreds of uniform ops."""
    attrs = {k: v for k, v in op.attributes.items() if k != VARYING_ATTR}
    new = op.create(
        operands=operands,
        result_types=op.result_types,
        properties=dict(op.properties),
        attributes=attrs,
        location=op.location,
    )
    for old, copy in zip(op.results, new.results, strict=True):
        copy.name_hint = old.name_hint
    return new


@dataclass(frozen=True)
class VectorizeOptions:
    strategy: str = "auto"
    """How varying while loops run: auto, mask, compact, refill or sequential (see
    passes/rules/strategy.py); a loop's own `batch.strategy` attribute wins."""
    compact_lanes: bool = True
    """false: `auto` picks `mask` (no compaction, no refill)."""
    min_bucket: int = 128
    """Compaction stops shrinking below this many lanes."""
    shrink: int = 0
    """Each compaction level continues on 1/shrink of the lanes (0: chosen from the batch
    size so that the nest has at most max_levels loops)."""
    max_levels: int = 2
    """At most this many compaction levels (loops) when shrink is 0."""
    lanes: int = 0
    """Refill's persistent lanes (0: chosen from the batch size)."""
    check_every: int = 8
    """Compaction counts a level's active lanes at most every this many iterations."""
    refill_min: int = 1 << 19
    """`auto` picks refill from this batch size on."""
    tail_copy: int = -1
    """What one of refill's tail loops must save per call, in lane-ops per lane-op it
    compiles, to be built (-1: costmodel.TAIL_COPY; 0: every tail loop is built)."""


class Vectorizer:
    """Maps per-example values of one `batch.vmap` to batched values and their axes."""

    def __init__(
        self,
        axis_size: int,
        options: VectorizeOptions = VectorizeOptions(),
        axis_name: str | None = None,
        shards: MeshShards | None = None,
    ):
        self.axis_size = axis_size
        self.options = options
        self.axis_name = axis_name
        """The vmap's axis name: collectives over it are this vectorizer's to batch."""
        self.shards = shards
        """The device mesh this vmap's batch is one shard of (its collectives reach the
        other shards), or None."""
        self.env: dict[SSAValue, tuple[SSAValue, Axis]] = {}
        self.mapping: dict[SSAValue, SSAValue] = {}

    def child(self, axis_size: int) -> Vectorizer:
        """A vectorizer for the same per-example code over fewer lanes (lane compaction)."""
        return Vectorizer(axis_size, self.options, self.axis_name, self.shards)

    def bind(self, old: SSAValue, new: SSAValue, axis: Axis) -> None:
        self.env[old] = (new, axis)
        self.mapping[old] = new

    def lookup(self, v: SSAValue) -> tuple[SSAValue, Axis]:
        # Values from outside the vmap are the same for every example.
        return self.env.get(v, (v, None))

    def reads_batched_capture(self, op: Operation) -> bool:
        """Whether a region of `op` reads a batched value from outside it."""
        for region in op.regions:
            for inner in region.walk():
                for v in inner.operands:
                    if v in self.env and self.env[v][1] is not None:
                        return True
        return False

    def context(self, ip: InsertPoint) -> RuleContext:
        return RuleContext(self.axis_size, ip, self)

    def run(self, ops: Iterable[Operation], ip: InsertPoint) -> None:
        """Vectorize `ops` (no terminator) into new ops at `ip`."""
        ctx = self.context(ip)
        for op in list(ops):
            self.vectorize_op(op, ctx)

    def vectorize_op(self, op: Operation, ctx: RuleContext) -> None:
        looked = [self.lookup(v) for v in op.operands]
        operands = [v for v, _ in looked]
        axes = [a for _, a in looked]
        uniform = all(a is None for a in axes) and not self.reads_batched_capture(op)
        if uniform and not _holds_batch_ops(op):
            if op.regions or op.successors:
                clone = op.clone(value_mapper=self.mapping)
                for inner in clone.walk():
                    inner.attributes.pop(VARYING_ATTR, None)
            else:
                clone = _copy_flat(op, operands)
            ctx.emit(clone)
            for r, c in zip(op.results, clone.results):
                self.bind(r, c, None)
            return
        results, result_axes = rule_for(op)(ctx, op, operands, axes)
        for r, new, axis in zip(op.results, results, result_axes, strict=True):
            self.bind(r, new, axis)

    def vectorize_block(
        self, block: Block, arg_types: Sequence[Attribute], arg_axes: Sequence[Axis]
    ) -> tuple[Block, list[tuple[SSAValue, Axis]]]:
        """A new block computing `block` batched; its arguments are batched per `arg_axes`
        (from the per-example argument types). Returns the block (no terminator yet) and
        the batched values and axes its terminator would yield."""
        new_types = [
            t if a is None else insert_axis(t, a, self.axis_size)  # type: ignore[arg-type]
            for t, a in zip(arg_types, arg_axes)
        ]
        new = Block(arg_types=new_types)
        for old_arg, new_arg, a in zip(block.args, new.args, arg_axes):
            self.bind(old_arg, new_arg, a)
        term = block.last_op
        assert term is not None
        self.run([o for o in block.ops if o is not term], InsertPoint.at_end(new))
        return new, [self.lookup(v) for v in term.operands]


def vectorize_vmap(vmap: VmapOp, options: VectorizeOptions = VectorizeOptions()) -> None:
    """Replace one `batch.vmap` (with no nested vmap left inside) by batched ops."""
    mask_control_flow(vmap)
    vec = Vectorizer(vmap.size, options, vmap.name_of_axis, vmap.mesh_shards)
    block = vmap.body.block
    for arg, operand, axis in zip(block.args, vmap.args, vmap.in_axes_list):
        vec.bind(arg, operand, axis)
    term = block.last_op
    assert isinstance(term, YieldOp)
    ip = InsertPoint.before(vmap)
    vec.run([o for o in block.ops if o is not term], ip)
    ctx = vec.context(ip)
    outs: list[SSAValue] = []
    for j, (v, out_axis) in enumerate(zip(term.values, vmap.out_axes_list)):
        new, axis = vec.lookup(v)
        if out_axis is None:
            if axis is not None:
                raise VmlirAxisError(f"vmap has mapped output (result {j}) but out_axes is None")
            outs.append(new)
        else:
            outs.append(ctx.to_axis(new, axis, out_axis))
    Rewriter.replace_op(vmap, [], outs)


@dataclass(frozen=True)
class BatchVectorizePass(ModulePass):
    """Turn every `batch.vmap` into batched ops (see module doc)."""

    name = "batch-vectorize"

    strategy: str = "auto"
    compact_lanes: bool = True
    min_bucket: int = 128
    shrink: int = 0
    max_levels: int = 2
    lanes: int = 0
    refill_min: int = 1 << 19
    check_every: int = 8
    tail_copy: int = -1

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.shrink == 1 or self.shrink < 0 or self.min_bucket < 1 or self.max_levels < 1 or self.lanes < 0 or self.check_every < 1:
            raise VmlirError(
                "batch-vectorize needs shrink >= 2 (or 0), min_bucket >= 1, max_levels >= 1, "
                f"lanes >= 0 and check_every >= 1, got {self.shrink}, {self.min_bucket}, "
                f"{self.max_levels}, {self.lanes} and {self.check_every}"
            )
        if self.tail_copy < -1:
            raise VmlirError(f"batch-vectorize needs tail_copy >= 0 (or -1: the cost model's), got {self.tail_copy}")
        check_strategy(self.strategy, "batch-vectorize")
        options = VectorizeOptions(
            **{f: getattr(self, f) for f in VectorizeOptions.__dataclass_fields__}
        )
        # Post-order: a nested vmap is vectorized before the vmap that contains it.
        vmaps = vmaps_in(op)
        for vmap in reversed(vmaps):
            vectorize_vmap(vmap, options)

