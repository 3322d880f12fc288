"""batch-fuse: remove the data movement vectorization introduced, hoist what loops repeat.

Expects: batch-vectorize has run (no `batch.vmap` left; it is harmless if one is: its
body is rewritten as ordinary per-example code). `batch.move_axis` and `batch.broadcast`
are still explicit, so a transpose or broadcast that vectorization added is recognisable.
Does (patterns, applied to a fixed point; docs/passes.md has one line per fold; chains in
fuse_patterns.py, transposes through ops in fuse_transposes.py, loops in fuse_hoist.py):
- transposes (`batch.move_axis`, `stablehlo.transpose`): a chain becomes one or nothing;
  one of a broadcast becomes the broadcast made in the moved layout; one feeding a
  `dot_general` or a `reduce` is folded into its dimension numbers when the result
  layout stays, one of a `dot_general` result makes the dot produce that layout;
  elementwise ops whose operands are transposed alike run first and are transposed once,
  and a transpose of elementwise ops moves up into their operands where it cancels there;
- broadcasts of broadcasts become one `broadcast_in_dim`; reshapes of reshapes one
  reshape; converts and reshapes to the operand's own type disappear;
- a sum over batch dimensions of a `dot_general` becomes a contraction over them (one
  GEMM; only the order of the additions changes: passes/fuse_contraction.py);
- loop-invariant code motion for `stablehlo.while`: carried values the body returns
  unchanged are read from outside, and side-effect-free ops of the cond and body that
  only read values from outside the loop move before it, once (recursively: inner loops
  first, then what they hoisted leaves the outer loop too); identical hoisted ops merge;
- with `algebraic=true` only (`vmlir.compile(fn, fast_math=True)`): a sum over F of
  (X_i - Y_j)^2 between two broadcast operands becomes max(|X|^2 + |Y|^2 - 2 X.Y, 0),
  one dot_general (passes/fuse_algebraic.py). This changes rounding: docs/passes.md.
Guarantees: without `algebraic`, no arithmetic changes: the folds only move data and
hoisting only changes where (and how often) a side-effect-free op runs; the number of
transposes does not grow; the batch ops left are `batch.move_axis` and `batch.broadcast`
only, for batch-lower.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.ir import Operation
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.transforms.dead_code_elimination import is_trivially_dead

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp

from vmlir.passes.fuse_algebraic import SquaredDistanceToGemmPattern
from vmlir.passes.fuse_contraction import SumOfDotOverBatchPattern
from vmlir.passes.fuse_hoist import HoistLoopInvariantPattern, WhileInvariantCarryPattern
from vmlir.passes.fuse_patterns import (
    ComposeBroadcastsPattern,
    ComposePermutationsPattern,
    ComposeReshapesPattern,
    DropSameTypeConvertPattern,
    PermuteOfBroadcastPattern,
)
from vmlir.passes.fuse_transposes import (
    PermutationIntoDotPattern,
    PermutationIntoReducePattern,
    PermutationOfDotPattern,
    PullPermutationUpPattern,
    SinkPermutationPattern,
)


@dataclass(frozen=True)
class BatchFusePass(ModulePass):
    """Fold vectorization's transposes and broadcasts, hoist loop invariants (module doc)."""

    name = "batch-fuse"

    algebraic: bool = False
    """Also apply rewrites that change rounding (`-p "batch-fuse{algebraic=true}"`)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(ByTypePatternApplier(self.patterns())).rewrite_module(op)

    def patterns(self) -> list[tuple[RewritePattern, tuple[type[Operation], ...]]]:
        """The pass's patterns, in order, each with the op types it rewrites."""
        permutes = (MoveAxisOp, hlo.TransposeOp)
        # Each pattern with the op types it can rewrite (its first check): an op is
        # offered only to the patterns of its type.
        patterns: list[tuple[RewritePattern, tuple[type[Operation], ...]]] = [
            # Chains collapse first: what is left to move through other ops is less.
            (ComposePermutationsPattern(), permutes),
            (PermuteOfBroadcastPattern(), permutes),
            (ComposeBroadcastsPattern(), (BroadcastOp, hlo.BroadcastInDimOp)),
            (ComposeReshapesPattern(), (hlo.ReshapeOp,)),
            (DropSameTypeConvertPattern(), (hlo.ConvertOp,)),
            (PermutationIntoDotPattern(), (hlo.DotGeneralOp,)),
            (PermutationIntoReducePattern(), (hlo.ReduceOp,)),
            (SumOfDotOverBatchPattern(), (hlo.ReduceOp,)),
            (PermutationOfDotPattern(), permutes),
            (PullPermutationUpPattern(), permutes),
            (SinkPermutationPattern(), (hlo.ElementwiseOp,)),
            (WhileInvariantCarryPattern(), (hlo.WhileOp,)),
            (HoistLoopInvariantPattern(), (hlo.WhileOp,)),
        ]
        if self.algebraic:
            patterns.append((SquaredDistanceToGemmPattern(), (hlo.ReduceOp,)))
        return patterns


class ByTypePatternApplier(RewritePattern):
    """xDSL's GreedyRewritePatternApplier (trivially dead ops erased, then the first
    pattern that rewrites wins, in list order), offering each op only the patterns
    listed for its type: on a 1,000-op program most ops match no pattern, and trying
    all of them on each op was most of the pass's time."""

    def __init__(self, patterns: list[tuple[RewritePattern, tuple[type[Operation], ...]]]):
        self.patterns = patterns
        self.by_type: dict[type[Operation], list[RewritePattern]] = {}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if is_trivially_dead(op):
            rewriter.erase(op)
            return
        kind = type(op)
        mine = self.by_type.get(kind)
        if mine is None:
            mine = self.by_type[kind] = [p for p, roots in self.patterns if issubclass(kind, roots)]
        for pattern in mine:
            pattern.match_and_rewrite(op, rewriter)
            if rewriter.has_done_action:
                return
