"""batch-ragged-flat: a ragged vmap run over the packed rows of all its examples.

Expects: a `batch.vmap` with `ragged_axes` and the discardable attribute
`batch.ragged_layout = "flat"` (vmlir.vmap(fn, ragged=..., layout="flat"|"auto") builds
it; docs/ragged.md, "Packed execution"). Its ragged operands are NOT mapped (in_axes
none): each holds every example's rows concatenated along its ragged axis, R rows in
all (the sum of the lengths, padded to a small multiple). Its last two operands are the
segment id of every row (`tensor<Rxi32>`, not mapped; padding rows hold the number of
examples, B) and each example's length (mapped). Inside the body EVERY dimension of
size R is a row dimension (the frontend picks an R no other dimension has), and a value
with one is a uniform array of rows, the same for every example.

Does: keeps per-row ops as they are (they run once over all R rows) and rewrites the
ops where rows meet examples:
- `reduce` over the row dimension (sum, mean, max/min, logsumexp, softmax, var, ...):
  the other reduced dimensions first, then a `scatter` of the rows into a (B, ...)
  array filled with the init value, with the reduce's own body (a segment reduction;
  rows of id B fall outside and are dropped), and this example's entry picked with
  `batch.axis_index`;
- `dot_general` contracting the row dimension of both operands (`x.T @ y`, `p @ x`):
  a row-batched product, then the same segment sum;
- a per-example value broadcast to rows (`x - mean(x)`), or contracted with rows
  (`(x @ w) @ q(x)`): `batch.all_gather` of it, then a `gather` of one copy per row by
  its segment id.
Guarantees: no `ragged_axes` property remains (the attribute stays, so the IR says
how the vmap runs); every value with a row dimension is uniform; what the padding rows
compute never reaches an example's result. `flat_blocker` names the first op that
mixes positions along the ragged axis (attention's n x n scores, scans, cumulative
ops, sort, reverse, `x[-1]`, `x[0]`, convolutions, positions from `iota`): such
programs keep the bucketed path (batch-ragged), and this pass raises
VmlirUnsupportedError naming the op and its Python line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import BoolAttr, DenseIntOrFPElementsAttr, IntegerType, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, YieldOp, axes_of
from vmlir.dialects.batch_collectives import AllGatherOp, AxisIndexOp
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.builder import Builder, i64_array, scalar_body
from vmlir.passes.ragged_rewrites import init_is_identity, ints, value_shape
from vmlir.passes.rules.context import where

LAYOUT_ATTR = "batch.ragged_layout"
"""Discardable attribute of a ragged `batch.vmap`: "flat" when its examples run packed."""

_COMBINERS = (hlo.AddOp, hlo.MultiplyOp, hlo.MaximumOp, hlo.MinimumOp, hlo.AndOp, hlo.OrOp)
"""One-op reduce bodies a scatter applies in any order (up to rounding)."""


def is_flat(vmap: VmapOp) -> bool:
    attr = vmap.attributes.get(LAYOUT_ATTR)
    return attr is not None and getattr(attr, "data", None) == "flat"


class NotFlat(Exception):
    """An op the packed layout cannot run (the message says why)."""


def _rows(v: SSAValue, size: int) -> list[int]:
    return [i for i, d in enumerate(value_shape(v)) if d == size]


def _row(v: SSAValue, size: int) -> int:
    return _rows(v, size)[0]


@dataclass
class _Plan:
    """What each op needs: ops -> kind ("segment_reduce", "segment_dot",
    "gather_broadcast", "gather_dot"); the others stay."""

    kinds: dict[Operation, str]


def _touches(op: Operation, size: int) -> bool:
    return any(_rows(v, size) for v in (*op.operands, *op.results))


def _nested_touch(op: Operation, size: int) -> Operation | None:
    for region in op.regions:
        for inner in region.walk():
            if _touches(inner, size):
                return inner
    return None


def _classify(op: Operation, size: int, varying: set[SSAValue]) -> str:
    """The kind of `op` (touching rows), or NotFlat."""
    var = [v in varying for v in op.operands]
    if any(len(_rows(v, size)) > 1 for v in (*op.operands, *op.results)):
        raise NotFlat(f"{where(op)} pairs positions along the ragged axis (a ragged-by-ragged value)")
    if isinstance(op, hlo.SortOp):
        raise NotFlat(f"{where(op)} sorts along the ragged axis")
    if isinstance(op, hlo.ReduceWindowOp):
        raise NotFlat(f"{where(op)} is a window along the ragged axis (a cumulative op)")
    if op.regions and not isinstance(op, hlo.ReduceOp):
        raise NotFlat(f"{where(op)} loops or branches over the ragged axis")
    if isinstance(op, (hlo.ElementwiseOp, hlo.TransposeOp, hlo.ConcatenateOp, YieldOp)):
        dim = op.properties.get("dimension")
        if isinstance(op, hlo.ConcatenateOp) and dim.value.data in _rows(op.results[0], size):  # type: ignore[union-attr]
            raise NotFlat(f"{where(op)} concatenates along the ragged axis")
        if any(var) and not isinstance(op, YieldOp):
            raise NotFlat(f"{where(op)} combines rows with a per-example operand")
        return "keep"
    if isinstance(op, hlo.ConstantOp):
        value = op.value
        if isinstance(value, DenseIntOrFPElementsAttr) and len(set(value.get_values())) <= 1:
            return "keep"
        raise NotFlat(f"{where(op)} is a constant that is not a splat along the ragged axis")
    if isinstance(op, hlo.IotaOp):
        if op.iota_dimension.value.data in _rows(op.results[0], size):
            raise NotFlat(f"{where(op)} numbers the positions along the ragged axis")
        return "keep"
    if isinstance(op, hlo.BroadcastInDimOp):
        if not _rows(op.operand, size) and var[0]:
            return "gather_broadcast"
        return "keep"
    if isinstance(op, hlo.ReshapeOp):
        a, b = value_shape(op.operand), value_shape(op.result)
        if [d for d in a if d != 1] == [d for d in b if d != 1]:
            return "keep"
        raise NotFlat(f"{where(op)} reshapes the ragged axis")
    if isinstance(op, hlo.SliceOp):
        starts, limits, strides = ints(op.start_indices), ints(op.limit_indices), ints(op.strides)
        if all((starts[d], limits[d], strides[d]) == (0, size, 1) for d in _rows(op.operand, size)):
            return "keep"
        raise NotFlat(f"{where(op)} takes positions along the ragged axis (a slice)")
    if isinstance(op, hlo.GatherOp):
        if not _rows(op.operand, size) and not var[0] and not var[1]:
            return "keep"  # a lookup by ragged indices in a fixed table
        raise NotFlat(f"{where(op)} gathers along the ragged axis")
    if isinstance(op, hlo.ReduceOp):
        reduced = ints(op.dimensions)
        rows = _rows(op.inputs[0], size)
        if any(v in varying for v in op.init_values):
            raise NotFlat(f"{where(op)} reduces rows from a per-example init value")
        if not rows or rows[0] not in reduced:
            return "keep"
        body = list(op.body.block.ops)
        if len(op.inputs) != 1 or len(body) != 2 or not isinstance(body[0], _COMBINERS):
            raise NotFlat(
                f"{where(op)} is a reduction over the ragged axis that is not one op "
                "(argmax, a custom body)"
            )
        if not init_is_identity(op):
            # XLA may apply such an init more than once (its result is implementation
            # defined); the bucketed path refuses it with a clear error
            raise NotFlat(f"{where(op)} reduces the ragged axis from an init that is not the identity")
        return "segment_reduce"
    if isinstance(op, hlo.DotGeneralOp):
        dn = op.dot_dimension_numbers
        lrows, rrows = _rows(op.lhs, size), _rows(op.rhs, size)
        if lrows and rrows:
            if lrows[0] in dn.lhs_contracting_dimensions:
                return "segment_dot"
            return "keep"  # the row dimension is a batch dimension of both
        if any(var):
            return "gather_dot"
        return "keep"
    raise NotFlat(f"{where(op)} touches the ragged axis and has no packed form")


def plan(vmap: VmapOp, size: int) -> _Plan:
    """Classify every op of `vmap`'s body for the packed layout with `size` rows (the
    padded size of its ragged operands); NotFlat names the first op it cannot run."""
    in_axes = vmap.in_axes_list
    ragged = axes_of(vmap.ragged_axes)  # type: ignore[arg-type]
    varying: set[SSAValue] = set()
    for arg, a, r in zip(vmap.body.block.args, in_axes, ragged):
        if r is None and a is not None:
            varying.add(arg)  # the length, and mapped arguments
    kinds: dict[Operation, str] = {}
    for op in vmap.body.block.ops:
        inner = _nested_touch(op, size) if op.regions else None
        if inner is not None and not isinstance(op, hlo.ReduceOp):
            raise NotFlat(f"{where(op)} loops or branches over the ragged axis (its {where(inner)})")
        uses_varying = any(v in varying for v in op.operands) or any(
            o in varying for inner_op in op.walk() for o in inner_op.operands
        )
        if not _touches(op, size):
            if uses_varying:
                varying.update(op.results)
            continue
        kind = _classify(op, size, varying)
        if kind in ("segment_reduce", "segment_dot"):
            varying.update(op.results)
        if kind != "keep":
            kinds[op] = kind
    return _Plan(kinds)


def flat_blocker(vmap: VmapOp, size: int) -> str | None:
    """Why `vmap` (a ragged vmap padded to `size`) cannot run packed, or None."""
    try:
        plan(vmap, size)
    except NotFlat as e:
        return str(e)
    return None


# --- rewrites -----------------------------------------------------------------------


def _tensor(v: SSAValue) -> TensorType:
    t = v.type
    assert isinstance(t, TensorType)
    return t


def _transpose(b: Builder, x: SSAValue, perm: Sequence[int]) -> SSAValue:
    if list(perm) == list(range(len(perm))):
        return x
    t = _tensor(x)
    shape = [t.get_shape()[p] for p in perm]
    return b.emit(
        hlo.TransposeOp.create(
            operands=[x], result_types=[TensorType(t.element_type, shape)],
            properties={"permutation": i64_array(perm)},
        )
    )


class _Rewriter:
    def __init__(self, vmap: VmapOp, size: int, axis: str):
        self.size, self.axis = size, axis
        self.seg = vmap.body.block.args[-2]
        self.batch = vmap.size

    def per_example(self, b: Builder, table: SSAValue) -> SSAValue:
        """This example's row of a uniform (B, ...) array."""
        t = _tensor(table)
        rest = list(t.get_shape()[1:])
        k = b.emit(AxisIndexOp(self.axis))
        zero = b.constant(TensorType(IntegerType(32), []), 0)
        picked = b.emit(
            hlo.DynamicSliceOp.create(
                operands=[table, k, *[zero] * len(rest)],
                result_types=[TensorType(t.element_type, [1, *rest])],
                properties={"slice_sizes": i64_array([1, *rest])},
            )
        )
        return b.emit(hlo.ReshapeOp.create(operands=[picked], result_types=[TensorType(t.element_type, rest)]))

    def segments(self, b: Builder, rows: SSAValue, init: SSAValue, body) -> SSAValue:
        """Rows (R, ...) combined per segment into (B, ...) with `body` from `init`."""
        t = _tensor(rows)
        rest = list(t.get_shape()[1:])
        target = b.broadcast(init, TensorType(t.element_type, [self.batch, *rest]))
        scatter = hlo.ScatterOp.create(
            operands=[target, self.seg, rows],
            result_types=[target.type],
            properties={
                "scatter_dimension_numbers": hlo.ScatterDimensionNumbersAttr.make(
                    list(range(1, len(rest) + 1)), [0], [0], 1
                ),
                # rows are packed example after example: the ids only grow
                "indices_are_sorted": BoolAttr.from_bool(True),
                "unique_indices": BoolAttr.from_bool(False),
            },
            regions=[body],
        )
        return b.emit(scatter)

    def to_rows(self, b: Builder, v: SSAValue) -> SSAValue:
        """Per-example `v` as a uniform (R, ...) array: each row gets its example's."""
        t = _tensor(v)
        shape = list(t.get_shape())
        gathered = b.emit(
            AllGatherOp(v, [self.axis], 0, False, TensorType(t.element_type, [self.batch, *shape]))
        )
        dn = hlo.GatherDimensionNumbersAttr.make(list(range(1, len(shape) + 1)), [0], [0], 1)
        return b.emit(
            hlo.GatherOp.create(
                operands=[gathered, self.seg],
                result_types=[TensorType(t.element_type, [self.size, *shape])],
                properties={
                    "dimension_numbers": dn,
                    "indices_are_sorted": BoolAttr.from_bool(True),
                    "slice_sizes": i64_array([1, *shape]),
                },
            )
        )

    def segment_reduce(self, op: hlo.ReduceOp) -> None:
        b = Builder(InsertPoint.before(op))
        x, init = op.inputs[0], op.init_values[0]
        reduced = ints(op.dimensions)
        r = _row(x, self.size)
        others = [d for d in reduced if d != r]
        t = _tensor(x)
        if others:
            shape = [n for i, n in enumerate(t.get_shape()) if i not in others]
            x = b.emit(
                hlo.ReduceOp.create(
                    operands=[x, init], result_types=[TensorType(t.element_type, shape)],
                    properties={"dimensions": i64_array(others)}, regions=[op.body.clone()],
                )
            )
            r -= sum(1 for d in others if d < r)
        rank = len(_tensor(x).get_shape())
        x = _transpose(b, x, [r, *[d for d in range(rank) if d != r]])
        table = self.segments(b, x, init, op.body.clone())
        Rewriter.replace_op(op, [], [self.per_example(b, table)])

    def segment_dot(self, op: hlo.DotGeneralOp) -> None:
        b = Builder(InsertPoint.before(op))
        dn = op.dot_dimension_numbers
        rl, rr = _row(op.lhs, self.size), _row(op.rhs, self.size)
        k = list(dn.lhs_contracting_dimensions).index(rl)
        lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
        del lc[k], rc[k]
        props = dict(op.properties)
        props["dot_dimension_numbers"] = hlo.DotDimensionNumbersAttr.make(
            [rl, *dn.lhs_batching_dimensions], [rr, *dn.rhs_batching_dimensions], lc, rc
        )
        out = _tensor(op.results[0])
        per_row = b.emit(
            hlo.DotGeneralOp.create(
                operands=[op.lhs, op.rhs],
                result_types=[TensorType(out.element_type, [self.size, *out.get_shape()])],
                properties=props, attributes=dict(op.attributes),
            )
        )
        zero = b.constant(TensorType(out.element_type, []), 0)
        table = self.segments(b, per_row, zero, _add_body(out))
        Rewriter.replace_op(op, [], [self.per_example(b, table)])

    def gather_broadcast(self, op: hlo.BroadcastInDimOp) -> None:
        b = Builder(InsertPoint.before(op))
        rows = self.to_rows(b, op.operand)
        r, bd = _row(op.result, self.size), ints(op.broadcast_dimensions)
        if r in bd:  # a unit dimension stretched along the rows: one value per row now
            j = bd.index(r)
            t = _tensor(rows)
            shape = [n for i, n in enumerate(t.get_shape()) if i != j + 1]
            rows = b.emit(hlo.ReshapeOp.create(operands=[rows], result_types=[TensorType(t.element_type, shape)]))
            del bd[j]
        dims = [r, *bd]
        order = sorted(range(len(dims)), key=dims.__getitem__)
        rows = _transpose(b, rows, order)
        new = b.emit(
            hlo.BroadcastInDimOp.create(
                operands=[rows], result_types=[op.result.type],
                properties={"broadcast_dimensions": i64_array(sorted(dims))},
            )
        )
        Rewriter.replace_op(op, [], [new])

    def gather_dot(self, op: hlo.DotGeneralOp) -> None:
        b = Builder(InsertPoint.before(op))
        dn = op.dot_dimension_numbers
        lb, rb = list(dn.lhs_batching_dimensions), list(dn.rhs_batching_dimensions)
        lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
        lhs_rank, rhs_rank = len(value_shape(op.lhs)), len(value_shape(op.rhs))
        lhs_free = [d for d in range(lhs_rank) if d not in lb and d not in lc]
        rhs_free = [d for d in range(rhs_rank) if d not in rb and d not in rc]
        if _rows(op.lhs, self.size):
            r = _row(op.lhs, self.size)
            pos = len(lb) + lhs_free.index(r)
            lhs, rhs = op.lhs, self.to_rows(b, op.rhs)
            new_dn = hlo.DotDimensionNumbersAttr.make(
                [r, *lb], [0, *[d + 1 for d in rb]], lc, [d + 1 for d in rc]
            )
        else:
            r = _row(op.rhs, self.size)
            pos = len(lb) + len(lhs_free) + rhs_free.index(r)
            lhs, rhs = self.to_rows(b, op.lhs), op.rhs
            new_dn = hlo.DotDimensionNumbersAttr.make(
                [0, *[d + 1 for d in lb]], [r, *rb], [d + 1 for d in lc], rc
            )
        out = _tensor(op.results[0])
        rank = len(out.get_shape())
        new_dims = [pos, *[d for d in range(rank) if d != pos]]  # the new result's dims
        props = dict(op.properties)
        props["dot_dimension_numbers"] = new_dn
        dot = b.emit(
            hlo.DotGeneralOp.create(
                operands=[lhs, rhs],
                result_types=[TensorType(out.element_type, [out.get_shape()[d] for d in new_dims])],
                properties=props, attributes=dict(op.attributes),
            )
        )
        Rewriter.replace_op(op, [], [_transpose(b, dot, [new_dims.index(i) for i in range(rank)])])


