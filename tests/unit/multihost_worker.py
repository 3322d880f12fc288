"""One of the processes of tests/unit/test_multihost.py: 4 CPU devices per process, joined
by jax.distributed over localhost (CPU collectives through gloo) into one 8-device mesh.

Usage: multihost_worker.py PROCESS_ID NUM_PROCESSES PORT. Prints `RESULT {json}` (this
process's checks) or `GLOO_UNAVAILABLE reason`.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import json  # noqa: E402
import traceback  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402


def loss(params, x, y):
    w1, w2 = params
    return jnp.sum((jnp.tanh(x @ w1) @ w2 - y) ** 2)


def global_array(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    # Every process holds the same numpy data; each places its own devices' shards.
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def local_matches(got: jax.Array, want: np.ndarray, exact: bool) -> int:
    """Compare this process's shards of `got` with the same slices of `want`."""
    for shard in got.addressable_shards:
        a, e = np.asarray(shard.data), want[shard.index]
        if exact:
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)
    return len(got.addressable_shards)


def main() -> None:
    pid, nproc, port = (int(a) for a in sys.argv[1:4])
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception as e:  # a jaxlib built without gloo
        print(f"GLOO_UNAVAILABLE {e}", flush=True)
        return
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=nproc,
        process_id=pid,
        initialization_timeout=60,
    )
    import vmlir  # after initialize: nothing may touch the backend before it
    from vmlir.examples.seeds import escape_time as escape

    out: dict[str, object] = {"devices": jax.device_count(), "local": jax.local_device_count()}
    rng = np.random.RandomState(0)
    n = 4096
    points = np.stack([rng.uniform(-2.0, 0.6, n), rng.uniform(-1.2, 1.2, n)], 1).astype("f4")
    params = (rng.randn(3, 8).astype("f4") * 0.3, rng.randn(8, 2).astype("f4") * 0.3)
    xs, ys = rng.randn(n, 3).astype("f4"), rng.randn(n, 2).astype("f4")
    try:
        # Explicit mesh (jax.make_mesh's default): the argument types name the batch axis.
        mesh = jax.make_mesh((jax.device_count(),), ("b",))
        counts = vmlir.compile(vmlir.vmap(escape))
        got = counts(global_array(points, NamedSharding(mesh, P("b"))))
        out["escape_shards"] = local_matches(got, np.asarray(jax.vmap(escape)(points)), True)
        out["escape_spec"] = str(got.sharding.spec)

        # Auto mesh with spmd_axis_name: per-example gradients computed inside vmlir.
        auto = jax.make_mesh((jax.device_count(),), ("b",), axis_types=(AxisType.Auto,))
        grads = vmlir.compile(
            vmlir.vmap(jax.grad(loss), in_axes=(None, 0, 0), spmd_axis_name="b")
        )
        rep = NamedSharding(auto, P())
        batch = NamedSharding(auto, P("b"))
        with jax.set_mesh(auto):
            g1, g2 = grads(
                tuple(global_array(p, rep) for p in params),
                global_array(xs, batch),
                global_array(ys, batch),
            )
        w1, w2 = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
        out["grad_shards"] = local_matches(g1, np.asarray(w1), False) + local_matches(
            g2, np.asarray(w2), False
        )
        out["ok"] = True
    except Exception:
        out["ok"] = False
        out["error"] = traceback.format_exc()
    print("RESULT " + json.dumps(out), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
