"""Packed ("flat") execution of a ragged vmap (docs/ragged.md, "Packed execution").

When the ragged axis is only mapped and reduced, every example's rows are concatenated
into one array of sum(lengths) rows (rounded up to `row_quantum`), the per-row ops run
once over all of them, and reductions become segment reductions (batch-ragged-flat).
One program, no buckets: the padded work is the rounding only. vmlir/ragged.py decides
between this and the bucketed path; this module packs the rows, runs the program and
cuts the packed outputs back into examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vmlir.compiler import Stages, run_pipeline
from vmlir.dialects.batch import first_vmap
from vmlir.frontend.custom_vmap import trace_rule
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.ragged import LENGTH_DTYPE, RaggedTrace
from vmlir.frontend.ragged_flat import flat_module
from vmlir.ir import print_custom
from vmlir.passes.ragged_flat import flat_blocker
from vmlir.ragged_runner import Runner
from vmlir.runtime import xla

LAYOUTS = ("auto", "flat", "buckets", "refill")

XLA_OPTIONS: dict[str, Any] = {}
"""XLA's defaults for a packed program. The bucketed programs' options
(ragged_runner.XLA_OPTIONS, fusion emitters off) were chosen for their masked reductions,
which a packed program does not have; measured on CPU for the bench's packed programs,
those options ran them 1.0-2x slower (the mean-pooled MLP 2.7 ms against 1.1-1.4 ms) for
half the compile time (0.12 against 0.24 CPU seconds), docs/ragged.md."""

PAD_ROWS_FILL: Any = 0.0
"""What the packed arrays hold past the last example's rows: a scalar, or a function of
(shape, dtype) giving an array (tests set NaN, +-1e30 and garbage: those rows must never
reach a result). Read when a call's runner is traced."""


def row_quantum(rows: int) -> int:
    """The packed row count is rounded up to a multiple of this: 64, or 1/16 of the
    largest power of two not above `rows` (at most ~6% more rows), so that calls whose
    total length differs a little share one program."""
    return max(64, 1 << max(0, int(rows).bit_length() - 5))


