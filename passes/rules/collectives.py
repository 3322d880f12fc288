"""Named-axis collectives: reductions, gathers and permutations over the mapped axis.

A collective names one or more axes. When the vmap being vectorized binds one of them
(`batch.vmap {axis_name}`), its part of the collective becomes StableHLO over the batch
axis, as jax.vmap's collective batching rules do:

- psum / pmax / pmin: a reduction over the batch axis (a uniform operand: psum is
  axis_size × value, pmax / pmin the value); the result is uniform;
- axis_index: an iota along the batch axis;
- all_gather: the batch axis itself, moved to `dim` (uniform operand: a broadcast);
- psum_scatter: the sum, whose `dim` (cut into blocks when tiled) becomes the batch axis;
- ppermute: a gather of the examples along the batch axis;
- all_to_all: a transpose exchanging the batch axis with the blocks of `split`.

Names of outer vmaps stay: the collective is rebuilt over the rest of its names (for a
tuple, the current axis is reduced or gathered first, in the order the tuple lays out),
or, when it does not name this vmap at all, it is mapped over the batch axis (its
dimension parameters shift past the batch axis at 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
    i32,
    i64,
)
from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.dialects.batch_collectives import (
    AllGatherOp,
    AllToAllOp,
    AxisIndexOp,
    CollectiveOp,
    PmaxOp,
    PminOp,
    PpermuteOp,
    PsumOp,
    PsumScatterOp,
    enclosing_axis_sizes,
    names_attr,
)
from vmlir.dialects.batch import BroadcastOp
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.rules.context import Axis, RuleContext, RuleResult, i64_array, tensor_type, where
from vmlir.passes.rules.cross_shard import (
    all_gather,
    all_reduce,
    global_size,
    shard_offset,
    shards_of,
)


def _current(ctx: RuleContext) -> str | None:
    return getattr(ctx.vectorizer, "axis_name", None)


def _reshape(ctx: RuleContext, x: SSAValue, shape: Sequence[int]) -> SSAValue:
    t = tensor_type(x)
    if list(t.get_shape()) == list(shape):
        return x
    op = hlo.ReshapeOp.create(operands=[x], result_types=[TensorType(t.element_type, list(shape))])
    return ctx.emit(op).results[0]


def _transpose(ctx: RuleContext, x: SSAValue, perm: Sequence[int]) -> SSAValue:
    if list(perm) == list(range(len(perm))):
        return x
    t = tensor_type(x)
    shape = [t.get_shape()[p] for p in perm]
    op = hlo.TransposeOp.create(
        operands=[x],
        result_types=[TensorType(t.element_type, shape)],
        properties={"permutation": i64_array(perm)},
    )
    return ctx.emit(op).results[0]


def _extreme(t: TensorType, highest: bool) -> int | float:
    """The identity of max (lowest value) or min (highest value) for `t`'s elements."""
    e = t.element_type
    if isinstance(e, IntegerType):
        width = e.width.data
        if e.signedness.data == Signedness.UNSIGNED or width == 1:
            return (1 << width) - 1 if highest else 0
        return (1 << (width - 1)) - 1 if highest else -(1 << (width - 1))
    return float("inf") if highest else float("-inf")


def _with_axes(
    ctx: RuleContext, op: Operation, operand: SSAValue, names: Sequence[str]
) -> SSAValue:
    """`op` again over `names` only (the current axis is done), on `operand`."""
    props = dict(op.properties)
    props["axes"] = names_attr(names)
    new = op.create(
        operands=[operand],
        result_types=[op.results[0].type],
        properties=props,
        location=op.location,
    )
    return ctx.emit(new).results[0]


def _mapped(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    """A collective over other (outer) axes, on an operand this vmap batches."""
    (x,), (a,) = operands, axes
    if a is None:
        return ctx.rebuild(op, operands, [r.type for r in op.results]).results, [None]
    if isinstance(op, (PsumOp, PmaxOp, PminOp, PpermuteOp)):
        return ctx.rebuild(op, [x], [x.type]).results, [a]
    # Dimension parameters count per-example dimensions: put the batch axis first.
    x = ctx.move_axis(x, a, 0)
    props = {}
    for key in ("dim", "split", "concat"):
        value = op.properties.get(key)
        if isinstance(value, IntegerAttr):
            props[key] = IntegerAttr(value.value.data + 1, i64)
    result = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [x], [result], **props).results, [0]


