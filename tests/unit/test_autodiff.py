"""JAX's differentiation through vmlir functions, against the same program with jax.vmap.

Each test writes one program twice, once around `vmlir.compile(vmlir.vmap(f, ...))` and
once around `jax.vmap(f, ...)`, and compares results on the same random inputs. The
derivative programs are vmlir programs (vmlir/runtime/autodiff.py)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir

RNG = np.random.default_rng(7)
B, D, H = 6, 3, 4


def _f32(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


W = {"W1": _f32(D, H), "b1": _f32(H), "W2": _f32(H)}
X, Y = _f32(B, D), _f32(B)


def mlp_loss(w, x, y):
    h = jnp.tanh(x @ w["W1"] + w["b1"])
    return (h @ w["W2"] - y) ** 2


@functools.cache
def _mlp_pair():
    """The MLP loss batched both ways, shared by the tests (vmlir's derivative programs
    are cached on it, as they would be in a training loop)."""
    return _pair(mlp_loss, (None, 0, 0))


def _pair(f, in_axes=0, out_axes=0, **kw):
    """(vmlir's batched f, jax.vmap's batched f)."""
    ours = vmlir.compile(vmlir.vmap(f, in_axes=in_axes, out_axes=out_axes, **kw))
    kw.pop("chunk_size", None)
    return ours, jax.vmap(f, in_axes=in_axes, out_axes=out_axes, **kw)


# --- reverse mode ---------------------------------------------------------------------


def test_grad_of_mean_loss_wrt_unbatched_weights(assert_same):
    """jax.grad of mean(vmap(loss)) w.r.t. in_axes=None weights: summed cotangents."""
    ours, theirs = _mlp_pair()
    grad = lambda g: jax.grad(lambda w: jnp.mean(g(w, X, Y)))  # noqa: E731
    assert_same(grad(ours)(W), grad(theirs)(W))


def test_grad_wrt_batched_inputs_and_value_and_grad(assert_same):
    """Cotangents of mapped inputs stay per example; value_and_grad over several args."""
    ours, theirs = _mlp_pair()

    def vg(g):
        return jax.value_and_grad(lambda w, x, y: jnp.mean(g(w, x, y)), argnums=(0, 1, 2))

    assert_same(vg(ours)(W, X, Y), vg(theirs)(W, X, Y))


def test_jitted_training_step(assert_same):
    """A jitted SGD step (value_and_grad inside jax.jit), three steps in a row."""

    def step(batched):
        @jax.jit
        def run(w, x, y):
            loss, g = jax.value_and_grad(lambda w: jnp.mean(batched(w, x, y)))(w)
            return loss, jax.tree.map(lambda p, d: p - 0.1 * d, w, g)

        return run

    ours, theirs = (step(b) for b in _mlp_pair())
    wo, wt = W, W
    for _ in range(3):
        lo, wo = ours(wo, X, Y)
        lt, wt = theirs(wt, X, Y)
        assert_same((lo, wo), (lt, wt))


def test_vjp_with_out_axes_none_and_pytree_outputs(assert_same):
    """jax.vjp and jax.jvp of a function with an unbatched (out_axes=None) and a batched
    output: the unbatched output's cotangent counts once, not once per example."""

    def f(w, x):
        return {"shared": jnp.sin(w).sum() * w, "per": jnp.tanh(x * w)}

    ct = {"shared": _f32(D), "per": _f32(B, D)}
    ours, theirs = _pair(f, (None, 0), {"shared": None, "per": 0})
    w = _f32(D)
    got = jax.vjp(ours, w, X)[1](ct)
    want = jax.vjp(theirs, w, X)[1](ct)
    assert_same(got, want)
    t = (_f32(D), _f32(B, D))  # the unbatched output's tangent stays unbatched
    assert_same(jax.jvp(ours, (w, X), t), jax.jvp(theirs, (w, X), t))


def test_grad_outside_and_inside_jit_and_of_a_jitted_helper(assert_same):
    """The same gradient eagerly, under jax.jit, and with vmlir inside the user's jit."""
    ours, theirs = _mlp_pair()
    for wrap in (lambda f: f, jax.jit):
        grad = lambda g: wrap(jax.grad(lambda w: g(w, X, Y).sum()))  # noqa: E731
        assert_same(grad(ours)(W), grad(theirs)(W))
    inner = lambda g: jax.grad(jax.jit(lambda w: g(w, X, Y).sum()))  # noqa: E731
    assert_same(inner(ours)(W), inner(theirs)(W))


