"""batch-ragged: a vmap over examples of different lengths that never reads padding.

Expects: `batch.vmap` ops with `ragged_axes` (vmlir.vmap(fn, ragged=...) builds them;
docs/ragged.md). Their ragged operands are padded to one size P along the ragged axis,
and their last operand is each example's true length (an integer scalar per example).
Inside the body, EVERY dimension of size P is a ragged dimension: the frontend checks
this by tracing at two padded sizes (no other dimension may follow, or equal, P).
Does: propagates validity by shape (a value is ragged along its dimensions of size P)
and rewrites the ops that could mix padding into valid results:
- `stablehlo.reduce` over a ragged dimension: each input gets its init value in the
  padding (sum, max/min, argmax, and what JAX builds from them: mean, var, softmax,
  logsumexp);
- `stablehlo.reduce_window` along a ragged dimension (cumulative ops): the same;
- `stablehlo.dot_general` contracting a ragged dimension, and `convolution` over one:
  zeros in both operands' padding (one is not enough: NaN * 0 is NaN);
- `dynamic_slice` / `dynamic_update_slice`: the start clamped to length - extent;
- `reverse`: the padding, now first, rotated back behind the example;
- `sort` (stable, ascending) and `chlo.top_k`: a key that sorts last in the padding;
- `while` loops get `batch.strategy = "mask"` (their reads are the clamped slices).
Elementwise, broadcast, transpose, iota, splat constants, unit-dimension reshapes,
slices that keep the ragged dimensions whole or take a fixed head, gathers from a
non-ragged table, and `case` keep padding in the padding and are left alone. Every other op that touches a ragged
dimension raises VmlirUnsupportedError naming it and its Python line.
Guarantees: no `ragged_axes` property remains; the length stays an ordinary batched
operand (the masks read it), so the rest of the pipeline sees a plain vmap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    AnyFloat,
    IntegerType,
    Signedness,
    StringAttr,
    ModuleOp,
    TensorType,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.chlo import TopKOp
from vmlir.dialects.batch import VmapOp, YieldOp, axes_of
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.passes.builder import Builder, i64_array
from vmlir.passes.rules.context import where

_SHAPE_ONLY = (hlo.IotaOp, hlo.BroadcastInDimOp, hlo.TransposeOp, hlo.ReturnOp, YieldOp)
"""Ops that move or create elements without combining any two of them."""


def _shape(v: SSAValue) -> tuple[int, ...]:
    t = v.type
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def _ragged_dims(v: SSAValue, size: int) -> list[int]:
    return [i for i, d in enumerate(_shape(v)) if d == size]


def _padded_size(vmap: VmapOp) -> int:
    axes = axes_of(vmap.ragged_axes)  # type: ignore[arg-type]
    sizes = {_shape(arg)[a] for arg, a in zip(vmap.body.block.args, axes) if a is not None}
    if len(sizes) != 1:
        raise VmlirError(
            f"batch.vmap ragged_axes: the ragged operands must share one padded size, got "
            f"{sorted(sizes)}"
        )
    length = vmap.body.block.args[-1]
    t = length.type
    if not isinstance(t, TensorType) or t.get_shape() or not isinstance(t.element_type, IntegerType):
        raise VmlirError("batch.vmap ragged_axes: the last operand must be an integer length per example")
    return sizes.pop()


def _is_splat(op: hlo.ConstantOp) -> bool:
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        return False
    values = value.get_values()
    return len(set(values)) <= 1


def _same_without_units(a: Sequence[int], b: Sequence[int]) -> bool:
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def _masked(b: Builder, x: SSAValue, dims: Sequence[int], length: SSAValue, fill: SSAValue) -> SSAValue:
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


def _rebuild(op: Operation, operands: Sequence[SSAValue]) -> None:
    new = type(op).create(
        operands=list(operands),
        result_types=[r.type for r in op.results],
        properties=dict(op.properties),
        attributes=dict(op.attributes),
        regions=[r.clone() for r in op.regions],
    )
    new.location = op.location
    Rewriter.replace_op(op, new)


def _reduced_ragged(op: hlo.ReduceOp, size: int) -> list[int]:
    return [d for d in op.dimensions.get_values() if d in _ragged_dims(op.inputs[0], size)]


_INT_EXTREMES = {e for b in (8, 16, 32, 64) for e in (-(2 ** (b - 1)), 2 ** (b - 1) - 1)}


def _is_extreme(v: Any) -> bool:
    """-inf/+inf, or an integer type's lowest/highest value (max/min identities)."""
    if isinstance(v, float):
        return math.isinf(v)
    return int(v) in _INT_EXTREMES


