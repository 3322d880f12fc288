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


print_results()
