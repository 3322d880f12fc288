"""Differential fuzzing in the test suite: 300 random programs (tests/fuzz/progen.py), run
by vmlir and by jax.vmap through tests/fuzz/run.py's code path, in batches of 50 so a
failure names its batch, and 100 of them differentiated. `python -m tests.fuzz.run --seed
0 --only I` reruns program I.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.fuzz` is imported from the repository root
    sys.path.insert(0, str(ROOT))

from tests.fuzz import progen, run

SEED = 0
BATCH = 50
N_PROGRAMS = 300


@pytest.mark.parametrize(
    "start", range(0, N_PROGRAMS, BATCH), ids=lambda s: f"programs{s}-{s + BATCH - 1}"
)
def test_random_programs_match_jax_vmap(start):
    outcomes = run.run(BATCH, seed=SEED, start=start)
    bad = [o for o in outcomes if o.kind in run.FAILURES]
    assert not bad, (
        f"{len(bad)} of {len(outcomes)} programs differ from jax.vmap "
        f"({run.summary(outcomes)}):\n\n" + "\n".join(o.report(SEED) for o in bad)
    )
    # the generator must not drift into programs jax rejects, or ops vmlir lacks
    odd = [o for o in outcomes if o.kind in ("invalid", "unsupported")]
    assert len(odd) <= 1, "\n".join(o.report(SEED) for o in odd)


# --- the generator and the runner themselves ------------------------------------------


def test_generator_is_deterministic_and_source_is_self_contained():
    """Same seed, same source; the source alone (with jnp and vmap) defines everything."""
    for i in range(30):
        a, b = progen.generate(f"t:{i}"), progen.generate(random.Random(f"t:{i}"))
        assert a.source == b.source
        ns = a.build(jax.vmap)
        assert callable(ns["f"])
        assert ns["shapes"] == a.shapes
        for name in ("in_axes", "out_axes", "axis_size"):
            assert name in ns


def test_generator_covers_the_op_families():
    """Over a few hundred programs every requested feature shows up."""
    features = set()
    for i in range(300):
        features |= progen.generate(f"cover:{i}").features
    wanted = {
        "neg",
        "exp",
        "tanh",
        "sin",
        "abs",
        "sqrt",
        "log1p",
        "square",
        "binary",
        "div",
        "where",
        "reduce",
        "dot",
        "matmul",
        "einsum",
        "reshape",
        "permute",
        "expand_dims",
        "slice",
        "concatenate",
        "stack",
        "astype",
        "vmap",
    }
    assert wanted <= features, f"never generated: {sorted(wanted - features)}"
    assert not features & set(progen.KNOWN_ISSUES)


def _program(body: str) -> progen.Program:
    return progen.from_source(
        f"def f(x0):\n    return {body}\n\nin_axes = 0\nout_axes = 0\naxis_size = None\n"
        "shapes = [((3, 2), 'float32')]\n"
    )


def test_runner_classifies_outcomes():
    """ok / mismatch / crash / invalid are told apart (vmap is in the program's namespace:
    a program can tell which side runs it, which is how these fake a vmlir bug)."""
    ok = _program("jnp.tanh(x0) * 2.0")
    assert run.check(ok, 0, 0).kind == "ok"
    wrong = _program("x0 * (2.0 if vmap.__module__.startswith('vmlir') else 3.0)")
    assert run.check(wrong, 0, 0).kind == "mismatch"
    crash = _program("x0 if vmap.__module__.startswith('jax') else {}['boom']")
    o = run.check(crash, 0, 0)
    assert o.kind == "crash" and "KeyError" in o.error
    invalid = _program("x0 @ jnp.ones((5,))")
    assert run.check(invalid, 0, 0).kind == "invalid"
    assert run.summary([run.check(ok, 0, 0), run.check(wrong, 0, 0)]) == (
        "programs: 2, mismatches: 1, crashes: 0, unsupported: 0, invalid: 0"
    )


# --- the same programs, differentiated (run.check_grad) -------------------------------

N_GRAD_PROGRAMS = 100


@pytest.mark.parametrize(
    "start", range(0, N_GRAD_PROGRAMS, BATCH), ids=lambda s: f"grad{s}-{s + BATCH - 1}"
)
def test_gradients_of_random_programs_match_jax_vmap(start):
    """jax.grad of a random reduction of each program's output, through vmlir's derivative
    programs and through jax.vmap (`python -m tests.fuzz.run --grad --seed 0 --only I`)."""
    outcomes = run.run(BATCH, seed=SEED, start=start, grad=True)
    bad = [o for o in outcomes if o.kind in run.FAILURES]
    assert not bad, (
        f"{len(bad)} of {len(outcomes)} gradients differ from jax.vmap's "
        f"({run.summary(outcomes)}):\n\n" + "\n".join(o.report(SEED) for o in bad)
    )
    # Programs with only int inputs or outputs have nothing to differentiate (invalid).
    odd = [o for o in outcomes if o.kind in ("invalid", "unsupported")]
    assert len(odd) <= 8 and not any(o.kind == "unsupported" for o in odd), "\n".join(
        o.report(SEED) for o in odd
    )


def test_grad_runner_classifies_outcomes():
    """check_grad tells ok, mismatch and invalid (nothing to differentiate) apart."""
    ok = _program("jnp.tanh(x0) * 2.0")
    assert run.check_grad(ok, 0, 0).kind == "ok"
    wrong = _program(
        "jax.lax.stop_gradient(x0) if vmap.__module__.startswith('vmlir') else x0"
    )
    o = run.check_grad(wrong, 0, 0)
    assert o.kind == "mismatch" and o.error.startswith("gradients differ")
    ints = _program("(x0 * 4.0).astype(jnp.int32)")
    assert run.check_grad(ints, 0, 0).kind == "invalid"


def test_workers_give_the_outcomes_of_one_process():
    """--jobs: programs checked in spawned processes have the outcomes (and order) of the
    same programs checked here."""
    job = (7, tuple(progen.KNOWN_ISSUES), False, progen.N_OPS, True, False)
    indices = range(3)
    here = [o for i in indices for o in run._check_chunk((*job, [i]))]
    there = list(run._in_workers(job, indices, 2))
    assert [(o.index, o.kind, o.program.source) for o in there] == [
        (o.index, o.kind, o.program.source) for o in here
    ]


def test_a_difference_only_at_xlas_lowest_optimization_level_is_no_mismatch():
    """Seed 5 program 324: jax.vmap's own gradient program gives NaN for one example
    when XLA compiles it at its lowest optimization level, the number that jax.grad of
    that example (and vmlir) gives at XLA's default options."""
    import numpy as np

    prog = run.program(5, 324)
    x0, x1 = (np.asarray(a) for a in prog.inputs(np.random.default_rng([5, 324])))
    f = prog.build(jax.vmap)["f"]
    w = np.sin(np.arange(3, dtype=np.float32) + 1.0).reshape(1, 3, 1)  # outputs (1, 3, 1)

    def grad_x0(a, b):
        return jax.grad(lambda a: (jax.vmap(f, out_axes=1)(a, b) * w).sum())(a)

    lowest = jax.jit(grad_x0).lower(x0, x1).compile(run.XLA_OPTIONS)(x0, x1)
    default = jax.jit(grad_x0)(x0, x1)
    per_example = [jax.grad(lambda a: (f(a, x1[i]) * w[:, i]).sum())(x0[i]) for i in range(3)]
    np.testing.assert_allclose(default, per_example, rtol=1e-5)
    if not np.isnan(lowest).any():
        pytest.skip("this XLA computes the same at its lowest optimization level")
    assert run.check_grad(prog, 5, 324).kind == "ok"
