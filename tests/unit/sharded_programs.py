"""Batch-sharded vmlir programs on 8 host devices, checked against jax.vmap.

Run by tests/unit/test_sharding.py in a process of its own: the device count must be set
before jax starts. Prints one JSON object: check name -> {"ok": bool, "detail": str}.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from sharded_common import MESHES, batch_spec, check, place, print_results, same

import jax  # noqa: E402  (after sharded_common, which sets the device count)
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import vmlir
from vmlir.examples.seeds import escape_time as escape
from vmlir.examples.seeds import skew_orders
from vmlir.runtime.sharding import count_collectives as collectives
from vmlir.runtime.sharding import device_loads

N = 1024
LOOP_N = 4096  # 512 lanes per device: lane compaction (min_bucket 128) runs in each shard

# ----- per-example programs, one per construct ------------------------------------------


def mlp(params, x):
    (w1, b1), (w2, b2) = params
    return jnp.tanh(x @ w1 + b1) @ w2 + b2


def branchy(x):
    return jax.lax.cond(x[0] > 0, lambda v: jnp.sin(v) * 2.0, lambda v: v * v[1] - 1.0, x)


def scanned(x):
    def step(carry, v):
        carry = carry * 0.5 + v
        return carry, carry * carry

    total, ys = jax.lax.scan(step, 0.0, x)
    return total + jax.lax.fori_loop(0, 3, lambda i, a: a + i * x[0], 0.0), ys


def pycontrol(x):
    total = 0.0
    i = 0
    while x[0] * total < 4.0 and i < 30:
        if x[1] > 0:
            total = total + x[1]
        else:
            total = total - x[1] * 0.5 + 0.1
        i = i + 1
    return total, i


def pycontrol_lax(x):
    """pycontrol written with lax, for jax.vmap."""

    def body(s):
        total, i = s
        step = jnp.where(x[1] > 0, x[1], -x[1] * 0.5 + 0.1)
        return total + step, i + 1

    return jax.lax.while_loop(
        lambda s: (x[0] * s[0] < 4.0) & (s[1] < 30), body, (jnp.float32(0.0), 0)
    )


rng = np.random.RandomState(0)
points = np.stack(
    [rng.uniform(-2.0, 0.6, LOOP_N), rng.uniform(-1.2, 1.2, LOOP_N)], 1
).astype("f4")
small = rng.randn(N, 2).astype("f4")
seqs = rng.randn(N, 6).astype("f4")
params = tuple(
    (rng.randn(a, b).astype("f4") * 0.3, rng.randn(b).astype("f4") * 0.1)
    for a, b in ((2, 16), (16, 3))
)

CONSTRUCTS: list[tuple[str, Any, Any, Any, tuple[Any, ...], dict[str, Any]]] = [
    # name, fn, its jax.vmap reference, in_axes, args, vmap options
    ("straight", mlp, mlp, (None, 0), (params, small), {}),
    ("cond", branchy, branchy, 0, (small,), {}),
    ("while", escape, escape, 0, (points,), {}),
    ("scan_fori", scanned, scanned, 0, (seqs,), {}),
    ("chunked", escape, escape, 0, (points,), {"chunk_size": 96}),
    ("python_control_flow", pycontrol, pycontrol_lax, 0, (small,), {}),
]


def construct_check(
    name: str, fn: Any, ref: Any, in_axes: Any, args: Any, opts: dict[str, Any]
) -> None:
    """On an Explicit mesh the argument types name the batch axis; on an Auto mesh,
    spmd_axis_name does (with the mesh in context). Both meshes run the same Compiled,
    whose per-shard program is compiled once; the straight-line and cond programs are
    also run on the Explicit mesh without spmd_axis_name."""
    want = None
    f = vmlir.compile(vmlir.vmap(fn, in_axes=in_axes, spmd_axis_name="b", **opts))
    runs = [("explicit", f), ("auto", f)]
    if name in ("straight", "cond"):
        runs.append(("explicit/no_axis_name", vmlir.compile(vmlir.vmap(fn, in_axes=in_axes))))
    for label, f in runs:
        mesh_name = label.split("/")[0]
        mesh = MESHES[mesh_name]

        @check(f"{name}/{label}")
        def _(f: Any = f, mesh: Any = mesh, mesh_name: str = mesh_name) -> str:
            nonlocal want
            if want is None:
                want = jax.vmap(ref, in_axes=in_axes)(*args)
            sharded = place(args, in_axes, mesh)
            ctx = jax.set_mesh(mesh) if mesh_name == "auto" else contextlib.nullcontext()
            with ctx:
                got = f(*sharded)
            same(got, want)
            specs = {batch_spec(x) for x in jax.tree_util.tree_leaves(got)}
            assert specs == {"b"}, f"outputs lost the batch sharding: {specs}"
            return ""


for c in CONSTRUCTS:
    construct_check(*c)


@check("jit_in_out_shardings")
def _() -> str:
    mesh = MESHES["auto"]
    s = NamedSharding(mesh, P("b"))
    f = vmlir.compile(vmlir.vmap(branchy, spmd_axis_name="b"))
    jitted = jax.jit(lambda x: f(x) * 2, in_shardings=s, out_shardings=s)
    with jax.set_mesh(mesh):
        got = jitted(small)
    same(got, jax.vmap(branchy)(small) * 2)
    assert got.sharding.spec == P("b"), got.sharding
    return ""


@check("jit_explicit_out_axes")
def _() -> str:
    """out_axes=1 and an unmapped output keep their specs on an Explicit mesh."""

    def fn(w, x):
        return jnp.outer(x, x), jnp.sum(w)

    mesh = MESHES["explicit"]
    f = vmlir.compile(vmlir.vmap(fn, in_axes=(None, 0), out_axes=(1, None)))
    w, x = place((small[:4], small), (None, 0), mesh)
    got = jax.jit(f)(w, x)
    same(got, jax.vmap(fn, in_axes=(None, 0), out_axes=(1, None))(small[:4], small))
    assert batch_spec(got[0], 1) == "b", got[0].sharding
    return ""


for mesh_name in MESHES:

    @check(f"shard_map_body/{mesh_name}")
    def _(mesh_name: str = mesh_name) -> str:
        """Inside a shard_map over "b" the batch is already local: with or without
        spmd_axis_name="b", the body runs the plain program on its shard."""
        mesh = MESHES[mesh_name]
        want = jax.vmap(mlp, in_axes=(None, 0))(params, small)
        for spmd in (None, "b"):
            g = vmlir.vmap(mlp, in_axes=(None, 0), spmd_axis_name=spmd)
            mapped = jax.jit(
                jax.shard_map(g, mesh=mesh, in_specs=(P(), P("b")), out_specs=P("b"))
            )
            same(mapped(*place((params, small), (None, 0), mesh)), want)
        return ""


@check("mesh_2d")
def _() -> str:
    """A 4x2 Explicit mesh: a batch split over "b", then over ("b", "m"), with a second
    batched argument that is replicated (resharded to match)."""

    def fn(x, y):
        return jnp.sin(x) * jnp.sum(y)

    mesh = jax.make_mesh((4, 2), ("b", "m"))
    f = vmlir.compile(vmlir.vmap(fn))
    want = jax.vmap(fn)(small, seqs)
    y = jax.device_put(seqs, NamedSharding(mesh, P()))
    specs = []
    for entry in ("b", ("b", "m")):
        got = f(jax.device_put(small, NamedSharding(mesh, P(entry))), y)
        same(got, want)
        specs.append(batch_spec(got))
    assert specs == ["b", ("b", "m")], specs
    return ""


@check("uneven_batch")
def _() -> str:
    """A batch that does not split evenly runs as one global program."""
    f = vmlir.compile(vmlir.vmap(branchy, spmd_axis_name="b"))
    with jax.set_mesh(MESHES["auto"]):
        got = f(small[:1001])
    same(got, jax.vmap(branchy)(small[:1001]))
    return ""


@check("no_mesh")
def _() -> str:
    """spmd_axis_name naming an axis no mesh has: one global program, as jax.vmap runs."""
    got = vmlir.compile(vmlir.vmap(escape, spmd_axis_name="b"))(points)
    want = jax.vmap(escape, spmd_axis_name="b")(points)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    return "equal"


@check("batch_shard_pass")
def _() -> str:
    """The batch-shard pass's manual computation, compiled by XLA on 8 devices: the
    escape-time counts equal jax.vmap's and no collective is left."""
    from vmlir.passes import DEFAULT_PIPELINE

    pipeline = 'batch-shard{mesh="b=8" axis="b"},' + DEFAULT_PIPELINE
    f = vmlir.compile(vmlir.vmap(escape), pipeline=pipeline)
    x = place((points,), 0, MESHES["auto"])[0]
    got = f(x)
    same(got, jax.vmap(escape)(points))
    counts = collectives(f.xla(x).as_text())
    assert sum(counts.values()) == 0, counts
    return json.dumps(counts)