def test_checkpoint(assert_same):
    """jax.checkpoint around the vmlir call (and around a loss that calls it)."""
    ours, theirs = _mlp_pair()
    grad = lambda g: jax.grad(jax.checkpoint(lambda w: jnp.mean(g(w, X, Y))))  # noqa: E731
    assert_same(grad(ours)(W), grad(theirs)(W))
    policy = jax.checkpoint_policies.nothing_saveable

    def grad(g):
        return jax.grad(lambda w: jnp.mean(jax.checkpoint(g, policy=policy)(w, X, Y)))

    assert_same(grad(ours)(W), grad(theirs)(W))


# --- forward mode and higher order ------------------------------------------------------


def test_jvp_and_linearize(assert_same):
    """jax.jvp and jax.linearize, tangents for every argument."""
    ours, theirs = _mlp_pair()
    tangents = (jax.tree.map(lambda a: _f32(*a.shape), W), _f32(B, D), _f32(B))
    assert_same(jax.jvp(ours, (W, X, Y), tangents), jax.jvp(theirs, (W, X, Y), tangents))
    y_o, lin_o = jax.linearize(ours, W, X, Y)
    y_t, lin_t = jax.linearize(theirs, W, X, Y)
    assert_same((y_o, lin_o(*tangents)), (y_t, lin_t(*tangents)))


def test_jacfwd_and_jacrev(assert_same):
    """Jacobians of the batched output w.r.t. weights and inputs, both modes."""
    ours, theirs = _mlp_pair()
    for jac in (jax.jacfwd, jax.jacrev):
        j = lambda g: jac(g, argnums=(0, 1))  # noqa: E731
        assert_same(j(ours)(W, X, Y), j(theirs)(W, X, Y), rtol=1e-4, atol=1e-5)


def test_hessian_and_third_order(assert_same):
    """hessian (jacfwd of jacrev) and a third derivative, through derived programs."""

    def f(w, x):
        return jnp.sum(jnp.sin(x * w) * w**2)

    w, x = _f32(D), _f32(B, D)
    ours, theirs = _pair(f, (None, 0))
    hess = lambda g: jax.hessian(lambda w: g(w, x).sum())  # noqa: E731
    assert_same(hess(ours)(w), hess(theirs)(w), rtol=1e-4, atol=1e-4)
    third = lambda g: jax.jacfwd(jax.hessian(lambda w: g(w, x).sum()))  # noqa: E731
    assert_same(third(ours)(w), third(theirs)(w), rtol=1e-4, atol=1e-4)


# --- zeros and integers -----------------------------------------------------------------


def test_integer_inputs_get_float0_cotangents(assert_same):
    """grad w.r.t. an int input (allow_int) is float0, as jax gives it."""

    def f(x, k):
        return jnp.sin(x) * k

    x, k = _f32(B), np.arange(B, dtype=np.int32)
    ours, theirs = _pair(f)
    g = lambda b: jax.grad(lambda x, k: b(x, k).sum(), argnums=(0, 1), allow_int=True)  # noqa: E731
    got, want = g(ours)(x, k), g(theirs)(x, k)
    assert got[1].dtype == want[1].dtype == jax.dtypes.float0
    assert_same(got[0], want[0])


def test_symbolic_zeros_are_kept(assert_same):
    """An output that does not depend on the differentiated input gets a zero cotangent
    and tangent; a zero tangent input (jvp w.r.t. one argument) is not computed."""

    def f(x, y):
        return jnp.sin(x), y * 2.0

    x, y = _f32(B), _f32(B)
    ours, theirs = _pair(f)
    for g in (ours, theirs):
        _, t = jax.jvp(lambda x: g(x, y), (x,), (jnp.ones_like(x),))
        assert not np.any(np.asarray(t[1]))
    jac = lambda g: jax.jacrev(lambda x: g(x, y))(x)  # noqa: E731
    assert_same(jac(ours), jac(theirs))
    jaxpr = jax.make_jaxpr(lambda t: jax.jvp(lambda x: ours(x, y), (x,), (t,)))(x)
    # the tangent program takes x, y and the tangent of x only (y's is a symbolic zero)
    calls = [e for e in _eqns(jaxpr.jaxpr) if e.primitive.name == "vmlir_call"]
    assert [len(e.invars) for e in calls] == [2, 3]


