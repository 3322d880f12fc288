"""Measuring one workload of `make bench`: its contenders, their checks, alternating timed
rounds, XLA's temporary memory and whether XLA's program is jax's (bench/run.py runs it
for every workload; the steps are described there)."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

import vmlir
from bench import linalg
from bench.report import JAX, LOOP, MANUAL, short_error
from bench.workloads import WORKLOADS, Variant, Workload

WORKLOADS = [*WORKLOADS, *linalg.WORKLOADS]


def _block(x: Any) -> Any:
    return jax.block_until_ready(x)


# --------------------------------------------------------------------------- checking


def compare(got: Any, want: Any, rtol: float, atol: float) -> tuple[bool, str]:
    """(ok, detail): same pytree, shapes and dtypes; integer/bool leaves exactly equal,
    float leaves allclose(rtol, atol)."""
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    if g_tree != w_tree:
        return False, f"output structure {g_tree} != {w_tree}"
    worst = 0.0
    for i, (g, w) in enumerate(zip(g_leaves, w_leaves)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return False, f"leaf {i}: {g.dtype}{list(g.shape)} != {w.dtype}{list(w.shape)}"
        if not np.issubdtype(w.dtype, np.inexact):
            bad = int(np.sum(g != w))
            if bad:
                return False, f"leaf {i}: {bad} of {w.size} integer values differ"
            continue
        if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(g.astype(np.float64) - w)
            excess = np.max(err - atol - rtol * np.abs(w))
            bad = int(np.sum(~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)))
            return False, (
                f"leaf {i}: {bad} of {w.size} values off (max abs err {np.nanmax(err):.2e}, "
                f"{excess:.2e} over rtol={rtol:g} atol={atol:g})"
            )
        if w.size:
            scale = np.maximum(np.abs(w), 1e-30)
            worst = max(worst, float(np.nanmax(np.abs(g.astype(np.float64) - w) / scale)))
    return True, f"max rel err {worst:.1e}" if worst else "exact"


# --------------------------------------------------------------------------- mapping helpers


def _per_arg(in_axes: Any, n: int) -> tuple[Any, ...]:
    return tuple(in_axes) if isinstance(in_axes, (tuple, list)) else (in_axes,) * n


def _extent(args: tuple[Any, ...], in_axes: Any) -> int:
    for a, ax in zip(args, _per_arg(in_axes, len(args))):
        if ax is not None:
            return int(jax.tree_util.tree_leaves(a)[0].shape[0])
    raise ValueError("no mapped argument")


def _index(args: tuple[Any, ...], in_axes: Any, i: int) -> tuple[Any, ...]:
    return tuple(
        a if ax is None else jax.tree_util.tree_map(lambda leaf: leaf[i], a)
        for a, ax in zip(args, _per_arg(in_axes, len(args)))
    )


def batch_extents(w: Workload, args: tuple[Any, ...]) -> list[int]:
    """Sizes of the mapped axes, outermost first."""
    out, cur = [], args
    for in_axes in reversed(w.levels):
        out.append(_extent(cur, in_axes))
        cur = _index(cur, in_axes, 0)
    return out


def example_args(w: Workload, args: tuple[Any, ...], idx: Sequence[int]) -> tuple[Any, ...]:
    """The arguments of the per-example call at multi-index `idx` (outermost first)."""
    cur = args
    for in_axes, i in zip(reversed(w.levels), idx):
        cur = _index(cur, in_axes, int(i))
    return cur


# --------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    name: str
    kind: str  # "vmlir" | "jax" | "manual" | "loop"
    call: Callable[[], Any] | None = None
    rtol: float = 1e-5
    atol: float = 1e-6
    variant: Variant | None = None
    scale: float = 1.0
    """Multiplies a sample's time to the whole batch (the Python loop)."""
    inner: int = 1
    error: str | None = None
    ok: bool | None = None
    check: str = ""
    times: list[float] = field(default_factory=list)
    temp_bytes: int | None = None
    compiled_for_memory: Callable[[], Any] | None = None
    program: str | None = None
    """XLA's optimized program, normalized (`normalized_hlo`)."""
    idxs: list[tuple[int, ...]] = field(default_factory=list)
    """The Python loop's sampled examples (multi-indices, outermost first)."""

    @property
    def usable(self) -> bool:
        return self.error is None and self.call is not None

    def median(self) -> float | None:
        return statistics.median(self.times) * self.scale if self.times else None


