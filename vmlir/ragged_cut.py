"""Cutting a ragged program at its scans, for persistent lanes (vmlir/ragged_refill.py runs
the pieces; docs/ragged.md, "Scans on persistent lanes").

A scan over the ragged axis (`lax.scan`, `fori_loop(0, x.shape[0], ...)`: a top-level
`while i < length` whose body steps `i` by one, passes/ragged_loops.py) runs each example
for its own length. Run in step over a bucket, every example runs to the bucket's size;
on persistent lanes, each lane runs one example's steps and then takes the next example,
so the steps executed track the sum of the lengths. This module cuts the per-example
body (at padded size P) into pieces the runner chains:

- segments: the top-level ops between two such loops, each a ragged vmap over the N
  examples (batch-ragged masks them as usual), reading the values of earlier pieces
  and yielding those later pieces read;
- steps: one iteration of a loop's body as a plain vmap over L lanes. Each lane holds
  an example `e`, its counter `i` and its carries. The loop's carries are sorted into
  * the counter (its value comes from the lane schedule);
  * reads: a ragged carry the body passes along unchanged and reads only through
    `dynamic_slice` (a scan's `xs[i]`): the step reads one row of the whole (N, P, ...)
    array, unmapped, at (e, start clamped to the example's length, as batch-ragged
    clamps it);
  * writes: a ragged carry (ragged along its first dimension) the body writes only
    through one `dynamic_update_slice` of whole rows (a scan's `ys.at[i].set`): the
    step yields the rows and their start, the runner scatters them into (N, P, ...);
  * uniform: a carry the body passes along that is an unmapped argument of the vmap
    (weights): passed unmapped;
  * state: every other carry (no ragged dimension): one value per lane.
  Values the body reads from outside the loop are passed per lane (the example's
  length, per-example values) or unmapped (unmapped arguments).

`plan` says why a program cannot be cut (op and Python line) where it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import YieldOp, axes_attr, first_vmap, static_shape
from vmlir.dialects.builder import Builder, i64_array
from vmlir.dialects.locations import where
from vmlir.frontend.ragged_resize import wrap
from vmlir.passes.ragged_loops import scan_counter

Ref = tuple[str, int, int]  # ("arg", block arg index, 0) or ("op", top-level op index, result)

COUNTER, READ, WRITE, UNIFORM, STATE = "counter", "read", "write", "uniform", "state"


@dataclass(frozen=True)
class Loop:
    """A scan over the ragged axis at top-level op `index` of the body."""

    index: int
    start: int  # the counter's initial value: the loop runs length - start steps
    kinds: tuple[str, ...]  # per carry
    operands: tuple[Ref, ...]  # per carry: where its initial value comes from
    captured: tuple[Ref, ...]  # values of the body read inside the loop (length excluded)


@dataclass(frozen=True)
class Segment:
    """Top-level ops [first, last) of the body, run as one ragged vmap."""

    first: int
    last: int
    inputs: tuple[Ref, ...]  # the length excluded (it is always the last operand)
    outputs: tuple[Ref, ...]


@dataclass(frozen=True)
class RefillPlan:
    """The pieces of a ragged body, in order, and where its outputs come from."""

    pieces: tuple[Segment | Loop, ...]
    outputs: tuple[Ref, ...]
    length_arg: int
    padded_rows: bool  # whether an op outside the loops touches the ragged axis


def _ref(block: Block, index: dict[int, int], v: SSAValue) -> Ref | None:
    """Where a value of the vmap body comes from (None: defined inside a nested region)."""
    owner = v.owner
    if isinstance(owner, Block):
        return ("arg", v.index, 0) if owner is block else None  # type: ignore[attr-defined]
    i = index.get(id(owner))
    return None if i is None else ("op", i, v.index)  # type: ignore[attr-defined]


def _reads(op: Operation, block: Block, index: dict[int, int]) -> list[Ref]:
    """The body values `op` (its regions included) reads, in order, once each."""
    out: list[Ref] = []
    for o in op.walk():
        for v in o.operands:
            r = _ref(block, index, v)
            if r is not None and r != ("op", index[id(op)], r[2]) and r not in out:
                out.append(r)
    return out


def _value(block: Block, ops: Sequence[Operation], r: Ref) -> SSAValue:
    return block.args[r[1]] if r[0] == "arg" else ops[r[1]].results[r[2]]


def _loop(op: hlo.WhileOp, i: int, block: Block, index, in_axes, size: int) -> Loop | str:
    """The loop's carries sorted (module doc), or why it cannot run on lanes."""
    length = block.args[-1]
    k = scan_counter(op, length)
    if k is None:
        return f"{where(op)} is a loop over the ragged axis that is not a scan (`while i < length`, i stepped by one)"
    init = op.operands[k].owner
    if not isinstance(init, hlo.ConstantOp) or len(init.value.get_values()) != 1:
        return f"{where(op)}: its counter does not start at a constant"
    body = op.body.block
    ret = body.last_op
    assert isinstance(ret, hlo.ReturnOp)
    kinds: list[str] = []
    for j, (arg, operand) in enumerate(zip(body.args, op.operands)):
        uses = [u.operation for u in arg.uses]
        passed = ret.operands[j] is arg
        ragged = size in static_shape(arg)
        if j == k:
            kinds.append(COUNTER)
        elif ragged and passed and all(
            isinstance(u, hlo.DynamicSliceOp) and u.operand is arg and u.parent is body for u in uses if u is not ret
        ):
            kinds.append(READ)
        elif ragged and _write(body, arg, ret.operands[j], size) is not None:
            kinds.append(WRITE)
        elif ragged:
            return f"{where(op)}: a carry of the scan is used along the ragged axis other than by one-row reads and writes"
        elif passed and isinstance(operand.owner, Block) and in_axes[operand.index] is None:  # type: ignore[attr-defined]
            kinds.append(UNIFORM)
        else:
            kinds.append(STATE)
    for inner in op.body.walk():
        if not isinstance(inner, hlo.DynamicUpdateSliceOp) and any(
            size in static_shape(v) for v in inner.results if isinstance(v.type, TensorType)
        ):
            return f"{where(inner)} inside the scan {where(op)} computes along the ragged axis"
    operands = tuple(_ref(block, index, v) for v in op.operands)
    inside = {id(o) for o in op.walk()}
    captured: list[Ref] = []
    for o in op.body.walk():
        for v in o.operands:
            if v is length or (isinstance(v.owner, Operation) and id(v.owner) in inside):
                continue
            r = _ref(block, index, v)
            if r is not None and size in static_shape(v):
                # read per lane whole, its reads would not be clamped to the length
                return f"{where(o)} inside the scan {where(op)} reads a value along the ragged axis from outside the scan"
            if r is not None and r not in captured:
                captured.append(r)
    start = int(init.value.get_values()[0])
    return Loop(i, start, tuple(kinds), operands, tuple(captured))  # type: ignore[arg-type]


