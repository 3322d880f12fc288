"""batch-fuse{algebraic=true}: squared distances between two sets as one GEMM.

`vmap(vmap(lambda x, y: sum((x - y) ** 2)))` vectorizes to an n x m x F difference
tensor: both operands are broadcast (along different new axes), subtracted, squared and
reduced over F. The expansion |x - y|^2 = |x|^2 + |y|^2 - 2 x.y computes the same thing
with one dot_general (n x m, a GEMM) and two small reductions, and no n x m x F
intermediate. It rounds differently (docs/passes.md, "batch-fuse"), hence only under
`algebraic=true` (`vmlir.compile(..., fast_math=True)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    TensorType,
)
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from vmlir.dialects import chlo
from vmlir.dialects import stablehlo as hlo
from vmlir.passes.fuse_patterns import (
    broadcast_of,
    defining_op,
    is_increasing,
    splat_constant,
    tensor_type,
)


def _through_broadcasts(v: SSAValue) -> tuple[SSAValue, list[int]] | None:
    """(source, dims) of a chain of broadcasts ending in `v`, composed into one."""
    b = broadcast_of(defining_op(v))
    if b is None:
        return None
    source, dims = b
    while (inner := broadcast_of(defining_op(source))) is not None:
        source, inner_dims = inner
        dims = [dims[d] for d in inner_dims]
    return source, dims


def _splat_float(v: SSAValue) -> float | None:
    """The value of a splat float constant, possibly broadcast."""
    b = _through_broadcasts(v)
    value = splat_constant(defining_op(b[0] if b else v))
    if value is None or not isinstance(value.get_element_type(), (Float32Type, Float64Type)):
        return None
    return float(value.get_values()[0])  # type: ignore[arg-type]


def _squared(op: Operation | None) -> SSAValue | None:
    """d if `op` computes d * d (multiply, chlo.square, or power with exponent 2)."""
    if isinstance(op, hlo.MultiplyOp) and op.lhs is op.rhs:
        return op.lhs
    if isinstance(op, chlo.SquareOp):
        return op.operand
    if isinstance(op, hlo.PowerOp) and _splat_float(op.rhs) == 2.0:
        return op.lhs
    return None


def _is_sum(op: hlo.ReduceOp) -> bool:
    """One input, a zero init and an add body."""
    if len(op.inputs) != 1 or _splat_float(op.init_values[0]) != 0.0:
        return False
    if len(op.body.blocks) != 1:
        return False
    block = op.body.block
    ops = list(block.ops)
    return (
        len(block.args) == 2
        and len(ops) == 2
        and isinstance(ops[0], hlo.AddOp)
        and set(ops[0].operands) == set(block.args)
        and isinstance(ops[1], hlo.ReturnOp)
        and list(ops[1].operands) == [ops[0].result]
    )


@dataclass
class _Side:
    """One operand of the difference: `source` broadcast along `dims` into the
    difference's shape; `at[s]` is the source dim that difference dim s comes from."""

    source: SSAValue
    dims: list[int]

    @property
    def at(self) -> dict[int, int]:
        return {s: j for j, s in enumerate(self.dims)}


def _side(v: SSAValue, shape: tuple[int, ...]) -> _Side | None:
    b = _through_broadcasts(v)
    if b is None:
        return None
    source, dims = b
    src_shape = tensor_type(source).get_shape()
    # Size-1 dims stretched by the broadcast would need their own handling; rare here.
    if not is_increasing(dims) or any(src_shape[j] != shape[s] for j, s in enumerate(dims)):
        return None
    return _Side(source, dims)


