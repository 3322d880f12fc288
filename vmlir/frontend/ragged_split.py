"""Splitting a ragged program where the padded size stops mattering.

Each bucket runs its own program, so whatever `fn` computes after the ragged axis is
gone (the 4x4 solve after `v.T @ v` in a least-squares fit, an MLP head after pooling)
would be compiled once per bucket and run as one small batch per bucket. The split
cuts the per-example body in two:
- the head: every op that touches a ragged dimension (a dimension of the padded size,
  ragged_resize.py), and every op those read (inside regions too). It runs per bucket,
  and also yields the values the tail reads (the frontier);
- the tail: the other ops. None of their values depends on the padded size, so the tail
  runs once over all the examples (the buckets' frontiers concatenated), compiled once.
A tail of a few ops is not worth a program of its own: see `worth_splitting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    ComplexType,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import YieldOp, first_vmap
from vmlir.frontend.ragged_resize import rewrap, wrap

_MIN_TAIL_OPS = 12
"""A tail of fewer ops (a mean's division, a bias) costs more as a program of its own
(one more call, its inputs concatenated) than once per bucket."""

Ref = tuple[str, int, int]  # ("op", top-level op index, result index) or ("arg", index, 0)


@dataclass(frozen=True)
class SplitPlan:
    """Where a ragged body is cut (top-level op indices of the vmap body)."""

    tail: frozenset[int]
    frontier: tuple[Ref, ...]  # head values the tail reads
    tail_args: tuple[int, ...]  # the body's arguments the tail reads (never ragged ones)
    outputs: tuple[tuple[str, int], ...]  # per output: ("head", k) or ("tail", k)


def _values(op: Operation) -> list[SSAValue]:
    """Every value `op` defines or reads, its regions included."""
    out: list[SSAValue] = []
    for o in op.walk():
        out += [*o.operands, *o.results]
        out += [a for r in o.regions for b in r.blocks for a in b.args]
    return out


def _touches(op: Operation, size: int) -> bool:
    return any(isinstance(v.type, TensorType) and size in v.type.get_shape() for v in _values(op))


def plan_split(module: ModuleOp, size: int) -> SplitPlan | None:
    """The cut of `module`'s ragged body (padded size `size`), or None when no output
    comes from ops that ignore the padded size."""
    block = first_vmap(module).body.block
    ops = list(block.ops)
    term = ops.pop()
    assert isinstance(term, YieldOp)
    index = {id(op): i for i, op in enumerate(ops)}
    head = {i for i, op in enumerate(ops) if _touches(op, size)}
    for i in range(len(ops) - 1, -1, -1):  # producers come first: one backward sweep
        if i in head:
            for o in ops[i].walk():
                for v in o.operands:
                    owner = v.owner
                    if isinstance(owner, Operation) and id(owner) in index:
                        head.add(index[id(owner)])
    tail = frozenset(range(len(ops))) - head
    frontier: list[Ref] = []
    tail_args: list[int] = []
    for i in sorted(tail):
        for o in ops[i].walk():
            for v in o.operands:
                owner = v.owner
                if isinstance(owner, Operation) and index.get(id(owner), -1) in head:
                    ref: Ref = ("op", index[id(owner)], v.index)  # type: ignore[attr-defined]
                    if ref not in frontier:
                        frontier.append(ref)
                elif isinstance(owner, Block) and owner is block and v.index not in tail_args:  # type: ignore[attr-defined]
                    tail_args.append(v.index)  # type: ignore[attr-defined]
    outputs: list[tuple[str, int]] = []
    n_head = n_tail = 0
    for v in term.values:
        owner = v.owner
        if isinstance(owner, Operation) and index.get(id(owner), -1) in tail:
            outputs.append(("tail", n_tail))
            n_tail += 1
        else:
            outputs.append(("head", n_head))
            n_head += 1
    if not n_tail:
        return None
    return SplitPlan(tail, tuple(frontier), tuple(tail_args), tuple(outputs))


def worth_splitting(module: ModuleOp, plan: SplitPlan) -> bool:
    ops = list(first_vmap(module).body.block.ops)
    work = sum(
        1
        for i in plan.tail
        for o in ops[i].walk()
        if not isinstance(o, (hlo.ConstantOp, hlo.ReturnOp, hlo.BroadcastInDimOp, hlo.ReshapeOp, YieldOp))
    )
    return work >= _MIN_TAIL_OPS


def head_ops(module: ModuleOp, plan: SplitPlan | None) -> int:
    """The ops of the program each bucket compiles (nested ones included): the body, less
    the tail when it is cut (the tail compiles once, whatever the buckets)."""
    tail = plan.tail if plan is not None else frozenset()
    return sum(
        1 for i, op in enumerate(first_vmap(module).body.block.ops) if i not in tail for _ in op.walk()
    )


def _ref(block: Block, ops: Sequence[Operation], ref: Ref) -> SSAValue:
    kind, i, r = ref
    return ops[i].results[r] if kind == "op" else block.args[i]


def head(module: ModuleOp, plan: SplitPlan, axis_size: int) -> ModuleOp:
    """`module` (a ragged module, consumed) without the tail: it yields its own outputs,
    then the frontier."""
    vmap = first_vmap(module)
    block = vmap.body.block
    ops = list(block.ops)
    term = ops.pop()
    assert isinstance(term, YieldOp)
    kept = [v for v, (where, _) in zip(term.values, plan.outputs) if where == "head"]
    values = [*kept, *(_ref(block, ops, r) for r in plan.frontier)]
    Rewriter.replace_op(term, YieldOp(values))
    for i in sorted(plan.tail, reverse=True):
        Rewriter.erase_op(ops[i])
    axes = [vmap.out_axes_list[k] for k, (where, _) in enumerate(plan.outputs) if where == "head"]
    return rewrap(module, vmap, axis_size, [*axes, *[0] * len(plan.frontier)])


def tail(module: ModuleOp, plan: SplitPlan, axis_size: int) -> ModuleOp:
    """The tail of the ragged `module` as a plain vmap over `axis_size` examples: its
    arguments are the frontier (mapped), then the body arguments it reads (their
    in_axes); it yields the outputs the tail computes."""
    module = module.clone()
    vmap = first_vmap(module)
    block = vmap.body.block
    ops = list(block.ops)
    term = ops.pop()
    assert isinstance(term, YieldOp)
    sources = [_ref(block, ops, r) for r in plan.frontier] + [block.args[a] for a in plan.tail_args]
    new = Block(arg_types=[v.type for v in sources])
    mapper: dict[SSAValue, SSAValue] = dict(zip(sources, new.args))
    for i in sorted(plan.tail):
        new.add_op(ops[i].clone(value_mapper=mapper))
    outs = [mapper[v] for v, (where, _) in zip(term.values, plan.outputs) if where == "tail"]
    new.add_op(YieldOp(outs))
    in_axes = [0] * len(plan.frontier) + [vmap.in_axes_list[a] for a in plan.tail_args]
    return wrap(module, Region(new), in_axes, [0] * len(outs), axis_size)


_DTYPES: dict[str, str] = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}


def _dtype(t: Attribute) -> np.dtype:
    if isinstance(t, IntegerType):
        width = t.width.data
        if width == 1:
            return np.dtype(bool)
        unsigned = t.signedness.data == Signedness.UNSIGNED
        return np.dtype(f"{'u' if unsigned else ''}int{width}")
    if isinstance(t, ComplexType):
        return np.dtype("complex128" if isinstance(t.element_type, Float64Type) else "complex64")
    if isinstance(t, (Float16Type, Float32Type, Float64Type, BFloat16Type)):
        return np.dtype(jax.numpy.dtype(_DTYPES[str(t)]))
    raise TypeError(f"no dtype for {t}")


def result_avals(module: ModuleOp) -> tuple[jax.core.ShapedArray, ...]:
    """The avals of the (batched) results of `module`'s main."""
    vmap = first_vmap(module)
    out = []
    for r in vmap.results:
        t = r.type
        assert isinstance(t, TensorType)
        out.append(jax.core.ShapedArray(tuple(t.get_shape()), _dtype(t.element_type)))
    return tuple(out)
