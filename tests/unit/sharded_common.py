"""What the scripts that run batch-sharded programs on 8 host devices share.

Importing it sets the device count, so it must come before jax is imported (the scripts
run in a process of their own). Each script registers checks with `check` and prints
`RESULTS <json>` at the end: check name -> {"ok": bool, "detail": str, "seconds": float}.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import json  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

results: dict[str, dict[str, Any]] = {}

MESHES = {
    "explicit": jax.make_mesh((8,), ("b",)),  # jax 0.10's default: Explicit axes
    "auto": jax.make_mesh((8,), ("b",), axis_types=(AxisType.Auto,)),
}


def check(name: str) -> Callable[[Callable[[], str | None]], None]:
    def run(fn: Callable[[], str | None]) -> None:
        start = time.perf_counter()
        try:
            detail = fn()
            results[name] = {"ok": True, "detail": detail or ""}
        except Exception:  # reported to the pytest side, which fails with the traceback
            results[name] = {"ok": False, "detail": traceback.format_exc()}
        results[name]["seconds"] = round(time.perf_counter() - start, 2)

    return run


def same(actual: Any, expected: Any, tol: float = 1e-5) -> None:
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol)


def batch_spec(x: Any, axis: int = 0) -> Any:
    spec = tuple(x.sharding.spec) + (None,) * x.ndim
    return spec[axis]


def place(args: tuple[Any, ...], in_axes: Any, mesh: Any) -> tuple[Any, ...]:
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    return tuple(
        jax.device_put(a, NamedSharding(mesh, P() if ax is None else P("b")))
        for a, ax in zip(args, axes)
    )


def print_results() -> None:
    print("RESULTS " + json.dumps(results))
