"""batch-fuse's folds that move transposes through ops: into `dot_general` and `reduce`
dimension numbers, out of a `dot_general` result, and up or down through elementwise ops.

Each pattern keeps values unchanged and never increases the number of transposes. See
`passes/fuse.py` for the pass and docs/passes.md; conventions as in `fuse_patterns.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import MoveAxisOp
from vmlir.passes.fuse_patterns import (
    broadcast_of,
    defining_op,
    inverse,
    is_identity,
    is_increasing,
    make_permute,
    permutation_of,
    permuted_type,
    splat_constant,
    splat_like,
    tensor_type,
)


class PermutationIntoDotPattern(RewritePattern):
    """dot_general of a move_axis/transpose -> the permutation folded into the dimension
    numbers, when the operand's free dims keep their order (same result layout)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.DotGeneralOp, rewriter: PatternRewriter) -> None:
        dn = op.dot_dimension_numbers
        lhs_fold = _fold_into_dot(
            op.lhs, dn.lhs_batching_dimensions, dn.lhs_contracting_dimensions
        )
        rhs_fold = _fold_into_dot(
            op.rhs, dn.rhs_batching_dimensions, dn.rhs_contracting_dimensions
        )
        if lhs_fold is None and rhs_fold is None:
            return
        lhs, lb, lc = lhs_fold or (
            op.lhs, dn.lhs_batching_dimensions, dn.lhs_contracting_dimensions
        )
        rhs, rb, rc = rhs_fold or (
            op.rhs, dn.rhs_batching_dimensions, dn.rhs_contracting_dimensions
        )
        props = dict(op.properties)
        props["dot_dimension_numbers"] = hlo.DotDimensionNumbersAttr.make(lb, rb, lc, rc)
        new = hlo.DotGeneralOp.create(
            operands=[lhs, rhs],
            result_types=[op.result.type],
            properties=props,
            attributes=dict(op.attributes),
            location=op.location,
        )
        rewriter.replace(op, new)


def _fold_into_dot(
    operand: SSAValue, batching: Sequence[int], contracting: Sequence[int]
) -> tuple[SSAValue, list[int], list[int]] | None:
    perm_op = defining_op(operand)
    perm = permutation_of(perm_op)
    if perm is None:
        return None
    assert perm_op is not None
    free = [d for d in range(len(perm)) if d not in batching and d not in contracting]
    if not is_increasing([perm[d] for d in free]):
        return None
    return perm_op.operands[0], [perm[d] for d in batching], [perm[d] for d in contracting]


