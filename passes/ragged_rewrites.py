"""The masks and rewrites batch-ragged (passes/ragged.py) puts around the ops it makes
padding-safe: what a value's ragged dimensions are, padding filled with a value, and
the ops that read along the ragged axis in order (cumulative ops, reverse, dynamic
slices, gathers, sort, top_k, convolutions). See docs/ragged.md."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from xdsl.dialects.builtin import (
    AnyFloat,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.chlo import TopKOp
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.builder import Builder, i64_array
from vmlir.passes.rules.context import where


def value_shape(v: SSAValue) -> tuple[int, ...]:
    t = v.type
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def ragged_dims(v: SSAValue, size: int) -> list[int]:
    return [i for i, d in enumerate(value_shape(v)) if d == size]


def masked(b: Builder, x: SSAValue, dims: Sequence[int], length: SSAValue, fill: SSAValue) -> SSAValue:
    """`x` where every index along `dims` is below `length`, `fill` (a scalar) elsewhere."""
    t = x.type
    assert isinstance(t, TensorType)
    lt = length.type
    assert isinstance(lt, TensorType)
    index_type = TensorType(lt.element_type, t.get_shape())
    bound = b.broadcast(length, index_type)
    mask: SSAValue | None = None
    for d in dims:
        iota = b.emit(
            hlo.IotaOp.create(
                result_types=[index_type], properties={"iota_dimension": IntegerAttr(d, i64)}
            )
        )
        mask = b.and_mask(b.compare(iota, bound, "LT"), mask)
    assert mask is not None
    return b.select(mask, x, b.broadcast(fill, t))


def rebuild(op: Operation, operands: Sequence[SSAValue]) -> None:
    new = type(op).create(
        operands=list(operands),
        result_types=[r.type for r in op.results],
        properties=dict(op.properties),
        attributes=dict(op.attributes),
        regions=[r.clone() for r in op.regions],
    )
    new.location = op.location
    Rewriter.replace_op(op, new)


_INT_EXTREMES = {e for b in (8, 16, 32, 64) for e in (-(2 ** (b - 1)), 2 ** (b - 1) - 1)}


def _is_extreme(v: Any) -> bool:
    """-inf/+inf, or an integer type's lowest/highest value (max/min identities)."""
    if isinstance(v, float):
        return math.isinf(v)
    return int(v) in _INT_EXTREMES


def init_is_identity(op: hlo.ReduceOp | hlo.ReduceWindowOp) -> bool:
    """Whether padding filled with the init values leaves the result unchanged: the
    init is the identity of a one-op body (sum 0, product 1, max -inf, ...), or the
    (extreme, 0) pair of JAX's argmax/argmin."""
    values = []
    for init in op.init_values:
        owner = init.owner
        while isinstance(owner, hlo.BroadcastInDimOp) and not value_shape(owner.result):
            owner = owner.operand.owner  # JAX's cumulative ops broadcast a scalar to a scalar
        if not isinstance(owner, hlo.ConstantOp) or not isinstance(owner.value, DenseIntOrFPElementsAttr):
            return False
        values.append(owner.value.get_values()[0])
    body = list(op.body.block.ops)
    if len(values) == 1 and len(body) == 2:
        v, combine = values[0], body[0]
        if isinstance(combine, (hlo.AddOp, hlo.OrOp, hlo.XorOp)):
            return v == 0
        if isinstance(combine, hlo.MultiplyOp):
            return v == 1
        if isinstance(combine, hlo.AndOp):
            return v in (1, -1)
        if isinstance(combine, (hlo.MaximumOp, hlo.MinimumOp)):
            # max wants the lowest value, min the highest: the sign tells which
            lowest = v < 0
            return _is_extreme(v) and lowest == isinstance(combine, hlo.MaximumOp)
        return False
    return len(values) == 2 and _is_extreme(values[0]) and values[1] == 0


def check_window(op: hlo.ReduceWindowOp, size: int) -> None:
    """A window over a ragged dimension (cumsum: window n, padding n - 1) is safe with
    the padding filled with the init value, if that is the identity and the window
    moves one by one without dilation (the result keeps the ragged dimension)."""
    dims = [d for d in ragged_dims(op.inputs[0], size) if ints(op.window_dimensions)[d] != 1]
    if not dims:
        return
    rank = len(value_shape(op.inputs[0]))
    ones = [1] * rank
    steps = [ints(op.window_strides) or ones, ints(op.base_dilations) or ones, ints(op.window_dilations) or ones]
    if any(s[d] != 1 for s in steps for d in dims) or not init_is_identity(op):
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} slides a window along the ragged axis with a stride, a "
            "dilation or an init value that is not the identity of its body"
        )


