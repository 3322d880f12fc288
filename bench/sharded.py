"""Batch-sharded vmap in `make bench`: 8 host devices, vmlir vs jax.jit(jax.vmap(...,
spmd_axis_name)), with the collectives in each partitioned program.

The device count must be set before jax starts, so the measurement runs in a process of
its own (`python -m bench.sharded` prints JSON); `bench_sharded()` starts it and
`render_sharded()` writes the section of results.md. Timing 8 host devices that share
the machine's cores says little: the section reports results and collective counts.

Workloads: the escape-time (Mandelbrot) count, a divergent while that vmlir compacts,
and an MLP forward pass. Each runs on an Auto mesh with spmd_axis_name="b" (both
contenders) and on an Explicit mesh (jax.make_mesh's default; jax 0.10's vmap of this
while loop fails there). Also reported: the collectives of vmlir's global program (an
Auto mesh and no spmd_axis_name: XLA's propagation partitions the compaction), and the
lane iterations per device when the slow examples sit together (skew: sorted by cost,
slowest first, a random order, and the slow ones at every 8th position), with contiguous
shards and with `balance_shards=True` (round-robin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from vmlir.runtime.sharding import COLLECTIVES

DEVICES = 8


def _measure() -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import vmlir
    from vmlir.examples.seeds import escape_time as escape
    from vmlir.examples.seeds import skew_orders
    from vmlir.runtime.sharding import count_collectives as count
    from vmlir.runtime.sharding import device_loads

    def mlp(params, x):
        for w, b in params:
            x = jnp.tanh(x @ w + b)
        return x

    rng = np.random.RandomState(0)
    n = 16384
    points = np.stack([rng.uniform(-2.0, 0.6, n), rng.uniform(-1.2, 1.2, n)], 1).astype("f4")
    params = tuple(
        (rng.randn(a, b).astype("f4") / np.sqrt(a), np.zeros(b, "f4"))
        for a, b in ((64, 256), (256, 256), (256, 10))
    )
    xs = rng.randn(n, 64).astype("f4")
    meshes = {
        "auto": jax.make_mesh((DEVICES,), ("b",), axis_types=(AxisType.Auto,)),
        "explicit": jax.make_mesh((DEVICES,), ("b",)),
    }
    rows = []
    for name, fn, in_axes, args in (
        ("escape-time", escape, 0, (points,)),
        ("mlp forward", mlp, (None, 0), (params, xs)),
    ):
        want = np.asarray(jax.jit(jax.vmap(fn, in_axes=in_axes))(*args))  # one device
        # vmlir on one device: the sharded programs must not change a single lane.
        one_device = np.asarray(vmlir.vmap(fn, in_axes=in_axes)(*args))
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,)
        ours = vmlir.compile(vmlir.vmap(fn, in_axes=in_axes, spmd_axis_name="b"))
        theirs = jax.jit(jax.vmap(fn, in_axes=in_axes, spmd_axis_name="b"))
        contenders = [("vmlir", ours), ("jax.vmap", theirs)]
        if name == "escape-time":
            contenders.append(("vmlir, no spmd_axis_name", vmlir.compile(vmlir.vmap(fn))))
        for mesh_name, mesh in meshes.items():
            placed = tuple(
                jax.device_put(a, NamedSharding(mesh, P() if ax is None else P("b")))
                for a, ax in zip(args, axes)
            )
            for who, f in contenders:
                if who.endswith("no spmd_axis_name") and mesh_name == "explicit":
                    continue  # the argument types name the axis there: same as "vmlir"
                row: dict[str, Any] = {"workload": name, "mesh": mesh_name, "contender": who}
                ctx = jax.set_mesh(mesh) if not who.endswith("no spmd_axis_name") else None
                try:
                    if ctx is not None:
                        ctx.__enter__()
                    try:
                        got = f(*placed)
                        lowered = (f.xla(*placed) if isinstance(f, vmlir.Compiled)
                                   else f.lower(*placed).compile())
                    finally:
                        if ctx is not None:
                            ctx.__exit__(None, None, None)
                    g = np.asarray(got)
                    ref = one_device if who.startswith("vmlir") else want
                    row["same"] = bool(np.array_equal(g, ref))
                    row["differ_from_jax"] = int(
                        (g != want).sum() if g.dtype.kind == "i"
                        else (~np.isclose(g, want, rtol=1e-5, atol=1e-5)).sum()
                    )
                    row["spec"] = str(got.sharding.spec)
                    row["collectives"] = count(lowered.as_text())
                except Exception as e:  # noqa: BLE001 - reported in the table
                    row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                rows.append(row)

    # Skew: orders of the batch that put the slow examples together (skew_orders). An
    # example's count is its loop's own iteration counter; lane iterations per device =
    # the summed counts of the examples it ran (contiguous blocks by default, round-robin
    # with balance_shards: the counts the program returned, dealt as it dealt them).
    counts = np.asarray(vmlir.vmap(escape)(points))
    balanced = vmlir.compile(vmlir.vmap(escape, spmd_axis_name="b"), balance_shards=True)
    skew: dict[str, Any] = {"layouts": {}}
    for layout, order in skew_orders(counts, DEVICES).items():
        x = jax.device_put(points[order], NamedSharding(meshes["explicit"], P("b")))
        got = np.asarray(balanced(x))
        blocks = device_loads(counts[order], DEVICES)
        dealt = device_loads(got, DEVICES, balance=True)
        skew["layouts"][layout] = {
            "blocks": float(blocks.max() / blocks.mean()),
            "balanced": float(dealt.max() / dealt.mean()),
            "same": bool(np.array_equal(got, counts[order])),
        }
    skew["balanced_collectives"] = count(balanced.xla(x).as_text())
    return {"devices": jax.device_count(), "rows": rows, "skew": skew, "n": n}


def bench_sharded() -> dict[str, Any] | None:
    """Run the measurement in a process with 8 host devices; its JSON, or None."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={DEVICES}"
    ).strip()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sharded"],
        capture_output=True, text=True, env=env, cwd=root, timeout=1200,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SHARDED ")]
    if proc.returncode != 0 or not lines:
        print(f"(sharded section failed: {proc.stderr[-2000:]})")
        return None
    return json.loads(lines[-1][len("SHARDED ") :])


