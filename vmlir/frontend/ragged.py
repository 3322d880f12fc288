"""Tracing a per-example function for a ragged vmap: where the padded length leaks.

JAX lowers `fn` at ONE static padded size P, so `x.shape[0]` is the number P wherever
the program uses it as a value (a mean's divisor, `n - 1` in a variance). We trace `fn`
twice, at P and at P + 1, import both, and walk the two programs side by side:
- a dimension that differs between them must be P in the first (a ragged dimension);
  any other difference (P - 1 after `x[1:]`, 2P after a concatenation) is refused;
- a dimension equal to P that does NOT differ would be mistaken for a ragged one by
  batch-ragged, so we trace again at a padded size no such dimension has;
- a scalar constant that grows by exactly the size difference is `n + k` for the true
  length n: it becomes `convert(length) + k`; any other constant that changes (`1 / n`)
  is refused, as is an op whose attributes change.
The program traced at P, with these constants replaced, is wrapped in a batch.vmap with
`ragged_axes` and the per-example length as its last operand (docs/ragged.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, IntegerType, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, axes_attr
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.frontend.importer import import_per_example
from vmlir.frontend.pycontrol import convert
from vmlir.frontend.trace import lower_per_example
from vmlir.passes.builder import Builder
from vmlir.passes.rules.context import where

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


class _Collision(Exception):
    """A dimension equals the padded size without following it: try another size."""


def _shape(v: SSAValue) -> tuple[int, ...]:
    t = v.type
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


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
    module = import_per_example(prog.text, [*in_axes, 0], out_axes, axis_size)
    return module, prog.out_tree, prog.out_avals


def _vmap_of(module: ModuleOp) -> VmapOp:
    return next(op for op in module.walk() if isinstance(op, VmapOp))


def _compare_shapes(op: Operation, a: SSAValue, b: SSAValue, p: int, q: int) -> None:
    sa, sb = _shape(a), _shape(b)
    if len(sa) != len(sb):
        raise VmlirUnsupportedError(f"ragged vmap: the rank of {where(op)}'s value depends on the length")
    for da, db in zip(sa, sb):
        if da != db and (da, db) != (p, q):
            raise VmlirUnsupportedError(
                f"ragged vmap: {where(op)} makes a dimension of size {da} at padded size {p} "
                f"({db} at {q}), which follows the length but is not it (slicing, padding or "
                "concatenating along the ragged axis is not supported yet)"
            )
        if da == db == p:
            raise _Collision


def _constant_values(op: hlo.ConstantOp) -> tuple[Any, ...] | None:
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        return None
    values = value.get_values()
    return (values[0],) if value.is_splat() else tuple(values)


def _slice_follows_length(op_p: Operation, op_q: Operation, p: int, q: int) -> bool:
    """A slice whose bounds differ only where one is the padded size: it keeps that
    dimension whole (batch-ragged checks the rest)."""
    if not isinstance(op_p, hlo.SliceOp) or not isinstance(op_q, hlo.SliceOp):
        return False
    same = op_p.start_indices == op_q.start_indices and op_p.strides == op_q.strides
    limits = zip(op_p.limit_indices.get_values(), op_q.limit_indices.get_values())
    return same and all(a == b or (a, b) == (p, q) for a, b in limits)


def _same_values(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    """Equal, NaN included (JAX's var and softmax carry NaN constants)."""
    if a is None or b is None or len(a) != len(b):
        return a is b
    return all(x == y or (x != x and y != y) for x, y in zip(a, b))


def _length_as(b: Builder, length: SSAValue, t: TensorType, offset: int | float) -> SSAValue:
    """`length + offset` as a scalar of type `t`."""
    n = b.unary(hlo.ConvertOp, length, t)
    return n if offset == 0 else b.binary(hlo.AddOp, n, b.constant(t, offset))


def _diff(mod_p: ModuleOp, mod_q: ModuleOp, p: int, q: int) -> None:
    """Check the two traces agree except along the length; turn `n + k` constants of
    `mod_p` into the length operand plus k."""
    vp, vq = _vmap_of(mod_p), _vmap_of(mod_q)
    ops_p, ops_q = list(vp.body.walk()), list(vq.body.walk())
    if [o.name for o in ops_p] != [o.name for o in ops_q]:
        raise VmlirUnsupportedError(
            "ragged vmap: the function's program depends on the padded length (Python code "
            "that branches or loops on x.shape?); it must be the same program for every length"
        )
    length = vp.body.block.args[-1]
    for a, b in zip(vp.body.block.args, vq.body.block.args):
        _compare_shapes(vp, a, b, p, q)
    replace: list[tuple[hlo.ConstantOp, Any]] = []
    for op_p, op_q in zip(ops_p, ops_q):
        for a, b in zip(op_p.results, op_q.results):
            _compare_shapes(op_p, a, b, p, q)
        for block_p, block_q in zip(
            (blk for r in op_p.regions for blk in r.blocks),
            (blk for r in op_q.regions for blk in r.blocks),
        ):
            for a, b in zip(block_p.args, block_q.args):
                _compare_shapes(op_p, a, b, p, q)
        if isinstance(op_p, hlo.ConstantOp):
            assert isinstance(op_q, hlo.ConstantOp)
            vals_p, vals_q = _constant_values(op_p), _constant_values(op_q)
            if _same_values(vals_p, vals_q):
                continue
            if (
                vals_p is not None
                and vals_q is not None
                and len(vals_p) == len(vals_q) == 1
                and not _shape(op_p.output)
                and vals_q[0] - vals_p[0] == q - p
            ):
                replace.append((op_p, vals_p[0] - p))
                continue
            raise VmlirUnsupportedError(
                f"ragged vmap: the constant {where(op_p)} depends on the length in a way "
                "other than n + k (for example 1 / n); write it from x.shape[0] directly"
            )
        elif op_p.properties != op_q.properties and not _slice_follows_length(op_p, op_q, p, q):
            raise VmlirUnsupportedError(
                f"ragged vmap: {where(op_p)} has attributes that depend on the length"
            )
    for op, offset in replace:
        t = op.output.type
        assert isinstance(t, TensorType)
        if isinstance(t.element_type, IntegerType):
            offset = int(offset)
        new = _length_as(Builder(InsertPoint.before(op)), length, t, offset)
        Rewriter.replace_op(op, [], [new])


def trace_ragged(
    fn: Callable[..., Any],
    shapes: Callable[[int], Sequence[jax.ShapeDtypeStruct]],
    in_axes: Sequence[Axis],
    ragged_axes: Sequence[Axis],
    axis_size: int,
    padded_size: int,
) -> RaggedTrace:
    """`fn` (per example) as a ragged batch.vmap, padded to `padded_size` or, when some
    other dimension of the program has that size, to the next size free of collisions.
    `shapes(p)` gives the per-example argument shapes at padded size p."""
    fn = convert(fn)  # Python control flow on values, before the wrapper hides fn's code
    size = padded_size
    for _ in range(_MAX_RETRACES):
        mod_p, out_tree, out_avals = _trace(fn, shapes, in_axes, axis_size, size)
        mod_q, _, _ = _trace(fn, shapes, in_axes, axis_size, size + 1)
        try:
            _diff(mod_p, mod_q, size, size + 1)
        except _Collision:
            size += 1
            continue
        _vmap_of(mod_p).properties["ragged_axes"] = axes_attr([*ragged_axes, None])
        out_dims = tuple(
            tuple(i for i, d in enumerate(a.shape) if d == size) for a in out_avals
        )
        return RaggedTrace(mod_p, size, out_tree, out_avals, out_dims)
    raise VmlirError(
        f"ragged vmap: every padded size from {padded_size} to {size - 1} is also the size "
        "of another dimension of the program"
    )
