"""jax.custom_batching.custom_vmap and sequential_vmap under vmlir.vmap, against jax.vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.custom_batching import custom_vmap, sequential_vmap

import vmlir
from tests.unit.difftest import assert_same, check


@custom_vmap
def scaled_sine(x, w):
    return jnp.sin(x) * w


@scaled_sine.def_vmap
def _scaled_sine_rule(axis_size, in_batched, x, w):
    # Deliberately NOT the body batched: cos instead of sin, plus the axis size, so a
    # test fails if vmlir batches the body instead of calling the rule.
    x_batched, w_batched = in_batched
    return jnp.cos(x) * w + axis_size, x_batched or w_batched


def _uses_rule(x, w):
    return scaled_sine(x * 2.0, w) + 1.0


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (1, None)])
def test_rule_that_differs_from_its_body(in_axes):
    """The user's rule is used, with jax.vmap's in_batched flags and axis size."""
    rng = np.random.default_rng(0)
    shapes = {0: (5, 3), 1: (3, 5), None: (3,)}
    args = [rng.normal(size=shapes[a]).astype(np.float32) for a in in_axes]
    check(_uses_rule, args, in_axes=in_axes)
    body_batched = jax.vmap(lambda x, w: jnp.sin(2 * x) * w + 1, in_axes=in_axes)(*args)
    got = vmlir.vmap(_uses_rule, in_axes=in_axes)(*args)
    assert not np.allclose(got, body_batched)


def test_uniform_operands_use_the_body():
    """A custom_vmap call whose operands every example shares runs its body once."""
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    check(lambda x, w: x + scaled_sine(w, w), [x, w], in_axes=(0, None))


def test_sequential_vmap():
    """sequential_vmap: the function runs once per example in a loop, as jax.vmap does."""

    @sequential_vmap
    def normalise(x):
        return x / jnp.sum(x)

    x = np.abs(np.random.default_rng(2).normal(size=(6, 4))).astype(np.float32) + 0.1
    check(normalise, [x])


def test_rule_inside_nested_vmap():
    """custom_vmap under two nested vmlir.vmap: the rule is called for each axis."""
    y = np.random.default_rng(3).normal(size=(2, 4, 3)).astype(np.float32)
    w = np.float32(0.5)
    want = jax.vmap(jax.vmap(_uses_rule, in_axes=(0, None)), in_axes=(0, None))(y, w)
    got = vmlir.vmap(vmlir.vmap(_uses_rule, in_axes=(0, None)), in_axes=(0, None))(y, w)
    assert_same(got, want)


def test_rule_shows_in_the_ir():
    """The imported IR holds a batch.custom_vmap naming the rule; the final one does not."""
    x, w = np.ones((5, 3), np.float32), np.ones(3, np.float32)
    lowered = vmlir.compile(vmlir.vmap(_uses_rule, in_axes=(0, None))).lower(x, w)
    assert "batch.custom_vmap" in lowered.as_text("batch")
    assert "_scaled_sine_rule#" in lowered.as_text("batch")
    final = lowered.as_text("stablehlo")
    assert "stablehlo.cosine" in final and "stablehlo.sine" not in final


@custom_vmap
def _tree_fn(x, d):
    return {"y": jnp.sin(x) * d["a"], "s": jnp.sum(x)}


@_tree_fn.def_vmap
def _tree_rule(axis_size, in_batched, x, d):
    x_batched, d_batched = in_batched
    s = jnp.sum(x, axis=-1) if x_batched else jnp.sum(x)
    out = {"y": jnp.cos(x) * d["a"], "s": s + 1.0}
    return out, {"y": x_batched or d_batched["a"], "s": x_batched}


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (0, None)])
def test_pytree_rule_with_unbatched_outputs(in_axes):
    """Pytree arguments and results; the rule leaves an output unbatched where it says so."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    args = [x if a == 0 else x[0] for a in in_axes]
    check(lambda x, a: _tree_fn(x, {"a": a}), args, in_axes=in_axes)


def test_forward_mode_through_custom_vmap():
    """jax.jvp of a custom_vmap function per example: JAX's JVP of the rule, batched."""
    x = np.random.default_rng(5).normal(size=(5, 3)).astype(np.float32)
    check(lambda x: jax.jvp(lambda x: scaled_sine(x, x), (x,), (jnp.ones_like(x),)), [x])


_FRESH = """
import jax, jax.numpy as jnp, numpy as np
from jax.custom_batching import custom_vmap
import vmlir

@custom_vmap
def f(x):
    return jnp.sin(x)

@f.def_vmap
def _rule(axis_size, in_batched, x):
    return jnp.cos(x), in_batched[0]

x = np.linspace(0.0, 1.0, 6, dtype=np.float32)
np.testing.assert_allclose(vmlir.vmap(f)(x), jax.vmap(f)(x), rtol=1e-6)
print("OK")
"""


def test_rule_is_used_on_the_first_compile_of_a_fresh_process(tmp_path):
    """The marker lowering is installed by `import vmlir`, not by the (lazily imported)
    importer: the very first trace in a process already leaves the marker."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VMLIR_CACHE": "0", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stderr


def test_reverse_mode_through_custom_vmap_is_unsupported():
    """jax.grad through vmlir.vmap of a custom_vmap function names the transformation and
    the line that calls the function. (jax.grad(jax.vmap(f)) works: jax.vmap applies the
    rule before JAX linearizes; vmlir differentiates one example, and JAX cannot
    linearize a custom_vmap function one example at a time: jax.grad of the unbatched
    function fails in JAX too.)"""
    import inspect

    x = np.random.default_rng(6).normal(size=(5, 3)).astype(np.float32)
    w = np.float32(0.7)
    with pytest.raises(ValueError, match="Linearization failed"):
        jax.grad(lambda x: _uses_rule(x, w).sum())(x[0])
    line = inspect.getsourcelines(_uses_rule)[1] + 1
    want = (
        "reverse-mode differentiation (jax.grad / jax.vjp) under vmlir.vmap of a "
        f"jax.custom_batching.custom_vmap function (called from {__file__}:{line}): JAX "
        "cannot linearize it one example at a time, and vmlir differentiates one example "
        "before batching; use forward mode (jax.jvp, jax.jacfwd), or map that function "
        "with jax.vmap"
    )
    batched = vmlir.vmap(_uses_rule, in_axes=(0, None))
    with pytest.raises(vmlir.VmlirUnsupportedError) as e:
        jax.grad(lambda x: batched(x, w).sum())(x)
    assert str(e.value) == want
