"""One ragged trace for every bucket: the program at padded size P, re-specialized to P'.

Tracing and importing `fn` (three times, see ragged.py) is most of a ragged vmap's first
call, and each bucket used to pay it. After the three-way diff, the padded size is left
in the program in only three forms, all known exactly:
- the dimensions of value types (every dimension of size P is ragged: the diff retraces
  until no other dimension has that size), splat constants' types included;
- the integer attributes the diff saw follow the size (a slice keeping the ragged
  dimension whole, a pad growing a head to P, a cumulative op's window and padding),
  recorded as `Follows`;
- nothing else: any other attribute that changed with the size was refused by the diff.
So a bucket of size P' (and batch size B') clones the program, moves those to P', and
wraps the body in a new outer function for B' examples. A P' that some fixed dimension
already has would be taken for ragged by batch-ragged: the next free size is used, as a
fresh trace would. tests/unit/test_ragged_resize.py checks the result is the very
program a fresh trace at P' gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FunctionType,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region
from xdsl.rewriter import Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, YieldOp, first_vmap, insert_axis
from vmlir.dialects.builder import i64_array


@dataclass(frozen=True)
class Follows:
    """Entries of an integer property of the op at `index` (in walk order of the vmap
    body) that are the padded size plus a constant."""

    index: int
    prop: str
    entries: tuple[int, ...]


def fixed_dims(vmap: VmapOp, size: int) -> frozenset[int]:
    """The sizes of every dimension of the body's values that is not ragged."""
    dims: set[int] = set()
    for op in vmap.body.walk():
        values = [*op.results, *(a for r in op.regions for b in r.blocks for a in b.args)]
        for v in values:
            if isinstance(v.type, TensorType):
                dims.update(d for d in v.type.get_shape() if d != size)
    dims.update(
        d for a in vmap.body.block.args if isinstance(a.type, TensorType) for d in a.type.get_shape() if d != size
    )
    return frozenset(dims)


def free_size(size: int, fixed: frozenset[int]) -> int:
    """The smallest padded size >= `size` that no fixed dimension has."""
    while size in fixed:
        size += 1
    return size


def _resize_type(t: Attribute, old: int, new: int) -> Attribute:
    if isinstance(t, TensorType) and old in t.get_shape():
        shape = [new if d == old else d for d in t.get_shape()]
        return TensorType(t.element_type, shape, t.encoding)
    return t


def _resize_attr(attr: Attribute, old: int, new: int) -> Attribute:
    """A splat constant's value, or a function's type, at the new padded size (any
    other dense constant of a ragged shape was refused by the diff)."""
    if isinstance(attr, DenseIntOrFPElementsAttr):
        t = _resize_type(attr.type, old, new)
        if t is attr.type:
            return attr
        assert attr.is_splat(), "the diff refuses non-splat constants of a ragged shape"
        return DenseIntOrFPElementsAttr.from_list(t, [attr.get_values()[0]])  # type: ignore[arg-type]
    if isinstance(attr, FunctionType):
        return FunctionType.from_lists(
            [_resize_type(t, old, new) for t in attr.inputs], [_resize_type(t, old, new) for t in attr.outputs]
        )
    return attr


# The only attributes that hold a type of the padded size: the diff compares every
# other property of the body's ops as text and refuses those that change with the size
# (so `padding = dense<...> : tensor<2x2xi64>` keeps its type, even at padded size 2).
_TYPED_PROPERTIES = ((hlo.ConstantOp, "value"), (FuncOp, "function_type"))


def _resize_ops(root: Operation, old: int, new: int) -> None:
    for op in list(root.walk()):
        for v in list(op.results):
            t = _resize_type(v.type, old, new)
            if t is not v.type:
                Rewriter.replace_value_with_new_type(v, t)
        for region in op.regions:
            for block in region.blocks:
                for a in list(block.args):
                    t = _resize_type(a.type, old, new)
                    if t is not a.type:
                        Rewriter.replace_value_with_new_type(a, t)
        for cls, prop in _TYPED_PROPERTIES:
            if isinstance(op, cls) and prop in op.properties:
                op.properties[prop] = _resize_attr(op.properties[prop], old, new)


def _shift(attr: Attribute, entries: Sequence[int], by: int) -> Attribute:
    if isinstance(attr, DenseArrayBase):
        values = [int(v) for v in attr.get_values()]
        for e in entries:
            values[e] += by
        return i64_array(values)
    assert isinstance(attr, DenseIntOrFPElementsAttr)
    values = [int(v) for v in attr.get_values()]
    for e in entries:
        values[e] += by
    return DenseIntOrFPElementsAttr.from_list(attr.type, values)  # type: ignore[arg-type]


def _batched(types: Sequence[Attribute], axes: Sequence[int | None], size: int) -> list[Attribute]:
    out: list[Attribute] = []
    for t, a in zip(types, axes):
        assert isinstance(t, TensorType)
        out.append(t if a is None else insert_axis(t, a, size))
    return out


def resize(module: ModuleOp, follows: Sequence[Follows], old: int, new: int, axis_size: int) -> ModuleOp:
    """A copy of the ragged module `module` (padded size `old`) at padded size `new`
    (free of fixed dimensions: see `free_size`), mapped over `axis_size` examples."""
    module = module.clone()
    vmap = first_vmap(module)
    if old != new:
        body_ops = list(vmap.body.walk())
        for f in follows:
            op = body_ops[f.index]
            op.properties[f.prop] = _shift(op.properties[f.prop], f.entries, new - old)
        _resize_ops(vmap, old, new)
        for func in module.ops:
            if isinstance(func, FuncOp) and func.sym_name.data != "main":
                _resize_ops(func, old, new)
    return rewrap(module, vmap, axis_size)


def rewrap(module: ModuleOp, vmap: VmapOp, axis_size: int, out_axes: Sequence[int | None] | None = None) -> ModuleOp:
    """A new module whose main maps `vmap`'s body (taken out of it) over `axis_size`
    examples, with `module`'s other functions (the yield may have changed: `out_axes`
    then gives one axis per yielded value)."""
    out_axes = vmap.out_axes_list if out_axes is None else list(out_axes)
    body = vmap.detach_region(vmap.body)
    return wrap(module, body, vmap.in_axes_list, out_axes, axis_size, vmap.properties.get("ragged_axes"))


def wrap(
    module: ModuleOp,
    body: Region,
    in_axes: Sequence[int | None],
    out_axes: Sequence[int | None],
    axis_size: int,
    ragged_axes: Attribute | None = None,
) -> ModuleOp:
    """A new module whose main maps `body` over `axis_size` examples, with `module`'s
    functions other than main."""
    term = body.block.last_op
    assert isinstance(term, YieldOp)
    in_types = _batched([a.type for a in body.block.args], in_axes, axis_size)
    out_types = _batched([v.type for v in term.values], out_axes, axis_size)
    outer = Block(arg_types=in_types)
    new_vmap = VmapOp(list(outer.args), in_axes, out_axes, axis_size, body, out_types)
    if ragged_axes is not None:
        new_vmap.properties["ragged_axes"] = ragged_axes
    outer.add_ops([new_vmap, ReturnOp(*new_vmap.results)])
    main = FuncOp("main", (in_types, out_types), Region(outer))
    others = [f.clone() for f in module.ops if isinstance(f, FuncOp) and f.sym_name.data != "main"]
    return ModuleOp([main, *others])


def resized_avals(avals: Sequence[Any], old: int, new: int) -> tuple[Any, ...]:
    """Per-example output avals at the new padded size."""
    return tuple(a.update(shape=tuple(new if d == old else d for d in a.shape)) for a in avals)