class PermutationIntoReducePattern(RewritePattern):
    """reduce of inputs all transposed alike -> reduce of the untransposed inputs over the
    permuted dims, when the kept dims keep their order (same result layout)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: hlo.ReduceOp, rewriter: PatternRewriter) -> None:
        perm_ops = [defining_op(v) for v in op.inputs]
        perms = [permutation_of(p) for p in perm_ops]
        if perms[0] is None or any(p != perms[0] for p in perms):
            return
        perm = perms[0]
        dims = list(op.dimensions.get_values())
        kept = [d for d in range(len(perm)) if d not in dims]
        if not is_increasing([perm[d] for d in kept]):
            return
        sources = [p.operands[0] for p in perm_ops]  # type: ignore[union-attr]
        new = hlo.ReduceOp(
            sources,
            list(op.init_values),
            [perm[d] for d in dims],
            op.body.clone(),
            [r.type for r in op.results],
        )
        new.attributes.update(op.attributes)
        rewriter.replace(op, new)


class SinkPermutationPattern(RewritePattern):
    """Elementwise op of operands transposed alike -> the op first, then one transpose.

    The other operands may be scalars (select's predicate, clamp's bounds), splat
    constants or broadcasts: those are rebuilt in the untransposed layout for free. Only
    when a transpose dies with it, so the transpose count never grows.
    """

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, hlo.ElementwiseOp) or len(op.results) != 1:
            return
        result_t = tensor_type(op.results[0])
        rank = result_t.get_num_dims()
        if rank < 2:
            return
        perm = next(
            (p for v in op.operands if (p := permutation_of(defining_op(v))) is not None), None
        )
        if perm is None or is_identity(perm):
            return
        kinds = [_sink_kind(v, perm) for v in op.operands]
        transposed = [v for v, k in zip(op.operands, kinds) if k == "permuted"]
        if None in kinds or not any(all(u.operation is op for u in v.uses) for v in transposed):
            return
        all_moves = all(isinstance(defining_op(v), MoveAxisOp) for v in transposed)
        inv = inverse(perm)
        new_ops: list[Operation] = []
        operands: list[SSAValue] = []
        for v, kind in zip(op.operands, kinds):
            owner = defining_op(v)
            if kind == "keep":
                operands.append(v)
            elif kind == "permuted":
                assert owner is not None
                operands.append(owner.operands[0])
            elif kind == "splat":
                value = splat_constant(owner)
                assert value is not None
                const_t = permuted_type(tensor_type(v), inv)
                new_ops.append(hlo.ConstantOp(splat_like(value, const_t)))
                operands.append(new_ops[-1].results[0])
            else:
                bcast = broadcast_of(owner)
                assert bcast is not None
                source, dims = bcast
                new_dims = [perm[d] for d in dims]
                new_ops.append(
                    hlo.BroadcastInDimOp(source, new_dims, permuted_type(tensor_type(v), inv))
                )
                operands.append(new_ops[-1].results[0])
        inner = op.create(
            operands=operands,
            result_types=[permuted_type(result_t, inv)],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
            location=op.location,
        )
        outer = make_permute(inner.results[0], perm, all_moves)
        rewriter.replace(op, [*new_ops, inner, outer])


def _sink_kind(v: SSAValue, perm: list[int]) -> str | None:
    """How an operand of an op that a transpose by `perm` sinks below is rebuilt in the
    untransposed layout, or None if it cannot be for free."""
    owner = defining_op(v)
    if tensor_type(v).get_num_dims() == 0:
        return "keep"
    p = permutation_of(owner)
    if p is not None:
        return "permuted" if p == perm else None
    if splat_constant(owner) is not None:
        return "splat"
    bcast = broadcast_of(owner)
    if bcast is not None and is_increasing([perm[d] for d in bcast[1]]):
        return "broadcast"
    return None


class PullPermutationUpPattern(RewritePattern):
    """move_axis/transpose of elementwise ops used nowhere else -> the transpose pushed
    into their operands, where it cancels against or merges with their transposes or is
    absorbed by broadcasts, splat constants and dot_generals (PermutationOfDotPattern);
    only when strictly fewer transposes are left (e.g. `T(add(x, T'(y)))` with
    T' = T^-1 -> `add(T(x), y)`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        perm = permutation_of(op)
        if perm is None or is_identity(perm):
            return
        value = op.operands[0]
        plan: dict[SSAValue, str] = {}
        left, removed = _pull_plan(value, perm, plan, top=True)
        if plan[value] != "push" or left >= 1 + removed:
            return
        new_ops: list[Operation] = []
        result = _pull_build(value, perm, plan, new_ops, {}, isinstance(op, MoveAxisOp))
        rewriter.replace(op, new_ops, [result])


def _one_user(v: SSAValue) -> bool:
    return len({u.operation for u in v.uses}) == 1


_PULL_DEPTH = 32
"""How many elementwise ops deep a transpose is pushed (bounds the recursion)."""


def _pull_plan(
    v: SSAValue, perm: list[int], plan: dict[SSAValue, str], top: bool = False, depth: int = 0
) -> tuple[int, int]:
    """How to give `v` the layout `perm` without transposing it, recorded in `plan`;
    returns (transposes that plan leaves, transposes it removes)."""
    owner = defining_op(v)
    if tensor_type(v).get_num_dims() == 0:
        plan[v] = "keep"
        return 0, 0
    inner = permutation_of(owner)
    if inner is not None:
        plan[v] = "compose"
        return int(not is_identity([inner[p] for p in perm])), int(_one_user(v))
    if splat_constant(owner) is not None:
        plan[v] = "splat"
        return 0, 0
    bcast = broadcast_of(owner)
    if bcast is not None and is_increasing([inverse(perm)[d] for d in bcast[1]]):
        plan[v] = "broadcast"
        return 0, 0
    if (
        isinstance(owner, hlo.DotGeneralOp)
        and _one_user(v)
        and dot_layout(owner, perm) is not None
    ):
        plan[v] = "dot"
        return 0, 0
    if (
        isinstance(owner, hlo.ElementwiseOp)
        and len(owner.results) == 1
        and _one_user(v)
        and depth < _PULL_DEPTH
    ):
        left = removed = 0
        for operand in dict.fromkeys(owner.operands):
            a, b = _pull_plan(operand, perm, plan, depth=depth + 1)
            left, removed = left + a, removed + b
        if top or left - removed < 1:
            plan[v] = "push"
            return left, removed
    plan[v] = "stop"
    return 1, 0


def _pull_build(
    v: SSAValue,
    perm: list[int],
    plan: dict[SSAValue, str],
    new_ops: list[Operation],
    memo: dict[SSAValue, SSAValue],
    prefer_move: bool,
) -> SSAValue:
    """`v` transposed by `perm`, built as `plan` says (new ops appended to `new_ops`)."""
    if v in memo:
        return memo[v]
    kind, owner, t = plan[v], defining_op(v), tensor_type(v)
    new: Operation | None = None
    result = v
    if kind == "compose":
        assert owner is not None
        inner = permutation_of(owner)
        assert inner is not None
        composed = [inner[p] for p in perm]
        result = owner.operands[0]
        if not is_identity(composed):
            new = make_permute(result, composed, isinstance(owner, MoveAxisOp))
    elif kind == "splat":
        value = splat_constant(owner)
        assert value is not None
        new = hlo.ConstantOp(splat_like(value, permuted_type(t, perm)))
    elif kind == "broadcast":
        bcast = broadcast_of(owner)
        assert bcast is not None
        inv = inverse(perm)
        new = hlo.BroadcastInDimOp(bcast[0], [inv[d] for d in bcast[1]], permuted_type(t, perm))
    elif kind == "dot":
        assert isinstance(owner, hlo.DotGeneralOp)
        new = dot_in_layout(owner, perm)
    elif kind == "stop":
        new = make_permute(v, perm, prefer_move)
    elif kind == "push":
        assert owner is not None
        operands = [
            _pull_build(o, perm, plan, new_ops, memo, prefer_move) for o in owner.operands
        ]
        new = owner.create(
            operands=operands,
            result_types=[permuted_type(tensor_type(owner.results[0]), perm)],
            properties=dict(owner.properties),
            attributes=dict(owner.attributes),
            location=owner.location,
        )
    if new is not None:
        new_ops.append(new)
        result = new.results[0]
    memo[v] = result
    return result


class PermutationOfDotPattern(RewritePattern):
    """move_axis/transpose of a dot_general's result (its only use) -> a dot_general that
    produces that layout itself: batch dims listed in the new order, or lhs and rhs
    swapped when the transpose swaps the two operands' free dims."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        perm = permutation_of(op)
        if perm is None:
            return
        dot = defining_op(op.operands[0])
        if not isinstance(dot, hlo.DotGeneralOp) or not _one_user(dot.result):
            return
        new = dot_in_layout(dot, perm)
        if new is not None:
            rewriter.replace(op, new)


def dot_layout(
    dot: hlo.DotGeneralOp, perm: list[int]
) -> tuple[list[SSAValue], dict[str, Attribute]] | None:
    """Operands and properties of a dot_general computing `dot`'s result transposed by
    `perm`, if one can (built by `dot_in_layout`; nothing is created here)."""
    dn = dot.dot_dimension_numbers
    lb, rb = dn.lhs_batching_dimensions, dn.rhs_batching_dimensions
    lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
    nb, rank = len(lb), len(perm)
    lhs_free = tensor_type(dot.lhs).get_num_dims() - nb - len(lc)
    if sorted(perm[:nb]) != list(range(nb)):
        return None
    lb, rb = [lb[i] for i in perm[:nb]], [rb[i] for i in perm[:nb]]
    props = dict(dot.properties)
    operands = [dot.lhs, dot.rhs]
    if perm[nb:] == list(range(nb + lhs_free, rank)) + list(range(nb, nb + lhs_free)):
        # An algorithm names lhs and rhs precisions in order; keep it simple.
        if "algorithm" in props:
            return None
        # XLA's CPU GEMMs are ~3x slower with an lhs that contracts along a major dim
        # (A^T B, measured in docs/passes.md): a swap that makes one is not worth the
        # transpose it saves, XLA fuses that transpose into the next elementwise op.
        if _contracts_minor(dot.lhs, lc) and not _contracts_minor(dot.rhs, rc):
            return None
        operands.reverse()
        lb, rb, lc, rc = rb, lb, rc, lc
        precision = props.get("precision_config")
        if isinstance(precision, ArrayAttr):
            props["precision_config"] = ArrayAttr(list(reversed(precision.data)))
    elif perm[nb:] != list(range(nb, rank)):
        return None
    props["dot_dimension_numbers"] = hlo.DotDimensionNumbersAttr.make(lb, rb, lc, rc)
    return operands, props


def _contracts_minor(operand: SSAValue, contracting: Sequence[int]) -> bool:
    """Whether `operand` contracts along its last (minor) dims, as row-major GEMMs like."""
    rank = tensor_type(operand).get_num_dims()
    return sorted(contracting) == list(range(rank - len(contracting), rank))


def dot_in_layout(dot: hlo.DotGeneralOp, perm: list[int]) -> hlo.DotGeneralOp | None:
    """A new dot_general computing `dot`'s result transposed by `perm`, if one can."""
    layout = dot_layout(dot, perm)
    if layout is None:
        return None
    operands, props = layout
    return hlo.DotGeneralOp.create(
        operands=operands,
        result_types=[permuted_type(tensor_type(dot.result), perm)],
        properties=props,
        attributes=dict(dot.attributes),
        location=dot.location,
    )
