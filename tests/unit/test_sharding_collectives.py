"""Collectives across shards and derivatives through vmlir functions on batch-sharded
input (8 host devices), against jax.vmap with spmd_axis_name.

The device count must be set before jax starts, so the programs run in one subprocess
(tests/unit/sharded_collectives.py) and each test here reads its own check's result.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from script_results import check_ok, run_script

SCRIPT = pathlib.Path(__file__).with_name("sharded_collectives.py")


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, object]]:
    return run_script(SCRIPT)


_ok = check_ok


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


@pytest.mark.parametrize("mesh", ["explicit", "auto"])
@pytest.mark.parametrize("program", ["stats", "loop_psum", "escape_share", "cond_psum"])
def test_collectives_reach_every_shard(results, program, mesh):
    """psum / pmean / pmax / pmin / all_gather (tiled or not) / axis_index over the
    sharded batch axis, a psum inside a divergent loop whose slow lanes sit on one shard,
    a divergent loop followed by a pmax, and a psum in a cond branch only one shard's
    lanes take: equal to jax.vmap on one device."""
    _ok(results, f"collectives/{program}/{mesh}")


def test_collectives_on_a_2d_mesh(results):
    """A batch split over ("b", "m"): shards ordered "b"-major, as jax lays them out."""
    _ok(results, "collectives/mesh_2d")


def test_grad_through_a_collective(results):
    """jax.grad of a loss through a psum across shards equals jax.vmap's."""
    _ok(results, "collective_grad")


def test_collective_counts(results):
    """XLA's partitioned programs: one all-reduce per reduction (as jax.vmap with
    spmd_axis_name), all-gathers for all_gather, and for a divergent loop that each shard
    runs on its own before a pmax, one all-reduce where jax.vmap needs two (its loop
    agrees on termination across devices). A psum inside a divergent loop costs what it
    costs jax: an all-reduce for it and one for the loop's termination."""
    c = json.loads(_ok(results, "collective_counts"))
    for prog in ("stats", "loop_psum", "escape_share"):
        assert c[f"vmlir/{prog}"]["all-to-all"] == 0, c
    assert c["vmlir/stats"]["all-reduce"] == c["jax/stats"]["all-reduce"] == 3, c
    assert c["vmlir/stats"]["all-gather"] >= 1, c
    assert c["vmlir/loop_psum"]["all-reduce"] == c["jax/loop_psum"]["all-reduce"] == 2, c
    assert c["vmlir/escape_share"]["all-reduce"] == 1, c
    assert c["vmlir/escape_share"]["all-gather"] == 0, c
    assert c["jax/escape_share"]["all-reduce"] == 2, c


def test_collective_errors(results):
    """What cannot reach the other shards is refused, naming what to change."""
    e = json.loads(_ok(results, "collective_errors"))
    assert e["partial_mesh"] == (
        "axis_name='b' with the batch split over the mesh axes ('b',) of a mesh with axes "
        "('b', 'm'): collectives across shards need the batch split over every mesh axis"
    )
    assert e["balance_shards"] == (
        "axis_name='b' with balance_shards: dealt round-robin, a shard's examples are no "
        "longer a block of the batch (axis_index and all_gather would see them out of "
        "order); drop one of the two"
    )
    assert re.fullmatch(
        r"'batch.psum_scatter' \(from .*sharded_collectives\.py:\d+\) over an axis whose "
        r'batch is sharded over the mesh axis "b": only psum, pmean, pmax, pmin, all_gather '
        r"and axis_index reach the other shards",
        e["psum_scatter"],
    ), e
