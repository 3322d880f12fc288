"""Batching rules: misc ops (see passes/rules/__init__.py for the rule contract).

reverse, pad, reduce_window, select_and_scatter, sort, bitcast_convert,
optimization_barrier, convolution, rng_bit_generator (custom_call: custom_call.py); and
`reduce_with_batched_init`, which contraction.reduce_rule calls when a reduction's
initial value differs between examples.

Initial values that differ between examples (jax.vmap raises NotImplementedError for
both reduce and reduce_window there) are handled for ANY reducer body, without knowing
its identity: the body is "lifted" to pairs (value, valid) where an invalid side is an
identity (`body'((a, va), (b, vb)) = va&vb ? body(a, b) : va ? a : b`). The op's own
(scalar, hence uniform) init value becomes an arbitrary value marked invalid; the
elements are reduced with it, then each per-example init is combined once with the
partial result by a second, two-element lifted reduction: `body(init, partial)`, as the
per-example op computes it (init once, on the left).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    TensorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, Operation, Region, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.builder import scalar_literal
from vmlir.passes.rules.context import (
    Axis,
    Rule,
    RuleContext,
    RuleResult,
    first_batched,
    i64_array,
    shift,
    tensor_type,
    where,
)

# --- small builders ----------------------------------------------------------------------


def _constant(
    ctx: RuleContext, element_type: Attribute, value: int, op: Operation | None = None
) -> SSAValue:
    """A 0-d `stablehlo.constant` of `element_type` (any integer, float or complex type)."""
    literal = scalar_literal(element_type, value)
    attr = DenseIntOrFPElementsAttr.from_list(TensorType(element_type, []), [literal])
    return ctx.emit(hlo.ConstantOp(attr)).results[0]


def _broadcast_in_dim(
    ctx: RuleContext, v: SSAValue, shape: Sequence[int], dims: Sequence[int]
) -> SSAValue:
    t = TensorType(tensor_type(v).element_type, list(shape))
    return ctx.emit(hlo.BroadcastInDimOp(v, dims, t)).results[0]


def _splat(ctx: RuleContext, element_type: Attribute, value: int, shape) -> SSAValue:
    """A constant broadcast to `shape` (XLA folds it into its user)."""
    return _broadcast_in_dim(ctx, _constant(ctx, element_type, value), shape, [])


def _widened(op: Operation, name: str, k: int, value: int, default: int) -> list[int]:
    """Per-dimension property `name` (or `default` everywhere when absent), with `value`
    inserted for the batch dimension at `k`."""
    rank = tensor_type(op.operands[0]).get_num_dims()
    attr = op.properties.get(name)
    vals = list(attr.get_values()) if attr is not None else [default] * rank  # type: ignore[union-attr]
    vals.insert(k, value)
    return vals


def _window_props(op: Operation, k: int) -> dict[str, Attribute]:
    """reduce_window / select_and_scatter windows with a window of 1 (stride 1, no
    dilation or padding) inserted for the batch dimension at `k`."""
    props: dict[str, Attribute] = {
        "window_dimensions": i64_array(_widened(op, "window_dimensions", k, 1, 1))
    }
    for name in ("window_strides", "base_dilations", "window_dilations"):
        if name in op.properties:
            props[name] = i64_array(_widened(op, name, k, 1, 1))
    padding = op.properties.get("padding")
    if padding is not None:
        pairs = list(padding.get_values())  # type: ignore[union-attr]
        pairs[2 * k : 2 * k] = [0, 0]
        pad_t = TensorType(i64, [len(pairs) // 2, 2])
        props["padding"] = DenseIntOrFPElementsAttr.from_list(pad_t, pairs)
    return props


def _padded_shape(shape, low, high, interior) -> list[int]:
    return [
        lo + hi + n + max(n - 1, 0) * it
        for n, lo, hi, it in zip(shape, low, high, interior)
    ]


def _pad(
    ctx: RuleContext,
    op: Operation,
    x: SSAValue,
    value: SSAValue,
    value_axis: Axis,
    k: int,
    low: Sequence[int],
    high: Sequence[int],
    interior: Sequence[int],
) -> SSAValue:
    """`x` (batched at k, config already widened at k) padded with `value`: a uniform
    scalar, or one per example (`value_axis` 0). JAX's way for the latter: pad with 0, pad
    an all-true mask with false, select the broadcast padding values where it is false."""
    tx = tensor_type(x)
    shape = _padded_shape(tx.get_shape(), low, high, interior)
    props = {
        "edge_padding_low": i64_array(low),
        "edge_padding_high": i64_array(high),
        "interior_padding": i64_array(interior),
    }

    def pad(v: SSAValue, p: SSAValue) -> SSAValue:
        t = TensorType(tensor_type(v).element_type, shape)
        return ctx.emit(
            hlo.PadOp.create(operands=[v, p], result_types=[t], properties=props)
        ).results[0]

    if value_axis is None:
        return pad(x, value)
    padded = pad(x, _constant(ctx, tx.element_type, 0, op))
    mask = pad(_splat(ctx, i1, 1, tx.get_shape()), _constant(ctx, i1, 0))
    fill = _broadcast_in_dim(ctx, value, shape, [k])
    return ctx.emit(hlo.SelectOp(mask, padded, fill)).results[0]


# --- per-example initial values: the identity-lifted reducer -----------------------------


def _lifted_body(region: Region, n: int) -> Region:
    """A copy of reducer `region` (2n scalar args, n results) over (value, valid) pairs:
    args (a_1..a_n, va, b_1..b_n, vb); an invalid side is an identity, so an arbitrary
    init value marked invalid never changes the result, whatever the body computes."""
    body = region.clone()
    block = body.block
    scalar_i1 = TensorType(i1, [])
    va = block.insert_arg(scalar_i1, n)
    vb = block.insert_arg(scalar_i1, 2 * n + 1)
    a, b = block.args[:n], block.args[n + 1 : 2 * n + 1]
    ret = block.last_op
    assert isinstance(ret, hlo.ReturnOp)
    new_ops: list[Operation] = [both := hlo.AndOp(va, vb), either := hlo.OrOp(va, vb)]
    outs: list[SSAValue] = []
    for aj, bj, rj in zip(a, b, ret.operands):
        pick = hlo.SelectOp(va, aj, bj)  # only one side valid (or none): take it
        out = hlo.SelectOp(both.results[0], rj, pick.results[0])
        new_ops += [pick, out]
        outs.append(out.results[0])
    new_ops.append(hlo.ReturnOp(*outs, either.results[0]))
    block.insert_ops_before(new_ops, ret)
    block.erase_op(ret)
    return body


def _placeholders(
    ctx: RuleContext, op: Operation, inits: Sequence[SSAValue]
) -> list[SSAValue]:
    """Uniform scalar init values for the lifted reducer: zeros, then `false` (invalid)."""
    return [_constant(ctx, tensor_type(v).element_type, 0, op) for v in inits] + [
        _constant(ctx, i1, 0)
    ]


def _fold_inits(
    ctx: RuleContext,
    op: Operation,
    partials: Sequence[SSAValue],
    valid: SSAValue,
    inits: Sequence[SSAValue],
    init_axes: Sequence[Axis],
    k: int,
) -> list[SSAValue]:
    """Per element: `body(init, partial)` where `valid`, else `init` (empty reduction).
    A two-element lifted reduce over a new trailing dim holding [init, partial]."""
    shape = list(tensor_type(partials[0]).get_shape())
    r = len(shape)

    def stack(front: SSAValue, front_axis: Axis, back: SSAValue) -> SSAValue:
        """[front, back] along a new trailing dim; `front` is one scalar per example."""
        first = _broadcast_in_dim(ctx, front, shape + [1], [] if front_axis is None else [k])
        t1 = TensorType(tensor_type(back).element_type, shape + [1])
        second = ctx.emit(hlo.ReshapeOp.create(operands=[back], result_types=[t1])).results[0]
        return ctx.emit(
            hlo.ConcatenateOp.create(
                operands=[first, second],
                result_types=[TensorType(t1.element_type, shape + [2])],
                properties={"dimension": IntegerAttr(r, i64)},
            )
        ).results[0]

    stacked = [stack(v, a, p) for v, a, p in zip(inits, init_axes, partials)]
    stacked.append(stack(_constant(ctx, i1, 1), None, valid))  # the init side is valid
    n = len(inits)
    result_types = [tensor_type(p) for p in partials] + [TensorType(i1, shape)]
    fold = hlo.ReduceOp(
        stacked,
        _placeholders(ctx, op, inits),
        [r],
        _lifted_body(op.regions[0], n),
        result_types,
    )
    return list(ctx.emit(fold).results[:n])


def reduce_with_batched_init(
    ctx: RuleContext, op: Operation, operands, axes
) -> RuleResult:
    """stablehlo.reduce whose init values differ between examples (called by
    contraction.reduce_rule): reduce the inputs with the lifted body from an invalid
    placeholder (valid stays false only for an empty reduction), then fold the inits in."""
    n = len(op.operands) // 2
    inputs, inits = operands[:n], operands[n:]
    in_axes, init_axes = axes[:n], axes[n:]
    k = first_batched(in_axes) if any(a is not None for a in in_axes) else 0
    moved = [ctx.to_axis(v, a, k) for v, a in zip(inputs, in_axes)]
    in_shape = tensor_type(moved[0]).get_shape()
    dims = [shift(d, k) for d in op.properties["dimensions"].get_values()]  # type: ignore[union-attr]
    out_axis = k - sum(1 for d in dims if d < k)
    out_shape = [s for i, s in enumerate(in_shape) if i not in dims]
    result_types = [insert_axis(tensor_type(r), out_axis, ctx.axis_size) for r in op.results]
    reduce = hlo.ReduceOp(
        moved + [_splat(ctx, i1, 1, in_shape)],
        _placeholders(ctx, op, inits),
        dims,
        _lifted_body(op.regions[0], n),
        result_types + [TensorType(i1, out_shape)],
    )
    partial = ctx.emit(reduce).results
    outs = _fold_inits(ctx, op, partial[:n], partial[n], inits, init_axes, out_axis)
    return outs, [out_axis] * n


# --- rules ---------------------------------------------------------------------------------


def reverse_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """Reverse the same dimensions, shifted past the batch axis, which stays put."""
    (x,), (a,) = operands, axes
    dims = [shift(d, a) for d in op.properties["dimensions"].get_values()]  # type: ignore[union-attr]
    out = insert_axis(tensor_type(op.results[0]), a, ctx.axis_size)
    return ctx.rebuild(op, [x], [out], dimensions=i64_array(dims)).results, [a]


def pad_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """No padding along the batch axis (kept where the operand has it). A per-example
    padding value: pad, then select it where an all-true mask got padded with false
    (negative and interior padding crop/spread the mask exactly like the data)."""
    (x, p), (a, pa) = operands, axes
    k = 0 if a is None else a
    x = ctx.to_axis(x, a, k)  # a uniform operand with per-example values: broadcast
    low = _widened(op, "edge_padding_low", k, 0, 0)
    high = _widened(op, "edge_padding_high", k, 0, 0)
    interior = _widened(op, "interior_padding", k, 0, 0)
    return [_pad(ctx, op, x, p, pa, k, low, high, interior)], [k]


def reduce_window_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """A window of 1 (stride 1, no padding or dilation) along the batch axis, kept at the
    first batched input's position. Per-example init values: reduce the windows with the
    lifted body from an invalid placeholder, then fold each init in once (module doc).
    Padding and base-dilation holes get the placeholder, so they are invalid: XLA too
    skips them (a window over padding only gives the init)."""
    n = len(op.operands) // 2
    inputs, inits = operands[:n], operands[n:]
    in_axes, init_axes = axes[:n], axes[n:]
    k = first_batched(in_axes) if any(a is not None for a in in_axes) else 0
    moved = [ctx.to_axis(v, a, k) for v, a in zip(inputs, in_axes)]
    result_types = [insert_axis(tensor_type(r), k, ctx.axis_size) for r in op.results]
    props = _window_props(op, k)
    if all(a is None for a in init_axes):
        new = ctx.rebuild(op, moved + list(inits), result_types, **props)
        return new.results, [k] * n
    in_shape = tensor_type(moved[0]).get_shape()
    out_shape = list(result_types[0].get_shape())
    window = hlo.ReduceWindowOp.create(
        operands=moved + [_splat(ctx, i1, 1, in_shape)] + _placeholders(ctx, op, inits),
        result_types=result_types + [TensorType(i1, out_shape)],
        properties=props,
        attributes={a: v for a, v in op.attributes.items() if not a.startswith("batch.")},
        regions=[_lifted_body(op.regions[0], n)],
        location=op.location,
    )
    partial = ctx.emit(window).results
    return _fold_inits(ctx, op, partial[:n], partial[n], inits, init_axes, k), [k] * n


def select_and_scatter_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """jax.grad of max pooling: operand and source meet at one batch axis (a uniform one
    is broadcast), with a window of 1 along it, as in JAX's rule."""
    (x, src, init), (a, sa, ia) = operands, axes
    if ia is not None:
        raise VmlirUnsupportedError(
            f"{where(op)}: a per-example init value of select_and_scatter has no batching "
            "rule yet"
        )
    k = a if a is not None else sa
    moved = [ctx.to_axis(x, a, k), ctx.to_axis(src, sa, k), init]
    out = insert_axis(tensor_type(op.results[0]), k, ctx.axis_size)
    return ctx.rebuild(op, moved, [out], **_window_props(op, k)).results, [k]