def _init_is_identity(op: hlo.ReduceOp | hlo.ReduceWindowOp) -> bool:
    """Whether padding filled with the init values leaves the result unchanged: the
    init is the identity of a one-op body (sum 0, product 1, max -inf, ...), or the
    (extreme, 0) pair of JAX's argmax/argmin."""
    values = []
    for init in op.init_values:
        owner = init.owner
        while isinstance(owner, hlo.BroadcastInDimOp) and not _shape(owner.result):
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


def _mask_reduce(op: hlo.ReduceOp, size: int, length: SSAValue) -> None:
    reduced = _reduced_ragged(op, size)
    if not reduced:
        return
    b = Builder(InsertPoint.before(op))
    inputs = [_masked(b, x, reduced, length, init) for x, init in zip(op.inputs, op.init_values)]
    _rebuild(op, [*inputs, *op.init_values])


def _mask_dot(op: hlo.DotGeneralOp, size: int, length: SSAValue) -> None:
    dn = op.dot_dimension_numbers
    lhs_dims = [d for d in dn.lhs_contracting_dimensions if d in _ragged_dims(op.lhs, size)]
    rhs_dims = [d for d in dn.rhs_contracting_dimensions if d in _ragged_dims(op.rhs, size)]
    if not lhs_dims and not rhs_dims:
        return
    b = Builder(InsertPoint.before(op))
    operands: list[SSAValue] = []
    done: dict[tuple[SSAValue, tuple[int, ...]], SSAValue] = {}  # x @ x.T: mask x once
    for x, dims in ((op.lhs, lhs_dims), (op.rhs, rhs_dims)):
        if dims and (x, tuple(dims)) not in done:
            t = x.type
            assert isinstance(t, TensorType)
            zero = b.constant(TensorType(t.element_type, []), 0)
            done[(x, tuple(dims))] = _masked(b, x, dims, length, zero)
        operands.append(done[(x, tuple(dims))] if dims else x)
    _rebuild(op, operands)


def _slice_is_safe(op: hlo.SliceOp, size: int) -> bool:
    """A slice that keeps every ragged dimension whole (`x[:, 0]`), or cuts one to a
    head of fixed size (`x[0]`, `x[:3]`: the API checks every example is that long)."""
    starts, limits = op.start_indices.get_values(), op.limit_indices.get_values()
    strides = op.strides.get_values()
    return all(
        (starts[d], limits[d], strides[d]) == (0, size, 1) or limits[d] < size
        for d in _ragged_dims(op.operand, size)
    )


def _gather_is_safe(op: hlo.GatherOp, size: int) -> bool:
    """A lookup by ragged indices in a fixed table (embeddings), or a gather from a
    ragged operand whose start indices along the ragged dimensions batch-ragged clamps
    (`x[idx]`, `jnp.median`); not a ragged dimension used as a batching dimension."""
    dn = op.dimension_numbers.data
    ragged = _ragged_dims(op.operand, size)
    sizes = _ints(op.slice_sizes)
    return all(d in dn.start_index_map or sizes[d] == size for d in ragged) and not any(
        d in dn.operand_batching_dims for d in ragged
    )


def _pad_is_safe(op: hlo.PadOp, size: int) -> bool:
    """A pad that leaves a ragged dimension alone, or grows a fixed head to the padded
    size (JAX's transpose of `x[0]`): the pad value fills what the example has past
    the head, as at the true size."""
    low, high = _ints(op.edge_padding_low), _ints(op.edge_padding_high)
    interior = _ints(op.interior_padding)
    ragged_in = _ragged_dims(op.operand, size)
    for d in _ragged_dims(op.result, size):
        if d in ragged_in and (low[d], high[d], interior[d]) != (0, 0, 0):
            return False
        if d not in ragged_in and (low[d] != 0 or interior[d] != 0):
            return False
    return all(d in _ragged_dims(op.result, size) for d in ragged_in)