def padded_rows(rows: int) -> int:
    q = row_quantum(rows)
    return -(-max(rows, 1) // q) * q


def blocker(trace: RaggedTrace) -> str | None:
    """Why `trace` cannot run packed (the first op that mixes positions), or None."""
    vmap = first_vmap(trace.module)
    return flat_blocker(vmap, trace.padded_size)


@dataclass(frozen=True)
class FlatProgram:
    """A compiled packed program: its text, output avals, row count and trace."""

    text: str
    out_avals: tuple[Any, ...]
    rows: int
    trace: RaggedTrace
    stages: Stages


def compile_flat(trace: RaggedTrace, total: int, batch: int, pipeline: str, record: bool = False) -> FlatProgram:
    flat = flat_module(trace, padded_rows(total), batch)
    stages = Stages(record)
    stages.add("batch", lambda: print_custom(flat.module))
    text = run_pipeline(flat.module, pipeline, stages, rule_tracer=trace_rule)
    out_avals = tuple(
        jax.core.ShapedArray(a.shape if dims else (batch, *a.shape), a.dtype)
        for a, dims in zip(flat.trace.out_avals, trace.out_ragged_dims)
    )
    return FlatProgram(text, out_avals, flat.rows, flat.trace, stages)


def segments(lengths: np.ndarray, rows: int) -> tuple[np.ndarray, ...]:
    """Per packed row: its example (the number of examples past the last one), the
    example clamped into range, its position in the example, and whether it is one."""
    n = len(lengths)
    total = int(lengths.sum())
    seg = np.full(rows, n, np.int32)
    seg[:total] = np.repeat(np.arange(n, dtype=np.int32), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    pos = np.zeros(rows, np.int32)
    pos[:total] = np.arange(total, dtype=np.int32) - starts[seg[:total]]
    return seg, np.minimum(seg, max(n - 1, 0)), pos, np.arange(rows) < total


def _pack(x: Any, r: int, seg: Any, pos: Any, valid: Any) -> Any:
    """The rows of every example of `x` (n, ..., padded@r+1, ...) packed along `r`."""
    rows = jnp.moveaxis(x, r + 1, 1)[seg, pos]
    mask = valid.reshape((-1,) + (1,) * (rows.ndim - 1))
    fill = PAD_ROWS_FILL(rows.shape, rows.dtype) if callable(PAD_ROWS_FILL) else PAD_ROWS_FILL
    rows = jnp.where(mask, rows, jnp.asarray(fill, rows.dtype))
    return jnp.moveaxis(rows, 0, r)


def runner(prog: FlatProgram, in_axes: Sequence[Any], ragged: Sequence[Any], length_dtype: Any) -> Callable[..., Any]:
    """One jax.jit: (*leaves, seg, clamped seg, pos, valid, lengths) -> outputs."""

    def run(*xs: Any) -> Any:
        *leaves, seg, seg_c, pos, valid, lengths = xs
        args = [x if r is None else _pack(x, r, seg_c, pos, valid) for x, r in zip(leaves, ragged)]
        return xla.call(prog.text, [*args, seg, lengths.astype(length_dtype)], prog.out_avals)

    return jax.jit(run)


def cut(out: Any, dim: int, lengths: np.ndarray) -> list[Any]:
    """A packed output (rows along `dim`) as one array per example."""
    out = np.asarray(out)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    pieces = []
    for i in range(len(lengths)):
        index = [slice(None)] * out.ndim
        index[dim] = slice(int(starts[i]), int(starts[i + 1]))
        pieces.append(jnp.asarray(out[tuple(index)]))
    return pieces


def plan(vm: Any, values, in_axes, ragged, lengths: np.ndarray, record: bool = False) -> Any:
    """The packed program of a call of the ragged vmap `vm` (vmlir/ragged.py), with its
    runner and the call's segment arrays on the device; None where the call takes the
    buckets (layout "buckets", fixed bucket sizes under "auto", or, under "auto", an op
    that mixes positions along the ragged axis: "flat" then raises, naming it). With
    `record`: the FlatProgram, its stages' IR kept."""
    if vm.layout in ("buckets", "refill") or (vm.layout == "auto" and vm.bucket_sizes is not None):
        return None
    total, n = int(lengths.sum()), len(lengths)
    rows = padded_rows(total)
    # traced where the buckets trace: a program refused here runs in buckets on this trace
    template = vm._template(values, in_axes, ragged, n, vm._first_trace(lengths)[0], rows + 64)
    why = blocker(template.trace)
    if why is not None:
        if vm.layout == "flat":
            raise VmlirUnsupportedError(f"ragged vmap, layout='flat': {why}; use layout='buckets' or 'auto'")
        return None
    pipeline = vm.pipeline.replace("batch-ragged,", "batch-ragged-flat,", 1)
    shapes = tuple(map(str, vm._shapes(values, in_axes, ragged, 0)))
    key = ("flat", n, rows, tuple(in_axes), tuple(ragged), shapes)
    if record or key not in vm._programs:
        prog = compile_flat(template.trace, total, n, pipeline, record)
        if record:
            return prog
        vm._programs[key] = (prog, Runner(runner(prog, in_axes, ragged, LENGTH_DTYPE), dict(XLA_OPTIONS)))
    prog, run = vm._programs[key]
    seg, seg_c, pos, valid = segments(lengths, prog.rows)
    return prog, run, [jnp.asarray(a) for a in (seg, seg_c, pos, valid, lengths)]


def assemble(
    prog: FlatProgram, outs: Any, lengths: np.ndarray, out_axes: Any, ragged_out: str,
    to_ragged: Callable[..., Any],
) -> Any:
    """The call's results: stacked outputs moved to `out_axes`, packed ones cut into a
    list per example (or a Ragged, through `to_ragged`, with ragged_out="ragged")."""
    dims_of = prog.trace.out_ragged_dims
    axes = list(out_axes) if isinstance(out_axes, (tuple, list)) else [out_axes] * len(dims_of)
    if len(axes) != len(dims_of):
        raise ValueError(f"out_axes has {len(axes)} entries for {len(dims_of)} outputs")
    results: list[Any] = []
    for k, (dims, axis, out) in enumerate(zip(dims_of, axes, outs)):
        if not dims:
            if not isinstance(axis, int):
                raise VmlirUnsupportedError(
                    f"ragged vmap: out_axes={axis!r} for output {k}; only an int (where the "
                    "examples are stacked)"
                )
            results.append(jnp.moveaxis(out, 0, axis) if axis != 0 else out)
            continue
        if axis != 0:
            raise VmlirUnsupportedError(
                f"ragged vmap: out_axes={axis!r} for output {k}, which is ragged (a list of "
                "arrays or a Ragged); only 0"
            )
        pieces = cut(out, dims[0], lengths)
        results.append(to_ragged(pieces, dims[0]) if ragged_out == "ragged" else pieces)
    return jax.tree_util.tree_unflatten(prog.trace.out_tree, results)
