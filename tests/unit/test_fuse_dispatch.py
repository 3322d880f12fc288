"""batch-fuse offers each op only the patterns of its type (ByTypePatternApplier): the
result is the one xDSL's greedy applier reaches trying every pattern on every op."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriteWalker

import vmlir
from vmlir.compiler import Stages, run_pipeline
from vmlir.examples.seeds import SEEDS
from vmlir.ir import make_context, parse_module, print_generic
from vmlir.passes.fuse import BatchFusePass, ByTypePatternApplier

_BEFORE_FUSE = "batch-propagate-axes,batch-mask-control-flow,batch-chunk,batch-vectorize"


def _vectorized(batched, args) -> str:
    """The module after batch-vectorize (generic text), ready for batch-fuse."""
    text = vmlir.compile(batched).lower(*args).as_text("batch", generic=True)
    module = parse_module(text, make_context(allow_unregistered=True))
    run_pipeline(module, _BEFORE_FUSE, Stages(False), verify_each=True)
    return print_generic(module)


def _fused(text: str, applier_for) -> str:
    module = parse_module(text, make_context(allow_unregistered=True))
    PatternRewriteWalker(applier_for(BatchFusePass(algebraic=True).patterns())).rewrite_module(module)
    module.verify()
    return print_generic(module)


def _greedy(patterns):
    return GreedyRewritePatternApplier([p for p, _ in patterns])


def _mixed(x, w):
    return jnp.tanh(w @ x.T).T.sum(0) + jnp.sum((x[:, None] - x[None]) ** 2, -1).mean()


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_same_result_as_greedy_on_seeds(seed):
    text = _vectorized(seed.batch(vmlir.vmap), seed.inputs(np.random.default_rng(0), 4, 3))
    assert _fused(text, ByTypePatternApplier) == _fused(text, _greedy)


def test_same_result_as_greedy_with_transposes():
    x = np.random.default_rng(1).standard_normal((6, 4, 3)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    text = _vectorized(vmlir.vmap(_mixed, in_axes=(1, None)), (x, w))
    fused = _fused(text, ByTypePatternApplier)
    assert fused == _fused(text, _greedy)
    assert fused != text  # the fold patterns did rewrite something


def test_each_op_is_offered_only_its_patterns():
    offered: list[tuple[str, str]] = []

    class Spy:
        def __init__(self, name):
            self.name = name

        def match_and_rewrite(self, op, rewriter):
            offered.append((self.name, op.name))

    from vmlir.dialects import stablehlo as hlo

    applier = ByTypePatternApplier(
        [(Spy("elementwise"), (hlo.ElementwiseOp,)), (Spy("reduce"), (hlo.ReduceOp,))]
    )
    x = np.ones((4, 3), np.float32)
    text = _vectorized(vmlir.vmap(lambda v: jnp.sum(jnp.tanh(v) * 2.0)), (x,))
    module = parse_module(text, make_context(allow_unregistered=True))
    PatternRewriteWalker(applier).rewrite_module(module)
    assert offered, "no op was offered a pattern"
    for pattern, op_name in offered:
        if pattern == "reduce":
            assert op_name == "stablehlo.reduce"
        else:
            assert op_name in ("stablehlo.tanh", "stablehlo.multiply", "stablehlo.add")