def _eqns(jaxpr):
    for e in jaxpr.eqns:
        yield e
        for p in e.params.values():
            if hasattr(p, "jaxpr"):
                yield from _eqns(p.jaxpr)


# --- control flow and options -----------------------------------------------------------


def _varying_cond(w, x):
    return lax.cond(x.sum() > 0, lambda v: jnp.sin(v * w), lambda v: jnp.cos(v) * w, x).sum()


def _fori(w, x):
    return lax.fori_loop(0, 3, lambda i, v: jnp.tanh(v * w + i), x).sum()


def _scan(w, x):
    def body(c, xi):
        c = jnp.tanh(c * w + xi)
        return c, c * 2.0

    c, ys = lax.scan(body, jnp.zeros(()), x)
    return c + ys.sum()


@pytest.mark.parametrize("f", [_varying_cond, _fori, _scan], ids=["cond", "fori", "scan"])
def test_grad_through_control_flow(f, assert_same):
    """grad w.r.t. weights and inputs through a varying cond, a fori_loop and a scan."""
    w = np.float32(0.7) if f is not _varying_cond else _f32(D)
    ours, theirs = _pair(f, (None, 0))
    g = lambda b: jax.grad(lambda w, x: b(w, x).mean(), argnums=(0, 1))  # noqa: E731
    assert_same(g(ours)(w, X), g(theirs)(w, X))


def _newton_sqrt(a):
    def cond(c):
        return jnp.abs(c[0] * c[0] - a) > 1e-5

    def body(c):
        return (0.5 * (c[0] + a / c[0]),)

    return lax.while_loop(cond, body, (a,))[0]


def test_varying_while_in_forward_mode(assert_same):
    """A while loop whose trip count differs per example: jvp and jacfwd work."""
    a = np.abs(_f32(B)) + 0.5
    ours, theirs = _pair(_newton_sqrt)
    t = np.ones(B, np.float32)
    assert_same(jax.jvp(ours, (a,), (t,)), jax.jvp(theirs, (a,), (t,)))
    assert_same(jax.jacfwd(ours)(a), jax.jacfwd(theirs)(a))


def test_reverse_mode_through_while_is_a_clear_error():
    """grad through a while loop: vmlir names the transformation and what to do instead."""
    ours = vmlir.compile(vmlir.vmap(_newton_sqrt))
    with pytest.raises(vmlir.VmlirUnsupportedError) as e:
        jax.grad(lambda a: ours(a).sum())(np.abs(_f32(B)) + 0.5)
    assert str(e.value).startswith(
        "reverse-mode differentiation (jax.grad / jax.vjp) of a vmlir.vmap whose function "
        "runs a lax.while_loop"
    )
    assert "Use forward mode (jax.jvp, jax.jacfwd)" in str(e.value)


def test_grad_of_a_chunked_vmap(assert_same):
    """chunk_size: the derivative programs are chunked too and give the same gradient."""
    ours, theirs = _pair(mlp_loss, (None, 0, 0), chunk_size=4)
    g = lambda b: jax.grad(lambda w, x: b(w, x, Y).sum(), argnums=(0, 1))  # noqa: E731
    assert_same(g(ours)(W, X), g(theirs)(W, X))
    text = ours.lower_vjp(W, X, Y).as_text("batch", generic=True)
    assert "chunk_size = 4" in text


def test_grad_with_python_control_flow(assert_same):
    """A per-example function with a Python `if` on a traced value (converted by vmlir)."""

    def huber(w, x):
        e = jnp.sum(x * w)
        if jnp.abs(e) < 0.5:
            r = 0.5 * e * e
        else:
            r = 0.5 * (jnp.abs(e) - 0.25)
        return r

    ours = vmlir.compile(vmlir.vmap(huber, in_axes=(None, 0)))
    w = _f32(D)

    def reference(w, x):
        e = jnp.sum(x * w)
        return jnp.where(jnp.abs(e) < 0.5, 0.5 * e * e, 0.5 * (jnp.abs(e) - 0.25))

    theirs = jax.vmap(reference, in_axes=(None, 0))
    g = lambda b: jax.grad(lambda w: b(w, X).sum())  # noqa: E731
    assert_same(g(ours)(w), g(theirs)(w))


