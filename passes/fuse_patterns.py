"""batch-fuse's folds of the data movement vectorization leaves behind.

Each pattern here removes or merges chains of transposes (`batch.move_axis`,
`stablehlo.transpose`), broadcasts (`batch.broadcast`, `stablehlo.broadcast_in_dim`),
reshapes or converts without changing any value; `fuse_transposes.py` moves transposes
through other ops. See `passes/fuse.py` for the pass and docs/passes.md.

Conventions: a permutation `p` is stablehlo.transpose's: result dim i is operand dim
`p[i]`. Broadcast dims `d` are broadcast_in_dim's: operand dim j becomes result dim `d[j]`.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import BytesAttr, DenseIntOrFPElementsAttr, TensorType
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp

# ---------------------------------------------------------------------------
# Small helpers, shared by all of batch-fuse's patterns
# ---------------------------------------------------------------------------


def tensor_type(v: SSAValue) -> TensorType:
    t = v.type
    assert isinstance(t, TensorType), f"expected a tensor, got {t}"
    return t


def defining_op(v: SSAValue) -> Operation | None:
    return v.op if isinstance(v, OpResult) else None


def permutation_of(op: Operation | None) -> list[int] | None:
    """The transpose permutation `op` performs, if it is a move_axis or a transpose."""
    if isinstance(op, MoveAxisOp):
        return op.permutation()
    if isinstance(op, hlo.TransposeOp):
        return list(op.permutation.get_values())
    return None


def broadcast_of(op: Operation | None) -> tuple[SSAValue, list[int]] | None:
    """(operand, broadcast dims) if `op` is a batch.broadcast or a broadcast_in_dim."""
    if isinstance(op, BroadcastOp):
        axis = op.axis.value.data
        rank = tensor_type(op.operand).get_num_dims()
        return op.operand, [d if d < axis else d + 1 for d in range(rank)]
    if isinstance(op, hlo.BroadcastInDimOp):
        return op.operand, list(op.broadcast_dimensions.get_values())
    return None


_BROADCASTS = (BroadcastOp, hlo.BroadcastInDimOp)


def is_identity(perm: Sequence[int]) -> bool:
    return list(perm) == list(range(len(perm)))


def is_increasing(xs: Sequence[int]) -> bool:
    return all(a < b for a, b in zip(xs, xs[1:]))


def inverse(perm: Sequence[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def single_move(perm: Sequence[int]) -> tuple[int, int] | None:
    """(source, destination) if `perm` moves exactly one axis, as batch.move_axis does."""
    rank = len(perm)
    for src in range(rank):
        for dst in range(rank):
            if src == dst:
                continue
            moved = list(range(rank))
            moved.insert(dst, moved.pop(src))
            if moved == list(perm):
                return src, dst
    return None


def permuted_type(t: TensorType, perm: Sequence[int]) -> TensorType:
    shape = t.get_shape()
    return TensorType(t.element_type, [shape[p] for p in perm])


def make_permute(value: SSAValue, perm: Sequence[int], prefer_move: bool) -> Operation:
    """The op that transposes `value` by `perm` (not the identity): a batch.move_axis when
    `prefer_move` and one axis moves (the batch dialect stays explicit until
    batch-lower), else a stablehlo.transpose."""
    move = single_move(perm) if prefer_move else None
    if move is not None:
        return MoveAxisOp(value, *move)
    return hlo.TransposeOp(value, perm, permuted_type(tensor_type(value), perm))


def splat_constant(op: Operation | None) -> DenseIntOrFPElementsAttr | None:
    """The value of a stablehlo.constant whose elements are all equal."""
    if not isinstance(op, hlo.ConstantOp) or not isinstance(op.value, DenseIntOrFPElementsAttr):
        return None
    data = op.value.data.data
    n = len(op.value)
    if n == 0 or len(data) % n:
        return None
    width = len(data) // n
    # Compare bytes, not unpacked values: weights can be large constants.
    return op.value if data == data[:width] * n else None


def splat_like(value: DenseIntOrFPElementsAttr, t: TensorType) -> DenseIntOrFPElementsAttr:
    """The same splat value, with the type `t` (same element type)."""
    n = 1
    for s in t.get_shape():
        n *= s
    width = len(value.data.data) // len(value)
    return DenseIntOrFPElementsAttr(t, BytesAttr(value.data.data[:width] * n))


# ---------------------------------------------------------------------------
# Transposes
# ---------------------------------------------------------------------------


class ComposePermutationsPattern(RewritePattern):
    """move_axis/transpose of a move_axis/transpose -> one of them, or nothing; an
    identity move_axis/transpose -> its operand."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        outer = permutation_of(op)
        if outer is None:
            return
        if is_identity(outer):
            rewriter.replace(op, [], [op.operands[0]])
            return
        inner_op = defining_op(op.operands[0])
        inner = permutation_of(inner_op)
        if inner is None:
            return
        assert inner_op is not None
        source = inner_op.operands[0]
        composed = [inner[p] for p in outer]
        if is_identity(composed):
            rewriter.replace(op, [], [source])
            return
        prefer_move = isinstance(op, MoveAxisOp) or isinstance(inner_op, MoveAxisOp)
        rewriter.replace(op, make_permute(source, composed, prefer_move))