@check("balance_shards")
def _() -> str:
    """Skew: orders of the batch that load the shards unevenly (vmlir.examples.seeds.
    skew_orders). Each example's escape count is its loop's own iteration counter; the
    lane iterations per device are the summed counts of the examples it ran. With
    balance_shards the examples are dealt round-robin (e to shard e % 8), at the cost of
    one all-to-all in and one out, none in the loop."""
    counts = np.asarray(jax.vmap(escape)(points))
    f = vmlir.compile(vmlir.vmap(escape, spmd_axis_name="b"), balance_shards=True)
    ratios: dict[str, Any] = {}
    for layout, order in skew_orders(counts, 8).items():
        want = counts[order]
        x = place((points[order],), 0, MESHES["explicit"])[0]
        got = f(x)
        same(got, want)
        assert batch_spec(got) == "b", got.sharding
        blocks = device_loads(want, 8)  # contiguous shards
        dealt = device_loads(got, 8, balance=True)  # round-robin shards
        ratios[layout] = {
            "blocks": float(blocks.max() / blocks.mean()),
            "round_robin": float(dealt.max() / dealt.mean()),
        }
    c = collectives(f.xla(x).as_text())
    assert c["all-to-all"] == 2 and c["all-reduce"] == c["all-gather"] == 0, c
    try:
        f(place((points[:1000],), 0, MESHES["explicit"])[0])
    except vmlir.VmlirError as e:
        ratios["error"] = str(e)
    return json.dumps(ratios)


