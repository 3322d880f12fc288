"""batch-fuse in the default pipeline: same results as jax.vmap, fewer transposes, loop
invariants hoisted, and (fast_math) squared distances as one GEMM within a stated error."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same, check
from vmlir.compiler import default_pipeline
from vmlir.dialects import stablehlo as hlo
from vmlir.examples.seeds import SEEDS
from vmlir.ir import parse_module
from vmlir.passes import DEFAULT_PIPELINE

NO_FUSE = ",".join(p for p in DEFAULT_PIPELINE.split(",") if p != "batch-fuse")
BY_NAME = {s.name: s for s in SEEDS}
RNG = np.random.default_rng(0)


def _f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _final(batched, args, **compile_kw) -> str:
    return vmlir.compile(batched, **compile_kw).lower(*args).as_text("stablehlo", generic=True)


def _transposes(batched, args, pipeline: str | None = None) -> int:
    return _final(batched, args, pipeline=pipeline).count('"stablehlo.transpose"')


# --- the pass in the pipeline ------------------------------------------------------


def test_default_pipeline_runs_fuse_between_vectorize_and_lower():
    """batch-fuse runs after batch-vectorize and before batch-lower; fast_math turns on
    its algebraic rewrite and nothing else."""
    passes = DEFAULT_PIPELINE.split(",")
    assert passes.index("batch-vectorize") + 1 == passes.index("batch-fuse")
    assert passes.index("batch-fuse") + 1 == passes.index("batch-lower")
    assert default_pipeline(True) == DEFAULT_PIPELINE.replace(
        "batch-fuse", "batch-fuse{algebraic=true}"
    )


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_seed_matches_jax_vmap_and_keeps_transposes_down(seed):
    """Every seed program gives jax.vmap's results through the default pipeline, with no
    more transposes than without batch-fuse."""
    inputs = seed.inputs(np.random.default_rng(3), 4)
    batched = seed.batch(vmlir.vmap)
    assert_same(vmlir.compile(batched)(*inputs), seed.batch(jax.vmap)(*inputs))
    assert _transposes(batched, inputs) <= _transposes(batched, inputs, NO_FUSE)


# --- folds -------------------------------------------------------------------------


def _mixed(x, y):
    return jnp.tanh(jnp.exp(x) * 2.0 + jnp.sin(y))


def test_in_axes_1_elementwise_chain_moves_once():
    """x batched on axis 1, y on axis 0, out_axes 0: vectorization moves y to x's axis
    and the result back (2 transposes); batch-fuse moves x once instead (1)."""
    x, y = _f32(4, 5), _f32(5, 4)
    check(_mixed, (x, y), in_axes=(1, 0))
    batched = vmlir.vmap(_mixed, in_axes=(1, 0))
    assert _transposes(batched, (x, y), NO_FUSE) == 2
    assert _transposes(batched, (x, y)) == 1


def test_nested_in_axes_1_moves_compose():
    """Nested maps over axis 1 and 2: the two moves of the result become one
    (3 transposes -> 2)."""
    x, y = _f32(3, 4, 5), _f32(3, 5, 4)
    inner = vmlir.vmap(_mixed, in_axes=1)
    batched = vmlir.vmap(inner, in_axes=(1, 2))
    want = jax.vmap(jax.vmap(_mixed, in_axes=1), in_axes=(1, 2))(x, y)
    assert_same(vmlir.compile(batched)(x, y), want)
    assert _transposes(batched, (x, y), NO_FUSE) == 3
    assert _transposes(batched, (x, y)) == 2


def test_in_axes_1_out_axes_1_chain_has_no_transpose():
    """An elementwise chain mapped over axis 1 in and out needs no transpose at all."""
    x, y = _f32(4, 5), _f32(4, 5)
    check(_mixed, (x, y), in_axes=1, out_axes=1)
    assert _transposes(vmlir.vmap(_mixed, in_axes=1, out_axes=1), (x, y)) == 0


def _at_b(a, b):
    return a.T @ b


def test_dot_of_transposed_batched_operand_is_one_dot_general():
    """`a.T @ b` with a batched on axis 0: the transpose goes into the dot_general's
    dimension numbers (1 transpose -> 0), still one dot_general."""
    a, b = _f32(6, 3, 4), _f32(3, 5)
    check(_at_b, (a, b), in_axes=(0, None))
    batched = vmlir.vmap(_at_b, in_axes=(0, None))
    assert _transposes(batched, (a, b), NO_FUSE) == 1
    text = _final(batched, (a, b))
    assert text.count('"stablehlo.transpose"') == 0
    assert text.count('"stablehlo.dot_general"') == 1


# --- loop-invariant code motion -----------------------------------------------------


def _loop(w, x):
    return lax.fori_loop(0, 3, lambda i, c: jnp.tanh((w @ w.T) @ c + 1.0), x)


def test_loop_invariant_matmul_leaves_the_loop():
    """`w @ w.T` of an unbatched w inside a fori_loop runs once before the while; the
    loop body keeps one dot_general and no transpose (the batch axis stays put)."""
    w, x = _f32(3, 3), _f32(5, 3)
    check(_loop, (w, x), in_axes=(None, 0))
    module = parse_module(_final(vmlir.vmap(_loop, in_axes=(None, 0)), (w, x)))
    (loop,) = [op for op in module.walk() if isinstance(op, hlo.WhileOp)]
    inside = list(loop.body.walk())
    assert sum(isinstance(op, hlo.DotGeneralOp) for op in inside) == 1
    assert not any(isinstance(op, hlo.TransposeOp) for op in inside)
    outside = [op for op in module.walk() if isinstance(op, hlo.DotGeneralOp)]
    assert len(outside) == 2


def _nested_loop(w, x):
    def inner(j, c):
        return c * jnp.exp(w) + 1.0

    return lax.fori_loop(0, 2, lambda i, c: lax.fori_loop(0, 2, inner, c), x)


def test_nested_loops_hoist_to_the_outside():
    """exp(w) of an unbatched w in an inner loop leaves both loops."""
    w, x = _f32(3), _f32(4, 3)
    check(_nested_loop, (w, x), in_axes=(None, 0))
    module = parse_module(_final(vmlir.vmap(_nested_loop, in_axes=(None, 0)), (w, x)))
    exps = [op for op in module.walk() if isinstance(op, hlo.ExponentialOp)]
    assert len(exps) == 1 and not any(isinstance(p, hlo.WhileOp) for p in _ancestors(exps[0]))


def _ancestors(op):
    while (op := op.parent_op()) is not None:
        yield op


# --- fast_math: squared distances as one GEMM ----------------------------------------


def _sqdist(x, y):
    return jnp.sqrt(jnp.sum((x - y) ** 2))


def _pairwise(vmap):
    return vmap(vmap(_sqdist, in_axes=(None, 0)), in_axes=(0, None))


N, M, F = 20, 30, 16
REL_BOUND = 1e-4
"""docs/passes.md: on well-separated data (|x - y|^2 comparable to |x|^2 + |y|^2) the
expansion's relative error is a few F * eps; 1e-4 leaves a wide margin in float32."""


