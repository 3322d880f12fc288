"""Ragged vmap: map a per-example function over examples of different lengths.

    means = vmlir.vmap(lambda x: jnp.mean(x, axis=0), ragged=0)(list_of_arrays)
    outs = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None))(xs, W)   # xs: list or Ragged

`fn` is written for ONE example at its true length. The examples are padded (per
bucket of similar lengths), `fn` runs once per bucket as a batched program whose
reductions and contractions over the ragged axis never read the padding (the
batch-ragged pass), and the results are taken back to each example's length. Outputs
without a ragged dimension come back stacked; ragged ones as a list of arrays, or as a
`Ragged` with `ragged_out="ragged"`. See docs/ragged.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vmlir import ragged_flat, ragged_refill
from vmlir.compiler import Stages, default_pipeline, run_pipeline
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.custom_vmap import trace_rule
from vmlir.frontend.ragged import LENGTH_DTYPE, RaggedTrace, trace_ragged
from vmlir.frontend.ragged_split import (
    SplitPlan,
    head,
    head_ops,
    plan_split,
    result_avals,
    tail,
    worth_splitting,
)
from vmlir.ir import print_custom
from vmlir.ragged_buckets import choose_buckets
from vmlir.ragged_runner import XLA_OPTIONS, Bucket, Layout, Runner, runner, xla_options
from vmlir.ragged_storage import Ragged

Axis = int | None

__all__ = ["PROGRAM_ROWS_PER_OP", "XLA_OPTIONS", "Ragged", "RaggedVmapped", "choose_buckets"]


PROGRAM_ROWS_PER_OP = 320
"""What one more bucket program must save, in padded rows (an example's positions along
the ragged axis, summed over the examples) per call, for each op it compiles (its body's
ops, nested ones included, less a tail that compiles once): the bucket count minimizes
`padded rows + PROGRAM_ROWS_PER_OP * ops * programs` (docs/ragged.md, "Buckets"). XLA's
compile of a bucket program grows with its ops, loops or not (measured on CPU for the
bench's programs: 6-8 ms of CPU time per op, 0.08 s for the MLP's 10 ops, 0.2-0.27 s for
the GRU's and attention's 32-33), and a padded row runs in 0.1-0.3 us, so a program pays
its compile back in about 100 calls. 0: compiles are free, the buckets minimize padded
work alone."""


def _dtype(x: Any) -> Any:
    # .dtype where there is one: np.result_type of a jax array is deprecated (and a numpy
    # dtype is falsy: no `or`)
    dtype = getattr(x, "dtype", None)
    return np.result_type(x) if dtype is None else dtype


_CALLS_KEPT = 8
"""How many calls' bucket plans a ragged vmap keeps (keyed by the lengths)."""


@dataclass(frozen=True)
class _Template:
    """A ragged trace, the largest padded size its diff covers, and where its body is
    cut into a per-bucket head and a tail run once (None: not cut)."""

    trace: RaggedTrace
    span: int
    split: SplitPlan | None

    @property
    def padded_size(self) -> int:
        return self.trace.padded_size


