"""in_axes / out_axes: matching axis specifications to argument and result pytrees.

Semantics and error texts follow jax.vmap: an axis spec is a pytree prefix of the value it
describes (an int or None at a node covers every leaf below it), negative axes count from
the end, and all mapped axes must have one size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from vmlir.errors import VmlirUnsupportedError

Axis = int | None


def _is_axis_leaf(x: Any) -> bool:
    return x is None or isinstance(x, (int, np.integer))


def broadcast_prefix(spec: Any, tree: Any, what: str) -> list[Axis]:
    """One axis per leaf of `tree`, from the prefix `spec` (jax's flatten_axes)."""
    spec_leaves, spec_def = jax.tree_util.tree_flatten(spec, is_leaf=_is_axis_leaf)
    for leaf in spec_leaves:
        if not _is_axis_leaf(leaf) or isinstance(leaf, bool):
            raise TypeError(
                f"vmap {what} must be an int, None, or a (nested) container with those "
                f"types as leaves, but got {leaf!r}."
            )
    try:
        subtrees = spec_def.flatten_up_to(tree)
    except ValueError as e:
        tree_def = jax.tree_util.tree_structure(tree)
        raise ValueError(
            f"vmap {what} specification must be a tree prefix of the corresponding value, "
            f"got specification {spec!r} for value tree {tree_def}."
        ) from e
    axes: list[Axis] = []
    for leaf_axis, sub in zip(spec_leaves, subtrees):
        n = jax.tree_util.tree_structure(sub).num_leaves
        axes.extend([None if leaf_axis is None else int(leaf_axis)] * n)
    return axes


@dataclass(frozen=True)
class FlatArgs:
    """The flattened arguments of one batched call and what vmap makes of them. Leaves
    that are not arrays with in_axes None (Python scalars, strings, ...) are `static`: as
    jax.vmap does, the function gets them as they are; they are not operands."""

    avals: tuple[Any, ...]  # per-operand ShapedArray of the batched argument
    in_axes: tuple[Axis, ...]  # normalized (non-negative) axis per operand
    axis_size: int
    per_example: tuple[jax.ShapeDtypeStruct, ...]  # the operands one example sees
    static: tuple[tuple[int, Any], ...] = ()  # (leaf index, value) of the static leaves

    def static_key(self) -> tuple[Any, ...]:
        """The static values as a cache key: 1, 1.0 and True differ, so do 0.0 and -0.0."""
        return tuple((i, type(v), repr(v) if isinstance(v, (float, complex, np.inexact)) else v)
                     for i, v in self.static)

    def bind_static(self, fn: Any, tree: Any) -> tuple[Any, Any]:
        """`fn` as a function of the operands only (a flat tuple), the static leaves put
        back in place, and the tree of that tuple."""
        if not self.static:
            return fn, tree
        static, n = dict(self.static), tree.num_leaves

        def on_operands(*operands: Any) -> Any:
            it = iter(operands)
            leaves = [static[i] if i in static else next(it) for i in range(n)]
            return fn(*jax.tree_util.tree_unflatten(tree, leaves))

        return on_operands, jax.tree_util.tree_structure((0,) * len(self.per_example))


def is_static_leaf(x: Any) -> bool:
    """Not an array: jax.vmap hands such an unmapped argument to the function unchanged."""
    return not isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct, jax.core.Tracer))