def _split_names(op: CollectiveOp, current: str) -> tuple[list[str], list[str]]:
    names = op.axis_names
    p = names.index(current)
    return names[:p], names[p + 1 :]


def _not_across_shards(ctx: RuleContext, op: Operation) -> None:
    shards = shards_of(ctx)
    if shards is not None:
        raise VmlirUnsupportedError(
            f"{where(op)} over an axis whose batch is sharded over the mesh axis "
            f'"{shards.axes_text}": only psum, pmean, pmax, pmin, all_gather and axis_index '
            "reach the other shards"
        )


def reduction_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """psum / pmax / pmin over this vmap's axis: reduce over the batch axis."""
    assert isinstance(op, (PsumOp, PmaxOp, PminOp))
    current = _current(ctx)
    if current not in op.axis_names:
        return _mapped(ctx, op, operands, axes)
    (x,), (a,) = operands, axes
    b = ctx.builder()
    t = tensor_type(op.operand)
    scalar = TensorType(t.element_type, [])
    if isinstance(op, PsumOp):
        combine: type[Operation] = hlo.AddOp
        if a is None:
            out = b.binary(hlo.MultiplyOp, x, b.constant(t, global_size(ctx)))
        else:
            out = b.reduce(x, b.constant(scalar, 0), [a], hlo.AddOp)
    elif a is None:
        out = x
    elif isinstance(op, PmaxOp):
        combine = hlo.MaximumOp
        out = b.reduce(x, b.constant(scalar, _extreme(t, False)), [a], combine)
    else:
        combine = hlo.MinimumOp
        out = b.reduce(x, b.constant(scalar, _extreme(t, True)), [a], combine)
    if a is not None and shards_of(ctx) is not None:
        out = all_reduce(ctx, out, combine)  # the other shards' lanes, on other devices
    rest = [n for n in op.axis_names if n != current]
    if rest:
        out = _with_axes(ctx, op, out, rest)
    return [out], [None]


def axis_index_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """axis_index of this vmap's axis: 0, 1, ... along the batch axis."""
    assert isinstance(op, AxisIndexOp)
    if _current(ctx) not in op.axis_names:
        return ctx.rebuild(op, [], [op.result.type]).results, [None]
    iota = hlo.IotaOp.create(
        properties={"iota_dimension": IntegerAttr(0, i64)},
        result_types=[TensorType(i32, [ctx.axis_size])],
    )
    index = ctx.emit(iota).results[0]
    if shards_of(ctx) is not None:
        b = ctx.builder()
        offset = b.broadcast(shard_offset(ctx), tensor_type(index))
        index = b.binary(hlo.AddOp, index, offset)
    return [index], [0]


def all_gather_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """all_gather over this vmap's axis: the batch axis moved to `dim`. With a tuple of
    names, the other names gather around it (before: major, after: minor), then the
    gathered dimensions (and `dim` itself, when tiled) merge into one."""
    assert isinstance(op, AllGatherOp)
    current = _current(ctx)
    if current not in op.axis_names:
        return _mapped(ctx, op, operands, axes)
    (x,), (a,) = operands, axes
    d = op.dim.value.data
    if a is None:
        g = ctx.emit(BroadcastOp(x, d, global_size(ctx))).results[0]
    else:
        g = ctx.move_axis(x, a, d)
        if shards_of(ctx) is not None:
            g = all_gather(ctx, g, d)  # the other shards' examples, in device order
    before, after = _split_names(op, current)
    sizes = enclosing_axis_sizes(op)
    for names, at in ((after, d + 1), (before, d)):
        if names:
            n = 1
            for name in names:
                n *= sizes[name]
            result = insert_axis(tensor_type(g), at, n)
            g = ctx.emit(AllGatherOp(g, names, at, False, result)).results[0]
    return [_reshape(ctx, g, tensor_type(op.result).get_shape())], [None]