def _write(body: Block, arg: SSAValue, yielded: SSAValue, size: int) -> hlo.DynamicUpdateSliceOp | None:
    """The one dynamic_update_slice of whole rows into `arg` (ragged along its first
    dimension) whose result the body yields, or None."""
    dus = yielded.owner
    uses = [u.operation for u in arg.uses]
    if not isinstance(dus, hlo.DynamicUpdateSliceOp) or dus.operand is not arg or uses != [dus]:
        return None
    shape, upd = static_shape(arg), static_shape(dus.update)
    if dus.parent is not body or len(list(dus.result.uses)) != 1 or shape[0] != size:
        return None
    if upd[0] != 1 or upd[1:] != shape[1:] or size in shape[1:]:
        return None
    return dus


def plan(module: ModuleOp, size: int) -> RefillPlan | str:
    """The pieces of `module`'s ragged body (padded size `size`), or why it has none that
    runs on lanes: no scan over the ragged axis, or one that cannot (op and line)."""
    vmap = first_vmap(module)
    block = vmap.body.block
    ops = list(block.ops)
    term = ops.pop()
    assert isinstance(term, YieldOp)
    index = {id(op): i for i, op in enumerate(ops)}
    in_axes = vmap.in_axes_list
    loops: list[Loop] = []
    for i, op in enumerate(ops):
        nested = [o for o in op.walk() if isinstance(o, hlo.WhileOp) and o is not op]
        touches = any(size in static_shape(v) for o in op.walk() for v in [*o.operands, *o.results] if isinstance(v.type, TensorType))
        if isinstance(op, hlo.WhileOp) and touches:
            found = _loop(op, i, block, index, in_axes, size)
            if isinstance(found, str):
                return found
            loops.append(found)
        elif touches and (nested or isinstance(op, hlo.CaseOp)):
            return f"{where(op)}: a loop or branch over the ragged axis that is not a top-level scan"
    if not loops:
        return "no scan over the ragged axis"
    pieces: list[Segment | Loop] = []
    bounds = [-1, *(lp.index for lp in loops), len(ops)]
    later_reads: list[set[Ref]] = []
    outputs = tuple(r for r in (_ref(block, index, v) for v in term.values) if r is not None)
    need: set[Ref] = set(outputs)
    for i in range(len(ops) - 1, -1, -1):  # what ops i.. and the yield read
        need |= set(_reads(ops[i], block, index))
        later_reads.append(set(need))
    later_reads.reverse()  # [i]: read by ops from i on (and the yield)
    after = lambda i: later_reads[i] if i < len(ops) else set(outputs)  # noqa: E731
    padded_rows = False
    for s in range(len(bounds) - 1):
        first, last = bounds[s] + 1, bounds[s + 1]
        if last > first:
            defined = {("op", j, r) for j in range(first, last) for r in range(len(ops[j].results))}
            inputs: list[Ref] = []
            for j in range(first, last):
                inputs += [r for r in _reads(ops[j], block, index) if r not in defined and r not in inputs]
            inputs = [r for r in inputs if r != ("arg", len(block.args) - 1, 0)]
            if not any(_ragged_axis(_value(block, ops, r), size) is not None for r in inputs):
                # batch-ragged needs a ragged operand to know the padded size: the first one
                first_ragged = next(a for a in block.args if _ragged_axis(a, size) is not None)
                inputs.append(("arg", first_ragged.index, 0))
            outs = tuple(sorted(r for r in defined if r in after(last)))
            padded_rows |= any(
                size in static_shape(v) for j in range(first, last) for o in ops[j].walk() for v in o.results
                if isinstance(v.type, TensorType)
            )
            if outs:
                pieces.append(Segment(first, last, tuple(inputs), outs))
        if s < len(loops):
            pieces.append(loops[s])
    return RefillPlan(tuple(pieces), outputs, len(block.args) - 1, padded_rows)