def ints(attr: Any) -> list[int]:
    return [int(v) for v in attr.get_values()] if attr is not None else []


def mask_window(op: hlo.ReduceWindowOp, size: int, length: SSAValue) -> None:
    dims = [d for d in ragged_dims(op.inputs[0], size) if ints(op.window_dimensions)[d] != 1]
    if not dims:
        return
    b = Builder(InsertPoint.before(op))
    inputs = [masked(b, x, dims, length, init) for x, init in zip(op.inputs, op.init_values)]
    rebuild(op, [*inputs, *op.init_values])


def _length_as(b: Builder, length: SSAValue, t: Any) -> SSAValue:
    return length if length.type == t else b.unary(hlo.ConvertOp, length, t)


def _clamped(b: Builder, start: SSAValue, length: SSAValue, extent: int) -> SSAValue:
    """min(start, length - extent): the clamp a slice of `extent` does at the true size."""
    t = start.type
    assert isinstance(t, TensorType)
    last = b.binary(hlo.SubtractOp, _length_as(b, length, t), b.constant(t, extent))
    return b.binary(hlo.MinimumOp, start, last)


def clamp_starts(
    op: hlo.DynamicSliceOp | hlo.DynamicUpdateSliceOp,
    size: int,
    length: SSAValue,
    counters: set[SSAValue] | frozenset[SSAValue] = frozenset(),
) -> None:
    """A dynamic (update) slice clamps its start so the window fits the operand: at the
    true size that is length - extent, not P - extent. Not a one-row slice at the counter
    of a scan run in step (ragged_loops.py): its result is kept only where the counter is
    below the length, where the clamp changes nothing."""
    if isinstance(op, hlo.DynamicSliceOp):
        extents = ints(op.slice_sizes)
    else:
        extents = list(value_shape(op.update))
    starts = list(op.start_indices)
    dims = [
        d for d in ragged_dims(op.operand, size)
        if extents[d] != size and not (extents[d] == 1 and starts[d] in counters)
    ]
    if not dims:
        return
    b = Builder(InsertPoint.before(op))
    for d in dims:
        starts[d] = _clamped(b, starts[d], length, extents[d])
    head = [op.operand] if isinstance(op, hlo.DynamicSliceOp) else [op.operand, op.update]
    rebuild(op, [*head, *starts])


def unreverse_padding(op: hlo.ReverseOp, size: int, length: SSAValue) -> None:
    """reverse over a ragged dimension puts the padding first: rotate it back to the
    end, `dynamic_slice(concatenate(r, r), P - length)` along that dimension."""
    dims = [d for d in ints(op.dimensions) if d in ragged_dims(op.operand, size)]
    if not dims:
        return
    b = Builder(InsertPoint.before(op))
    t = op.result.type
    assert isinstance(t, TensorType)
    index = TensorType(IntegerType(32), [])
    zero = b.constant(index, 0)
    out = b.emit(op.clone())
    for d in dims:
        shape = list(t.get_shape())
        shape[d] *= 2
        twice = b.emit(
            hlo.ConcatenateOp.create(
                operands=[out, out],
                result_types=[TensorType(t.element_type, shape)],
                properties={"dimension": IntegerAttr(d, i64)},
            )
        )
        shift = b.binary(hlo.SubtractOp, b.constant(index, size), _length_as(b, length, index))
        starts = [shift if i == d else zero for i in range(len(shape))]
        out = b.emit(
            hlo.DynamicSliceOp.create(
                operands=[twice, *starts], result_types=[t],
                properties={"slice_sizes": i64_array(list(t.get_shape()))},
            )
        )
    Rewriter.replace_op(op, [], [out])