def psum_scatter_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """psum_scatter over this vmap's axis: the sum, whose `dim` becomes the batch axis."""
    assert isinstance(op, PsumScatterOp)
    if _current(ctx) not in op.axis_names:
        return _mapped(ctx, op, operands, axes)
    _not_across_shards(ctx, op)
    (x,), (a,) = operands, axes
    b = ctx.builder()
    t = tensor_type(op.operand)
    if a is None:
        total = b.binary(hlo.MultiplyOp, x, b.constant(t, ctx.axis_size))
    else:
        total = b.reduce(x, b.constant(TensorType(t.element_type, []), 0), [a], hlo.AddOp)
    d = op.dim.value.data
    if op.tiled is not None:
        shape = list(t.get_shape())
        shape[d : d + 1] = [ctx.axis_size, shape[d] // ctx.axis_size]
        total = _reshape(ctx, total, shape)
    return [total], [d]


def ppermute_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """ppermute over this vmap's axis: example dst takes example src's value (a gather
    along the batch axis; jax.vmap also requires a permutation of the whole axis)."""
    assert isinstance(op, PpermuteOp)
    if _current(ctx) not in op.axis_names:
        return _mapped(ctx, op, operands, axes)
    _not_across_shards(ctx, op)
    (x,), (a,) = operands, axes
    if a is None:
        return [x], [None]  # every example sends and receives the same value
    x = ctx.move_axis(x, a, 0)
    n = ctx.axis_size
    sources = [0] * n
    for src, dst in op.pairs():
        sources[dst] = src
    idx_type = TensorType(i32, [n, 1])
    value = DenseIntOrFPElementsAttr.from_list(idx_type, [int(s) for s in sources])
    idx = ctx.emit(
        hlo.ConstantOp.create(properties={"value": value}, result_types=[idx_type])
    ).results[0]
    t = tensor_type(x)
    rank = t.get_num_dims()
    gather = hlo.GatherOp.create(
        operands=[x, idx],
        result_types=[t],
        properties={
            "dimension_numbers": hlo.GatherDimensionNumbersAttr.make(
                list(range(1, rank)), [0], [0], 1
            ),
            "indices_are_sorted": BoolAttr.from_bool(False),
            "slice_sizes": i64_array([1, *t.get_shape()[1:]]),
        },
    )
    return ctx.emit(gather).results, [0]


def all_to_all_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """all_to_all over this vmap's axis: with the batch axis (senders, n) first and the
    blocks of `split` (receivers, k) split out, a transpose makes k the batch axis and puts
    n just before `concat`, which a reshape merges."""
    assert isinstance(op, AllToAllOp)
    if _current(ctx) not in op.axis_names:
        return _mapped(ctx, op, operands, axes)
    _not_across_shards(ctx, op)
    (x,), (a,) = operands, axes
    x = ctx.to_axis(x, a, 0)
    n = ctx.axis_size
    s = list(tensor_type(op.operand).get_shape())
    sp, cc = op.split.value.data, op.concat.value.data
    x = _reshape(ctx, x, [n, *s[:sp], n, s[sp] // n, *s[sp + 1 :]])
    # Dimensions of x now: 0 = senders; per-example i -> 1 + i (i < sp), 2 + i (i > sp);
    # the receivers at 1 + sp and the block at 2 + sp.
    per_example = [1 + i if i < sp else 2 + i if i > sp else 2 + sp for i in range(len(s))]
    per_example.insert(cc, 0)
    y = _transpose(ctx, x, [1 + sp, *per_example])
    result = tensor_type(op.result).get_shape()
    return [_reshape(ctx, y, [n, *result])], [0]


RULES = {
    PsumOp: reduction_rule,
    PmaxOp: reduction_rule,
    PminOp: reduction_rule,
    AxisIndexOp: axis_index_rule,
    AllGatherOp: all_gather_rule,
    PsumScatterOp: psum_scatter_rule,
    PpermuteOp: ppermute_rule,
    AllToAllOp: all_to_all_rule,
}
