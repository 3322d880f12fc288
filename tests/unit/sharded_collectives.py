"""Collectives across shards and derivatives through batch-sharded vmlir programs, on 8
host devices, checked against jax.vmap with spmd_axis_name.

Run by tests/unit/test_sharding_collectives.py in a process of its own (the device count
must be set before jax starts); prints `RESULTS <json>` (sharded_common.py).
"""

from __future__ import annotations

import json
from typing import Any

from sharded_common import MESHES, batch_spec, check, place, print_results, same

import jax  # noqa: E402  (after sharded_common, which sets the device count)
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import vmlir
from vmlir.runtime.sharding import count_collectives as collectives

N = 256
rng = np.random.RandomState(1)
xs = rng.randn(N, 3).astype("f4")
cs = np.stack([rng.uniform(-2.0, 0.6, N), rng.uniform(-1.2, 1.2, N)], 1).astype("f4")
weights = {"a": rng.randn(3, 16).astype("f4") * 0.5, "b": rng.randn(16).astype("f4")}


def in_mesh(mesh_name: str) -> Any:
    """jax.jit's in_shardings name mesh axes: the mesh must be in context."""
    return jax.set_mesh(MESHES[mesh_name])


# ----- derivatives through a vmlir function on batch-sharded input -------------------------


def mlp(w, x):
    return jnp.tanh(x @ w["a"]) @ w["b"]


def grow(c):
    """A divergent loop (trip counts vary per example) with a smooth result."""

    def cond(s):
        x, i = s
        return (x < 10.0) & (i < 60)

    def body(s):
        x, i = s
        return x * (1.05 + 0.1 * c[0] * c[0]) + c[1] * c[1], i + 1

    x, i = lax.while_loop(cond, body, (0.1, 0))
    return jnp.sin(x) * i


for mesh_name in MESHES:

    @check(f"grad/{mesh_name}")
    def _(mesh_name: str = mesh_name) -> str:
        """jax.grad of a mean loss over the batch, weights unmapped, inside jax.jit with
        in_shardings: equal to the same loss through jax.vmap(spmd_axis_name)."""
        mesh = MESHES[mesh_name]
        shardings = (NamedSharding(mesh, P()), NamedSharding(mesh, P("b")))
        grads = []
        for vm in (
            vmlir.compile(vmlir.vmap(mlp, in_axes=(None, 0), spmd_axis_name="b")),
            jax.vmap(mlp, in_axes=(None, 0), spmd_axis_name="b"),
        ):
            def loss(w, x, vm=vm):
                return jnp.mean(vm(w, x) ** 2)

            with in_mesh(mesh_name):
                grads.append(jax.jit(jax.grad(loss), in_shardings=shardings)(weights, xs))
        same(grads[0], grads[1])
        return ""

    @check(f"jvp_divergent_loop/{mesh_name}")
    def _(mesh_name: str = mesh_name) -> str:
        """Forward mode through a divergent while loop on batch-sharded input: primal
        and tangent equal jax.vmap's, and both keep the batch sharding."""
        mesh = MESHES[mesh_name]
        s = NamedSharding(mesh, P("b"))
        tangent = rng.randn(N, 2).astype("f4")
        outs = []
        for vm in (vmlir.compile(vmlir.vmap(grow, spmd_axis_name="b")),
                   jax.vmap(grow, spmd_axis_name="b")):
            f = jax.jit(lambda c, t, vm=vm: jax.jvp(vm, (c,), (t,)), in_shardings=(s, s))
            with in_mesh(mesh_name):
                outs.append(f(cs, tangent))
        same(outs[0], outs[1], tol=1e-4)
        specs = {batch_spec(x) for x in outs[0]}
        assert specs == {"b"}, specs
        return ""


# ----- collectives over an axis that is also the sharded batch axis ----------------------


def stats(v):
    """Every collective that reaches the other shards, on one example."""
    g = lax.all_gather(v, "b")  # (256, 3): the whole batch
    t = lax.all_gather(v[:, None], "b", axis=1, tiled=True)  # (3, 256)
    return (
        (v - lax.pmean(v, "b")) / lax.pmax(jnp.abs(v), "b"),
        lax.pmin(v, "b") + lax.psum(1.0, "b"),
        lax.axis_index("b"),
        g[lax.axis_index("b") ^ 5] - g[17],
        t[:, ::37],
    )


def escape(c):
    def cond(s):
        a, b, i = s
        return (a * a + b * b < 4.0) & (i < 64)

    def body(s):
        a, b, i = s
        return a * a - b * b + c[0], 2 * a * b + c[1], i + 1

    return lax.while_loop(cond, body, (0.0, 0.0, 0))[2]


def escape_share(c):
    """A divergent loop (compacted per shard), then a reduction over the whole batch."""
    n = escape(c)
    return n / lax.pmax(n, "b")


def loop_psum(v):
    """A collective inside a divergent loop: every device must run it equally often. The
    slow lanes (v[0] > 4) need about 80 iterations, the others about 10, so a shard with
    no slow lane would leave the loop (and its all-reduce) early."""
    limit = jnp.where(v[0] > 4.0, 40.0, 5.0) + jnp.abs(v[1])

    def cond(s):
        y, i = s
        return (y < limit) & (i < 200)

    def body(s):
        y, i = s
        return y + 0.5 + 0.001 * lax.psum(y, "b") / N, i + 1

    return lax.while_loop(cond, body, (0.0, 0))