def _check(op: Operation, size: int) -> None:
    """Raise unless `op` is padding-safe as it is or one of the ops this pass masks."""
    values = [*op.operands, *op.results]
    if not any(_ragged_dims(v, size) for v in values):
        return
    if isinstance(op, hlo.ReduceOp) and _reduced_ragged(op, size) and not _init_is_identity(op):
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} reduces the ragged axis from an init value that is "
            "not the identity of its body, so the padding cannot be filled with it"
        )
    if isinstance(op, hlo.ReduceWindowOp):
        _check_window(op, size)
    if isinstance(op, hlo.SortOp) and _sorts_ragged(op, size):
        _sort_fill(op)  # raises unless the comparator is an ascending one
    if isinstance(op, (hlo.ElementwiseOp, *_SHAPE_ONLY, *_REWRITTEN, *_SAFE_REGIONS)):
        return
    if isinstance(op, hlo.ConstantOp) and _is_splat(op):
        return
    if isinstance(op, hlo.GatherOp) and _gather_is_safe(op, size):
        return
    if isinstance(op, hlo.SliceOp) and _slice_is_safe(op, size):
        return
    if isinstance(op, hlo.PadOp) and _pad_is_safe(op, size):
        return
    if isinstance(op, hlo.ReshapeOp) and _same_without_units(
        _shape(op.operand), _shape(op.result)
    ):
        return
    raise VmlirUnsupportedError(
        f"ragged vmap: {where(op)} touches the ragged axis (padded size {size}) and "
        "batch-ragged cannot keep it from reading padding; supported over a ragged axis: "
        "elementwise ops, reductions, cumulative ops, contractions, convolutions, sort, "
        "top_k, reverse, slices and dynamic slices, loops (docs/ragged.md)"
    )


def _check_window(op: hlo.ReduceWindowOp, size: int) -> None:
    """A window over a ragged dimension (cumsum: window n, padding n - 1) is safe with
    the padding filled with the init value, if that is the identity and the window
    moves one by one without dilation (the result keeps the ragged dimension)."""
    dims = [d for d in _ragged_dims(op.inputs[0], size) if _ints(op.window_dimensions)[d] != 1]
    if not dims:
        return
    rank = len(_shape(op.inputs[0]))
    ones = [1] * rank
    steps = [_ints(op.window_strides) or ones, _ints(op.base_dilations) or ones, _ints(op.window_dilations) or ones]
    if any(s[d] != 1 for s in steps for d in dims) or not _init_is_identity(op):
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} slides a window along the ragged axis with a stride, a "
            "dilation or an init value that is not the identity of its body"
        )


def _ints(attr: Any) -> list[int]:
    return [int(v) for v in attr.get_values()] if attr is not None else []


def _mask_window(op: hlo.ReduceWindowOp, size: int, length: SSAValue) -> None:
    dims = [d for d in _ragged_dims(op.inputs[0], size) if _ints(op.window_dimensions)[d] != 1]
    if not dims:
        return
    b = Builder(InsertPoint.before(op))
    inputs = [_masked(b, x, dims, length, init) for x, init in zip(op.inputs, op.init_values)]
    _rebuild(op, [*inputs, *op.init_values])


def _length_as(b: Builder, length: SSAValue, t: Any) -> SSAValue:
    return length if length.type == t else b.unary(hlo.ConvertOp, length, t)


def _clamped(b: Builder, start: SSAValue, length: SSAValue, extent: int) -> SSAValue:
    """min(start, length - extent): the clamp a slice of `extent` does at the true size."""
    t = start.type
    assert isinstance(t, TensorType)
    last = b.binary(hlo.SubtractOp, _length_as(b, length, t), b.constant(t, extent))
    return b.binary(hlo.MinimumOp, start, last)


def _clamp_starts(op: hlo.DynamicSliceOp | hlo.DynamicUpdateSliceOp, size: int, length: SSAValue) -> None:
    """A dynamic (update) slice clamps its start so the window fits the operand: at the
    true size that is length - extent, not P - extent."""
    if isinstance(op, hlo.DynamicSliceOp):
        extents = _ints(op.slice_sizes)
    else:
        extents = list(_shape(op.update))
    dims = [d for d in _ragged_dims(op.operand, size) if extents[d] != size]
    if not dims:
        return
    b = Builder(InsertPoint.before(op))
    starts = list(op.start_indices)
    for d in dims:
        starts[d] = _clamped(b, starts[d], length, extents[d])
    head = [op.operand] if isinstance(op, hlo.DynamicSliceOp) else [op.operand, op.update]
    _rebuild(op, [*head, *starts])


def _unreverse_padding(op: hlo.ReverseOp, size: int, length: SSAValue) -> None:
    """reverse over a ragged dimension puts the padding first: rotate it back to the
    end, `dynamic_slice(concatenate(r, r), P - length)` along that dimension."""
    dims = [d for d in _ints(op.dimensions) if d in _ragged_dims(op.operand, size)]
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


def _clamp_gather(op: hlo.GatherOp, size: int, length: SSAValue) -> None:
    """A gather clamps each start index so its slice fits the operand: at the true size
    the bound of a ragged dimension is length - slice size, not P - slice size."""
    dn = op.dimension_numbers.data
    sizes = _ints(op.slice_sizes)
    ragged = _ragged_dims(op.operand, size)
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
    _rebuild(op, [op.operand, indices])


def _sorts_ragged(op: hlo.SortOp, size: int) -> bool:
    return op.dimension.value.data in _ragged_dims(op.inputs[0], size)


