"""batch-lower: the last step to plain StableHLO.

Expects: batch-vectorize has run (no `batch.vmap` left).
Does: `batch.move_axis` becomes `stablehlo.transpose`, `batch.broadcast` becomes
`stablehlo.broadcast_in_dim`; leftover `batch.*` discardable attributes are dropped.
Guarantees: no op or attribute of the batch dialect remains; the module is pure
StableHLO + func, printable in the generic form jaxlib parses.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.transforms.dead_code_elimination import is_trivially_dead

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import AllOp, AnyOp, BroadcastOp, MaskedOp, MoveAxisOp, VmapOp
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS, CustomVmapOp
from vmlir.dialects.builder import i64_array
from vmlir.errors import VmlirError

_UNLOWERED = (VmapOp, MaskedOp, AnyOp, AllOp, CustomVmapOp, *COLLECTIVE_OPS)
"""Ops batch-vectorize removes: finding one here means it did not run."""


class MoveAxisToTransposePattern(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: MoveAxisOp, rewriter: PatternRewriter) -> None:
        rewriter.replace(
            op,
            hlo.TransposeOp.create(
                operands=[op.operand],
                result_types=[op.result.type],
                properties={"permutation": i64_array(op.permutation())},
            ),
        )


class BroadcastToBroadcastInDimPattern(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: BroadcastOp, rewriter: PatternRewriter) -> None:
        t = op.operand.type
        assert isinstance(t, TensorType)
        axis = op.axis.value.data
        dims = [d if d < axis else d + 1 for d in range(t.get_num_dims())]
        rewriter.replace(
            op,
            hlo.BroadcastInDimOp.create(
                operands=[op.operand],
                result_types=[op.result.type],
                properties={"broadcast_dimensions": i64_array(dims)},
            ),
        )


@dataclass(frozen=True)
class BatchLowerPass(ModulePass):
    """Remove the batch dialect (see module doc)."""

    name = "batch-lower"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Decided once per op class: isinstance over this many classes, on every op of a
        # long program, was a visible part of the pass.
        unlowered: dict[type[Operation], bool] = {}
        # The rewrite walk below also erases trivially dead ops; with nothing to lower and
        # nothing dead (the usual case after batch-fuse) it would change nothing.
        work = False
        for inner in op.walk():
            kind = type(inner)
            bad = unlowered.get(kind)
            if bad is None:
                bad = unlowered[kind] = issubclass(kind, _UNLOWERED)
            if bad:
                raise VmlirError(
                    f"batch-lower found a {inner.name}: run batch-vectorize before batch-lower"
                )
            if not work and inner is not op:
                work = kind in (MoveAxisOp, BroadcastOp) or is_trivially_dead(inner)
            # The attributes go in this walk (no pattern reads them; a rewrite below
            # drops those of the ops it makes): one walk of the module, not two.
            if inner.attributes:
                self.drop_batch_attributes_of(inner)
        if not work:
            return
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [MoveAxisToTransposePattern(), BroadcastToBroadcastInDimPattern()]
            ),
            apply_recursively=False,
        ).rewrite_module(op)
        self.drop_batch_attributes(op)

    @staticmethod
    def drop_batch_attributes(op: ModuleOp) -> None:
        for inner in op.walk():
            if inner.attributes:
                BatchLowerPass.drop_batch_attributes_of(inner)

    @staticmethod
    def drop_batch_attributes_of(inner: Operation) -> None:
        for key in [k for k in inner.attributes if k.startswith("batch.")]:
            del inner.attributes[key]