def _add_body(t: TensorType):
    return scalar_body(TensorType(t.element_type, []), hlo.AddOp)


def _padded_rows(vmap: VmapOp) -> int:
    ragged = axes_of(vmap.ragged_axes)  # type: ignore[arg-type]
    sizes = {value_shape(a)[r] for a, r in zip(vmap.body.block.args, ragged) if r is not None}
    assert len(sizes) == 1, sizes
    return sizes.pop()


def _rewrite(vmap: VmapOp) -> None:
    size = _padded_rows(vmap)
    if vmap.axis_name is None:
        raise VmlirUnsupportedError("batch-ragged-flat: the vmap needs an axis_name for its segment collectives")
    try:
        kinds = plan(vmap, size).kinds
    except NotFlat as e:
        raise VmlirUnsupportedError(f"ragged vmap, packed layout: {e}; use layout='buckets'") from None
    rewriter = _Rewriter(vmap, size, vmap.axis_name.data)
    for op, kind in kinds.items():
        getattr(rewriter, kind)(op)
    vmap.properties.pop("ragged_axes")


@dataclass(frozen=True)
class BatchRaggedFlatPass(ModulePass):
    """Run a flat ragged vmap over its packed rows (see module doc)."""

    name = "batch-ragged-flat"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for vmap in [v for v in op.walk() if isinstance(v, VmapOp)]:
            if vmap.ragged_axes is not None and is_flat(vmap):
                _rewrite(vmap)
