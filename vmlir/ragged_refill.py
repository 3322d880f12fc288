"""Scans over the ragged axis on persistent lanes (layout "refill", docs/ragged.md).

A program whose ragged axis goes through a scan (`lax.scan`, `fori_loop(0, x.shape[0])`)
cannot run packed, and in buckets every example runs its scan to its bucket's size. Here
each scan runs on L persistent lanes instead: a lane runs one example's steps, then
takes the next example, so the steps executed track the sum of the lengths rather than
N x the bucket size. The lengths are known on the host when a call is planned, so the
lane schedule is too: examples are started longest first, each on the lane that frees
first (`schedule`), and the device loop runs exactly K iterations of L lanes, reading at
iteration k which example (and which of its steps) each lane holds. Each iteration:
lanes that start an example load its initial carries; the step program (one iteration of
the scan's body, vectorized over the L lanes, vmlir/ragged_cut.py) reads
one row per lane of the scanned arrays and yields the next carries and the rows the
scan writes; those rows are scattered into the examples' (N, P, ...) outputs, and the
lanes' carries go to row k of a (K, L, ...) history, from which each example's final
carries are gathered after the loop. The ops outside the scans run as ragged vmaps over
the N examples at the longest length P (batch-ragged masks them).

`RaggedVmapped.work` counts what runs: L x K lane-steps per scan, plus N x P rows when
an op outside the scans touches the ragged axis (none in a plain scan over the input).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vmlir.compiler import Stages, run_pipeline
from vmlir.errors import VmlirUnsupportedError
from vmlir import ragged_cut as cut
from vmlir.dialects.batch import first_vmap
from vmlir.frontend.custom_vmap import trace_rule
from vmlir.frontend.ragged import RaggedTrace
from vmlir.frontend.ragged_split import result_avals
from vmlir.ir import print_custom
from vmlir.ragged_runner import Runner
from vmlir.runtime import xla

HISTORY_BYTES = 1 << 28
"""A loop keeps every iteration's carries (K x L x the state) up to this size, and
gathers each example's final carries from them after the loop; above it, the lanes that
finish scatter theirs every iteration (slower on CPU: XLA's scatter is a loop)."""

XLA_OPTIONS: dict[str, Any] = {}
"""XLA's defaults for a refill call's executable. Measured on the bench's GRU (512
examples, 74 lanes, alternating rounds on the shared 2-core machine, best of 24): 4.1-4.5
ms at the defaults, 6.0 ms at level 1, 12.3 ms at level 1 without the CPU fusion
emitters (the bucketed programs' options, ragged_runner.py), which copied the carries'
history every iteration (docs/ragged.md)."""


def lanes_for(trips: np.ndarray) -> int:
    """The lane count L of a scan whose examples run `trips` steps: sum / max, so that
    the longest example (started first) spans about the whole loop and the others fill
    the remaining lanes; the loop then runs ~max iterations of L lanes. At most the
    number of examples with steps to run, at least 1 (docs/ragged.md, "The lane rule")."""
    t = trips[trips > 0]
    if not len(t):
        return 1
    return int(min(len(t), max(1, -(-int(t.sum()) // int(t.max())))))


def schedule(trips: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """The lane schedule: (example, step) of each lane at each iteration, (K, lanes)
    each; example N (the number of examples) where a lane holds none. Examples start
    longest first, each on the lane that frees first (ties: the lower lane)."""
    n = len(trips)
    order = np.argsort(-trips, kind="stable")
    free = [(0, lane) for lane in range(lanes)]
    starts: list[tuple[int, int, int]] = []
    for e in order:
        if trips[e] <= 0:
            continue
        at, lane = heapq.heappop(free)
        starts.append((int(e), at, lane))
        heapq.heappush(free, (at + int(trips[e]), lane))
    k = max(at for at, _ in free)
    example = np.full((k, lanes), n, np.int32)
    step = np.zeros((k, lanes), np.int32)
    if starts:
        e, at, lane = (np.asarray(c, np.int64) for c in zip(*starts))
        count = trips[e].astype(np.int64)
        first = np.repeat(np.cumsum(count) - count, count)
        t = np.arange(int(count.sum())) - first  # each step's index in its example
        rows, cols = np.repeat(at, count) + t, np.repeat(lane, count)
        example[rows, cols], step[rows, cols] = np.repeat(e, count), t
    return example, step


@dataclass(frozen=True)
class LoopProgram:
    loop: cut.Loop
    lanes: int
    text: str
    out_avals: tuple[Any, ...]
    uniform: tuple[bool, ...]  # per captured value: unmapped
    counter_dtype: Any
    state_avals: tuple[Any, ...]


@dataclass(frozen=True)
class RefillProgram:
    """A call's compiled pieces (segments and loops), in order."""

    plan: cut.RefillPlan
    trace: RaggedTrace
    pieces: tuple[Any, ...]  # ("segment", Segment, text, avals) or LoopProgram
    in_axes: tuple[Any, ...]
    ragged: tuple[Any, ...]
    stages: tuple[Stages, ...]


@dataclass(frozen=True)
class RefillCall:
    """What a call on these lengths runs: the program, its runner and schedule."""

    prog: RefillProgram
    run: Runner
    device: tuple[Any, ...]  # lengths, then each loop's schedule (K, 6, L) and final steps (N,)
    work: dict[str, Any]


def _trips(loop: cut.Loop, lengths: np.ndarray) -> np.ndarray:
    return np.maximum(lengths.astype(np.int64) - loop.start, 0)


def compile_refill(trace: RaggedTrace, plan: cut.RefillPlan, lengths: np.ndarray, in_axes, ragged, pipeline: str, record: bool = False) -> RefillProgram:
    size, n = trace.padded_size, len(lengths)
    step_pipeline = pipeline.replace("batch-ragged,", "", 1)
    pieces, stages = [], []
    for piece in plan.pieces:
        st = Stages(record)
        if isinstance(piece, cut.Segment):
            module = cut.segment(trace.module, piece, size, n)
            avals = result_avals(module)
            st.add("batch", lambda m=module: print_custom(m))
            pieces.append(("segment", piece, run_pipeline(module, pipeline, st, rule_tracer=trace_rule), avals))
        else:
            lanes = lanes_for(_trips(piece, lengths))
            uniform = tuple(r[0] == "arg" and in_axes[r[1]] is None for r in piece.captured)
            module = cut.step(trace.module, piece, size, n, lanes, uniform)
            avals = result_avals(module)
            st.add("batch", lambda m=module: print_custom(m))
            vmap = first_vmap(module)
            counter = vmap.body.block.args[piece.kinds.count(cut.STATE)]
            states = tuple(avals[: piece.kinds.count(cut.STATE)])
            text = run_pipeline(module, step_pipeline, st, rule_tracer=trace_rule)
            pieces.append(LoopProgram(piece, lanes, text, avals, uniform, _int_dtype(counter), states))
        stages.append(st)
    return RefillProgram(plan, trace, tuple(pieces), tuple(in_axes), tuple(ragged), tuple(stages))


def _int_dtype(v: Any) -> np.dtype:
    """The numpy dtype of an integer scalar value of the IR (a scan's counter)."""
    return np.dtype(f"int{v.type.element_type.width.data}")


def _leaf(x: Any, r: Any, size: int) -> Any:
    """A ragged argument's storage cut or padded to the padded size `size`."""
    if r is None:
        return x
    x = jax.lax.slice_in_dim(x, 0, min(size, x.shape[r + 1]), axis=r + 1)
    if x.shape[r + 1] < size:
        pad = [(0, 0)] * x.ndim
        pad[r + 1] = (0, size - x.shape[r + 1])
        x = jnp.pad(x, pad)
    return x


_EXAMPLE, _COUNTER, _LOAD, _FINISH, _WRITE, _LENGTH = range(6)
"""The rows of a loop's schedule array (K, 6, L), read at each iteration with one slice:
each lane's example (clamped into range), counter value, whether it starts its example
(load its initial carries), where its final carries go (its example when it finishes,
else N: dropped), where its written rows go (its example, N when it holds none) and its
example's length."""


def _run_loop(lp: LoopProgram, env, sched, final, n: int, length_arg: int):
    loop = lp.loop

    def batched(r):
        v, b = env[r]
        return v if b else jnp.broadcast_to(v, (n, *np.shape(v)))

    kinds = loop.kinds
    refs = dict(enumerate(loop.operands))
    inits = [batched(refs[j]) for j, k in enumerate(kinds) if k == cut.STATE]
    wholes = [batched(refs[j]) for j, k in enumerate(kinds) if k == cut.READ]
    writes = [batched(refs[j]) for j, k in enumerate(kinds) if k == cut.WRITE]
    uniforms = [env[refs[j]][0] for j, k in enumerate(kinds) if k == cut.UNIFORM]
    caps = [env[r] for r in loop.captured]

    # The final carries: kept per iteration and lane, then gathered per example (one
    # contiguous write an iteration), unless that history is large: then scattered as
    # lanes finish (XLA's CPU scatter is a loop over the lanes, ~20 us an iteration at
    # 74 lanes: half the GRU's loop).
    history = sched.shape[0] * lp.lanes * sum(int(np.prod(a.shape[1:])) * a.dtype.itemsize for a in lp.state_avals)
    keep = history <= HISTORY_BYTES

    def body(k, st):
        lanes, outs, ys = st
        now = jax.lax.dynamic_index_in_dim(sched, k, keepdims=False)
        ec, ln = now[_EXAMPLE], now[_LENGTH]
        load = now[_LOAD].astype(bool)
        lanes = [jnp.where(load.reshape((-1,) + (1,) * (v.ndim - 1)), init[ec], v) for init, v in zip(inits, lanes)]
        i = now[_COUNTER].astype(lp.counter_dtype)
        cap_args = [v if not b else v[ec] for v, b in caps]
        res = xla.call(lp.text, [*lanes, i, ln, ec, *cap_args, *uniforms, *wholes], lp.out_avals)
        new = list(res[: len(lanes)])
        if keep:
            outs = [jax.lax.dynamic_update_index_in_dim(o, v, k, 0) for o, v in zip(outs, new)]
        else:
            outs = [o.at[now[_FINISH]].set(v, mode="drop") for o, v in zip(outs, new)]
        ys_new = []
        for w, y in enumerate(ys):
            rows, start = res[len(lanes) + 2 * w], res[len(lanes) + 2 * w + 1]
            at = jnp.clip(start.astype(jnp.int32), 0, ln - 1)
            ys_new.append(y.at[now[_WRITE], at].set(rows[:, 0], mode="drop"))
        return new, outs, ys_new

    lanes0 = [jnp.zeros((lp.lanes, *a.shape[1:]), a.dtype) for a in lp.state_avals]
    outs0 = [jnp.zeros((sched.shape[0], *v.shape), v.dtype) for v in lanes0] if keep else inits
    _, outs, ys = jax.lax.fori_loop(0, sched.shape[0], body, (lanes0, outs0, writes))
    if keep:
        ran = final >= 0
        outs = [
            jnp.where(ran.reshape((-1,) + (1,) * (init.ndim - 1)), o.reshape((-1, *o.shape[2:]))[jnp.maximum(final, 0)], init)
            for o, init in zip(outs, inits)
        ]
    outs, ys = iter(outs), iter(ys)
    for j, kind in enumerate(kinds):
        ref = ("op", loop.index, j)
        if kind == cut.COUNTER:
            env[ref] = (jnp.maximum(env[("arg", length_arg, 0)][0], loop.start).astype(lp.counter_dtype), True)
        elif kind in (cut.READ, cut.UNIFORM):
            env[ref] = env[refs[j]]
        elif kind == cut.STATE:
            env[ref] = (next(outs), True)
        else:
            env[ref] = (next(ys), True)


def runner(prog: RefillProgram) -> Runner:
    """One jax.jit: (*leaves, lengths, per loop its schedule (K, 6, L) and final steps) ->
    the outputs, stacked (ragged ones padded to P)."""
    size = prog.trace.padded_size
    plan = prog.plan

    def run(*xs: Any) -> Any:
        n_leaves = len(prog.in_axes)
        leaves, lengths, sched = xs[:n_leaves], xs[n_leaves], xs[n_leaves + 1 :]
        n = lengths.shape[0]
        env: dict[Any, tuple[Any, bool]] = {}
        for a, (x, ax, r) in enumerate(zip(leaves, prog.in_axes, prog.ragged)):
            env[("arg", a, 0)] = (_leaf(x, r, size), ax is not None)
        env[("arg", plan.length_arg, 0)] = (lengths, True)
        scheds = iter(sched)
        for piece in prog.pieces:
            if isinstance(piece, LoopProgram):
                _run_loop(piece, env, next(scheds), next(scheds), n, plan.length_arg)
                continue
            _, seg, text, avals = piece
            args = []
            for r in seg.inputs:
                v, b = env[r]
                unmapped = r[0] == "arg" and r[1] < n_leaves and prog.in_axes[r[1]] is None
                args.append(v if b or unmapped else jnp.broadcast_to(v, (n, *np.shape(v))))
            outs = xla.call(text, [*args, lengths], avals)
            for r, v in zip(seg.outputs, outs):
                env[r] = (v, True)
        return [env[r][0] if env[r][1] else jnp.broadcast_to(env[r][0], (n, *np.shape(env[r][0]))) for r in plan.outputs]

    return Runner(jax.jit(run), dict(XLA_OPTIONS))


def _schedules(loops: list[cut.Loop], lengths: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Per loop: its schedule array (K, 6, L) (the rows `_EXAMPLE`...) and each example's
    last step (`final`), and (K, L)."""
    arrays, shapes = [], []
    n = len(lengths)
    for loop in loops:
        trips = _trips(loop, lengths)
        example, step = schedule(trips, lanes_for(trips))
        held = example < n
        ec = np.minimum(example, n - 1)
        rows = [None] * 6
        rows[_EXAMPLE], rows[_COUNTER], rows[_LENGTH] = ec, step + loop.start, lengths[ec]
        rows[_LOAD] = held & (step == 0)
        rows[_FINISH] = np.where(held & (step == trips[ec] - 1), example, n)
        rows[_WRITE] = example
        arrays.append(np.stack(rows, axis=1).astype(np.int32))
        # each example's last step: its iteration x L + its lane (-1: it has none)
        final = np.full(n, -1, np.int32)
        k, lane = np.nonzero(rows[_FINISH] < n)
        final[example[k, lane]] = k * example.shape[1] + lane
        arrays.append(final)
        shapes.append(example.shape)
    return arrays, shapes


def plan(vm: Any, values, in_axes, ragged, lengths: np.ndarray, record: bool = False) -> Any:
    """The refill call of a call of the ragged vmap `vm` (vmlir/ragged.py), or None
    where it takes the buckets: layout "buckets", fixed bucket sizes, no scan over the
    ragged axis, or (under "auto") one that cannot run on lanes or more work than the
    buckets. layout="refill" raises instead, saying why. With `record`: the program,
    its stages' IR kept."""
    if vm.layout in ("buckets", "flat") or (vm.layout == "auto" and vm.bucket_sizes is not None):
        return None
    n, longest = len(lengths), int(lengths.max())
    template = vm._template(values, in_axes, ragged, n, vm._first_trace(lengths)[0], max(longest, 2))
    # refused on the template as it is (the cut does not depend on the padded size): a
    # program without a scan pays no re-specialization here
    found = cut.plan(template.trace.module, template.padded_size)
    if not isinstance(found, str):
        trace = template.trace.at(max(longest, 2), n)
        found = cut.plan(trace.module, trace.padded_size)
    if isinstance(found, str):
        if vm.layout == "refill":
            raise VmlirUnsupportedError(f"ragged vmap, layout='refill': {found}; use layout='buckets' or 'auto'")
        return None
    trace.check_min_length(lengths)
    loops = [p for p in found.pieces if isinstance(p, cut.Loop)]
    arrays, shapes_k = _schedules(loops, lengths)
    rows = sum(k * lanes for k, lanes in shapes_k) + (n * trace.padded_size if found.padded_rows else 0)
    work = {
        "layout": "refill", "rows": int(rows), "true_rows": int(lengths.sum()), "buckets": [trace.padded_size],
        "lanes": [lanes for _, lanes in shapes_k], "iterations": [k for k, _ in shapes_k],
    }
    if vm.layout == "auto":
        sizes = np.asarray(vm._buckets(values, in_axes, ragged, lengths))
        if rows >= int(np.maximum(sizes, 2)[np.searchsorted(sizes, lengths)].sum()):
            return None
    shapes = tuple(map(str, vm._shapes(values, in_axes, ragged, 0)))
    key = ("refill", n, trace.padded_size, tuple(lanes for _, lanes in shapes_k), tuple(in_axes), tuple(ragged), shapes)
    if record or key not in vm._programs:
        prog = compile_refill(trace, found, lengths, in_axes, ragged, vm.pipeline, record)
        if record:
            return prog
        vm._programs[key] = (prog, runner(prog))
    prog, run = vm._programs[key]
    device = tuple(jnp.asarray(a) for a in (lengths, *arrays))
    return RefillCall(prog, run, device, work)


def call(vm: Any, rc: RefillCall, leaves: list[Any], lengths: np.ndarray) -> Any:
    """Run a refill call and put its outputs back per example (vmlir/ragged.py)."""
    outs = vm._run(rc.run, [*leaves, *rc.device])
    trace = rc.prog.trace
    dims = trace.out_ragged_dims
    stacked = [None if d else o for o, d in zip(outs, dims)]
    per_bucket = [[o] if d else [None] for o, d in zip(outs, dims)]
    return vm._assemble([(len(lengths), trace.padded_size, (trace,))], stacked, per_bucket, np.arange(len(lengths)), lengths)
