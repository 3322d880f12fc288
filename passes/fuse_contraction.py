"""batch-fuse pattern: a sum over the batch dimensions of a dot_general is a contraction.

`reduce(add, 0)` over some batch dimensions of a `dot_general` that nothing else reads
becomes one `dot_general` contracting those dimensions too. Derivative programs make this
shape: the cotangent of an input passed with in_axes=None is a per-example outer product
(vectorized: a batched dot_general) summed over the batch, which as a contraction is one
GEMM, as jax.vmap's transposed program has it. Only the order of the additions changes.
"""

from __future__ import annotations

from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from vmlir.dialects import stablehlo as hlo
from vmlir.passes.fuse_algebraic import _is_sum
from vmlir.passes.fuse_patterns import defining_op


class SumOfDotOverBatchPattern(RewritePattern):
    """reduce-sum over leading (batch) result dims of a dot_general -> contract them."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.ReduceOp, rewriter: PatternRewriter) -> None:
        if not _is_sum(op):
            return
        dot = defining_op(op.inputs[0])
        if not isinstance(dot, hlo.DotGeneralOp) or {u.operation for u in dot.result.uses} != {op}:
            return
        dn = dot.dot_dimension_numbers
        lb, rb = list(dn.lhs_batching_dimensions), list(dn.rhs_batching_dimensions)
        reduced = sorted(op.dimensions.get_values())  # type: ignore[union-attr]
        # dot_general's result starts with its batch dimensions, in order.
        if not reduced or any(d >= len(lb) for d in reduced):
            return
        keep = [i for i in range(len(lb)) if i not in reduced]
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [lb[i] for i in keep],
            [rb[i] for i in keep],
            [*dn.lhs_contracting_dimensions, *(lb[i] for i in reduced)],
            [*dn.rhs_contracting_dimensions, *(rb[i] for i in reduced)],
        )
        new = hlo.DotGeneralOp(
            dot.lhs, dot.rhs, new_dn, op.results[0].type, precision_config=dot.precision_config
        )
        rewriter.replace(op, [new])
        rewriter.erase(dot)