def sort_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """All operands meet at the first batched one's axis (uniform ones, e.g. argsort's
    iota, are broadcast: sort permutes them per example); the sort dimension is shifted.
    The comparator (and so num_keys and stability) is unchanged."""
    k = first_batched(axes)
    moved = [ctx.to_axis(v, a, k) for v, a in zip(operands, axes)]
    dim = op.properties["dimension"].value.data  # type: ignore[union-attr]
    outs = [insert_axis(tensor_type(r), k, ctx.axis_size) for r in op.results]
    new = ctx.rebuild(op, moved, outs, dimension=IntegerAttr(shift(dim, k), i64))
    return new.results, [k] * len(op.results)


def bitcast_convert_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """Element-wise reinterpretation; the batch axis stays. A narrowing cast (f32 -> u8)
    appends a minor dim after it; a widening one (u8[..., 4] -> f32) consumes the minor
    dim, so a batch axis in last position is first moved to the front."""
    (x,), (a,) = operands, axes
    in_rank = tensor_type(op.operands[0]).get_num_dims()
    out_rank = tensor_type(op.results[0]).get_num_dims()
    if out_rank < in_rank and a == in_rank:
        x, a = ctx.move_axis(x, a, 0), 0
    out = insert_axis(tensor_type(op.results[0]), a, ctx.axis_size)
    return ctx.rebuild(op, [x], [out]).results, [a]


