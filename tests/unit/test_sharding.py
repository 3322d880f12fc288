"""Batch-sharded inputs on 8 host devices (Explicit and Auto meshes), against jax.vmap.

The device count must be set before jax starts, so the programs run in one subprocess
(tests/unit/sharded_programs.py) and each test here reads its own check's result.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from script_results import check_ok, run_script

import vmlir

SCRIPT = pathlib.Path(__file__).with_name("sharded_programs.py")
CONSTRUCTS = ["straight", "cond", "while", "scan_fori", "chunked", "python_control_flow"]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    return run_script(SCRIPT)


_ok = check_ok


@pytest.mark.parametrize("mesh", ["explicit", "auto"])
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_construct_on_a_mesh(results, construct, mesh):
    """Each construct on batch-sharded input equals jax.vmap and keeps the batch sharding
    (spmd_axis_name="b"; on the Auto mesh, with the mesh in context)."""
    _ok(results, f"{construct}/{mesh}")


@pytest.mark.parametrize("construct", ["straight", "cond"])
def test_explicit_mesh_without_axis_name(results, construct):
    """On an Explicit mesh the argument types alone name the batch axis."""
    _ok(results, f"{construct}/explicit/no_axis_name")


@pytest.mark.parametrize(
    "name",
    [
        "jit_in_out_shardings",
        "jit_explicit_out_axes",
        "shard_map_body/explicit",
        "shard_map_body/auto",
        "uneven_batch",
        "mesh_2d",
    ],
)
def test_composition(results, name):
    """jax.jit shardings, out_axes on a mesh, shard_map bodies, uneven batches, a 2-D
    mesh."""
    _ok(results, name)


def test_spmd_axis_name_without_a_mesh_runs_one_program(results):
    """spmd_axis_name with no mesh that has the axis: the result jax.vmap gives."""
    assert _ok(results, "no_mesh") == "equal"


def test_batch_shard_pass_runs_on_the_mesh(results):
    """The IR the batch-shard pass emits runs under XLA's partitioner on 8 devices, equal
    to jax.vmap, with no collective."""
    assert json.loads(_ok(results, "batch_shard_pass"))["all-gather"] == 0


def test_balance_shards_evens_a_skewed_batch(results):
    """balance_shards deals the examples round-robin: results equal, and where the slow
    examples sit together (sorted by cost, or all first) the busiest device's lane
    iterations drop from above 1.5x the mean (contiguous blocks) to within it; a random
    order stays within it either way. Its limit: slow examples at every 8th position
    all land on one device (a static deal, not a rebalancing). A batch that is not a
    multiple of shards^2 is refused."""
    r = json.loads(_ok(results, "balance_shards"))
    for layout in ("sorted", "slow first"):
        assert r[layout]["round_robin"] <= 1.5 < r[layout]["blocks"], r
    assert max(r["random"].values()) <= 1.5, r
    assert r["slow every k-th"]["blocks"] <= 1.5 < r["slow every k-th"]["round_robin"], r
    assert r["error"] == (
        "balance_shards deals 1000 examples round-robin to 8 shards: the batch must be a "
        "multiple of 64"
    )


def test_divergent_loop_compacts_locally(results):
    """The escape-time loop's partitioned program has no collective at all (each device
    compacts its own lanes), where the global program XLA partitions itself (an Auto
    mesh and no spmd_axis_name; its results are still jax.vmap's) gathers lanes across
    devices."""
    counts = json.loads(_ok(results, "collectives"))
    for mesh in ("explicit", "auto"):
        assert sum(counts[f"vmlir/{mesh}"].values()) == 0, counts
    assert counts["vmlir-global/auto"]["all-gather"] > 0, counts


def test_spmd_axis_name_on_a_nested_vmap_is_unsupported():
    """Only the outermost vmap's batch axis is sharded; an inner one asking says so."""
    inner = vmlir.vmap(lambda v: v * 2.0, spmd_axis_name="m")
    outer = vmlir.vmap(lambda row: inner(row))
    with pytest.raises(vmlir.VmlirUnsupportedError) as e:
        outer(np.ones((4, 3), "f4"))
    assert str(e.value) == (
        "spmd_axis_name='m' on a nested vmlir.vmap: only the outermost vmap's batch axis "
        "can be sharded"
    )
