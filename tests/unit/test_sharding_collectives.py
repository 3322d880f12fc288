"""Collectives across shards and derivatives through vmlir functions on batch-sharded
input (8 host devices), against jax.vmap with spmd_axis_name.

The device count must be set before jax starts, so the programs run in one subprocess
(tests/unit/sharded_collectives.py) and each test here reads its own check's result.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("sharded_collectives.py")


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"the sharded programs did not run:\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULTS ") :])


def _ok(results: dict[str, dict[str, object]], name: str) -> str:
    assert name in results, f"check {name} did not run"
    r = results[name]
    assert r["ok"], f"{name} failed:\n{r['detail']}"
    return str(r["detail"])


@pytest.mark.parametrize("mesh", ["explicit", "auto"])
def test_grad_of_a_mean_loss(results, mesh):
    """jax.grad of a mean loss through a vmlir function (unmapped weights, batch-sharded
    input, jax.jit with in_shardings) equals the same loss through jax.vmap."""
    _ok(results, f"grad/{mesh}")


@pytest.mark.parametrize("mesh", ["explicit", "auto"])
def test_jvp_through_a_divergent_loop(results, mesh):
    """jax.jvp through a divergent while loop on batch-sharded input equals jax.vmap's,
    primal and tangent keeping the batch sharding."""
    _ok(results, f"jvp_divergent_loop/{mesh}")