def test_nested_vmlir_vmap_and_kwargs(assert_same):
    """grad through a compiled function with a nested vmlir.vmap and keyword arguments."""

    def inner(w, x):
        return jnp.sin(x @ w)

    def f(w, x, *, scale):
        return vmlir.vmap(inner, in_axes=(None, 0))(w, x).sum() * scale

    def f_ref(w, x, *, scale):
        return jax.vmap(inner, in_axes=(None, 0))(w, x).sum() * scale

    w, x, s = _f32(D, H), _f32(B, 5, D), _f32(B)
    ours = vmlir.compile(vmlir.vmap(f, in_axes=(None, 0)))
    theirs = jax.vmap(f_ref, in_axes=(None, 0))
    g = lambda b: jax.grad(lambda w, s: b(w, x, scale=s).sum(), argnums=(0, 1))  # noqa: E731
    assert_same(g(ours)(w, s), g(theirs)(w, s))


# --- the derivative programs themselves ------------------------------------------------


def test_derivative_programs_are_cached_per_signature():
    """The same grad traced twice compiles each derivative program once."""
    ours = vmlir.compile(vmlir.vmap(mlp_loss, in_axes=(None, 0, 0)))
    grad = jax.grad(lambda w, x, y: jnp.mean(ours(w, x, y)))
    grad(W, X, Y)
    (h,) = [p.handle for p in ours._programs.values()]
    derived = dict(h._derived)
    backend = ours.backend()
    counts = {k: len(backend._compile(d)._programs) for k, d in derived.items()}
    jax.jit(grad)(W, X, Y)  # a new trace: same handles, same programs
    assert dict(h._derived) == derived
    assert {k: len(backend._compile(d)._programs) for k, d in derived.items()} == counts


def test_lower_vjp_sums_unbatched_cotangents_in_our_program():
    """Compiled.lower_vjp: the cotangent of an in_axes=None input is a sum over the batch
    inside vmlir's program (after batch.vmap in the batch stage; one dot_general
    contracting the batch in the final program, where it was an outer product; the
    third dot is the forward pass, recomputed)."""
    ours = vmlir.compile(vmlir.vmap(lambda w, x: jnp.tanh(x @ w), in_axes=(None, 0)))
    w, x = _f32(D, H), _f32(B, D)
    lowered = ours.lower_vjp(w, x)
    batch = lowered.as_text("batch")
    assert batch.index("batch.vmap") < batch.index("stablehlo.reduce")
    final = lowered.as_text("stablehlo")
    assert "stablehlo.reduce" not in final and final.count("stablehlo.dot_general") == 3
    assert "jvp" in ours.lower_jvp(w, x).as_text("jax")


def test_grad_of_a_nested_vmlir_vmap_inside_vmlir_vmap(assert_same):
    """vmlir.vmap(jax.grad(... vmlir.vmap(f) ...)): the nested map's marker is
    differentiated while the outer map is traced (its derivative is a nested map too)."""

    def f(w, x):
        return jnp.tanh(x @ w)

    def per(vmap):
        return jax.grad(lambda w, x: vmap(f, in_axes=(None, 0))(w, x).sum())

    w, x = _f32(D, 2), _f32(B, 5, D)
    got = vmlir.compile(vmlir.vmap(per(vmlir.vmap), in_axes=(None, 0)))(w, x)
    assert_same(got, jax.vmap(per(jax.vmap), in_axes=(None, 0))(w, x))


def test_reverse_mode_through_while_in_a_nested_vmap_is_a_clear_error():
    """The same error when the while loop is in a nested vmlir.vmap under jax.grad."""

    def per(a):
        return jax.grad(lambda a: vmlir.vmap(_newton_sqrt)(a).sum())(a)

    with pytest.raises(vmlir.VmlirUnsupportedError, match="^reverse-mode differentiation"):
        vmlir.compile(vmlir.vmap(per))(np.abs(_f32(B, 2)) + 0.5)