class PermuteOfBroadcastPattern(RewritePattern):
    """move_axis/transpose of a broadcast -> the broadcast made directly in the moved
    layout (the small operand is transposed instead, if it must be)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        perm = permutation_of(op)
        if perm is None:
            return
        inner_op = defining_op(op.operands[0])
        bcast = broadcast_of(inner_op)
        if bcast is None:
            return
        source, dims = bcast
        inv = inverse(perm)
        new_dims = [inv[d] for d in dims]
        result_t = tensor_type(op.results[0])
        if is_increasing(new_dims):
            moved = [d for d in range(len(perm)) if d not in new_dims]
            if isinstance(inner_op, BroadcastOp) and len(moved) == 1:
                size = inner_op.size.value.data
                rewriter.replace(op, BroadcastOp(source, moved[0], size))
                return
            rewriter.replace(op, hlo.BroadcastInDimOp(source, new_dims, result_t))
            return
        # Operand dim order disagrees with the new layout: transpose the operand, which
        # is smaller than the broadcast result.
        order = sorted(range(len(new_dims)), key=lambda j: new_dims[j])
        transposed = hlo.TransposeOp(source, order, permuted_type(tensor_type(source), order))
        bcast_op = hlo.BroadcastInDimOp(transposed.result, sorted(new_dims), result_t)
        rewriter.replace(op, [transposed, bcast_op])


# ---------------------------------------------------------------------------
# Broadcasts, reshapes, converts
# ---------------------------------------------------------------------------


class ComposeBroadcastsPattern(RewritePattern):
    """broadcast of a broadcast (batch.broadcast or broadcast_in_dim) -> one
    broadcast_in_dim of the innermost operand."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        # Most broadcasts read no broadcast: look at the producer before decoding dims.
        if not op.operands or not isinstance(defining_op(op.operands[0]), _BROADCASTS):
            return
        outer = broadcast_of(op)
        if outer is None:
            return
        inner = broadcast_of(defining_op(outer[0]))
        if inner is None:
            return
        source, inner_dims = inner
        dims = [outer[1][d] for d in inner_dims]
        rewriter.replace(op, hlo.BroadcastInDimOp(source, dims, op.results[0].type))


class ComposeReshapesPattern(RewritePattern):
    """reshape of a reshape -> one reshape; a reshape to its operand's type -> nothing."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.ReshapeOp, rewriter: PatternRewriter) -> None:
        if op.operand.type == op.result.type:
            rewriter.replace(op, [], [op.operand])
            return
        inner = defining_op(op.operand)
        if not isinstance(inner, hlo.ReshapeOp):
            return
        if inner.operand.type == op.result.type:
            rewriter.replace(op, [], [inner.operand])
            return
        rewriter.replace(op, hlo.ReshapeOp(inner.operand, op.result.type))


class DropSameTypeConvertPattern(RewritePattern):
    """convert to the operand's own type -> nothing."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.ConvertOp, rewriter: PatternRewriter) -> None:
        if op.operand.type == op.result.type:
            rewriter.replace(op, [], [op.operand])