def _ragged_axis(v: SSAValue, size: int) -> int | None:
    shape = static_shape(v)
    return shape.index(size) if size in shape else None


def segment(module: ModuleOp, seg: Segment, size: int, batch: int) -> ModuleOp:
    """Segment `seg` of the ragged `module` as a ragged vmap over `batch` examples: its
    inputs, then the length; it yields its outputs."""
    module = module.clone()
    vmap = first_vmap(module)
    block = vmap.body.block
    ops = list(block.ops)[:-1]
    sources = [*(_value(block, ops, r) for r in seg.inputs), block.args[-1]]
    new = Block(arg_types=[v.type for v in sources])
    mapper: dict[SSAValue, SSAValue] = dict(zip(sources, new.args))
    for j in range(seg.first, seg.last):
        new.add_op(ops[j].clone(value_mapper=mapper))
    new.add_op(YieldOp([mapper[_value(block, ops, r)] for r in seg.outputs]))
    in_axes = [vmap.in_axes_list[v.index] if isinstance(v.owner, Block) else 0 for v in sources]  # type: ignore[attr-defined]
    ragged = axes_attr([*(_ragged_axis(v, size) for v in sources[:-1]), None])
    return wrap(module, Region(new), in_axes, [0] * len(seg.outputs), batch, ragged)


