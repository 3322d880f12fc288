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
- `gather` from a ragged operand: start indices clamped to length - slice size;
- `sort` (stable, ascending) and `chlo.top_k`: a key that sorts last in the padding;
- a scan over the ragged axis (`while i < length`, i stepped by one) runs in step: a
  uniform counter up to P, the body's results kept only while `i < length`
  (passes/ragged_loops.py); other `while` loops get `batch.strategy = "mask"` (their
  reads are the clamped slices).
Elementwise, broadcast, transpose, iota, splat constants, unit-dimension reshapes,
slices that keep the ragged dimensions whole or take a fixed head, pads growing a fixed
head, gathers from a non-ragged table, and `case` keep padding in the padding and are
left alone. Every other op that touches a ragged dimension raises VmlirUnsupportedError
naming it and its Python line. The rewrites live in passes/ragged_rewrites.py.
Guarantees: no `ragged_axes` property remains; the length stays an ordinary batched
operand (the masks read it), so the rest of the pipeline sees a plain vmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, YieldOp, axes_of
from vmlir.dialects.chlo import TopKOp
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.passes.builder import Builder
from vmlir.passes.ragged_flat import is_flat
from vmlir.passes.ragged_loops import uniform_counters
from vmlir.passes.ragged_rewrites import (
    check_window,
    clamp_gather,
    clamp_starts,
    fill_sort,
    fill_top_k,
    init_is_identity,
    ints,
    mask_convolution,
    mask_window,
    masked,
    ragged_dims,
    rebuild,
    sort_fill,
    sorts_ragged,
    unreverse_padding,
    value_shape,
)
from vmlir.passes.rules.context import where

_SHAPE_ONLY = (hlo.IotaOp, hlo.BroadcastInDimOp, hlo.TransposeOp, hlo.ReturnOp, YieldOp)
"""Ops that move or create elements without combining any two of them."""


def _padded_size(vmap: VmapOp) -> int:
    axes = axes_of(vmap.ragged_axes)  # type: ignore[arg-type]
    sizes = {value_shape(arg)[a] for arg, a in zip(vmap.body.block.args, axes) if a is not None}
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


def _reduced_ragged(op: hlo.ReduceOp, size: int) -> list[int]:
    return [d for d in op.dimensions.get_values() if d in ragged_dims(op.inputs[0], size)]


def _mask_reduce(op: hlo.ReduceOp, size: int, length: SSAValue) -> None:
    reduced = _reduced_ragged(op, size)
    if not reduced:
        return
    b = Builder(InsertPoint.before(op))
    inputs = [masked(b, x, reduced, length, init) for x, init in zip(op.inputs, op.init_values)]
    rebuild(op, [*inputs, *op.init_values])


def _mask_dot(op: hlo.DotGeneralOp, size: int, length: SSAValue) -> None:
    dn = op.dot_dimension_numbers
    lhs_dims = [d for d in dn.lhs_contracting_dimensions if d in ragged_dims(op.lhs, size)]
    rhs_dims = [d for d in dn.rhs_contracting_dimensions if d in ragged_dims(op.rhs, size)]
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
            done[(x, tuple(dims))] = masked(b, x, dims, length, zero)
        operands.append(done[(x, tuple(dims))] if dims else x)
    rebuild(op, operands)


def _slice_is_safe(op: hlo.SliceOp, size: int) -> bool:
    """A slice that keeps every ragged dimension whole (`x[:, 0]`), or cuts one to a
    head of fixed size (`x[0]`, `x[:3]`: the API checks every example is that long)."""
    starts, limits = op.start_indices.get_values(), op.limit_indices.get_values()
    strides = op.strides.get_values()
    return all(
        (starts[d], limits[d], strides[d]) == (0, size, 1) or limits[d] < size
        for d in ragged_dims(op.operand, size)
    )


