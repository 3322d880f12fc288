"""Batching rules: indexing ops (gather, scatter, dynamic_slice, dynamic_update_slice).

See passes/rules/__init__.py for the rule contract. The same three cases recur:

- operand AND indices batched: StableHLO's batching dimensions (gather:
  operand_batching_dims / start_indices_batching_dims; scatter: input_batching_dims /
  scatter_indices_batching_dims) pair example k of the operand with example k of the
  indices, so the op stays one gather / scatter;
- only the operand batched: the batch axis becomes one more window (offset) dimension of
  full size; the indices never address it (start 0), so they are shared by all examples;
- only the indices batched: the batch axis is one more batch dimension of the index
  tensor (index_vector_dim shifts past it), so the result gets one more batch dimension.

A dimension number is a position in a tensor, so inserting the batch axis into a tensor
shifts every number that refers to it (`shift`). Where the batch axis lands in the result
is ours to choose within a range the (sorted) dimension lists allow (`_slot`); we pick the
position nearest the operand's batch axis, so the axis stays put when it can.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.rules.context import (
    Axis,
    Rule,
    RuleContext,
    RuleResult,
    i64_array,
    shift,
    tensor_type,
    where,
)

# --- helpers ------------------------------------------------------------------------


def _slot(dims: Sequence[int], r: int, rank: int) -> tuple[int, int]:
    """The positions p (lo..hi) where a new dimension, inserted into a tensor of `rank`
    whose dimensions `dims` (sorted) shift past it, becomes the r-th of those dims."""
    lo = dims[r - 1] + 1 if r > 0 else 0
    hi = dims[r] if r < len(dims) else rank
    return lo, hi


def _nearest(pref: Axis, lo: int, hi: int) -> int:
    return lo if pref is None else min(max(pref, lo), hi)


def _insert_sorted(dims: Sequence[int], d: int) -> tuple[list[int], int]:
    """`dims` (sorted) with `d` inserted in order, and the position it got."""
    j = sum(1 for x in dims if x < d)
    return [*dims[:j], d, *dims[j:]], j


def _shifted(dims: Sequence[int], axis: int) -> list[int]:
    return [shift(d, axis) for d in dims]


def _carried_attrs(op: Operation) -> dict[str, Attribute]:
    # Keep discardable attributes (e.g. the source location), not the analysis' own.
    return {k: v for k, v in op.attributes.items() if not k.startswith("batch.")}


def _scalar_const(ctx: RuleContext, like: SSAValue, value: int) -> SSAValue:
    """A rank-0 integer constant of `like`'s type."""
    t = TensorType(tensor_type(like).element_type, [])
    return ctx.emit(hlo.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, [value]))).results[0]


def _stack_starts(
    ctx: RuleContext, op: Operation, starts: Sequence[SSAValue], axes: Sequence[Axis]
) -> SSAValue:
    """Scalar start indices (batched ones are (B,), uniform ones rank 0) stacked into one
    (B, n) index tensor, index vector on dimension 1, as gather/scatter want them."""
    types = {tensor_type(s).element_type for s in starts}
    if len(types) != 1:
        raise VmlirUnsupportedError(
            f"{where(op)}: start indices of different element types ({sorted(map(str, types))}) "
            "with a batched start index"
        )
    elt = next(iter(types))
    col = TensorType(elt, [ctx.axis_size, 1])
    cols = [
        ctx.emit(
            hlo.BroadcastInDimOp.create(
                operands=[s],
                result_types=[col],
                properties={"broadcast_dimensions": i64_array([] if a is None else [0])},
            )
        ).results[0]
        for s, a in zip(starts, axes)
    ]
    if len(cols) == 1:
        return cols[0]
    stacked = TensorType(elt, [ctx.axis_size, len(cols)])
    return ctx.emit(
        hlo.ConcatenateOp.create(
            operands=cols, result_types=[stacked], properties={"dimension": IntegerAttr(1, i64)}
        )
    ).results[0]


# --- gather -------------------------------------------------------------------------