@dataclass
class WorkloadResult:
    workload: Workload
    sizes: dict[str, int]
    size_text: str
    contenders: list[Contender]
    info: str = ""
    int_outputs: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)


def _loop_contender(w: Workload, args: tuple[Any, ...], sample: int) -> Contender:
    ext = batch_extents(w, args)
    total = int(np.prod(ext))
    flat = np.unique(np.linspace(0, total - 1, min(sample, total)).round().astype(int))
    idxs = [tuple(int(i) for i in np.unravel_index(k, ext)) for k in flat]
    single = jax.jit(w.per_example)
    calls = [jax.device_put(example_args(w, args, idx)) for idx in idxs]

    def loop() -> list[Any]:
        return [_block(single(*a)) for a in calls]

    c = Contender(LOOP, "loop", loop, w.rtol, w.atol, scale=total / len(idxs))
    c.idxs = idxs
    return c


def build_contenders(w: Workload, args: tuple[Any, ...], loop_sample: int) -> list[Contender]:
    out: list[Contender] = []
    for v in w.variants:
        c = Contender(
            v.label,
            "vmlir",
            rtol=v.rtol if v.rtol is not None else w.rtol,
            atol=v.atol if v.atol is not None else w.atol,
            variant=v,
        )
        try:
            fn = vmlir.compile(w.batch(vmlir.vmap), **v.options)
            c.call = lambda fn=fn: fn(*args)
            c.compiled_for_memory = lambda fn=fn: fn.xla(*args)
        except Exception as e:  # noqa: BLE001 - report any failure as a row, go on
            c.error = short_error(e)
        out.append(c)
    theirs = jax.jit(w.batch(jax.vmap))
    out.append(
        Contender(
            JAX,
            "jax",
            lambda: theirs(*args),
            w.rtol,
            w.atol,
            compiled_for_memory=lambda: theirs.lower(*args).compile(),
        )
    )
    if w.manual is not None:
        manual = jax.jit(w.manual)
        out.append(
            Contender(
                MANUAL,
                "manual",
                lambda: manual(*args),
                w.manual_rtol if w.manual_rtol is not None else w.rtol,
                w.manual_atol if w.manual_atol is not None else w.atol,
                compiled_for_memory=lambda: manual.lower(*args).compile(),
            )
        )
    if loop_sample > 0:
        out.append(_loop_contender(w, args, loop_sample))
    return out


def _warm_and_check(c: Contender, ref: Any) -> None:
    try:
        got = _block(c.call())
        if c.kind == "loop":
            want = [jax.tree_util.tree_map(lambda leaf, i=i: leaf[i], ref) for i in c.idxs]
            got = list(got)
        else:
            want = ref
        c.ok, c.check = compare(got, want, c.rtol, c.atol)
        if not c.ok:
            print(f"!!! MISMATCH: {c.name} vs jax.vmap: {c.check}", flush=True)
    except Exception as e:  # noqa: BLE001
        c.error = short_error(e)
    if c.error:
        print(f"!!! ERROR: {c.name}: {c.error}", flush=True)


