"""Memory-bounded vmap in `make bench`: the seed's memory blow-up, and vmlir's answer.

A per-example function that builds a (d, d) intermediate makes the batched program hold
B of them at once (seed 001: vmap's peak memory grows with the batch). vmlir's
`chunk_size=k` runs the batch k examples at a time, and
`vmlir.compile(fn, memory_limit_bytes=m)` picks k from XLA's memory analysis. Measured
here: XLA's temporary memory unchunked, with the limit, and with an explicit chunk size;
the results are checked against jax.vmap.
"""

from __future__ import annotations

import re
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import vmlir

BATCH, DIM = 512, 128
LIMIT = 8 * 2**20
"""The memory limit asked for: about a quarter of the unchunked program's temp."""
EXPLICIT_CHUNK = 64


def outer_energy(x: jax.Array) -> jax.Array:
    """The largest 4 entries of each row of x x^T, summed: a (d, d) intermediate per
    example that XLA must materialize (a sort reads it; a plain sum would fuse away)."""
    return jnp.sum(jnp.sort(jnp.outer(x, x), axis=-1)[:, -4:])


def _temp(compiled: vmlir.Compiled, x: jax.Array) -> int:
    return int(compiled.xla(x).memory_analysis().temp_size_in_bytes)


def _seconds(fn: Any, x: jax.Array, reps: int = 3) -> float:
    jax.block_until_ready(fn(x))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        best = min(best, time.perf_counter() - t0)
    return best


def bench_memory() -> dict[str, Any]:
    """Temp memory and results of the unchunked, limited and explicitly chunked programs."""
    x = jax.device_put(np.random.default_rng(0).normal(size=(BATCH, DIM)).astype(np.float32))
    want = np.asarray(jax.vmap(outer_energy)(x))
    runs = {
        "unchunked": vmlir.compile(vmlir.vmap(outer_energy)),
        f"memory_limit_bytes={LIMIT}": vmlir.compile(vmlir.vmap(outer_energy), memory_limit_bytes=LIMIT),
        f"chunk_size={EXPLICIT_CHUNK}": vmlir.compile(vmlir.vmap(outer_energy, chunk_size=EXPLICIT_CHUNK)),
    }
    out: dict[str, Any] = {"workload": f"top-4 row sums of sort(outer(x, x)), {BATCH}x{DIM}", "limit": LIMIT, "rows": []}
    for name, compiled in runs.items():
        got = np.asarray(compiled(x))
        chunk = re.search(r"chunk_size = (\d+)", compiled.lower(x).as_text("batch", generic=True))
        out["rows"].append(
            {
                "name": name,
                "chunk": int(chunk.group(1)) if chunk else None,
                "temp": _temp(compiled, x),
                "seconds": _seconds(compiled, x),
                "same": bool(np.allclose(got, want, rtol=1e-5, atol=1e-4)),
            }
        )
    return out
