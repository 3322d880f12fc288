"""Latency in `make bench`: dispatch cost, and compile latency measured honestly.

- dispatch: per-call time of a compiled vmlir function vs jax.jit on a tiny input.
- first call in this (warm) process, at each workload's BENCHMARK size (the size its
  runtime row uses; lane compaction only switches on at large batches), new function
  objects each time, vmlir's disk cache off: all of tracing, our passes and XLA.
- the same on a 1,000-op elementwise chain (the shape of program where a compiler's own
  per-op cost shows).
- pass time of chains of 1k, 2k and 4k ops (CPU time): import and passes, to show they
  grow linearly.
- a FRESH Python process per measurement (`python -m bench.latency --child ...`): jax's
  first call, vmlir's first call with an empty disk cache (cold) and with a warm one
  (warm: the script ran before). Both contenders run with the same environment, so jax's
  own persistent compilation cache is in the same state for both (off unless the
  environment turns it on). vmlir's time includes `import vmlir`'s lazy parts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import vmlir
from bench.measure import WORKLOADS
from bench.report import JAX, short_error
from bench.workloads import Workload

# Every workload of the tables, the linear-algebra ones (bench/linalg.py) included.
BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}

CHAIN_OPS = 1000
SCALING_OPS = (1000, 2000, 4000)
_OPS_PER_LAYER = 7  # constant, broadcast, multiply, constant, broadcast, add, tanh
FRESH_TINY = "tiny"
"""The fresh-process row of the issue: sum_of_squares on a 16x128 input."""


def bench_dispatch(rounds: int = 21, calls: int = 200) -> dict[str, Any]:
    """Per-call time of vmlir vs jax.jit of the same batched function on a (2, 3) input."""
    from vmlir.examples.seeds import sum_of_squares

    x = jax.device_put(np.ones((2, 3), np.float32))
    ours = vmlir.compile(vmlir.vmap(sum_of_squares))
    theirs = jax.jit(jax.vmap(sum_of_squares))
    fns = [("vmlir", ours), (JAX, theirs)]
    for _, fn in fns:
        jax.block_until_ready(fn(x))
        jax.block_until_ready(fn(x))
    per_call: dict[str, list[float]] = {name: [] for name, _ in fns}
    for r in range(rounds):
        for name, fn in fns if r % 2 == 0 else fns[::-1]:
            t0 = time.perf_counter()
            for _ in range(calls - 1):
                fn(x)
            jax.block_until_ready(fn(x))
            per_call[name].append((time.perf_counter() - t0) / calls)
    ratio = statistics.median(a / b for a, b in zip(per_call["vmlir"], per_call[JAX]))
    return {
        "input": "sum_of_squares on a (2, 3) input",
        "vmlir": statistics.median(per_call["vmlir"]),
        "jax": statistics.median(per_call[JAX]),
        "ratio": ratio,
        "rounds": rounds,
        "calls": calls,
    }


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object with the same behaviour, so no jit cache knows it."""

    def fresh(*a: Any) -> Any:
        return fn(*a)

    return fresh