def gather_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """One batched gather. Both batched: a new operand/start-indices batching dimension
    pair. Only the operand: a full-size offset dimension (slice size B). Only the indices:
    a new batch dimension of the index tensor. Clamping of start indices is unchanged:
    the batch dimension is never addressed by an index."""
    (x, idx), (a, b) = operands, axes
    dn = op.properties["dimension_numbers"]
    assert isinstance(dn, hlo.GatherDimensionNumbersAttr)
    offset, collapsed = list(dn.offset_dims), list(dn.collapsed_slice_dims)
    obd, sibd = list(dn.operand_batching_dims), list(dn.start_indices_batching_dims)
    sim, ivd = list(dn.start_index_map), dn.index_vector_dim
    sizes = list(op.properties["slice_sizes"].get_values())  # type: ignore[union-attr]
    out_rank = tensor_type(op.results[0]).get_num_dims()
    sorted_hint = op.properties.get("indices_are_sorted")
    if a is not None:
        collapsed, obd, sim = _shifted(collapsed, a), _shifted(obd, a), _shifted(sim, a)
    if b is None:
        assert a is not None
        # The batch axis is a window dimension: the r-th of the operand's non-collapsed,
        # non-batching dimensions, so it must be the r-th offset dim of the result.
        window = [d for d in range(len(sizes) + 1) if d not in collapsed and d not in obd]
        p = _nearest(a, *_slot(offset, window.index(a), out_rank))
        offset = sorted([*_shifted(offset, p), p])
        sizes.insert(a, ctx.axis_size)
    else:
        new_ivd = shift(ivd, b)
        # The result's batch dims follow the index tensor's dims other than the index
        # vector dim, in order; the new one is the k-th of them.
        k = b - (1 if new_ivd < b else 0)
        batch_dims = [d for d in range(out_rank) if d not in offset]
        p = _nearest(a if a is not None else b, *_slot(batch_dims, k, out_rank))
        offset, sibd, ivd = _shifted(offset, p), _shifted(sibd, b), new_ivd
        if a is not None:
            # Example k of the operand goes with example k of the indices.
            obd, j = _insert_sorted(obd, a)  # operand_batching_dims must stay sorted
            sibd.insert(j, b)
            sizes.insert(a, 1)
        # The index tensor now restarts at every example: it is no longer sorted.
        sorted_hint = BoolAttr.from_bool(False)
    new_dn = hlo.GatherDimensionNumbersAttr.make(
        offset, collapsed, sim, ivd, operand_batching_dims=obd, start_indices_batching_dims=sibd
    )
    out = insert_axis(tensor_type(op.results[0]), p, ctx.axis_size)
    props: dict[str, Attribute] = {"dimension_numbers": new_dn, "slice_sizes": i64_array(sizes)}
    if sorted_hint is not None:
        props["indices_are_sorted"] = sorted_hint
    return ctx.rebuild(op, [x, idx], [out], **props).results, [p]


# --- scatter ------------------------------------------------------------------------


def scatter_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """One batched scatter; every input gets the batch axis (a uniform input is
    broadcast: each example writes into its own copy). Uniform indices: the batch axis is
    one more full-size update window dimension (uniform updates are broadcast along it).
    Batched indices: an input/scatter-indices batching dimension pair, the updates' batch
    axis one more update scatter dimension. An out-of-range window is still dropped per
    example: the batch dimension of a window is always in range."""
    n = len(op.results)
    inputs, idx, updates = operands[:n], operands[n], operands[n + 1 :]
    in_axes, b, up_axes = axes[:n], axes[n], axes[n + 1 :]
    a = next((x for x in in_axes if x is not None), 0)
    inputs = [ctx.to_axis(v, x, a) for v, x in zip(inputs, in_axes)]
    dn = op.properties["scatter_dimension_numbers"]
    assert isinstance(dn, hlo.ScatterDimensionNumbersAttr)
    uwd = list(dn.update_window_dims)
    iwd, ibd = _shifted(dn.inserted_window_dims, a), _shifted(dn.input_batching_dims, a)
    sibd, ivd = list(dn.scatter_indices_batching_dims), dn.index_vector_dim
    sdod = _shifted(dn.scatter_dims_to_operand_dims, a)
    up_rank = tensor_type(op.operands[n + 1]).get_num_dims()
    in_rank = tensor_type(op.operands[0]).get_num_dims()
    up_pref = next((x for x in up_axes if x is not None), a)
    props: dict[str, Attribute] = {}
    if b is None:
        # The batch axis is the r-th window dimension of the inputs, so it must be the
        # r-th update window dimension of the updates.
        window = [d for d in range(in_rank + 1) if d not in iwd and d not in ibd]
        p = _nearest(up_pref, *_slot(uwd, window.index(a), up_rank))
        uwd = sorted([*_shifted(uwd, p), p])
    else:
        new_ivd = shift(ivd, b)
        k = b - (1 if new_ivd < b else 0)
        scatter_dims = [d for d in range(up_rank) if d not in uwd]
        p = _nearest(up_pref, *_slot(scatter_dims, k, up_rank))
        uwd, sibd, ivd = _shifted(uwd, p), _shifted(sibd, b), new_ivd
        ibd, j = _insert_sorted(ibd, a)  # input_batching_dims must stay sorted
        sibd.insert(j, b)
        props["indices_are_sorted"] = BoolAttr.from_bool(False)
    updates = [ctx.to_axis(u, x, p) for u, x in zip(updates, up_axes)]
    props["scatter_dimension_numbers"] = hlo.ScatterDimensionNumbersAttr.make(
        uwd, iwd, sdod, ivd, input_batching_dims=ibd, scatter_indices_batching_dims=sibd
    )
    outs = [insert_axis(tensor_type(r), a, ctx.axis_size) for r in op.results]
    return ctx.rebuild(op, [*inputs, idx, *updates], outs, **props).results, [a] * n


# --- dynamic_slice / dynamic_update_slice --------------------------------------------