def render_sharded(data: dict[str, Any] | None) -> list[str]:
    """The results.md section: one row per (workload, mesh, contender)."""
    if not data:
        return []
    lines = [
        "",
        f"## Batch-sharded vmap ({data['devices']} host devices, batch {data['n']})",
        "",
        "Collectives in XLA's partitioned program (counted in `compiled.as_text()`); the "
        "result compared with the same contender on one device (bit for bit) and with "
        "jax.jit(jax.vmap) (ints exact, floats to 1e-5: a few escape-time lanes near the "
        "set's boundary round differently in vmlir's program and jax's, on one device as "
        "well). Timing 8 host devices on a shared CPU says little, so none is reported.",
        "",
        "| workload | mesh | contender | result | output spec | "
        + " | ".join(COLLECTIVES) + " |",
        "|---|---|---|---|---|" + "---|" * len(COLLECTIVES),
    ]
    for r in data["rows"]:
        if "error" in r:
            cells = [r["error"], "", *[""] * len(COLLECTIVES)]
        else:
            vs_jax = (
                "= jax.vmap" if r["differ_from_jax"] == 0
                else f"{r['differ_from_jax']} lanes differ from jax.vmap"
            )
            cells = [
                ("same as on one device, " if r["same"] else "DIFFERS from one device, ")
                + vs_jax,
                f"`{r['spec']}`",
                *[str(r["collectives"][c]) for c in COLLECTIVES],
            ]
        head = f"| {r['workload']} | {r['mesh']} | {r['contender']} | "
        lines.append(head + " | ".join(cells) + " |")
    s = data["skew"]
    lines += [
        "",
        "Skew (escape-time; lane iterations per device = the summed escape counts, the "
        "loops' own counters, of the examples it ran): the busiest device over the mean, "
        "for orders of the batch that put the slow examples together, with contiguous "
        "shards and with `vmlir.compile(..., balance_shards=True)` (examples dealt "
        f"round-robin; collectives {s['balanced_collectives']}). The deal is static: "
        "no lanes move between devices while the loop runs.",
        "",
        "| order of the batch | contiguous shards | balance_shards | results |",
        "|---|---|---|---|",
    ]
    for layout, r in s["layouts"].items():
        lines.append(
            f"| {layout} | {r['blocks']:.2f}x | {r['balanced']:.2f}x | "
            + ("same" if r["same"] else "DIFFER") + " |"
        )
    return lines


def section(args: Any) -> str:
    """The section of `make bench` (bench/sections.py)."""
    return "\n".join(render_sharded(bench_sharded())) + "\n"


if __name__ == "__main__":
    print("SHARDED " + json.dumps(_measure()), flush=True)