def clamp_gather(op: hlo.GatherOp, size: int, length: SSAValue) -> None:
    """A gather clamps each start index so its slice fits the operand: at the true size
    the bound of a ragged dimension is length - slice size, not P - slice size."""
    dn = op.dimension_numbers.data
    sizes = ints(op.slice_sizes)
    ragged = ragged_dims(op.operand, size)
    picks = [(k, d) for k, d in enumerate(dn.start_index_map) if d in ragged and sizes[d] != size]
    if not picks:
        return
    b = Builder(InsertPoint.before(op))
    t = op.start_indices.type
    assert isinstance(t, TensorType)
    shape = list(t.get_shape())
    # one start index per lookup: no other component to leave unclamped
    single = dn.index_vector_dim >= len(shape) or shape[dn.index_vector_dim] == 1
    indices = op.start_indices
    scalar = TensorType(t.element_type, [])
    width = t.element_type.width.data  # type: ignore[attr-defined]
    for k, d in picks:
        last = b.binary(hlo.SubtractOp, _length_as(b, length, scalar), b.constant(scalar, sizes[d]))
        bound = b.broadcast(last, t)
        if not single:
            iota = b.emit(
                hlo.IotaOp.create(
                    result_types=[t], properties={"iota_dimension": IntegerAttr(dn.index_vector_dim, i64)}
                )
            )
            this = b.compare(iota, b.constant(t, k), "EQ")
            bound = b.select(this, bound, b.constant(t, (1 << (width - 1)) - 1))
        indices = b.binary(hlo.MinimumOp, indices, bound)
    rebuild(op, [op.operand, indices])


def sorts_ragged(op: hlo.SortOp, size: int) -> bool:
    return op.dimension.value.data in ragged_dims(op.inputs[0], size)


def _from_arg(v: SSAValue, arg: SSAValue) -> bool:
    """Whether `v` is computed (in the comparator) from `arg` alone."""
    if v is arg:
        return True
    owner = v.owner
    if not isinstance(owner, Operation) or not owner.operands:
        return isinstance(owner, Operation)  # a constant
    return all(_from_arg(x, arg) for x in owner.operands)


def sort_fill(op: hlo.SortOp) -> Any:
    """The value that sorts after every other key under `op`'s comparator, which must
    be JAX's ascending one on the first operand (`a < b`, with or without NaN
    canonicalization and total order); the sort must be stable, so that valid keys equal
    to the fill stay first."""
    block = op.comparator.block
    ret = block.last_op
    cmp = ret.operands[0].owner if ret is not None and len(ret.operands) == 1 else None
    element = op.inputs[0].type.element_type  # type: ignore[attr-defined]
    ok = (
        isinstance(cmp, hlo.CompareOp)
        and cmp.comparison_direction.data == hlo.ComparisonDirection.LT
        and _from_arg(cmp.lhs, block.args[0])
        and _from_arg(cmp.rhs, block.args[1])
        and op.is_stable is not None
        and op.is_stable.value.data
        and isinstance(element, (IntegerType, AnyFloat))
    )
    if not ok:
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} sorts along the ragged axis with a comparator other "
            "than a stable ascending one on its first operand"
        )
    assert isinstance(cmp, hlo.CompareOp)
    if isinstance(element, IntegerType):
        width = element.width.data
        unsigned = element.signedness.data == Signedness.UNSIGNED or width == 1
        return (1 << width) - 1 if unsigned else (1 << (width - 1)) - 1
    total = cmp.compare_type is not None and cmp.compare_type.data == hlo.ComparisonType.TOTALORDER
    return math.nan if total else math.inf


def fill_sort(op: hlo.SortOp, size: int, length: SSAValue) -> None:
    if not sorts_ragged(op, size):
        return
    b = Builder(InsertPoint.before(op))
    key = op.inputs[0]
    t = key.type
    assert isinstance(t, TensorType)
    fill = b.constant(TensorType(t.element_type, []), sort_fill(op))
    rebuild(op, [masked(b, key, [op.dimension.value.data], length, fill), *op.inputs[1:]])


def fill_top_k(op: TopKOp, size: int, length: SSAValue) -> None:
    t = op.operand.type
    assert isinstance(t, TensorType)
    last = len(t.get_shape()) - 1
    if last not in ragged_dims(op.operand, size):
        return
    element = t.element_type
    if isinstance(element, IntegerType):
        lowest: Any = 0 if element.signedness.data == Signedness.UNSIGNED else -(1 << (element.width.data - 1))
    else:
        lowest = -math.inf
    b = Builder(InsertPoint.before(op))
    fill = b.constant(TensorType(element, []), lowest)
    rebuild(op, [masked(b, op.operand, [last], length, fill)])


def mask_convolution(op: hlo.ConvolutionOp, size: int, length: SSAValue) -> None:
    """Zeros in the padding: what the convolution at the true size sees past the end."""
    b = Builder(InsertPoint.before(op))
    operands = []
    for x in (op.lhs, op.rhs):
        dims = ragged_dims(x, size)
        if dims:
            t = x.type
            assert isinstance(t, TensorType)
            x = masked(b, x, dims, length, b.constant(TensorType(t.element_type, []), 0))
        operands.append(x)
    if operands != [op.lhs, op.rhs]:
        rebuild(op, operands)