class SquaredDistanceToGemmPattern(RewritePattern):
    """reduce(add) over F of (A - B)^2, A and B broadcasts of X and Y along different new
    axes -> max(sum(X*X) + sum(Y*Y) - 2 dot_general(X, Y), 0) in the reduce's layout."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.ReduceOp, rewriter: PatternRewriter) -> None:
        if not _is_sum(op):
            return
        square = op.inputs[0]
        elt = tensor_type(square).element_type
        if not isinstance(elt, (Float32Type, Float64Type)):
            return
        square_op = defining_op(square)
        diff = _squared(square_op)
        sub = defining_op(diff) if diff is not None else None
        if not isinstance(sub, hlo.SubtractOp):
            return
        # Only when the n x m x F tensors die with the reduce; else nothing is saved.
        if any(u.operation is not op for u in square.uses) or any(
            u.operation is not square_op for u in sub.result.uses
        ):
            return
        shape = tensor_type(sub.result).get_shape()
        x, y = _side(sub.lhs, shape), _side(sub.rhs, shape)
        if x is None or y is None:
            return
        reduced = list(op.dimensions.get_values())
        xa, ya = x.at, y.at
        if not reduced or any(r not in xa or r not in ya for r in reduced):
            return
        kept = [s for s in range(len(shape)) if s not in reduced]
        batch = [s for s in kept if s in xa and s in ya]
        x_free = [s for s in kept if s in xa and s not in ya]
        y_free = [s for s in kept if s in ya and s not in xa]
        # Without a free dim on each side there is no outer product to save.
        if not x_free or not y_free:
            return
        out_t = tensor_type(op.results[0])
        out_dim = {s: i for i, s in enumerate(kept)}
        new_ops: list[Operation] = []

        def emit(new: Operation) -> SSAValue:
            new_ops.append(new)
            return new.results[0]

        # Pick the operand order that puts the dot's dims in the reduce's order.
        lhs, rhs, lhs_free, rhs_free = x, y, x_free, y_free
        if not is_increasing(batch + x_free + y_free) and is_increasing(batch + y_free + x_free):
            lhs, rhs, lhs_free, rhs_free = y, x, y_free, x_free
        dot_dims = batch + lhs_free + rhs_free
        la, ra = lhs.at, rhs.at
        dn = hlo.DotDimensionNumbersAttr.make(
            [la[s] for s in batch], [ra[s] for s in batch],
            [la[r] for r in reduced], [ra[r] for r in reduced],
        )
        highest = hlo.PrecisionAttr(hlo.Precision.HIGHEST)
        dot = emit(
            hlo.DotGeneralOp(
                lhs.source, rhs.source, dn,
                TensorType(elt, [shape[s] for s in dot_dims]),
                # The exact form rounds in full precision; a TF32 or bf16 GEMM would
                # add its own error on top of the cancellation.
                precision_config=ArrayAttr([highest, highest]),
            )
        )
        if not is_increasing(dot_dims):
            order = sorted(range(len(dot_dims)), key=lambda i: dot_dims[i])
            dot = emit(hlo.TransposeOp(dot, order))
            dot_dims = sorted(dot_dims)
        cross = dot
        if dot_dims != kept:
            # Dims neither operand has: the same value all along them.
            cross = emit(hlo.BroadcastInDimOp(dot, [out_dim[s] for s in dot_dims], out_t))

        def norms(side: _Side) -> SSAValue:
            sq = emit(hlo.MultiplyOp(side.source, side.source))
            at = side.at
            summed_t = TensorType(elt, [shape[s] for s in side.dims if s not in reduced])
            total = emit(
                hlo.ReduceOp(
                    [sq], [op.init_values[0]], [at[r] for r in reduced], op.body.clone(), [summed_t]
                )
            )
            kept_dims = [out_dim[s] for s in side.dims if s not in reduced]
            return emit(hlo.BroadcastInDimOp(total, kept_dims, out_t))

        both = emit(hlo.AddOp(norms(x), norms(y)))
        two = emit(hlo.ConstantOp(DenseIntOrFPElementsAttr.from_list(out_t, [2.0])))
        dist = emit(hlo.SubtractOp(both, emit(hlo.MultiplyOp(two, cross))))
        zero = emit(hlo.ConstantOp(DenseIntOrFPElementsAttr.from_list(out_t, [0.0])))
        # Cancellation can make the expansion slightly negative where the exact form is
        # a sum of squares; clamp (documented in docs/passes.md).
        rewriter.replace(op, [*new_ops, hlo.MaximumOp(dist, zero)])