def optimization_barrier_rule(
    ctx: RuleContext, op: Operation, operands, axes
) -> RuleResult:
    """An identity: each result keeps its operand's value, type and batch axis (uniform
    operands stay uniform), all still behind one barrier."""
    new = ctx.rebuild(op, operands, [v.type for v in operands])
    return new.results, list(axes)


def _merge_axis(ctx: RuleContext, x: SSAValue, a: int, dim: int, major: bool) -> SSAValue:
    """`x` batched at `a`, its batch axis folded into per-example dim `dim` (B*n with the
    batch index major, or n*B with it minor)."""
    x = ctx.move_axis(x, a, dim if major else dim + 1)
    shape = list(tensor_type(x).get_shape())
    shape[dim : dim + 2] = [shape[dim] * shape[dim + 1]]
    t = TensorType(tensor_type(x).element_type, shape)
    return ctx.emit(hlo.ReshapeOp.create(operands=[x], result_types=[t])).results[0]


def convolution_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """JAX's rule, folding the batch into dims the convolution already keeps apart: a
    batched input into its batch dim (minor), a batched kernel into its output features
    (minor: feature/batch groups stay contiguous), both into features (major) with
    feature_group_count multiplied by the batch size. The result's dim is split again."""
    (lhs, rhs), (a, b) = operands, axes
    dn = op.properties["dimension_numbers"].data  # type: ignore[union-attr]
    groups = op.properties["feature_group_count"].value.data  # type: ignore[union-attr]
    props: dict[str, Attribute] = {}
    if a is not None and b is not None:
        if op.properties["batch_group_count"].value.data != 1:  # type: ignore[union-attr]
            raise VmlirUnsupportedError(
                f"{where(op)}: a convolution with batch_group_count > 1 and both operands "
                "batched has no batching rule yet"
            )
        lhs = _merge_axis(ctx, lhs, a, dn.input_feature_dimension, True)
        rhs = _merge_axis(ctx, rhs, b, dn.kernel_output_feature_dimension, True)
        props["feature_group_count"] = IntegerAttr(groups * ctx.axis_size, i64)
        dim, major = dn.output_feature_dimension, True
    elif a is not None:
        lhs = _merge_axis(ctx, lhs, a, dn.input_batch_dimension, False)
        dim, major = dn.output_batch_dimension, False
    else:
        rhs = _merge_axis(ctx, rhs, b, dn.kernel_output_feature_dimension, False)
        dim, major = dn.output_feature_dimension, False
    per = tensor_type(op.results[0])
    shape = list(per.get_shape())
    shape[dim] *= ctx.axis_size
    new = ctx.rebuild(op, [lhs, rhs], [TensorType(per.element_type, shape)], **props)
    axis = dim if major else dim + 1
    out = insert_axis(per, axis, ctx.axis_size)
    split = ctx.emit(hlo.ReshapeOp.create(operands=new.results, result_types=[out]))
    return split.results, [axis]