def dynamic_slice_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """Uniform start indices: still a dynamic_slice, starting at 0 with full size on the
    batch axis. A batched start index (each example starts elsewhere): a gather of one
    slice per example, its start indices stacked into (B, n), the operand's batch axis
    (if any) a batching dimension; gather clamps starts exactly as dynamic_slice does."""
    x, starts, a, start_axes = operands[0], operands[1:], axes[0], axes[1:]
    sizes = list(op.properties["slice_sizes"].get_values())  # type: ignore[union-attr]
    result = tensor_type(op.results[0])
    if all(s is None for s in start_axes):
        assert a is not None
        zero = _scalar_const(ctx, starts[0], 0)
        sizes.insert(a, ctx.axis_size)
        new_starts = [*starts[:a], zero, *starts[a:]]
        out = insert_axis(result, a, ctx.axis_size)
        new = ctx.rebuild(op, [x, *new_starts], [out], slice_sizes=i64_array(sizes))
        return new.results, [a]
    idx = _stack_starts(ctx, op, starts, start_axes)
    rank = len(sizes)
    p = 0 if a is None else a  # the result's one batch dim; every other dim is offset
    offset = [d for d in range(rank + 1) if d != p]
    if a is None:
        dn = hlo.GatherDimensionNumbersAttr.make(offset, [], list(range(rank)), 1)
    else:
        dn = hlo.GatherDimensionNumbersAttr.make(
            offset, [], _shifted(range(rank), a), 1,
            operand_batching_dims=[a], start_indices_batching_dims=[0],
        )
        sizes.insert(a, 1)
    gather = hlo.GatherOp.create(
        operands=[x, idx],
        result_types=[insert_axis(result, p, ctx.axis_size)],
        properties={  # in jaxlib's (alphabetical) order
            "dimension_numbers": dn,
            "indices_are_sorted": BoolAttr.from_bool(False),
            "slice_sizes": i64_array(sizes),
        },
        attributes=_carried_attrs(op),
    )
    return ctx.emit(gather).results, [p]


def dynamic_update_slice_rule(
    ctx: RuleContext, op: Operation, operands, axes
) -> RuleResult:
    """Uniform start indices: still a dynamic_update_slice of operand and update batched
    on the same axis, starting at 0 on it. A batched start index: a scatter (replace) of
    one window per example with a batching dimension pair; the starts are clamped first,
    because dynamic_update_slice clamps where scatter would drop the update."""
    (x, upd), starts = operands[:2], operands[2:]
    (a, u), start_axes = axes[:2], axes[2:]
    result = tensor_type(op.results[0])
    dst = a if a is not None else (u if u is not None else 0)
    x = ctx.to_axis(x, a, dst)
    if all(s is None for s in start_axes):
        upd = ctx.to_axis(upd, u, dst)
        zero = _scalar_const(ctx, starts[0], 0)
        new_starts = [*starts[:dst], zero, *starts[dst:]]
        out = insert_axis(result, dst, ctx.axis_size)
        return ctx.rebuild(op, [x, upd, *new_starts], [out]).results, [dst]
    rank = result.get_num_dims()
    limits = [o - s for o, s in zip(result.get_shape(), tensor_type(op.operands[1]).get_shape())]
    bound = {v: _scalar_const(ctx, starts[0], v) for v in sorted({0, *limits})}
    clamped = [
        ctx.emit(
            hlo.ClampOp.create(operands=[bound[0], s, bound[hi]], result_types=[s.type])
        ).results[0]
        for s, hi in zip(starts, limits)
    ]
    idx = _stack_starts(ctx, op, clamped, start_axes)
    p = u if u is not None else dst  # the update's one scatter dim; the rest is window
    upd = ctx.to_axis(upd, u, p)
    dn = hlo.ScatterDimensionNumbersAttr.make(
        [d for d in range(rank + 1) if d != p], [], _shifted(range(rank), dst), 1,
        input_batching_dims=[dst], scatter_indices_batching_dims=[0],
    )
    # The update computation: the new value replaces the old one.
    scalar = TensorType(result.element_type, [])
    body = Block(arg_types=[scalar, scalar])
    body.add_op(hlo.ReturnOp(body.args[1]))
    scatter = hlo.ScatterOp.create(
        operands=[x, idx, upd],
        result_types=[insert_axis(result, dst, ctx.axis_size)],
        properties={  # in jaxlib's (alphabetical) order
            "indices_are_sorted": BoolAttr.from_bool(False),
            "scatter_dimension_numbers": dn,
            # One window per example, in its own batch row: no two updates overlap.
            "unique_indices": BoolAttr.from_bool(True),
        },
        attributes=_carried_attrs(op),
        regions=[Region(body)],
    )
    return ctx.emit(scatter).results, [dst]


RULES: dict[type[Operation], Rule] = {
    hlo.GatherOp: gather_rule,
    hlo.ScatterOp: scatter_rule,
    hlo.DynamicSliceOp: dynamic_slice_rule,
    hlo.DynamicUpdateSliceOp: dynamic_update_slice_rule,
}