def step(module: ModuleOp, loop: Loop, size: int, batch: int, lanes: int, uniform: Sequence[bool]) -> ModuleOp:
    """One iteration of `loop` as a vmap over `lanes` lanes. Operands: the state carries,
    then the counter, the length and the example (i32) of each lane, the captured values
    (`uniform[c]`: unmapped), the uniform carries, the whole (N, P, ...) read carries
    (unmapped). Yields the state carries' next values, then per write carry its rows
    (1, ...) and their start."""
    module = module.clone()
    vmap = first_vmap(module)
    block = vmap.body.block
    ops = list(block.ops)[:-1]
    op = ops[loop.index]
    assert isinstance(op, hlo.WhileOp)
    body = op.body.block
    kinds = loop.kinds
    args: list[tuple[SSAValue | None, object, int | None]] = []  # (old value, type, in_axis)
    for j, kind in enumerate(kinds):
        if kind == STATE:
            args.append((body.args[j], body.args[j].type, 0))
    counter = body.args[kinds.index(COUNTER)]
    args.append((counter, counter.type, 0))
    length = block.args[-1]
    args.append((length, length.type, 0))
    i32 = TensorType(IntegerType(32), [])
    args.append((None, i32, 0))  # the lane's example
    for r, u in zip(loop.captured, uniform):
        v = _value(block, ops, r)
        args.append((v, v.type, None if u else 0))
    for j, kind in enumerate(kinds):
        if kind == UNIFORM:
            args.append((body.args[j], body.args[j].type, None))
    reads = [j for j, kind in enumerate(kinds) if kind == READ]
    for j in reads:
        t = body.args[j].type
        assert isinstance(t, TensorType)
        args.append((None, TensorType(t.element_type, [batch, *t.get_shape()]), None))
    new = Block(arg_types=[t for _, t, _ in args])
    mapper: dict[SSAValue, SSAValue] = {old: a for (old, _, _), a in zip(args, new.args) if old is not None}
    n_state = kinds.count(STATE)
    lane_length, example = new.args[n_state + 1], new.args[n_state + 2]
    whole = dict(zip((body.args[j] for j in reads), new.args[len(args) - len(reads) :]))
    ret = body.last_op
    assert isinstance(ret, hlo.ReturnOp)
    writes = {id(_write(body, body.args[j], ret.operands[j], size)): j for j, kind in enumerate(kinds) if kind == WRITE}
    for o in body.ops:
        if o is ret or id(o) in writes:
            continue
        if isinstance(o, hlo.DynamicSliceOp) and o.operand in whole:
            mapper[o.result] = _read_row(new, o, whole[o.operand], example, lane_length, mapper, size)
            continue
        new.add_op(o.clone(value_mapper=mapper))
    yields = [mapper.get(ret.operands[j], ret.operands[j]) for j, kind in enumerate(kinds) if kind == STATE]
    for o in body.ops:
        if id(o) in writes:
            assert isinstance(o, hlo.DynamicUpdateSliceOp)
            yields += [mapper.get(o.update, o.update), mapper.get(o.start_indices[0], o.start_indices[0])]
    new.add_op(YieldOp(yields))
    in_axes = [a for _, _, a in args]
    return wrap(module, Region(new), in_axes, [0] * len(yields), lanes)


def _read_row(new: Block, o: hlo.DynamicSliceOp, whole: SSAValue, example: SSAValue, length: SSAValue, mapper, size: int) -> SSAValue:
    """`o` (a read of rows of one example's carry) as a read of the whole carry at the
    lane's example, its start along the ragged dimension clamped to the example's
    length as batch-ragged clamps it."""
    b = Builder(InsertPoint.at_end(new))
    starts = [mapper.get(s, s) for s in o.start_indices]
    sizes = list(o.slice_sizes.get_values())
    for d, extent in enumerate(static_shape(o.operand)):
        if extent == size:
            t = starts[d].type
            bound = length if length.type == t else b.unary(hlo.ConvertOp, length, t)
            high = b.binary(hlo.SubtractOp, bound, b.constant(t, sizes[d]))  # type: ignore[arg-type]
            zero = b.constant(t, 0)  # type: ignore[arg-type]
            starts[d] = b.emit(hlo.ClampOp.create(operands=[zero, starts[d], high], result_types=[t]))
    e = example if example.type == starts[0].type else b.unary(hlo.ConvertOp, example, starts[0].type)
    rt = o.result.type
    assert isinstance(rt, TensorType)
    row = b.emit(
        hlo.DynamicSliceOp.create(
            operands=[whole, e, *starts],
            result_types=[TensorType(rt.element_type, [1, *rt.get_shape()])],
            properties={"slice_sizes": i64_array([1, *sizes])},
        )
    )
    return b.unary(hlo.ReshapeOp, row, rt)
