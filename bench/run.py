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

Then dispatch cost on a tiny input, compile latency (bench/latency.py: first call of a
fresh vmlir.compile vs a fresh jax.jit(jax.vmap) at the benchmark sizes, a 1,000-op chain,
pass time of 1k/2k/4k-op chains, and first calls in fresh processes with vmlir's disk
cache cold and warm) and XLA's temporary memory of a memory-hungry vmap with and without
chunking (bench/memory.py). Then the sections registered in bench/sections.py (batch
sharding on 8 host devices, derivatives, the divergent-loop suite, ...), each from its own
module. The measurement of one workload is bench/measure.py.
Writes OUT/results.md (bench/report.py) and OUT/results.png (bench/plot.py; needs
matplotlib).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench.latency import bench_dispatch, bench_latency
from bench.measure import JAX, WORKLOADS, batch_extents, bench_workload, compare, select  # noqa: F401 (used by tests)
from bench.memory import bench_memory
from bench.report import LOOP, MANUAL, fmt_ratio, fmt_time, machine_info, render_markdown  # noqa: F401
from bench.sections import FAILED, add_arguments, insert_before_data, run_sections

HERE = Path(__file__).resolve().parent


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
    p.add_argument("--fresh-reps", type=int, default=5, help="fresh-process repetitions per workload (0: skip; default 5: a process start varies by 2x run to run)")
    p.add_argument("--scaling-reps", type=int, default=3, help="repetitions of the 1k/2k/4k-op chain pass times (0: skip)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory-bounded vmap measurement")
    add_arguments(p)  # the sections after the workload tables (bench/sections.py)
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
    sections = run_sections(args)
    meta["wall"] = time.perf_counter() - start
    text = render_markdown(results, dispatch, compiles, meta, memory, latency)
    text = insert_before_data(text, sections)
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
    if FAILED:
        print(f"!!! section(s) failed: {', '.join(FAILED)}")
        return 1
    if bad:
        print(f"!!! {len(bad)} row(s) with a MISMATCH or an ERROR: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