def leaf_aval(x: Any) -> Any:
    """The abstract value of an argument leaf (an array, a scalar or a ShapeDtypeStruct)."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return jax.core.ShapedArray(x.shape, x.dtype, weak_type=x.weak_type)
    return jax.typeof(x)


def _describe(path: Any) -> str:
    return "argument " + jax.tree_util.keystr(path) if path else "argument"


def flatten_args(
    args: tuple[Any, ...], in_axes: Any, axis_size: int | None
) -> tuple[FlatArgs, Any, list[Any]]:
    """Flatten `args` against `in_axes`; check ranks and sizes as jax.vmap does."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (_is_axis_leaf(in_axes) or isinstance(in_axes, tuple)):
        raise TypeError(
            "vmap in_axes must be an int, None, or a tuple of entries corresponding to "
            f"the positional arguments passed to the function, but got {in_axes!r}."
        )
    if isinstance(in_axes, tuple) and len(in_axes) != len(args):
        raise ValueError(
            "vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
            f"positional arguments passed to the function, but got len(in_axes)={len(in_axes)}, "
            f"len(args)={len(args)}"
        )
    axes = broadcast_prefix(in_axes, args, "in_axes")
    leaves_with_paths, tree = jax.tree_util.tree_flatten_with_path(args)
    leaves = [leaf for _, leaf in leaves_with_paths]
    avals = [None if is_static_leaf(x) and axis is None else leaf_aval(x)
             for x, axis in zip(leaves, axes)]
    static = []
    for i, ((path, leaf), axis) in enumerate(zip(leaves_with_paths, axes)):
        if not is_static_leaf(leaf):
            continue
        if axis is not None and not isinstance(leaf, (bool, int, float, complex, np.generic)):
            raise TypeError(f"Argument {leaf!r} of type {type(leaf)} is not a valid JAX type")
        if axis is None:
            try:
                hash(leaf)
            except TypeError:
                raise VmlirUnsupportedError(
                    f"{_describe(path)} (a {type(leaf).__name__}, in_axes None) is passed to the "
                    "function as it is, as jax.vmap does, and vmlir compiles one program per "
                    "such static value, so it must be hashable; pass it as an array or close "
                    "over it instead"
                ) from None
            static.append((i, leaf))
    if static:
        keep = [i for i in range(len(leaves)) if i not in dict(static)]
        leaves_with_paths = [leaves_with_paths[i] for i in keep]
        leaves, avals, axes = [leaves[i] for i in keep], [avals[i] for i in keep], [axes[i] for i in keep]
    norm: list[Axis] = []
    sizes: list[tuple[int, int, Any, Any]] = []
    for (path, _), aval, axis in zip(leaves_with_paths, avals, axes):
        if axis is None:
            norm.append(None)
            continue
        ndim = len(aval.shape)
        a = axis + ndim if axis < 0 else axis
        if not 0 <= a < ndim:
            raise ValueError(
                f"vmap was requested to map its argument along axis {axis}, which implies "
                f"that its rank should be at least {axis + 1 if axis >= 0 else -axis}, but is "
                f"only {ndim} (its shape is {aval.shape})"
            )
        norm.append(a)
        sizes.append((aval.shape[a], a, path, aval))
    if not sizes and axis_size is None:
        raise ValueError(
            "vmap must have at least one non-None value in in_axes or axis_size must be specified"
        )
    size = axis_size if axis_size is not None else sizes[0][0]
    if any(s != size for s, *_ in sizes):
        lines = [
            f"  * {_describe(path)} has shape {aval.str_short()} and axis {a} is to be "
            f"mapped (size {s})"
            for s, a, path, aval in sizes
        ]
        if axis_size is not None:
            lines.insert(0, f"  * axis_size was given as {axis_size}")
        raise ValueError(
            "vmap got inconsistent sizes for array axes to be mapped:\n" + "\n".join(lines)
        )
    per_example = []
    for aval, a in zip(avals, norm):
        shape = tuple(aval.shape) if a is None else tuple(aval.shape[:a] + aval.shape[a + 1 :])
        per_example.append(jax.ShapeDtypeStruct(shape, aval.dtype, weak_type=aval.weak_type))
    flat = FlatArgs(tuple(avals), tuple(norm), size, tuple(per_example), tuple(static))
    return flat, tree, leaves


def flatten_out_axes(out_axes: Any, out_tree: Any, out_ranks: Sequence[int]) -> list[Axis]:
    """One normalized axis per output leaf (rank = the per-example rank of that leaf)."""
    if isinstance(out_axes, list):
        out_axes = tuple(out_axes)
    dummy = jax.tree_util.tree_unflatten(out_tree, [0] * out_tree.num_leaves)
    axes = broadcast_prefix(out_axes, dummy, "out_axes")
    norm: list[Axis] = []
    for axis, rank in zip(axes, out_ranks):
        if axis is None:
            norm.append(None)
            continue
        a = axis + rank + 1 if axis < 0 else axis
        if not 0 <= a <= rank:
            raise ValueError(
                f"vmap out_axes specification {axis} is out of range for an output of rank "
                f"{rank} (the batched output has rank {rank + 1})"
            )
        norm.append(a)
    return norm