@check("collectives")
def _() -> str:
    """Local compaction: no lane data crosses devices in the escape-time loop."""
    counts = {}
    ours = vmlir.compile(vmlir.vmap(escape, spmd_axis_name="b"))
    for mesh_name, mesh in MESHES.items():
        x = place((points,), 0, mesh)[0]
        ref = jax.jit(jax.vmap(escape, spmd_axis_name="b"))
        with jax.set_mesh(mesh):
            hlo = ours.xla(x).as_text()
            counts[f"vmlir/{mesh_name}"] = collectives(hlo)
            # The shards' loops compact their lanes: gathers and scatters, all local.
            assert re.search(r"\sscatter\(", hlo), "no lane compaction in the program"
            try:
                counts[f"jax.vmap/{mesh_name}"] = collectives(ref.lower(x).compile().as_text())
            except ValueError as e:  # jax 0.10 cannot batch this loop on an Explicit mesh
                counts[f"jax.vmap/{mesh_name}"] = str(e).splitlines()[0]
        if mesh_name == "auto":
            # No batch axis named on an Auto mesh: one global program, which XLA's
            # propagation partitions (correct, but lanes move between devices).
            # 1024 lanes: compaction still runs, and the test stays quick.
            glob = vmlir.compile(vmlir.vmap(escape))
            x = place((points[:1024],), 0, mesh)[0]
            same(glob(x), jax.vmap(escape)(points[:1024]))
            counts["vmlir-global/auto"] = collectives(glob.xla(x).as_text())
    for mesh_name in MESHES:
        c = counts[f"vmlir/{mesh_name}"]
        assert sum(c.values()) == 0, counts
    return json.dumps(counts)


print_results()
