"""Latency in `make bench`: dispatch cost on a tiny input, and cold compile (the first
call of a fresh vmlir.compile vs a fresh jax.jit(jax.vmap), new function objects each
time, so no cache helps either)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

import vmlir
from bench.report import COMPILE_BATCH, JAX, short_error
from bench.workloads import Workload


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




def bench_compile(w: Workload, reps: int, seed: int = 0) -> dict[str, Any]:
    """First-call time of a fresh vmlir.compile(vmlir.vmap(f)) vs a fresh
    jax.jit(jax.vmap(f)) on a COMPILE_BATCH-example input (so the call is ~ all compile)."""
    sizes = {k: (min(v, COMPILE_BATCH) if k in w.batch_keys else v) for k, v in w.sizes.items()}
    args = jax.device_put(w.make_inputs(np.random.default_rng(seed), sizes))

    def batch_with(vmap: Callable[..., Any]) -> Callable[..., Any]:
        fn = _fresh(w.per_example)
        for in_axes in w.levels:
            fn = vmap(fn, in_axes=in_axes)
        return fn

    def first_vmlir() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(vmlir.compile(batch_with(vmlir.vmap))(*args))
        return time.perf_counter() - t0

    def first_jax() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(jax.jit(batch_with(jax.vmap))(*args))
        return time.perf_counter() - t0

    ts: dict[str, list[float]] = {"vmlir": [], JAX: []}
    try:
        for r in range(reps):
            pair = [("vmlir", first_vmlir), (JAX, first_jax)]
            for name, f in pair if r % 2 == 0 else pair[::-1]:
                ts[name].append(f())
    except Exception as e:  # noqa: BLE001
        return {"workload": w.name, "error": short_error(e)}
    return {
        "workload": w.name,
        "sizes": w.size_text(sizes),
        "vmlir": statistics.median(ts["vmlir"]),
        "jax": statistics.median(ts[JAX]),
        "ratio": statistics.median(a / b for a, b in zip(ts["vmlir"], ts[JAX])),
        "reps": reps,
    }