def _big_shapes() -> set[str]:
    return {f"tensor<{a}x{b}x{c}xf32>" for a, b, c in itertools.permutations((N, M, F))}


def _max_rel(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.abs(want)))


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_fast_math_rbf_gram_within_bound(scale):
    """rbf_gram with fast_math on N(0, scale^2) data (gamma scaled so exp's argument is
    O(1)): max relative error vs jax.vmap's exact form below REL_BOUND."""
    seed = BY_NAME["rbf_gram"]
    gamma = np.float32(1.0 / (2 * F * scale**2))
    x, y = _f32(N, F, scale=scale), _f32(M, F, scale=scale)
    got = vmlir.compile(seed.batch(vmlir.vmap), fast_math=True)(gamma, x, y)
    assert _max_rel(got, seed.batch(jax.vmap)(gamma, x, y)) < REL_BOUND


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_fast_math_pairwise_distances_within_bound(scale):
    """sqrt(sum((x - y) ** 2)) over all pairs with fast_math: relative error below
    REL_BOUND at every scale."""
    x, y = _f32(N, F, scale=scale), _f32(M, F, scale=scale)
    got = vmlir.compile(_pairwise(vmlir.vmap), fast_math=True)(x, y)
    assert _max_rel(got, _pairwise(jax.vmap)(x, y)) < REL_BOUND


@pytest.mark.parametrize(
    "batched, args",
    [
        (BY_NAME["rbf_gram"].batch(vmlir.vmap), (np.float32(0.1), _f32(N, F), _f32(M, F))),
        (_pairwise(vmlir.vmap), (_f32(N, F), _f32(M, F))),
        (BY_NAME["covariance_matrix"].batch(vmlir.vmap), (_f32(N, F), _f32(M, F))),
    ],
    ids=["rbf_gram", "pairwise_sqdist", "covariance_matrix"],
)
def test_fast_math_uses_one_gemm_and_no_n_m_f_tensor(batched, args):
    """fast_math: the final StableHLO has one dot_general and no N x M x F tensor;
    without it, the exact form (the N x M x F difference, no dot_general) stays."""
    fast = _final(batched, args, fast_math=True)
    assert fast.count('"stablehlo.dot_general"') == 1
    assert not any(t in fast for t in _big_shapes())
    exact = _final(batched, args)
    assert '"stablehlo.dot_general"' not in exact
    assert any(t in exact for t in _big_shapes())


def test_fast_math_identical_points_are_never_negative():
    """Distances of a set to itself: the expansion cancels to about 0 on the diagonal;
    the documented clamp keeps it >= 0, so sqrt gives no NaN; the error is bounded by
    eps-scale terms of |x|^2 + |y|^2 (docs/passes.md), not of the distance."""
    x = _f32(N, F) + 10.0
    got = np.asarray(vmlir.compile(_pairwise(vmlir.vmap), fast_math=True)(x, x))
    want = np.asarray(_pairwise(jax.vmap)(x, x))
    assert not np.isnan(got).any() and (got >= 0).all()
    norms = np.sum(x.astype(np.float64) ** 2, axis=1)
    bound = 1e-5 * (norms[:, None] + norms[None, :])
    assert (np.abs(got.astype(np.float64) ** 2 - want.astype(np.float64) ** 2) <= bound).all()


def test_fast_math_exact_when_not_a_distance():
    """fast_math changes nothing where the pattern does not apply: a sum of squares of
    one operand (seed sum_of_squares) is bit-identical to the default."""
    seed = BY_NAME["sum_of_squares"]
    (x,) = seed.inputs(np.random.default_rng(5), 8)
    fast = vmlir.compile(seed.batch(vmlir.vmap), fast_math=True)(x)
    exact = vmlir.compile(seed.batch(vmlir.vmap))(x)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(exact))

