"""`make bench`: time vmlir against jax.jit(jax.vmap), manual vectorization and a Python loop.

Everything runs in this one process. Per workload (bench/workloads.py):

1. Build the contenders on the same inputs (already on the device): every vmlir variant
   (`vmlir.compile(vmlir.vmap(...), **options)`), `jax.jit(jax.vmap(...))`, the manual
   version (`jax.jit`-ed) where there is one, and a Python loop of jitted per-example calls
   over `--loop-sample` examples spread over the batch (its time is scaled to the batch).
2. Warm up (compile) each; check its result against eager `jax.vmap` (allclose at the
   workload's tolerance, exact for integer outputs; fast_math at its own, looser
   tolerance) and mark a mismatch or an error loudly.
3. Calibrate: a contender faster than `--min-time` is called that many times per sample.
4. `--rounds` rounds; each runs every contender once, forwards on even rounds and backwards
   on odd ones. Per round, ratio = t(other) / t(vmlir); the table shows the median per-round
   ratio (robust on a noisy shared machine) and median absolute times.
5. XLA's temporary memory (`memory_analysis().temp_size_in_bytes`) of each compiled one,
   and whether XLA's optimized program for vmlir is the one it builds for
   jax.jit(jax.vmap) (`normalized_hlo`).

Then dispatch cost on a tiny input and compile latency (bench/latency.py: first call of
a fresh vmlir.compile vs a fresh jax.jit(jax.vmap) at the benchmark sizes, a 1,000-op
chain, pass time of 1k/2k/4k-op chains, and first calls in fresh processes with vmlir's
disk cache cold and warm), XLA's temporary memory of a memory-hungry vmap with and
without chunking (bench/memory.py), and the collectives of batch-sharded programs on 8
host devices (bench/sharded.py, in a process of its own), and jax.grad / a jitted
training step through vmlir against the same through jax.vmap (bench/autodiff.py).
Writes OUT/results.md (bench/report.py) and OUT/results.png (bench/plot.py; needs
matplotlib).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

import vmlir
from bench import linalg
from bench.autodiff import bench_autodiff, render as render_autodiff
from bench.latency import bench_dispatch, bench_latency
from bench.memory import bench_memory
from bench.sharded import bench_sharded, with_sharded_section
from bench.report import (
    JAX,
    LOOP,
    MANUAL,
    fmt_ratio,
    fmt_time,
    machine_info,
    render_markdown,
    short_error,
)
from bench.workloads import WORKLOADS, Variant, Workload

WORKLOADS = [*WORKLOADS, *linalg.WORKLOADS]

HERE = Path(__file__).resolve().parent


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=21, help="timed rounds (default 21)")
    p.add_argument("--only", help="comma-separated workload names")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the batch sizes (quick runs: 0.05)")
    p.add_argument("--out", default=str(HERE), help="directory for results.md and results.png (default bench/)")
    p.add_argument("--loop-sample", type=int, default=32, help="examples timed in the Python loop (0: no loop)")
    p.add_argument("--min-time", type=float, default=0.05, help="repeat faster calls up to this many seconds per sample (default 0.05)")
    p.add_argument("--dispatch-rounds", type=int, default=21, help="rounds of the dispatch measurement (0: skip)")
    p.add_argument("--compile-reps", type=int, default=3, help="first-call repetitions per workload, and of the chain measurements (0: skip)")
    p.add_argument("--fresh-reps", type=int, default=3, help="fresh-process repetitions per workload (0: skip)")
    p.add_argument("--scaling-reps", type=int, default=3, help="repetitions of the 1k/2k/4k-op chain pass times (0: skip)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory-bounded vmap measurement")
    p.add_argument("--no-sharded", action="store_true", help="skip the batch-sharded section (8 host devices)")
    p.add_argument("--no-autodiff", action="store_true", help="skip jax.grad through vmlir (bench/autodiff.py)")
    p.add_argument("--no-divergent", action="store_true", help="skip the divergent-loop suite (bench/divergent.py; also skipped with --only)")
    p.add_argument("--divergent-large", action="store_true", help="divergent suite: also 1M-example rows")
    p.add_argument("--no-plot", action="store_true", help="do not write results.png")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.name:<24} {w.size_text(w.sizes):<40} {w.description}")
        return 0
    start = time.perf_counter()
    workloads = select(args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "machine": machine_info(),
        "rounds": args.rounds,
        "scale": args.scale,
        "min_time": args.min_time,
        "loop_sample": args.loop_sample,
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(f"== vmlir benchmarks: {meta['machine']['cpus']}; {meta['machine']['backend']} ==", flush=True)
    results = []
    for w in workloads:
        t0 = time.perf_counter()
        print(f"-- {w.name}", flush=True)
        res = bench_workload(
            w, rounds=args.rounds, scale=args.scale, loop_sample=args.loop_sample, min_time=args.min_time
        )
        for row in res.rows:
            print(
                f"   {row['label']}: vmlir {fmt_time(row['t'].get(row['variant']))}, "
                f"jax {fmt_time(row['t'].get(JAX))}, jax/vmlir {fmt_ratio(row['jax_ratio'])}, "
                f"{'ok' if row['ok'] else 'PROBLEMS'} ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
        results.append(res)
    dispatch = None
    if args.dispatch_rounds > 0:
        print("-- dispatch", flush=True)
        dispatch = bench_dispatch(rounds=args.dispatch_rounds)
    compiles, latency = [], None
    if args.compile_reps > 0 or args.fresh_reps > 0 or args.scaling_reps > 0:
        print("-- compile latency", flush=True)
        latency = bench_latency(
            [w.name for w in workloads], args.compile_reps, args.fresh_reps, args.scale,
            args.scaling_reps,
        )
        compiles = latency["compile"]
    memory = None
    if not args.no_memory:
        print("-- memory-bounded vmap", flush=True)
        memory = bench_memory()
    sharded = None
    if not args.no_sharded:
        print("-- batch-sharded vmap (8 host devices, own process)", flush=True)
        sharded = bench_sharded()
    autodiff = None
    if not args.no_autodiff:
        print("-- derivatives (jax.grad, training step)", flush=True)
        autodiff = bench_autodiff(rounds=max(1, args.rounds // 2), scale=args.scale, min_time=args.min_time)
    divergent = None
    if not args.no_divergent and not args.only:
        from bench import divergent as div

        divergent = div.render(div.bench_divergent(max(3, args.rounds // 4), args.divergent_large))
    meta["wall"] = time.perf_counter() - start
    text = render_markdown(results, dispatch, compiles, meta, memory, latency)
    text = with_sharded_section(text, sharded)
    if autodiff is not None:
        # Before the data block bench/plot.py reads back.
        body, sep, data = text.partition("\n<!-- bench-data")
        text = body.rstrip("\n") + "\n\n" + render_autodiff(autodiff) + sep + data
    if divergent:
        text = text.replace("\n<!-- bench-data", divergent + "\n<!-- bench-data", 1)
    (out / "results.md").write_text(text)
    print()
    print(text.split("\n<!-- bench-data")[0])
    print(f"wrote {out / 'results.md'}")
    if out.resolve() == HERE and not args.only and args.scale == 1.0:
        # A full run at the real sizes: the README's measured numbers follow it.
        from bench import readme

        readme.main([str(out / "results.md")])
    if not args.no_plot:
        from bench.plot import plot_results

        plot_results([row for res in results for row in res.rows], out / "results.png", meta)
    rows = [row for res in results for row in res.rows]
    bad = [r["label"] for r in rows if not r["ok"]]
    if bad:
        print(f"!!! {len(bad)} row(s) with a MISMATCH or an ERROR: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
