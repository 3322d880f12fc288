"""Tracing a per-example function for a ragged vmap: where the padded length leaks.

JAX lowers `fn` at ONE static padded size P, so `x.shape[0]` is the number P wherever
the program uses it as a value (a mean's divisor, `n - 1` in a variance). We trace `fn`
three times, at P, P + 1 and 2P + 3, import each, and walk the programs side by side:
- a dimension that differs between them must be the padded size in each (a ragged
  dimension); any other difference (P - 1 after `x[1:]`, 2P after a concatenation) is
  refused;
- a dimension equal to P that does NOT differ would be mistaken for a ragged one by
  batch-ragged, so we trace again at a padded size no such dimension has;
- a scalar constant that is `a * size + b` at the three sizes (a a nonzero integer: `n`,
  `n - 1`, `3 * n` for a mean over n x 3 elements) becomes `a * length + b`; any other
  constant that changes (`1 / n`, `n // 2`) is refused, as is an op whose attributes
  change (other than a slice that keeps the ragged dimension whole).
The program traced at P, with these constants replaced, is wrapped in a batch.vmap with
`ragged_axes` and the per-example length as its last operand (docs/ragged.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, IntegerType, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import axes_attr, first_vmap, static_shape
from vmlir.dialects.builder import Builder, i64_array
from vmlir.dialects.chlo import TopKOp
from vmlir.dialects.locations import where
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.frontend.importer import import_per_example
from vmlir.frontend.pycontrol_calls import convert
from vmlir.frontend.ragged_resize import Follows, fixed_dims, free_size, resize, resized_avals
from vmlir.frontend.trace import lower_per_example

Axis = int | None

LENGTH_DTYPE = np.int32
"""The dtype of the per-example length operand."""

_MAX_RETRACES = 8


@dataclass(frozen=True)
class RaggedTrace:
    """The batch-dialect module for one padded size, and what `fn` returns per example."""

    module: ModuleOp
    padded_size: int
    out_tree: Any
    out_avals: tuple[Any, ...]  # per-example, at padded_size
    out_ragged_dims: tuple[tuple[int, ...], ...]  # per output, its dims of size padded_size
    min_length: int = 0  # `x[-3:]`, `x[0]`, `top_k(x, k)` need examples at least this long
    min_length_op: str = ""  # the op (and Python line) that needs it
    follows: tuple[Follows, ...] = ()  # the attributes that are the padded size + a constant
    fixed: frozenset[int] = frozenset()  # the sizes of the dimensions that are not ragged
    # the other traces the diff compared (unrewritten) and their sizes: a shorter length is
    # checked against them (`check_length`); not kept by `at`
    others: tuple[tuple[ModuleOp, int], ...] = field(default=(), repr=False, compare=False)

    def at(self, padded_size: int, axis_size: int) -> RaggedTrace:
        """The same program for `axis_size` examples padded to `padded_size` (or the
        next size no fixed dimension has), without tracing again (ragged_resize.py).
        `self.module` is left as it is."""
        size = free_size(padded_size, self.fixed)
        module = resize(self.module, self.follows, self.padded_size, size, axis_size)
        out_avals = resized_avals(self.out_avals, self.padded_size, size)
        return RaggedTrace(
            module, size, self.out_tree, out_avals, self.out_ragged_dims,
            *_min_length(module, size), self.follows, self.fixed,
        )


    def check_min_length(self, lengths: np.ndarray) -> None:
        """Raise unless every example is as long as the fixed extents `fn` takes along
        the ragged axis (`min_length`)."""
        if self.min_length and lengths.min() < self.min_length:
            raise ValueError(
                f"ragged vmap: {self.min_length_op} takes {self.min_length} elements "
                f"along the ragged axis, but an example has length {int(lengths.min())}"
            )

    def check_length(
        self,
        fn: Callable[..., Any],
        shapes: Callable[[int], Sequence[jax.ShapeDtypeStruct]],
        in_axes: Sequence[Axis],
        axis_size: int,
        length: int,
    ) -> None:
        """Raise unless `fn` traced at `length` (a call's shortest example, shorter than
        the sizes this trace was compared at) is the same program: Python code that
        branches on `x.shape` at a threshold below the padded size would otherwise run
        the long examples' branch on the short ones. A size some fixed dimension has is
        not a free size: the next free one is checked instead."""
        if not self.others or length >= self.padded_size:  # traced there already
            return
        fn = convert(fn)
        sizes = [n for _, n in self.others]
        for n in range(length, sizes[0]):
            module = _trace(fn, shapes, in_axes, axis_size, n)[0]
            try:
                _diff([module, *(m for m, _ in self.others)], [n, *sizes], rewrite=False)
            except _Collision:
                continue
            except VmlirUnsupportedError as e:
                raise VmlirUnsupportedError(
                    f"{e} (traced at {sizes[0]} and at {n}, the size the call's shortest "
                    "examples run at)"
                ) from None
            return


class _Collision(Exception):
    """A dimension equals the padded size without following it: try another size."""


def _trace(
    fn: Callable[..., Any],
    shapes: Callable[[int], Sequence[jax.ShapeDtypeStruct]],
    in_axes: Sequence[Axis],
    axis_size: int,
    size: int,
) -> tuple[ModuleOp, Any, tuple[Any, ...]]:
    per_example = [*shapes(size), jax.ShapeDtypeStruct((), LENGTH_DTYPE)]

    def with_length(*leaves: Any) -> Any:
        # The length is a parameter JAX never reads: `fn` must not see it (its
        # `x.shape[0]` is the padded size); keep_unused keeps it in the signature.
        return fn(*leaves[:-1])

    with_length.__name__ = getattr(fn, "__name__", "per_example")
    _, in_tree = jax.tree_util.tree_flatten(tuple(per_example))
    prog = lower_per_example(with_length, in_tree, per_example, convert_control_flow=False)
    out_axes = [0] * len(prog.out_avals)
    module = import_per_example(prog.module, [*in_axes, 0], out_axes, axis_size)
    return module, prog.out_tree, prog.out_avals


def _compare_shapes(op: Operation, values: Sequence[SSAValue], sizes: Sequence[int]) -> None:
    """A dimension either is the padded size in every trace or is the same in all."""
    shapes = [static_shape(v) for v in values]
    if len({len(sh) for sh in shapes}) != 1:
        raise VmlirUnsupportedError(f"ragged vmap: the rank of {where(op)}'s value depends on the length")
    for dims in zip(*shapes):
        if len(set(dims)) == 1:
            if dims[0] == sizes[0]:
                raise _Collision
        elif list(dims) != list(sizes):
            raise VmlirUnsupportedError(
                f"ragged vmap: {where(op)} makes a dimension of size {dims[0]} at padded size "
                f"{sizes[0]} ({dims[1]} at {sizes[1]}), which follows the length but is not it "
                "(slicing, padding or concatenating along the ragged axis is not supported yet)"
            )


def _constant_values(op: hlo.ConstantOp) -> tuple[Any, ...] | None:
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        return None
    values = value.get_values()
    return (values[0],) if value.is_splat() else tuple(values)


def _printed(properties: dict[str, Any]) -> dict[str, str]:
    """Properties as text: some attributes (a custom_call's aliases) compare by identity."""
    return {k: str(v) for k, v in properties.items()}


def _follows_size(values: Sequence[Sequence[int]], sizes: Sequence[int]) -> bool:
    """Each entry is the same in every trace or the padded size plus a constant."""
    return all(
        len(set(vs)) == 1 or len({v - n for v, n in zip(vs, sizes)}) == 1 for vs in zip(*values)
    )


def _ints(attr: Any) -> list[int]:
    return [int(v) for v in attr.get_values()] if attr is not None else []


def _slice_follows_length(ops: Sequence[Operation], sizes: Sequence[int]) -> bool:
    """A slice whose bounds differ only where they are the padded size (it keeps that
    dimension whole) or the padded size minus a constant (`x[-1]`, `x[-k:]`: taken
    from the end of the example, see `_from_end`)."""
    if not all(isinstance(op, hlo.SliceOp) for op in ops):
        return False
    starts = [_ints(op.start_indices) for op in ops]  # type: ignore[attr-defined]
    limits = [_ints(op.limit_indices) for op in ops]  # type: ignore[attr-defined]
    same_strides = all(op.strides == ops[0].strides for op in ops)  # type: ignore[attr-defined]
    return (
        same_strides
        and _follows_size(limits, sizes)
        and _follows_size(starts, sizes)
    )


def _window_follows_length(ops: Sequence[Operation], sizes: Sequence[int]) -> bool:
    """A reduce_window whose window and padding follow the padded size (a cumulative
    sum/max/...: window n, padding n - 1); batch-ragged checks the rest."""
    if not all(isinstance(op, hlo.ReduceWindowOp) for op in ops):
        return False
    first = ops[0]
    fixed = ("window_strides", "base_dilations", "window_dilations")
    return (
        all(op.properties.get(k) == first.properties.get(k) for op in ops for k in fixed)
        and _follows_size([_ints(op.window_dimensions) for op in ops], sizes)  # type: ignore[attr-defined]
        and _follows_size([_ints(op.padding) for op in ops], sizes)  # type: ignore[attr-defined]
    )


def _pad_follows_length(ops: Sequence[Operation], sizes: Sequence[int]) -> bool:
    """A pad that grows a fixed piece to the padded size (JAX's transpose of `x[0]`:
    high padding n - 1; of `x[-1]`: low padding n - 1, see `_pad_from_end`)."""
    if not all(isinstance(op, hlo.PadOp) for op in ops):
        return False
    return (
        all(op.interior_padding == ops[0].interior_padding for op in ops)  # type: ignore[attr-defined]
        and _follows_size([_ints(op.edge_padding_low) for op in ops], sizes)  # type: ignore[attr-defined]
        and _follows_size([_ints(op.edge_padding_high) for op in ops], sizes)  # type: ignore[attr-defined]
    )


def _pad_from_end(op: hlo.PadOp, length: SSAValue, dims: Sequence[int]) -> None:
    """A pad whose low padding is P - k along `dims` puts its operand at the end of the
    padded axis: put it at `length - k` instead, a dynamic_update_slice into the pad
    value (padded first along the other dimensions)."""
    low, high = _ints(op.edge_padding_low), _ints(op.edge_padding_high)
    if any(_ints(op.interior_padding)[d] for d in dims):
        raise VmlirUnsupportedError(f"ragged vmap: {where(op)} pads the ragged axis inside")
    b = Builder(InsertPoint.before(op))
    operand = op.operand
    rest_low = [0 if d in dims else v for d, v in enumerate(low)]
    rest_high = [0 if d in dims else v for d, v in enumerate(high)]
    if any(rest_low) or any(rest_high) or any(_ints(op.interior_padding)):
        shape = [
            n if d in dims else static_shape(op.result)[d] for d, n in enumerate(static_shape(op.operand))
        ]
        t = op.operand.type
        assert isinstance(t, TensorType)
        operand = b.emit(
            hlo.PadOp.create(
                operands=[operand, op.padding_value],
                result_types=[TensorType(t.element_type, shape)],
                properties={
                    "edge_padding_low": i64_array(rest_low),
                    "edge_padding_high": i64_array(rest_high),
                    "interior_padding": op.interior_padding,
                },
            )
        )
    t = op.result.type
    assert isinstance(t, TensorType)
    base = b.broadcast(op.padding_value, t)
    index = TensorType(IntegerType(32), [])
    size = static_shape(op.result)
    starts = [
        _length_as(b, length, index, 1, -(size[d] - low[d])) if d in dims else b.constant(index, 0)
        for d in range(len(size))
    ]
    new = hlo.DynamicUpdateSliceOp.create(operands=[base, operand, *starts], result_types=[t])
    new.location = op.location
    Rewriter.replace_op(op, new)


def _from_end(op: hlo.SliceOp, length: SSAValue, size: int, dims: Sequence[int]) -> None:
    """`x[-k:]` traced at padded size P is `slice [P - k : P]` (`x[-2]`: `[P - 2 : P - 1]`):
    make it a dynamic_slice starting at `length - k` (the example's own end)."""
    starts, limits, strides = _ints(op.start_indices), _ints(op.limit_indices), _ints(op.strides)
    if any(s != 1 for s in strides):
        raise VmlirUnsupportedError(
            f"ragged vmap: {where(op)} takes a strided slice relative to the end of the ragged axis"
        )
    b = Builder(InsertPoint.before(op))
    index = TensorType(IntegerType(32), [])
    indices = []
    for d, (start, limit) in enumerate(zip(starts, limits)):
        if d in dims:  # the start follows the padded size
            indices.append(_length_as(b, length, index, 1, start - size))
        else:
            indices.append(b.constant(index, start))
    new = hlo.DynamicSliceOp.create(
        operands=[op.operand, *indices],
        result_types=[op.result.type],
        properties={"slice_sizes": i64_array([lim - st for st, lim in zip(starts, limits)])},
    )
    new.location = op.location
    Rewriter.replace_op(op, new)


def _affine_in_length(values: Sequence[Any], sizes: Sequence[int]) -> tuple[int, float] | None:
    """(a, b) with value = a * size + b at every traced size, a a nonzero integer."""
    slope = (values[1] - values[0]) / (sizes[1] - sizes[0])
    if slope == 0 or slope != round(slope):
        return None
    offset = values[0] - slope * sizes[0]
    if all(v == slope * n + offset for v, n in zip(values, sizes)):
        return int(slope), offset
    return None


def _same_values(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    """Equal, NaN included (JAX's var and softmax carry NaN constants)."""
    if a is None or b is None or len(a) != len(b):
        return a is b
    return all(x == y or (x != x and y != y) for x, y in zip(a, b))


def _length_as(b: Builder, length: SSAValue, t: TensorType, slope: int, offset: Any) -> SSAValue:
    """`slope * length + offset` as a scalar of type `t`."""
    n = b.unary(hlo.ConvertOp, length, t)
    if slope != 1:
        n = b.binary(hlo.MultiplyOp, n, b.constant(t, slope))
    return n if offset == 0 else b.binary(hlo.AddOp, n, b.constant(t, offset))


def _changing(same_ops: Sequence[Operation], prop: str) -> list[int]:
    """The entries of the integer-array property `prop` that differ between the first two
    traces (the padded size changes between them)."""
    a, b = (_ints(op.properties.get(prop)) for op in same_ops[:2])
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def _following(same_ops: Sequence[Operation], props: Sequence[str]) -> list[tuple[Operation, str, tuple[int, ...]]]:
    """(op, property, entries) for the entries of `props` that change with the size."""
    out = []
    for prop in props:
        entries = tuple(_changing(same_ops, prop))
        if entries:
            out.append((same_ops[0], prop, entries))
    return out


def _diff(modules: Sequence[ModuleOp], sizes: Sequence[int], rewrite: bool = True) -> tuple[Follows, ...]:
    """Check the traces agree except along the length; turn the constants of the first
    that are `a * n + b` in the padded size n into the length operand's a * n + b.
    Returns the attributes of the first that remain the padded size plus a constant.
    Without `rewrite`, only checks (no module is changed)."""
    vmaps = [first_vmap(m) for m in modules]
    ops = [list(v.body.walk()) for v in vmaps]
    if any([o.name for o in other] != [o.name for o in ops[0]] for other in ops[1:]):
        raise VmlirUnsupportedError(
            "ragged vmap: the function's program depends on the padded length (Python code "
            "that branches or loops on x.shape?); it must be the same program for every length"
        )
    length = vmaps[0].body.block.args[-1]
    for args in zip(*(v.body.block.args for v in vmaps)):
        _compare_shapes(vmaps[0], args, sizes)
    replace: list[tuple[hlo.ConstantOp, int, Any]] = []
    from_end: list[tuple[hlo.SliceOp, list[int]]] = []
    pads_from_end: list[tuple[hlo.PadOp, list[int]]] = []
    following: list[tuple[Operation, str, tuple[int, ...]]] = []
    for same_ops in zip(*ops):
        first = same_ops[0]
        for results in zip(*(op.results for op in same_ops)):
            _compare_shapes(first, results, sizes)
        for blocks in zip(*((blk for r in op.regions for blk in r.blocks) for op in same_ops)):
            for args in zip(*(blk.args for blk in blocks)):
                _compare_shapes(first, args, sizes)
        if isinstance(first, hlo.ConstantOp):
            values = [_constant_values(op) for op in same_ops]  # type: ignore[arg-type]
            if all(_same_values(values[0], v) for v in values[1:]):
                continue
            scalar = not static_shape(first.output) and all(v is not None and len(v) == 1 for v in values)
            affine = _affine_in_length([v[0] for v in values], sizes) if scalar else None  # type: ignore[index]
            if affine is not None:
                replace.append((first, *affine))
                continue
            raise VmlirUnsupportedError(
                f"ragged vmap: the constant {where(first)} depends on the length in a way "
                "other than a * n + b (for example 1 / n or n // 2)"
            )
        elif any(_printed(op.properties) != _printed(first.properties) for op in same_ops):
            if _slice_follows_length(same_ops, sizes):
                dims = _changing(same_ops, "start_indices")
                if dims:
                    from_end.append((first, dims))  # type: ignore[arg-type]
                else:
                    following += _following(same_ops, ("start_indices", "limit_indices"))
            elif _pad_follows_length(same_ops, sizes):
                dims = _changing(same_ops, "edge_padding_low")
                if dims:
                    pads_from_end.append((first, dims))  # type: ignore[arg-type]
                else:
                    following += _following(same_ops, ("edge_padding_low", "edge_padding_high"))
            elif _window_follows_length(same_ops, sizes):
                following += _following(same_ops, ("window_dimensions", "padding"))
            else:
                raise VmlirUnsupportedError(
                    f"ragged vmap: {where(first)} has attributes that depend on the length"
                )
    if not rewrite:
        return ()
    for op, slope, offset in replace:
        t = op.output.type
        assert isinstance(t, TensorType)
        if isinstance(t.element_type, IntegerType):
            offset = int(offset)
        new = _length_as(Builder(InsertPoint.before(op)), length, t, slope, offset)
        Rewriter.replace_op(op, [], [new])
    for op, dims in from_end:
        _from_end(op, length, sizes[0], dims)
    for pad, dims in pads_from_end:
        _pad_from_end(pad, length, dims)
    index = {id(op): i for i, op in enumerate(vmaps[0].body.walk())}
    return tuple(Follows(index[id(op)], prop, entries) for op, prop, entries in following)


def _min_length(module: ModuleOp, size: int) -> tuple[int, str]:
    """The longest fixed extent any op takes along a ragged dimension (a head or tail
    slice, a dynamic slice, top_k's k): shorter examples would fail at their true
    shape, and here would read padding."""
    need, by = 0, ""
    for op in module.walk():
        extents: list[tuple[int, int]] = []  # (dimension of the operand, extent)
        if isinstance(op, hlo.SliceOp):
            extents = list(enumerate(_ints(op.limit_indices)))
        elif isinstance(op, hlo.DynamicSliceOp):
            extents = list(enumerate(_ints(op.slice_sizes)))
        elif isinstance(op, hlo.DynamicUpdateSliceOp):
            extents = list(enumerate(static_shape(op.update)))
        elif isinstance(op, TopKOp):
            extents = [(len(static_shape(op.operand)) - 1, op.k.value.data)]
        elif isinstance(op, hlo.ConvolutionOp):
            # jnp.convolve swaps its operands when the signal is the shorter one
            dn = op.dimension_numbers.data
            kernel = static_shape(op.rhs)
            extents = [
                (d, kernel[k]) for d, k in zip(dn.input_spatial_dimensions, dn.kernel_spatial_dimensions)
            ]
        if not extents:
            continue
        shape = static_shape(op.operands[0])
        for d, extent in extents:
            if shape[d] == size and extent < size and extent > need:
                need, by = extent, where(op)
    return need, by


def trace_ragged(
    fn: Callable[..., Any],
    shapes: Callable[[int], Sequence[jax.ShapeDtypeStruct]],
    in_axes: Sequence[Axis],
    ragged_axes: Sequence[Axis],
    axis_size: int,
    padded_size: int,
    span: int = 0,
) -> RaggedTrace:
    """`fn` (per example) as a ragged batch.vmap, padded to `padded_size` or, when some
    other dimension of the program has that size, to the next size free of collisions.
    `shapes(p)` gives the per-example argument shapes at padded size p. The third trace
    is at a size of at least `span`: the program is checked to be the same up to the
    longest bucket that `RaggedTrace.at` re-specializes it to."""
    fn = convert(fn)  # Python control flow on values, before the wrapper hides fn's code
    size = padded_size
    for _ in range(_MAX_RETRACES):
        # Three sizes, not two: n // 2 is the same at 8 and 9, not at 19.
        sizes = (size, size + 1, max(2 * size + 3, span))
        mod_p, out_tree, out_avals = _trace(fn, shapes, in_axes, axis_size, size)
        others = [_trace(fn, shapes, in_axes, axis_size, n)[0] for n in sizes[1:]]
        try:
            follows = _diff([mod_p, *others], sizes)
        except _Collision:
            size += 1
            continue
        first_vmap(mod_p).properties["ragged_axes"] = axes_attr([*ragged_axes, None])
        out_dims = tuple(
            tuple(i for i, d in enumerate(a.shape) if d == size) for a in out_avals
        )
        return RaggedTrace(
            mod_p, size, out_tree, out_avals, out_dims, *_min_length(mod_p, size), follows,
            fixed_dims(first_vmap(mod_p), size), tuple(zip(others, sizes[1:])),
        )
    raise VmlirError(
        f"ragged vmap: every padded size from {padded_size} to {size - 1} is also the size "
        "of another dimension of the program"
    )