class RaggedVmapped:
    """What `vmlir.vmap(fn, ragged=...)` returns (see module doc)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        ragged: Any,
        in_axes: Any = 0,
        ragged_out: str = "list",
        max_buckets: int = 1,
        bucket_sizes: Sequence[int] | None = None,
        pipeline: str | None = None,
        out_axes: Any = 0,
        layout: str = "auto",
    ):
        if not callable(fn):
            raise TypeError(f"vmap requires a callable, got {fn!r}")
        if ragged_out not in ("list", "ragged"):
            raise ValueError(f"ragged_out must be 'list' or 'ragged', got {ragged_out!r}")
        if layout not in ragged_flat.LAYOUTS:
            raise ValueError(f"layout must be one of {ragged_flat.LAYOUTS}, got {layout!r}")
        self.layout = layout
        if not isinstance(max_buckets, int) or max_buckets < 1:
            raise ValueError(f"max_buckets must be a positive int, got {max_buckets!r}")
        self.fn, self.ragged, self.in_axes = fn, ragged, in_axes
        self.ragged_out, self.max_buckets, self.out_axes = ragged_out, max_buckets, out_axes
        self.bucket_sizes = None if bucket_sizes is None else sorted(int(s) for s in bucket_sizes)
        self.pipeline = pipeline or "batch-ragged," + default_pipeline()
        self._programs: dict[Any, tuple[RaggedTrace, Stages, str, tuple[Any, ...]]] = {}
        self._runners: dict[Any, Callable[..., Any]] = {}
        self._templates: dict[Any, _Template] = {}
        self._template_of: dict[Any, _Template] = {}
        self._tails: dict[Any, tuple[str, tuple[Any, ...]]] = {}
        self._executables: dict[Any, Any] = {}
        self._calls: dict[Any, Any] = {}
        self._checked: dict[Any, tuple[_Template, int]] = {}  # the shortest length checked
        for attr in ("__name__", "__qualname__", "__doc__"):
            if hasattr(fn, attr):
                setattr(self, attr, getattr(fn, attr))

    def with_pipeline(self, pipeline: str | None) -> RaggedVmapped:
        """The same ragged vmap compiled with `pipeline` (batch-ragged must come first)."""
        return RaggedVmapped(
            self.fn, self.ragged, self.in_axes, self.ragged_out, self.max_buckets,
            self.bucket_sizes, pipeline, self.out_axes, self.layout,
        )

    def _per_arg(self, spec: Any, n: int, what: str) -> list[Any]:
        if isinstance(spec, (tuple, list)):
            if len(spec) != n:
                raise ValueError(f"{what} has {len(spec)} entries for {n} arguments")
            return list(spec)
        return [spec] * n

    def _arguments(self, args: tuple[Any, ...]):
        """(padded ragged args as Ragged, the others, their in_axes, ragged axes, lengths)."""
        ragged = self._per_arg(self.ragged, len(args), "ragged")
        in_axes = self._per_arg(self.in_axes, len(args), "in_axes")
        values: list[Any] = []
        lengths = None
        for i, (x, r) in enumerate(zip(args, ragged)):
            if r is None:
                if in_axes[i] not in (0, None):
                    raise VmlirUnsupportedError(
                        f"ragged vmap: in_axes={in_axes[i]!r} for argument {i}; only 0 or None"
                    )
                values.append(jnp.asarray(x))
                continue
            if not isinstance(x, Ragged):
                if not isinstance(x, (list, tuple)):
                    raise TypeError(
                        f"argument {i} is ragged (ragged axis {r}): pass a list of arrays or a "
                        f"vmlir.Ragged, got {type(x).__name__}"
                    )
                x = Ragged.from_list(x, r)
            elif x.axis != r:
                raise ValueError(f"argument {i}: a Ragged along axis {x.axis}, but ragged={r}")
            n = np.asarray(x.lengths, dtype=LENGTH_DTYPE)
            stored = np.shape(x.values)
            if n.shape != stored[:1] or (n.size and (n.min() < 0 or n.max() > stored[r + 1])):
                raise ValueError(
                    f"argument {i}: lengths {n.tolist()} do not fit values of shape {stored} "
                    f"(one length per example, at most the padded size {stored[r + 1]})"
                )
            if lengths is not None and not np.array_equal(lengths, n):
                raise ValueError("the ragged arguments must have the same length per example")
            lengths = n
            values.append(x)
        if lengths is None:
            raise ValueError("vmap(..., ragged=...) needs at least one ragged argument")
        return values, in_axes, ragged, lengths

    def _buckets(self, values, in_axes, ragged, lengths: np.ndarray) -> list[int]:
        if self.bucket_sizes is not None:
            if self.bucket_sizes[-1] < lengths.max():
                raise ValueError(
                    f"bucket_sizes {self.bucket_sizes} has no bucket for length {lengths.max()}"
                )
            return self.bucket_sizes
        # the program's ops price one more bucket; the buckets re-specialize this trace
        template = self._template(values, in_axes, ragged, len(lengths), *self._first_trace(lengths))
        ops = head_ops(template.trace.module, template.split)
        return choose_buckets(lengths, self.max_buckets, PROGRAM_ROWS_PER_OP * ops)

    def _first_trace(self, lengths: np.ndarray) -> tuple[int, int]:
        """Where a call traces `fn` (padded size, and the size its diff reaches): at the
        first bucket a one-op program would get; the fewer buckets of a bigger program
        start there or above (else `_template` retraces), so they re-specialize it."""
        first = choose_buckets(lengths, self.max_buckets, PROGRAM_ROWS_PER_OP)[0]
        return max(first, 2), int(lengths.max())

    def _program(self, values, in_axes, ragged, batch: int, size: int, span: int, record: bool = False):
        """The compiled program of one bucket (cached); with `record`, one that keeps the
        IR of every stage (printing it costs as much as the passes: only for `lower`).
        `span`: the largest padded size of the call (the trace is checked up to it)."""
        def shapes(p: int) -> list[jax.ShapeDtypeStruct]:
            return self._shapes(values, in_axes, ragged, p)

        size = max(size, 2)
        key = self._program_key(values, in_axes, ragged, batch, size)
        if record or key not in self._programs:
            template = self._template(values, in_axes, ragged, batch, size, span)
            trace = template.trace.at(size, batch)
            out_avals = tuple(
                jax.core.ShapedArray((batch, *a.shape), a.dtype) for a in trace.out_avals
            )
            module = trace.module
            if template.split is not None:
                # the bucket runs the head: its own outputs, then the tail's inputs
                module = head(module, template.split, batch)
                kept = [a for a, (w, _) in zip(out_avals, template.split.outputs) if w == "head"]
                out_avals = (*kept, *result_avals(module)[len(kept) :])
            stages = Stages(record)
            stages.add("batch", lambda: print_custom(module))
            text = run_pipeline(module, self.pipeline, stages, rule_tracer=trace_rule)
            if record:
                return (trace, stages, text, out_avals)
            self._programs[key] = (trace, stages, text, out_avals)
            self._template_of[key] = template
        return self._programs[key]

    def _template(self, values, in_axes, ragged, batch: int, size: int, span: int) -> _Template:
        """One trace serves every bucket (and call) with these argument shapes: it is
        re-specialized to each padded size, which costs little next to tracing."""
        shapes = lambda p: self._shapes(values, in_axes, ragged, p)
        tkey = self._template_key(values, in_axes, ragged)
        template = self._templates.get(tkey)
        if template is None or template.padded_size > size or span > template.span:
            traced = trace_ragged(self.fn, shapes, in_axes, ragged, batch, size, span)
            split = plan_split(traced.module, traced.padded_size)
            if split is not None and not worth_splitting(traced.module, split):
                split = None
            template = self._templates[tkey] = _Template(traced, max(span, 2 * traced.padded_size + 3), split)
        return template

    def _template_key(self, values, in_axes, ragged) -> Any:
        return (tuple(in_axes), tuple(ragged), tuple(map(str, self._shapes(values, in_axes, ragged, 0))))

    @staticmethod
    def _shapes(values, in_axes, ragged, p: int) -> list[jax.ShapeDtypeStruct]:
        """The per-example argument shapes at padded size `p`."""
        out = []
        for v, ax, r in zip(values, in_axes, ragged):
            if r is not None:
                shape = list(np.shape(v.values)[1:])
                shape[r] = p
                # .dtype, not np.asarray: that would copy device values to the host
                dtype = getattr(v.values, "dtype", None) or np.asarray(v.values).dtype
                out.append(jax.ShapeDtypeStruct(tuple(shape), dtype))
            else:
                shape = v.shape if ax is None else v.shape[1:]
                out.append(jax.ShapeDtypeStruct(tuple(shape), v.dtype))
        return out

    def _program_key(self, values, in_axes, ragged, batch: int, size: int) -> Any:
        # At size 1 JAX emits other ops (a size-1 axis is squeezed, not reduced): pad
        # such buckets to 2, so one program shape serves every length.
        size = max(size, 2)
        shapes = self._shapes(values, in_axes, ragged, size)
        return (batch, size, tuple(in_axes), tuple(ragged), tuple(map(str, shapes)))

    def _tail_program(self, template: _Template, total: int) -> tuple[str, tuple[Any, ...]]:
        """The tail of `template` over all `total` examples (compiled once)."""
        key = (id(template), total)
        if key not in self._tails:
            assert template.split is not None
            module = tail(template.trace.module, template.split, total)
            finals = [a for a, (w, _) in zip(template.trace.out_avals, template.split.outputs) if w == "tail"]
            out_avals = tuple(jax.core.ShapedArray((total, *a.shape), a.dtype) for a in finals)
            self._tails[key] = (run_pipeline(module, self.pipeline, Stages(False), rule_tracer=trace_rule), out_avals)
        return self._tails[key]

    def __call__(self, *args: Any) -> Any:
        values, in_axes, ragged, lengths = self._arguments(args)
        leaves = [v.values if r is not None else v for v, r in zip(values, ragged)]
        call = self._call_plan(values, in_axes, ragged, lengths)
        if isinstance(call, ragged_refill.RefillCall):  # scans on persistent lanes
            return ragged_refill.call(self, call, leaves, lengths)
        if len(call) == 3:  # packed (vmlir/ragged_flat.py)
            prog, run, device = call
            outs = self._run(run, [*leaves, *device])
            return ragged_flat.assemble(prog, outs, lengths, self.out_axes, self.ragged_out, Ragged.from_list)
        plan, run, order, lengths_on_device, order_on_device = call
        stacked, per_bucket = self._run(run, [*leaves, lengths_on_device, order_on_device])
        return self._assemble(plan, stacked, per_bucket, order, lengths)

    def _call_plan(self, values, in_axes, ragged, lengths: np.ndarray):
        """The same lengths and shapes as a recent call (a training loop): the same
        layout, programs and runner; only the data changes."""
        call_key = (lengths.tobytes(), tuple(map(str, self._shapes(values, in_axes, ragged, 0))), tuple(in_axes))
        if call_key not in self._calls:
            if len(self._calls) >= _CALLS_KEPT:
                self._calls.pop(next(iter(self._calls)))
            flat = ragged_flat.plan(self, values, in_axes, ragged, lengths)
            flat = flat or ragged_refill.plan(self, values, in_axes, ragged, lengths)
            call = flat or self._plan(values, in_axes, ragged, lengths)
            self._check_shortest(values, in_axes, ragged, lengths)
            self._calls[call_key] = call
        return self._calls[call_key]

    def _check_shortest(self, values, in_axes, ragged, lengths: np.ndarray) -> None:
        """`fn` is the same program at the call's shortest length as at the padded sizes
        it was traced at (RaggedTrace.check_length), once per trace and shorter length."""
        shortest = max(int(lengths.min()), 2)  # at 1 JAX emits other ops (see _program_key)
        tkey = self._template_key(values, in_axes, ragged)
        template = self._templates[tkey]
        checked, down_to = self._checked.get(tkey, (None, 0))
        if shortest >= (down_to if checked is template else template.padded_size):
            return
        if shortest >= template.trace.min_length:  # else the call has raised, naming the op
            shapes = lambda p: self._shapes(values, in_axes, ragged, p)
            template.trace.check_length(self.fn, shapes, in_axes, len(lengths), shortest)
        self._checked[tkey] = (template, shortest)

    def work(self, *args: Any) -> dict[str, Any]:
        """How a call on `args` runs: its layout ("flat" or "buckets"), the rows it
        computes along the ragged axis (the packed rows, or each example's padded bucket
        size summed), the true rows (the sum of the lengths), and the bucket sizes."""
        values, in_axes, ragged, lengths = self._arguments(args)
        call = self._call_plan(values, in_axes, ragged, lengths)
        true = int(lengths.sum())
        if isinstance(call, ragged_refill.RefillCall):
            return dict(call.work)
        if len(call) == 3:
            return {"layout": "flat", "rows": call[0].rows, "true_rows": true, "buckets": []}
        sizes = [prog[0].padded_size for _, _, prog in call[0]]
        rows = sum(count * prog[0].padded_size for count, _, prog in call[0])
        return {"layout": "buckets", "rows": rows, "true_rows": true, "buckets": sizes}

    def _run(self, run: Runner, args: list[Any]) -> Any:
        try:
            return self._run_once(run, args)
        except VmlirUnsupportedError as e:
            if "differentiation" not in str(e):
                raise
            raise VmlirUnsupportedError(
                "ragged vmap: jax.grad / jax.jvp through a ragged vmap is not supported yet; "
                "differentiate per example inside it instead: vmlir.vmap(jax.grad(fn), ragged=...)"
            ) from e

    def _plan(self, values, in_axes, ragged, lengths: np.ndarray):
        """The buckets of one call: (plan, runner, order, lengths and order on the
        device)."""
        sizes = self._buckets(values, in_axes, ragged, lengths)
        order = np.argsort(lengths, kind="stable")
        counts = np.bincount(np.searchsorted(np.asarray(sizes), lengths), minlength=len(sizes))
        plan, buckets, start = [], [], 0
        for size, count in zip(sizes, counts):
            if not count:
                continue
            prog = self._program(values, in_axes, ragged, int(count), size, max(sizes))
            trace = prog[0]
            trace.check_min_length(lengths)
            plan.append((int(count), size, prog))
            buckets.append(Bucket(int(count), start, trace.padded_size, prog[2], prog[3]))
            start += int(count)
        layout = self._layout(values, in_axes, ragged, plan[0], len(lengths))
        # the texts are cached with their programs: their ids name them
        key = (tuple((b.count, b.padded, id(b.text)) for b in buckets), layout.tail and id(layout.tail[1]))
        run = self._runners.get(key)
        if run is None:
            run = self._runners[key] = Runner(runner(buckets, layout), xla_options([b.text for b in buckets]))
        return plan, run, order, jnp.asarray(lengths), jnp.asarray(order)

    def _layout(self, values, in_axes, ragged, first, total: int) -> Layout:
        """What the buckets of a call share (its first bucket's program tells)."""
        count, size, prog = first
        template = self._template_of[self._program_key(values, in_axes, ragged, count, size)]
        split = template.split
        tail = None if split is None else (split, *self._tail_program(template, total))
        out_dims = prog[0].out_ragged_dims
        where = tuple(split.outputs) if split is not None else tuple(("head", k) for k in range(len(out_dims)))
        return Layout(tuple(in_axes), tuple(ragged), LENGTH_DTYPE, tuple(out_dims), where, tail)

    def _run_once(self, run: Runner, args: list[Any]) -> Any:
        """Call the runner: inside a trace (the user's jax.jit) as it is; on arrays
        through an executable compiled once per argument shapes with `xla_options`."""
        if any(isinstance(a, jax.core.Tracer) for a in args):
            return run.jitted(*args)
        # shapes and dtypes as they are (hashable): printing them cost more than the call
        ckey = (id(run), tuple((np.shape(a), _dtype(a)) for a in args))
        exe = self._executables.get(ckey)
        if exe is None:
            exe = self._executables[ckey] = run.jitted.lower(*args).compile(compiler_options=run.options)
        return exe(*args)

    def _assemble(self, plan, stacked, per_bucket, order: np.ndarray, lengths: np.ndarray) -> Any:
        trace0 = plan[0][2][0]
        n_out = len(trace0.out_ragged_dims)
        out_axes = list(self.out_axes) if isinstance(self.out_axes, (tuple, list)) else [self.out_axes] * n_out
        if len(out_axes) != n_out:
            raise ValueError(f"out_axes has {len(out_axes)} entries for {n_out} outputs")
        results: list[Any] = []
        for k, dims in enumerate(trace0.out_ragged_dims):
            axis = out_axes[k]
            if not dims:
                if not isinstance(axis, int):
                    raise VmlirUnsupportedError(
                        f"ragged vmap: out_axes={axis!r} for output {k}; only an int (where the "
                        "examples are stacked)"
                    )
                results.append(jnp.moveaxis(stacked[k], 0, axis) if axis != 0 else stacked[k])
                continue
            if axis != 0:
                raise VmlirUnsupportedError(
                    f"ragged vmap: out_axes={axis!r} for output {k}, which is ragged (a list of "
                    "arrays or a Ragged); only 0"
                )
            per_example: list[Any] = [None] * len(lengths)
            start = 0
            for (count, _, _), out in zip(plan, per_bucket[k]):
                out = np.asarray(out)
                for row, i in enumerate(order[start : start + count]):
                    cut = [slice(None)] * (out.ndim - 1)
                    for d in dims:
                        cut[d] = slice(0, int(lengths[i]))
                    per_example[i] = jnp.asarray(out[row][tuple(cut)])
                start += count
            if self.ragged_out == "ragged":
                if len(dims) != 1:
                    raise VmlirUnsupportedError(
                        f"ragged vmap: output {k} is ragged along {len(dims)} dimensions; "
                        "a Ragged holds one, use ragged_out='list'"
                    )
                results.append(Ragged.from_list(per_example, dims[0]))
            else:
                results.append(per_example)
        return jax.tree_util.tree_unflatten(trace0.out_tree, results)

    def lower(self, *args: Any) -> list[dict[str, str]]:
        """The IR of every stage (name -> text) for each bucket's program (one: the
        packed program, when the call runs packed)."""
        values, in_axes, ragged, lengths = self._arguments(args)
        flat = ragged_flat.plan(self, values, in_axes, ragged, lengths, record=True)
        if flat is not None:
            return [dict(flat.stages.texts)]
        refill = ragged_refill.plan(self, values, in_axes, ragged, lengths, record=True)
        if refill is not None:
            return [dict(st.texts) for st in refill.stages]
        sizes = self._buckets(values, in_axes, ragged, lengths)
        bucket_of = np.searchsorted(np.asarray(sizes), lengths)
        texts = []
        for b, size in enumerate(sizes):
            count = int((bucket_of == b).sum())
            if count:
                _, stages, _, _ = self._program(values, in_axes, ragged, count, size, max(sizes), record=True)
                texts.append(dict(stages.texts))
        return texts