def rng_bit_generator_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """jax.vmap's rule, kept for equal results: ALL the bits come from the first example's
    state (generated with a leading batch dim); only that state advances. (JAX's "rbg"
    keys are documented as not vmap-invariant; the default threefry emits no such op.)"""
    (state,), (a,) = operands, axes
    state = ctx.move_axis(state, a, 0)
    st = tensor_type(op.operands[0])
    n, rank = ctx.axis_size, st.get_num_dims()

    def slice_(lo: int, hi: int) -> SSAValue:
        t = TensorType(st.element_type, [hi - lo, *st.get_shape()])
        props = {
            "start_indices": i64_array([lo] + [0] * rank),
            "limit_indices": i64_array([hi, *st.get_shape()]),
            "strides": i64_array([1] * (rank + 1)),
        }
        return ctx.emit(
            hlo.SliceOp.create(operands=[state], result_types=[t], properties=props)
        ).results[0]

    def reshape(v: SSAValue, t: TensorType) -> SSAValue:
        return ctx.emit(hlo.ReshapeOp.create(operands=[v], result_types=[t])).results[0]

    first = reshape(slice_(0, 1), st)
    bits_t = insert_axis(tensor_type(op.results[1]), 0, n)
    new = ctx.rebuild(op, [first], [st, bits_t])
    advanced = reshape(new.results[0], insert_axis(st, 0, 1))
    states = ctx.emit(
        hlo.ConcatenateOp.create(
            operands=[advanced, slice_(1, n)],
            result_types=[insert_axis(st, 0, n)],
            properties={"dimension": IntegerAttr(0, i64)},
        )
    ).results[0]
    return [states, new.results[1]], [0, 0]


RULES: dict[type[Operation], Rule] = {
    hlo.ReverseOp: reverse_rule,
    hlo.PadOp: pad_rule,
    hlo.ReduceWindowOp: reduce_window_rule,
    hlo.SortOp: sort_rule,
    hlo.BitcastConvertOp: bitcast_convert_rule,
    hlo.OptimizationBarrierOp: optimization_barrier_rule,
    hlo.SelectAndScatterOp: select_and_scatter_rule,
    hlo.ConvolutionOp: convolution_rule,
    hlo.RngBitGeneratorOp: rng_bit_generator_rule,
}