def _from_arg(v: SSAValue, arg: SSAValue) -> bool:
    """Whether `v` is computed (in the comparator) from `arg` alone."""
    if v is arg:
        return True
    owner = v.owner
    if not isinstance(owner, Operation) or not owner.operands:
        return isinstance(owner, Operation)  # a constant
    return all(_from_arg(x, arg) for x in owner.operands)


def _sort_fill(op: hlo.SortOp) -> Any:
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


def _fill_sort(op: hlo.SortOp, size: int, length: SSAValue) -> None:
    if not _sorts_ragged(op, size):
        return
    b = Builder(InsertPoint.before(op))
    key = op.inputs[0]
    t = key.type
    assert isinstance(t, TensorType)
    fill = b.constant(TensorType(t.element_type, []), _sort_fill(op))
    _rebuild(op, [_masked(b, key, [op.dimension.value.data], length, fill), *op.inputs[1:]])


def _fill_top_k(op: TopKOp, size: int, length: SSAValue) -> None:
    t = op.operand.type
    assert isinstance(t, TensorType)
    last = len(t.get_shape()) - 1
    if last not in _ragged_dims(op.operand, size):
        return
    element = t.element_type
    if isinstance(element, IntegerType):
        lowest: Any = 0 if element.signedness.data == Signedness.UNSIGNED else -(1 << (element.width.data - 1))
    else:
        lowest = -math.inf
    b = Builder(InsertPoint.before(op))
    fill = b.constant(TensorType(element, []), lowest)
    _rebuild(op, [_masked(b, op.operand, [last], length, fill)])


def _mask_convolution(op: hlo.ConvolutionOp, size: int, length: SSAValue) -> None:
    """Zeros in the padding: what the convolution at the true size sees past the end."""
    b = Builder(InsertPoint.before(op))
    operands = []
    for x in (op.lhs, op.rhs):
        dims = _ragged_dims(x, size)
        if dims:
            t = x.type
            assert isinstance(t, TensorType)
            x = _masked(b, x, dims, length, b.constant(TensorType(t.element_type, []), 0))
        operands.append(x)
    if operands != [op.lhs, op.rhs]:
        _rebuild(op, operands)


def _rewrite(vmap: VmapOp) -> None:
    size = _padded_size(vmap)
    length = vmap.body.block.args[-1]
    ops = [op for op in vmap.body.walk()]
    for op in ops:
        _check(op, size)
    for op in ops:
        if isinstance(op, hlo.ReduceOp):
            _mask_reduce(op, size, length)
        elif isinstance(op, hlo.DotGeneralOp):
            _mask_dot(op, size, length)
        elif isinstance(op, hlo.ReduceWindowOp):
            _mask_window(op, size, length)
        elif isinstance(op, (hlo.DynamicSliceOp, hlo.DynamicUpdateSliceOp)):
            _clamp_starts(op, size, length)
        elif isinstance(op, hlo.ReverseOp):
            _unreverse_padding(op, size, length)
        elif isinstance(op, hlo.SortOp):
            _fill_sort(op, size, length)
        elif isinstance(op, TopKOp):
            _fill_top_k(op, size, length)
        elif isinstance(op, hlo.GatherOp):
            _clamp_gather(op, size, length)
        elif isinstance(op, hlo.ConvolutionOp):
            _mask_convolution(op, size, length)
        elif isinstance(op, hlo.WhileOp) and "batch.strategy" not in op.attributes:
            # A scan over the ragged axis stops at each example's length; the buckets
            # already group similar lengths, so the plain masked loop is the cheap one.
            op.attributes["batch.strategy"] = StringAttr("mask")
    vmap.properties.pop("ragged_axes")


_REWRITTEN = (
    hlo.GatherOp, hlo.ReduceOp, hlo.DotGeneralOp, hlo.ReduceWindowOp, hlo.DynamicSliceOp,
    hlo.DynamicUpdateSliceOp, hlo.ReverseOp, hlo.SortOp, TopKOp, hlo.ConvolutionOp,
)
"""Ops batch-ragged rewrites so that they read no padding (see `_rewrite`)."""

_SAFE_REGIONS = (hlo.WhileOp, hlo.CaseOp)
"""Loops and branches: their bodies are checked op by op, and every read they make
through a dynamic slice is clamped to the example's length (a scan over `x` stops
where its trip count, `x.shape[0]`, has become the length)."""


@dataclass(frozen=True)
class BatchRaggedPass(ModulePass):
    """Mask what a ragged vmap could read of its padding (see module doc)."""

    name = "batch-ragged"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for vmap in [v for v in op.walk() if isinstance(v, VmapOp)]:
            if vmap.ragged_axes is not None:
                _rewrite(vmap)