def _gather_is_safe(op: hlo.GatherOp, size: int) -> bool:
    """A lookup by ragged indices in a fixed table (embeddings), or a gather from a
    ragged operand whose start indices along the ragged dimensions batch-ragged clamps
    (`x[idx]`, `jnp.median`); not a ragged dimension used as a batching dimension."""
    dn = op.dimension_numbers.data
    ragged = ragged_dims(op.operand, size)
    sizes = ints(op.slice_sizes)
    return all(d in dn.start_index_map or sizes[d] == size for d in ragged) and not any(
        d in dn.operand_batching_dims for d in ragged
    )


def _pad_is_safe(op: hlo.PadOp, size: int) -> bool:
    """A pad that leaves a ragged dimension alone, or grows a fixed head to the padded
    size (JAX's transpose of `x[0]`): the pad value fills what the example has past
    the head, as at the true size."""
    low, high = ints(op.edge_padding_low), ints(op.edge_padding_high)
    interior = ints(op.interior_padding)
    ragged_in = ragged_dims(op.operand, size)
    for d in ragged_dims(op.result, size):
        if d in ragged_in and (low[d], high[d], interior[d]) != (0, 0, 0):
            return False
        if d not in ragged_in and (low[d] != 0 or interior[d] != 0):
            return False
    return all(d in ragged_dims(op.result, size) for d in ragged_in)


def _check(op: Operation, size: int) -> None:
    """Raise unless `op` is padding-safe as it is or one of the ops this pass masks."""
    values = [*op.operands, *op.results]
    if not any(ragged_dims(v, size) for v in values):
        return
    if isinstance(op, hlo.ReduceOp) and _reduced_ragged(op, size) and not init_is_identity(op):
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} reduces the ragged axis from an init value that is "
            "not the identity of its body, so the padding cannot be filled with it"
        )
    if isinstance(op, hlo.ReduceWindowOp):
        check_window(op, size)
    if isinstance(op, hlo.SortOp) and sorts_ragged(op, size):
        sort_fill(op)  # raises unless the comparator is an ascending one
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
        value_shape(op.operand), value_shape(op.result)
    ):
        return
    raise VmlirUnsupportedError(
        f"ragged vmap: {where(op)} touches the ragged axis (padded size {size}) and "
        "batch-ragged cannot keep it from reading padding; supported over a ragged axis: "
        "elementwise ops, reductions, cumulative ops, contractions, convolutions, sort, "
        "top_k, reverse, slices and dynamic slices, loops (docs/ragged.md)"
    )


def _rewrite(vmap: VmapOp) -> None:
    size = _padded_size(vmap)
    length = vmap.body.block.args[-1]
    ops = [op for op in vmap.body.walk()]
    for op in ops:
        _check(op, size)
    # scans over the ragged axis run in step (ragged_loops.py); their counters' one-row
    # slices need no clamp
    counters: set[SSAValue] = set()
    for op in ops:
        if isinstance(op, hlo.WhileOp) and "batch.strategy" not in op.attributes:
            counters |= uniform_counters(op, size, length)
    if counters:
        ops = [op for op in vmap.body.walk()]
    for op in ops:
        if isinstance(op, hlo.ReduceOp):
            _mask_reduce(op, size, length)
        elif isinstance(op, hlo.DotGeneralOp):
            _mask_dot(op, size, length)
        elif isinstance(op, hlo.ReduceWindowOp):
            mask_window(op, size, length)
        elif isinstance(op, (hlo.DynamicSliceOp, hlo.DynamicUpdateSliceOp)):
            clamp_starts(op, size, length, counters)
        elif isinstance(op, hlo.ReverseOp):
            unreverse_padding(op, size, length)
        elif isinstance(op, hlo.SortOp):
            fill_sort(op, size, length)
        elif isinstance(op, TopKOp):
            fill_top_k(op, size, length)
        elif isinstance(op, hlo.GatherOp):
            clamp_gather(op, size, length)
        elif isinstance(op, hlo.ConvolutionOp):
            mask_convolution(op, size, length)
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
            # a packed vmap is batch-ragged-flat's (passes/ragged_flat.py)
            if vmap.ragged_axes is not None and not is_flat(vmap):
                _rewrite(vmap)