def _sample(fn: Callable[[], Any], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        _block(fn())
    return (time.perf_counter() - t0) / inner


def time_contenders(contenders: list[Contender], rounds: int, min_time: float) -> None:
    live = [c for c in contenders if c.usable]
    for c in live:  # second warm call, then calibrate the calls per sample
        t = _sample(c.call, 1)
        if c.kind != "loop" and t < min_time:
            c.inner = min(10_000, max(1, math.ceil(min_time / max(t, 1e-7))))
    for r in range(rounds):
        for c in live if r % 2 == 0 else live[::-1]:
            c.times.append(_sample(c.call, c.inner))


def measure_memory(contenders: list[Contender]) -> None:
    """XLA's temporary memory of each compiled contender, and its optimized program."""
    for c in contenders:
        if c.usable and c.compiled_for_memory is not None:
            try:
                compiled = c.compiled_for_memory()
                c.temp_bytes = int(compiled.memory_analysis().temp_size_in_bytes)
                c.program = normalized_hlo(compiled.as_text())
            except Exception as e:  # noqa: BLE001 - memory is informative only
                print(f"(no memory analysis for {c.name}: {short_error(e)})")


_HLO_NAME = re.compile(r"%[A-Za-z0-9_.\-]+")
_HLO_PARAM = re.compile(r"([(,]\s*)[A-Za-z0-9_.\-]+: ")
_HLO_NOISE = re.compile(r", (metadata|frontend_attributes)=\{[^{}]*\}")


def normalized_hlo(text: str) -> str:
    """XLA's optimized HLO without what differs between two compilations of the same
    program: the module name, source locations, metadata, and instruction names (renamed
    in order of appearance). Equal texts mean XLA runs the same program, so a time ratio
    between them measures the machine, not the compilers."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("%", "ENTRY"))), len(lines))
    # Computation headers name their parameters: `%c (p.1: f32[5], ...) -> ...`.
    kept = [
        _HLO_PARAM.sub(r"\1", line) if line.startswith(("%", "ENTRY")) else line
        for line in lines[start:]
    ]
    body = _HLO_NOISE.sub("", "\n".join(kept))
    names: dict[str, str] = {}
    return _HLO_NAME.sub(lambda m: names.setdefault(m.group(0), f"%v{len(names)}"), body)


def _per_round_ratio(num: Contender | None, den: Contender) -> float | None:
    if num is None or not num.times or not den.times:
        return None
    return statistics.median(
        (a * num.scale) / (b * den.scale) for a, b in zip(num.times, den.times)
    )


def make_rows(res: WorkloadResult) -> None:
    by_kind = {c.kind: c for c in res.contenders if c.kind != "vmlir"}
    jx, man, loop = by_kind.get("jax"), by_kind.get("manual"), by_kind.get("loop")
    def problems(cs: list[Contender]) -> list[str]:
        return [
            f"**{'ERROR' if c.error else 'MISMATCH'}** {c.name}: {c.error or c.check}"
            for c in cs
            if c.error or c.ok is False
        ]

    for v in (c for c in res.contenders if c.kind == "vmlir"):
        mine = problems([v, *(c for c in res.contenders if c.kind != "vmlir")])
        label = res.workload.name if v.name == "vmlir" else f"{res.workload.name} ({v.name})"
        res.rows.append(
            {
                "workload": res.workload.name,
                "label": label,
                "variant": v.name,
                "primary": bool(v.variant and v.variant.primary),
                "exact": not (
                    v.variant and (v.variant.options.get("fast_math") or v.variant.ablation)
                ),
                "ablation": bool(v.variant and v.variant.ablation),
                "tags": list(res.workload.tags),
                "sizes": res.size_text,
                "t": {c.name: c.median() for c in [v, jx, man, loop] if c is not None},
                "jax_ratio": _per_round_ratio(jx, v),
                "manual_ratio": _per_round_ratio(man, v),
                "loop_ratio": _per_round_ratio(loop, v),
                "mem": {c.name: c.temp_bytes for c in [v, jx, man] if c is not None},
                "same_program": (
                    None if jx is None or v.program is None or jx.program is None
                    else v.program == jx.program
                ),
                "error": v.error,
                "problems": mine,
                "checks": {c.name: (c.error or c.check) for c in res.contenders},
                "ok": not mine,
                "inner": {c.name: c.inner for c in res.contenders},
            }
        )


def bench_workload(
    w: Workload,
    *,
    rounds: int,
    scale: float,
    loop_sample: int,
    min_time: float,
    seed: int = 0,
    verbose: bool = True,
) -> WorkloadResult:
    sizes = w.scaled_sizes(scale)
    host_args = w.make_inputs(np.random.default_rng(seed), sizes)
    args = jax.device_put(host_args)
    ref = _block(w.batch(jax.vmap)(*args))
    res = WorkloadResult(w, sizes, w.size_text(sizes), [])
    res.int_outputs = any(
        not np.issubdtype(np.asarray(leaf).dtype, np.inexact) for leaf in jax.tree_util.tree_leaves(ref)
    )
    if w.describe_inputs is not None:
        res.info = w.describe_inputs(host_args, ref)
        if verbose:
            print(f"  {w.name}: {res.info}", flush=True)
    res.contenders = build_contenders(w, args, loop_sample)
    for c in res.contenders:
        if c.usable:
            _warm_and_check(c, ref)
        elif c.error:
            print(f"!!! ERROR: {c.name}: {c.error}", flush=True)
    time_contenders(res.contenders, rounds, min_time)
    measure_memory(res.contenders)
    make_rows(res)
    return res


# --------------------------------------------------------------------------- main


def select(only: str | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = {w.name: w for w in WORKLOADS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
