"""The seed programs (vmlir.examples.seeds) through vmlir, against jax.vmap on the same inputs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import vmlir
from vmlir.dialects.batch import VmapOp
from vmlir.examples.seeds import SEEDS
from vmlir.ir import parse_module

NESTED = ("pairwise_distances", "rbf_gram", "covariance_matrix")
BY_NAME = {s.name: s for s in SEEDS}


def test_nested_seeds_exist():
    """The nested seeds this file checks for explicit nesting are still in SEEDS."""
    assert set(NESTED) <= set(BY_NAME)


@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_compiled_seed_matches_jax_vmap(seed, n, assert_same):
    """vmlir.compile(seed) gives jax.vmap's shapes, dtypes and values at batch size n."""
    inputs = seed.inputs(np.random.default_rng(n), n)
    actual = vmlir.compile(seed.batch(vmlir.vmap))(*inputs)
    assert_same(actual, seed.batch(jax.vmap)(*inputs))


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_direct_call_matches_jax_vmap(seed, assert_same):
    """A Vmapped is callable without vmlir.compile and gives jax.vmap's results."""
    inputs = seed.inputs(np.random.default_rng(7), 3)
    assert_same(seed.batch(vmlir.vmap)(*inputs), seed.batch(jax.vmap)(*inputs))


def _lowered(name: str) -> vmlir.Lowered:
    seed = BY_NAME[name]
    return vmlir.compile(seed.batch(vmlir.vmap)).lower(*seed.inputs(np.random.default_rng(0), 3))


@pytest.mark.parametrize("name", NESTED)
def test_nested_seed_batch_stage_has_nested_vmap(name):
    """A vmap of a vmap is a batch.vmap inside a batch.vmap in the "batch" stage."""
    module = parse_module(_lowered(name).as_text("batch"))
    vmaps = [op for op in module.walk() if isinstance(op, VmapOp)]
    assert len(vmaps) == 2
    outer, inner = vmaps
    assert any(op is inner for op in outer.body.walk())


@pytest.mark.parametrize("name", NESTED)
def test_nested_seed_final_stage_has_no_batch_dialect(name):
    """After the pipeline, a nested seed's "stablehlo" stage has no batch-dialect text."""
    text = _lowered(name).as_text("stablehlo")
    assert "stablehlo." in text
    assert "batch." not in text