@contextmanager
def _no_disk_cache() -> Iterator[None]:
    """vmlir's disk cache off: each repetition must compile, as jax's does."""
    old = os.environ.get("VMLIR_CACHE")
    os.environ["VMLIR_CACHE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["VMLIR_CACHE"]
        else:
            os.environ["VMLIR_CACHE"] = old


def _first_calls(
    make: Callable[[Callable[..., Any]], Callable[..., Any]], args: tuple[Any, ...], reps: int
) -> dict[str, Any]:
    """Median first-call times of fresh vmlir / jax batched functions, alternating order."""

    def first(kind: str) -> float:
        t0 = time.perf_counter()
        if kind == "vmlir":
            jax.block_until_ready(vmlir.compile(make(vmlir.vmap))(*args))
        else:
            jax.block_until_ready(jax.jit(make(jax.vmap))(*args))
        return time.perf_counter() - t0

    ts: dict[str, list[float]] = {"vmlir": [], JAX: []}
    with _no_disk_cache():
        for r in range(reps):
            pair = ["vmlir", JAX] if r % 2 == 0 else [JAX, "vmlir"]
            for kind in pair:
                ts[kind].append(first(kind))
    return {
        "vmlir": statistics.median(ts["vmlir"]),
        "jax": statistics.median(ts[JAX]),
        "ratio": statistics.median(a / b for a, b in zip(ts["vmlir"], ts[JAX])),
        "reps": reps,
    }


def _warm_up() -> None:
    """One compilation by each before the in-process rows, which measure a warm process
    (the fresh-process rows measure the rest): otherwise the first row alone pays for
    importing xDSL and our passes, and for jax's own first-use costs."""
    from vmlir.examples.seeds import sum_of_squares

    x = jax.device_put(np.ones((4, 8), np.float32))
    with _no_disk_cache():
        jax.block_until_ready(vmlir.compile(vmlir.vmap(_fresh(sum_of_squares)))(x))
    jax.block_until_ready(jax.jit(jax.vmap(_fresh(sum_of_squares)))(x))


def bench_compile(w: Workload, reps: int, scale: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """First-call time of a fresh vmlir.compile(vmlir.vmap(f)) vs a fresh
    jax.jit(jax.vmap(f)), in this process, at the workload's benchmark size."""
    sizes = w.scaled_sizes(scale)
    args = jax.device_put(w.make_inputs(np.random.default_rng(seed), sizes))

    def make(vmap: Callable[..., Any]) -> Callable[..., Any]:
        fn = _fresh(w.per_example)
        for in_axes in w.levels:
            fn = vmap(fn, in_axes=in_axes)
        return fn

    try:
        res = _first_calls(make, args, reps)
        split = _split(make, args)
    except Exception as e:  # noqa: BLE001
        return {"workload": w.name, "error": short_error(e)}
    return {"workload": w.name, "sizes": w.size_text(sizes), **res, "split": split}


def _split(make: Callable[[Callable[..., Any]], Callable[..., Any]], args: tuple[Any, ...]) -> dict[str, float]:
    """One first call of each, split into lowering (tracing; for vmlir also its passes)
    and XLA's compile of the lowered module, in CPU seconds of this process (XLA's
    compile runs on this thread; wall time on a shared machine mostly measures the
    neighbours)."""
    out: dict[str, float] = {}
    with _no_disk_cache():
        for kind in ("vmlir", JAX):
            fn = vmlir.compile(make(vmlir.vmap)) if kind == "vmlir" else make(jax.vmap)
            t0 = time.process_time()
            lowered = jax.jit(fn).lower(*args)
            t1 = time.process_time()
            lowered.compile()
            t2 = time.process_time()
            out[f"{kind}_lower"], out[f"{kind}_xla"] = t1 - t0, t2 - t1
    return out


def chain(n_ops: int) -> Callable[[jax.Array], jax.Array]:
    """An elementwise chain of about `n_ops` StableHLO ops per example."""
    layers = max(1, n_ops // _OPS_PER_LAYER)

    def chain_fn(x: jax.Array) -> jax.Array:
        for _ in range(layers):
            x = jnp.tanh(x * 1.01 + 0.5)
        return x

    return chain_fn


def bench_chain(reps: int, n_ops: int = CHAIN_OPS, batch: int = 64) -> dict[str, Any]:
    """First call on a `n_ops`-op chain, batch 64 x 32 features."""
    args = (jax.device_put(np.ones((batch, 32), np.float32)),)
    fn = chain(n_ops)
    try:
        res = _first_calls(lambda vmap: vmap(_fresh(fn)), args, reps)
    except Exception as e:  # noqa: BLE001
        return {"workload": f"chain {n_ops} ops", "error": short_error(e)}
    return {"workload": f"{n_ops}-op chain", "sizes": f"{batch}x32", **res}


def bench_scaling(reps: int = 3, sizes: tuple[int, ...] = SCALING_OPS) -> list[dict[str, Any]]:
    """Import and pass times of chains of each size (best of `reps`): the passes must
    grow linearly with the program."""
    from vmlir.compiler import Stages, default_pipeline, run_pipeline
    from vmlir.frontend.importer import import_per_example
    from vmlir.frontend.trace import lower_per_example
    from vmlir.gcpause import gc_paused

    per_example = jax.ShapeDtypeStruct((32,), jnp.float32)
    _, in_tree = jax.tree_util.tree_flatten((0,))
    best: dict[int, dict[str, Any]] = {}
    # Sizes interleaved within each repetition, best of the repetitions: a neighbour's
    # burst of load on the shared machine then hits every size alike.
    for _ in range(reps):
        for n in sizes:
            prog = lower_per_example(chain(n), in_tree, (per_example,))  # not timed
            # CPU time of this process: on a shared machine, wall time mostly measures
            # the neighbours. vmlir.compile pauses the garbage collector the same way.
            with gc_paused():
                t0 = time.process_time()
                module = import_per_example(prog.module, [0], [0], 64)
                t1 = time.process_time()
                ops = sum(1 for _ in module.walk())
                t2 = time.process_time()
                run_pipeline(module, default_pipeline(), Stages(False), verify_each=False)
                t3 = time.process_time()
            row = best.setdefault(n, {"ops": ops, "target_ops": n, "import": t1 - t0, "passes": t3 - t2})
            row["import"] = min(row["import"], t1 - t0)
            row["passes"] = min(row["passes"], t3 - t2)
    out = [best[n] for n in sizes]
    for prev, row in zip(out, out[1:]):
        row["growth"] = row["passes"] / prev["passes"]
        row["import_growth"] = row["import"] / prev["import"]
    return out


# --------------------------------------------------------------------------- fresh process


def _child(name: str, who: str, scale: float) -> dict[str, float]:
    """Runs in a fresh process: the first call of `name` by `who` (vmlir or jax)."""
    if name == FRESH_TINY:
        from vmlir.examples.seeds import sum_of_squares

        args: tuple[Any, ...] = (np.ones((16, 128), np.float32),)

        def make(vmap: Callable[..., Any]) -> Callable[..., Any]:
            return vmap(sum_of_squares)

    else:
        w = BY_NAME[name]
        args = tuple(w.make_inputs(np.random.default_rng(0), w.scaled_sizes(scale)))
        make = w.batch
    args = jax.block_until_ready(jax.device_put(args))
    t0 = time.perf_counter()
    if who == "vmlir":
        fn = vmlir.compile(make(vmlir.vmap))
    else:
        fn = jax.jit(make(jax.vmap))
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    loaded = any(m == "xdsl" or m.startswith("xdsl.") for m in sys.modules)
    return {"first": first, "xdsl_imported": loaded}


def _run_child(name: str, who: str, scale: float, cache_dir: str) -> dict[str, Any]:
    env = dict(os.environ, VMLIR_CACHE="1", VMLIR_CACHE_DIR=cache_dir)
    env.pop("VMLIR_VERIFY_EACH", None)
    # A user's second run finds the modules' bytecode cached (written by the first run,
    # or at install): without it, Python recompiles every vmlir module from source, ~0.7 s
    # here. The first child (filling the warm cache) writes it for the ones after it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "bench.latency", "--child", name, "--who", who, "--scale", str(scale)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_fresh(name: str, reps: int, scale: float = 1.0) -> dict[str, Any]:
    """jax vs vmlir cold (empty disk cache) vs vmlir warm, each in a fresh process."""
    ts: dict[str, list[float]] = {"jax": [], "cold": [], "warm": []}
    warm_no_xdsl = True
    try:
        with tempfile.TemporaryDirectory(prefix="vmlir-bench-warm-") as warm_dir:
            _run_child(name, "vmlir", scale, warm_dir)  # fills the warm cache
            for r in range(reps):
                order = ["jax", "cold", "warm"] if r % 2 == 0 else ["warm", "cold", "jax"]
                for kind in order:
                    if kind == "cold":
                        with tempfile.TemporaryDirectory(prefix="vmlir-bench-cold-") as d:
                            res = _run_child(name, "vmlir", scale, d)
                    elif kind == "warm":
                        res = _run_child(name, "vmlir", scale, warm_dir)
                        warm_no_xdsl = warm_no_xdsl and not res["xdsl_imported"]
                    else:
                        res = _run_child(name, "jax", scale, warm_dir)
                    ts[kind].append(res["first"])
    except Exception as e:  # noqa: BLE001
        return {"workload": name, "error": short_error(e)}
    if name == FRESH_TINY:
        sizes = "16x128 (sum_of_squares)"
    else:
        w = BY_NAME[name]
        sizes = w.size_text(w.scaled_sizes(scale))
    return {
        "workload": name,
        "sizes": sizes,
        "jax": statistics.median(ts["jax"]),
        "cold": statistics.median(ts["cold"]),
        "warm": statistics.median(ts["warm"]),
        "cold_ratio": statistics.median(c / j for c, j in zip(ts["cold"], ts["jax"])),
        "warm_ratio": statistics.median(w / j for w, j in zip(ts["warm"], ts["jax"])),
        "warm_no_xdsl": warm_no_xdsl,
        "reps": reps,
    }


def bench_latency(
    names: list[str], reps: int, fresh_reps: int, scale: float, scaling_reps: int = 3
) -> dict[str, Any]:
    """Everything above, for `make bench`'s report."""
    out: dict[str, Any] = {"compile": [], "fresh": [], "chain": None, "scaling": []}
    if reps > 0:
        _warm_up()
    for name in names if reps > 0 else []:
        print(f"   first call: {name}", flush=True)
        out["compile"].append(bench_compile(BY_NAME[name], reps, scale))
    if reps > 0:
        print(f"   first call: {CHAIN_OPS}-op chain", flush=True)
        out["chain"] = bench_chain(reps)
    if scaling_reps > 0:
        print("   pass time of 1k/2k/4k-op chains", flush=True)
        out["scaling"] = bench_scaling(scaling_reps)
    if fresh_reps > 0:
        for name in [FRESH_TINY, *names]:
            print(f"   fresh process: {name}", flush=True)
            out["fresh"].append(bench_fresh(name, fresh_reps, scale))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--who", choices=("vmlir", "jax"), default="vmlir", help=argparse.SUPPRESS)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the batch sizes")
    p.add_argument("--only", help="comma-separated workload names (default: all)")
    p.add_argument("--reps", type=int, default=3, help="first-call repetitions in this process")
    p.add_argument("--fresh-reps", type=int, default=5, help="fresh-process repetitions (0: skip; default 5: a process start varies by 2x run to run)")
    p.add_argument("--scaling-reps", type=int, default=3, help="1k/2k/4k chain repetitions (0: skip)")
    p.add_argument("--json", help="also write the measurements to this JSON file")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.who, args.scale)))
        return 0
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BY_NAME)
    res = bench_latency(names, args.reps, args.fresh_reps, args.scale, args.scaling_reps)
    from bench.report import fmt_ratio, fmt_time, latency_targets, render_latency

    lines = ["| first call | sizes | vmlir | jax.jit(vmap) | vmlir/jax |", "|---|---|--:|--:|--:|"]
    for c in [*res["compile"], *([res["chain"]] if res["chain"] else [])]:
        if "error" in c:
            lines.append(f"| {c['workload']} | - | **ERROR** {c['error']} | - | - |")
        else:
            lines.append(
                f"| {c['workload']} | {c['sizes']} | {fmt_time(c['vmlir'])} | "
                f"{fmt_time(c['jax'])} | {fmt_ratio(c['ratio'])} |"
            )
    split = [c for c in res["compile"] if "split" in c]
    if split:
        lines += [
            "",
            "| first call split (CPU s) | vmlir lower + passes | vmlir XLA | jax lower | jax XLA | XLA vmlir/jax |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for c in split:
            t = c["split"]
            lines.append(
                f"| {c['workload']} | {t['vmlir_lower']:.2f} | {t['vmlir_xla']:.2f} | {t[JAX + '_lower']:.2f} | "
                f"{t[JAX + '_xla']:.2f} | {fmt_ratio(t['vmlir_xla'] / t[JAX + '_xla'])} |"
            )
    lines += render_latency(res)
    lines += ["", "| target | measured | status |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in latency_targets(res["compile"], res)]
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