def cond_psum(v):
    """A branch holding a collective that only the first shard's lanes take (v[0] > 4):
    every device must still run it (a device may not skip it for its own lanes alone)."""

    def heavy(u):
        w = jnp.outer(u, u) @ jnp.sin(jnp.outer(u, u))
        for _ in range(4):
            w = jnp.tanh(w @ w) + jnp.cos(w)
        return jnp.sum(w, 0) / lax.psum(jnp.sum(jnp.abs(w)), "b")

    return lax.cond(v[0] > 4.0, heavy, lambda u: u * 2.0, v)


slow_first = xs.copy()
slow_first[: N // 8, 0] += 5.0  # the slow lanes all on the first shard


def both(fn: Any, **opts: Any) -> tuple[Any, Any]:
    return (
        vmlir.compile(vmlir.vmap(fn, axis_name="b", spmd_axis_name="b", **opts)),
        jax.vmap(fn, axis_name="b", spmd_axis_name="b"),
    )


for mesh_name in MESHES:
    for prog, arg in (
        ("stats", xs), ("loop_psum", slow_first), ("escape_share", cs),
        ("cond_psum", slow_first),
    ):

        @check(f"collectives/{prog}/{mesh_name}")
        def _(mesh_name: str = mesh_name, prog: str = prog, arg: Any = arg) -> str:
            """On batch-sharded input, equal to jax.vmap(axis_name="b", spmd_axis_name="b")
            (run on one device, unsharded), every output keeping the batch sharding."""
            ours, _ = both(globals()[prog])
            want = jax.vmap(globals()[prog], axis_name="b")(arg)
            with in_mesh(mesh_name):
                got = ours(place((arg,), 0, MESHES[mesh_name])[0])
            same(got, want)
            specs = {batch_spec(x) for x in jax.tree_util.tree_leaves(got)}
            assert specs == {"b"}, specs
            return ""


@check("collective_counts")
def _() -> str:
    """The collectives in XLA's partitioned programs, vmlir vs jax.vmap(spmd_axis_name),
    on the Auto mesh (jax 0.10 cannot batch a varying while on the Explicit one)."""
    counts = {}
    for prog, arg in (
        ("stats", xs), ("loop_psum", slow_first), ("escape_share", cs),
    ):
        ours, ref = both(globals()[prog])
        with in_mesh("auto"):
            x = place((arg,), 0, MESHES["auto"])[0]
            same(jax.jit(ours)(x), jax.jit(ref)(x))
            counts[f"vmlir/{prog}"] = collectives(jax.jit(ours).lower(x).compile().as_text())
            counts[f"jax/{prog}"] = collectives(jax.jit(ref).lower(x).compile().as_text())
    return json.dumps(counts)


@check("collective_grad")
def _() -> str:
    """jax.grad through a vmlir function whose examples meet in a psum, on batch-sharded
    input: the derivative programs' collectives reach the other shards too."""

    def share(w, v):
        e = jnp.exp(jnp.tanh(v @ w["a"]) @ w["b"])
        return e / lax.psum(e, "b")

    grads = []
    for vm in (
        vmlir.compile(vmlir.vmap(share, in_axes=(None, 0), axis_name="b", spmd_axis_name="b")),
        jax.vmap(share, in_axes=(None, 0), axis_name="b", spmd_axis_name="b"),
    ):
        def loss(w, x, vm=vm):
            return jnp.sum(vm(w, x) * jnp.arange(N, dtype=jnp.float32))

        mesh = MESHES["auto"]
        shardings = (NamedSharding(mesh, P()), NamedSharding(mesh, P("b")))
        with in_mesh("auto"):
            grads.append(jax.jit(jax.grad(loss), in_shardings=shardings)(weights, xs))
    same(grads[0], grads[1], tol=1e-4)
    return ""


@check("collectives/mesh_2d")
def _() -> str:
    """A batch split over both axes of a 4x2 mesh, ("b", "m"): the shards are ordered
    "b"-major, as jax lays out P(("b", "m"))."""
    mesh = jax.make_mesh((4, 2), ("b", "m"))

    def fn(v):
        return lax.axis_index("b") * 1.0 + lax.all_gather(v, "b")[37] - lax.psum(v, "b")

    f = vmlir.compile(vmlir.vmap(fn, axis_name="b", spmd_axis_name=("b", "m")))
    got = f(jax.device_put(xs, NamedSharding(mesh, P(("b", "m")))))
    same(got, jax.vmap(fn, axis_name="b")(xs))
    assert batch_spec(got) == ("b", "m"), got.sharding
    return ""


def error_of(fn: Any, *args: Any) -> str:
    try:
        fn(*args)
    except vmlir.VmlirError as e:
        return str(e)
    raise AssertionError("no error")


@check("collective_errors")
def _() -> str:
    """What does not reach the other shards says so."""
    mesh = jax.make_mesh((4, 2), ("b", "m"))
    out = {}
    half = vmlir.compile(vmlir.vmap(lambda v: v / lax.psum(v, "b"), axis_name="b"))
    out["partial_mesh"] = error_of(half, jax.device_put(xs, NamedSharding(mesh, P("b"))))
    dealt = vmlir.compile(
        vmlir.vmap(lambda v: v / lax.psum(v, "b"), axis_name="b", spmd_axis_name="b"),
        balance_shards=True,
    )
    x = place((xs,), 0, MESHES["explicit"])[0]
    out["balance_shards"] = error_of(dealt, x)
    scatter = vmlir.compile(
        vmlir.vmap(lambda v: lax.psum_scatter(jnp.tile(v, 86)[:N], "b"), axis_name="b",
                   spmd_axis_name="b")
    )
    out["psum_scatter"] = error_of(scatter, x)
    return json.dumps(out)


print_results()
