"""Differential fuzzing: random programs through vmlir and through jax.vmap.

    python -m tests.fuzz.run --n 1000 --seed 0 [--verbose] [--only I] [--all-features] [--extra]
    python -m tests.fuzz.run --grad --n 1000 --seed 0    # differentiate the programs
    python -m tests.fuzz.run --widths --n 50   # divergent loops at 512-4096 examples
    python -m tests.fuzz.run --grad --n 5000 --jobs 4   # in 4 processes

Program i of a run comes from `progen.generate(f"{seed}:{i}")`, its inputs from
`numpy.random.default_rng([seed, i])`, so `--seed S --only I` reruns one program, and
`--source FILE --seed S --only I` runs a reported source (maybe edited) on the same inputs.
Each program runs as `vmlir.compile(vmlir.vmap(f, ...))` (nested maps are `vmlir.vmap`)
and as `jax.vmap(f, ...)` (nested maps are `jax.vmap`) on the same inputs, compared by
difftest.assert_same (rtol = atol = 1e-4). Outcomes:

- ok
- mismatch: different structure/shape/dtype/values (compiled at XLA's lowest
  optimization level, and again with its defaults: `_agree_optimized`), or vmlir raised
  a VmlirError (not VmlirUnsupportedError) where jax.vmap did not
- crash: vmlir raised anything that is not a VmlirError (a bug in vmlir)
- unsupported: vmlir raised VmlirUnsupportedError (the generator should avoid these)
- invalid: jax.vmap raised, or returned other shapes than the generator meant (a bug in
  the generator)

With `--grad`, each program is differentiated instead (`check_grad`): jax.grad, with
respect to every float argument leaf, of a random scalar reduction of the batched output
(sum(out * c) over its float leaves, c a fixed pseudo-random array per leaf), through
vmlir's derivative programs and through jax.vmap, compared the same way. A program with
no float argument or output has nothing to differentiate: it counts as invalid.
Programs that round through bfloat16/float16 are compared with LOW_PRECISION_GRAD_TOL.

`--widths` runs tests/fuzz/widths.py's divergent-loop programs at 512-4096 examples
instead, each under every divergence strategy (mask, compact, refill, auto), so that
compaction, refill and region skipping are checked against jax.vmap at the widths where
they switch on; an outcome per program and strategy.

The last line is `programs: N, mismatches: M, crashes: C, unsupported: U, invalid: I`;
the exit code is 1 when there are mismatches or crashes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import vmlir
from tests.fuzz import progen
from vmlir.passes import DEFAULT_PIPELINE
from tests.unit.difftest import assert_same

TOL = 1e-4
FAILURES = ("mismatch", "crash")
LOW_PRECISION_GRAD_TOL = 3e-2
"""Gradients of programs that round through bfloat16/float16: vmlir sums the per-example
cotangents of an in_axes=None input after each example's roundings, where jax.vmap's
program may sum before them (bf16 keeps 8 bits: ~0.4% per rounding)."""


@dataclass(frozen=True)
class Outcome:
    index: int
    kind: str  # ok | mismatch | crash | unsupported | invalid
    program: progen.Program
    error: str = ""

    def report(self, seed: int) -> str:
        return (
            f"--- program {self.index} (--seed {seed} --only {self.index}): {self.kind}\n"
            f"{self.program.source}# error:\n{_indent(self.error)}"
        )


def _indent(text: str) -> str:
    return "".join(f"#   {line}\n" for line in text.rstrip().splitlines())


def _describe(e: BaseException, tb: bool) -> str:
    if tb:
        return "".join(traceback.format_exception(e)).rstrip()
    text = f"{type(e).__module__}.{type(e).__qualname__}: {e}"
    return text if len(text) < 3000 else text[:3000] + " ..."


def program(
    seed: int,
    index: int,
    exclude: Iterable[str] = tuple(progen.KNOWN_ISSUES),
    extra: bool = False,
    n_ops: tuple[int, int] = progen.N_OPS,
) -> progen.Program:
    return progen.generate(f"{seed}:{index}", exclude=exclude, extra=extra, n_ops=n_ops)


class _JaxRaised(Exception):
    """jax.vmap raised while tracing the reference: the program is invalid."""


XLA_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
"""Compile options of the one XLA computation per program: about 4x faster to compile
than the defaults for these small programs, and the same for both sides."""


def _run_both(
    both: Any, args: Sequence[Any], prog: Any, index: int, tb: bool
) -> tuple[Any, Any] | Outcome:
    """(vmlir's result, jax.vmap's) from `both` in one jax.jit, or the Outcome that says
    which side raised (module doc)."""
    try:
        return jax.jit(both).lower(*args).compile(XLA_OPTIONS)(*args)
    except _NothingToDifferentiate:
        return Outcome(index, "invalid", prog, "no float output to differentiate")
    except _JaxRaised as e:
        return Outcome(index, "invalid", prog, "jax.vmap: " + _describe(e.__cause__, tb))
    except vmlir.VmlirUnsupportedError as e:
        return Outcome(index, "unsupported", prog, _describe(e, tb))
    except vmlir.VmlirError as e:
        return Outcome(
            index, "mismatch", prog, "vmlir raised, jax.vmap did not: " + _describe(e, tb)
        )
    except Exception as e:  # noqa: BLE001 - anything else escaping vmlir is a bug
        return Outcome(index, "crash", prog, _describe(e, tb))


def check(prog: progen.Program, seed: int, index: int, tb: bool = False) -> Outcome:
    """Run one program through vmlir and jax.vmap; classify the outcome.

    Both run in ONE jax.jit (one XLA compilation instead of two, the main cost): the
    reference `jax.vmap(f)` is traced first, so an exception from it means an invalid
    program; then `vmlir.compile(vmlir.vmap(f))` is called inside the same trace (the
    documented "called from inside a user's jax.jit" path: vmlir's frontend and passes
    run on the abstract arguments and embed the final StableHLO).
    """
    args = prog.inputs(np.random.default_rng([seed, index]))
    ref, ours = prog.build(jax.vmap), prog.build(vmlir.vmap)
    want_fn = jax.vmap(ref["f"], ref["in_axes"], ref["out_axes"], axis_size=ref["axis_size"])
    got_fn = vmlir.compile(
        vmlir.vmap(ours["f"], ours["in_axes"], ours["out_axes"], axis_size=ours["axis_size"])
    )

    def both(*a: Any) -> Any:
        try:
            want = want_fn(*a)
        except Exception as e:
            raise _JaxRaised() from e
        return got_fn(*a), want

    ran = _run_both(both, args, prog, index, tb)
    if isinstance(ran, Outcome):
        return ran
    got, want = ran
    shapes = tuple(tuple(x.shape) for x in jax.tree_util.tree_leaves(want))
    if prog.out_shapes is not None and shapes != prog.out_shapes:
        msg = f"generator expected output shapes {prog.out_shapes}, jax.vmap gave {shapes}"
        return Outcome(index, "invalid", prog, msg)
    try:
        assert_same(got, want, rtol=TOL, atol=TOL)
    except AssertionError as e:
        if not _agree_optimized(both, args, TOL):
            return Outcome(index, "mismatch", prog, str(e).strip())
    return Outcome(index, "ok", prog)


def _agree_optimized(both: Any, args: Sequence[Any], tol: float) -> bool:
    """Whether both sides agree when compiled with XLA's default options. XLA's lowest
    optimization level (XLA_OPTIONS) computes some programs differently from its
    default, e.g. a NaN in jax.vmap's own gradient program where the optimized program
    and jax.grad of each example give a number: a mismatch counts only when it survives
    the default options too."""
    got, want = jax.jit(both)(*args)
    try:
        assert_same(got, want, rtol=tol, atol=tol)
    except AssertionError:
        return False
    return True


def _loss_weights(o: jax.Array, salt: float) -> jax.Array:
    """A fixed pseudo-random array of o's shape (a random linear reduction of o)."""
    i = jnp.arange(o.size, dtype=jnp.float32).reshape(o.shape)
    return jnp.sin(i * 1.37 + salt)


def _is_float(x: Any) -> bool:
    return bool(jnp.issubdtype(jnp.result_type(x), jnp.floating))


def check_grad(prog: progen.Program, seed: int, index: int, tb: bool = False) -> Outcome:
    """jax.grad of a random scalar reduction of the batched output (module doc), through
    vmlir and through jax.vmap, in one jax.jit; classified as `check` does."""
    args = prog.inputs(np.random.default_rng([seed, index]))
    ref, ours = prog.build(jax.vmap), prog.build(vmlir.vmap)
    want_fn = jax.vmap(ref["f"], ref["in_axes"], ref["out_axes"], axis_size=ref["axis_size"])
    got_fn = vmlir.compile(
        vmlir.vmap(ours["f"], ours["in_axes"], ours["out_axes"], axis_size=ours["axis_size"])
    )
    leaves, tree = jax.tree_util.tree_flatten(args)
    diff = [i for i, x in enumerate(leaves) if _is_float(x)]
    salt = float(np.random.default_rng([seed, index, 1]).uniform(0, 2 * np.pi))

    def grad_of(batched: Any, all_leaves: Sequence[Any]) -> Any:
        def loss(*xs: Any) -> Any:
            full = list(all_leaves)
            for i, x in zip(diff, xs):
                full[i] = x
            out = batched(*tree.unflatten(full))
            outs = [o for o in jax.tree_util.tree_leaves(out) if _is_float(o)]
            if not outs:
                raise _NothingToDifferentiate()
            return sum(
                jnp.sum(o.astype(jnp.float32) * _loss_weights(o, salt + k))
                for k, o in enumerate(outs)
            )

        return jax.grad(loss, argnums=tuple(range(len(diff))))(*(all_leaves[i] for i in diff))

    def both(*all_leaves: Any) -> Any:
        try:
            want = grad_of(want_fn, all_leaves)
        except _NothingToDifferentiate:
            raise
        except Exception as e:
            raise _JaxRaised() from e
        return grad_of(got_fn, all_leaves), want

    if not diff:
        return Outcome(index, "invalid", prog, "no float argument to differentiate")
    ran = _run_both(both, leaves, prog, index, tb)
    if isinstance(ran, Outcome):
        return ran
    got, want = ran
    tol = LOW_PRECISION_GRAD_TOL if "float16" in prog.source else TOL
    try:
        assert_same(got, want, rtol=tol, atol=tol)
    except AssertionError as e:
        if not _agree_optimized(both, leaves, tol):
            return Outcome(index, "mismatch", prog, "gradients differ: " + str(e).strip())
    return Outcome(index, "ok", prog)


class _NothingToDifferentiate(Exception):
    """The program has no float output."""


def check_widths(
    prog: Any, seed: int, index: int, tb: bool = False, strategies: tuple[str, ...] | None = None
) -> list[Outcome]:
    """A widths program under every strategy (or `strategies`), against jax.vmap on the
    same inputs."""
    from tests.fuzz import widths

    args = prog.inputs(np.random.default_rng([seed, index]))
    fn = prog.build()["f"]
    try:
        want = jax.jit(jax.vmap(fn, widths.IN_AXES))(*args)
    except Exception as e:  # noqa: BLE001 - a generator bug
        return [Outcome(index, "invalid", prog, "jax.vmap: " + _describe(e, tb))]
    outcomes = []
    for name in strategies or widths.STRATEGIES:
        # Refill on an eighth of the lanes, and buckets down to 32 lanes: several levels
        # and many refills even at 512 examples.
        options = f"strategy={name} lanes={prog.batch // 8} min_bucket=32"
        pipeline = DEFAULT_PIPELINE.replace("batch-vectorize", "batch-vectorize{" + options + "}")
        labelled = dataclasses.replace(prog, source=f"# strategy: {name}\n{prog.source}")
        try:
            got = vmlir.compile(vmlir.vmap(fn, widths.IN_AXES), pipeline=pipeline)(*args)
            assert_same(got, want, rtol=TOL, atol=TOL)
        except AssertionError as e:
            outcomes.append(Outcome(index, "mismatch", labelled, str(e).strip()))
        except vmlir.VmlirUnsupportedError as e:
            outcomes.append(Outcome(index, "unsupported", labelled, _describe(e, tb)))
        except Exception as e:  # noqa: BLE001 - anything else escaping vmlir is a bug
            outcomes.append(Outcome(index, "crash", labelled, _describe(e, tb)))
        else:
            outcomes.append(Outcome(index, "ok", labelled))
    return outcomes


def run_widths(
    n: int, seed: int = 0, start: int = 0, strategies: tuple[str, ...] | None = None
) -> list[Outcome]:
    from tests.fuzz import widths

    return [
        o
        for i in range(start, start + n)
        for o in check_widths(widths.generate(f"{seed}:{i}"), seed, i, strategies=strategies)
    ]


def run(
    n: int,
    seed: int = 0,
    start: int = 0,
    exclude: Iterable[str] = tuple(progen.KNOWN_ISSUES),
    tb: bool = False,
    extra: bool = False,
    grad: bool = False,
) -> list[Outcome]:
    exclude = tuple(exclude)
    checker = check_grad if grad else check
    return [checker(program(seed, i, exclude, extra), seed, i, tb) for i in range(start, start + n)]


def summary(outcomes: list[Outcome]) -> str:
    c = Counter(o.kind for o in outcomes)
    return (
        f"programs: {len(outcomes)}, mismatches: {c['mismatch']}, crashes: {c['crash']}, "
        f"unsupported: {c['unsupported']}, invalid: {c['invalid']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--n", type=int, default=1000, help="number of programs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", type=int, default=None, help="run program I of this seed only")
    p.add_argument("--verbose", action="store_true", help="print every program, tracebacks")
    p.add_argument(
        "--source",
        metavar="FILE",
        help="run the program in FILE (a reported source; --seed/--only pick its inputs)",
    )
    p.add_argument(
        "--all-features",
        action="store_true",
        help="also generate the features of progen.KNOWN_ISSUES (known to fail today)",
    )
    p.add_argument(
        "--ops",
        type=lambda t: tuple(int(x) for x in t.split(",")),
        default=progen.N_OPS,
        metavar="MIN,MAX",
        help="ops per program (default {},{}; nested bodies add more)".format(*progen.N_OPS),
    )
    p.add_argument(
        "--extra",
        action="store_true",
        help="also generate progen.EXTRA_OPS (gather, scatter, sort, pad, control flow, ...)",
    )
    p.add_argument(
        "--grad",
        action="store_true",
        help="differentiate the programs: jax.grad of a random reduction (check_grad)",
    )
    p.add_argument(
        "--widths",
        action="store_true",
        help="divergent loops at 512-4096 examples under every strategy (tests/fuzz/widths.py)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="check the programs in this many processes (the same outcomes, sooner)",
    )
    a = p.parse_args(argv)
    if a.widths:
        return _main_widths(a)
    checker = check_grad if a.grad else check
    exclude = () if a.all_features else tuple(progen.KNOWN_ISSUES)
    if a.source:
        with open(a.source) as f:
            o = checker(progen.from_source(f.read()), a.seed, a.only or 0, tb=True)
        print(o.report(a.seed) if o.kind != "ok" else "ok")
        return 1 if o.kind in FAILURES else 0
    indices = [a.only] if a.only is not None else range(a.n)
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    job = (a.seed, exclude, a.extra, a.ops, a.grad, a.verbose)
    if a.jobs > 1 and len(indices) > 1:
        checked = _in_workers(job, indices, a.jobs)
    else:
        checked = (o for i in indices for o in _check_chunk((*job, [i])))
    for o in checked:
        outcomes.append(o)
        if a.verbose:
            print(
                o.report(a.seed) if o.kind != "ok" else f"--- program {o.index}: ok\n{o.program.source}",
                flush=True,
            )
        elif o.kind != "ok":
            print(o.report(a.seed), flush=True)
        if len(outcomes) % 100 == 0:  # long runs: show the rate as it goes
            dt = time.perf_counter() - t0
            print(f"# {len(outcomes)} programs in {dt:.0f} s", file=sys.stderr, flush=True)
    dt = time.perf_counter() - t0
    kinds = Counter(o.kind for o in outcomes)
    features = Counter(f for o in outcomes for f in o.program.features)
    print(
        f"# {len(outcomes)} programs in {dt:.1f} s ({len(outcomes) / dt:.1f} programs/s); "
        f"outcomes {dict(kinds)}",
        file=sys.stderr,
    )
    print(f"# features: {dict(sorted(features.items()))}", file=sys.stderr)
    print(summary(outcomes), flush=True)
    return 1 if any(o.kind in FAILURES for o in outcomes) else 0


def _check_chunk(job: tuple[Any, ...]) -> list[Outcome]:
    """The outcomes of programs `indices` (a worker's share with --jobs)."""
    seed, exclude, extra, ops, grad, verbose, indices = job
    checker = check_grad if grad else check
    return [checker(program(seed, i, exclude, extra, ops), seed, i, verbose) for i in indices]


def _in_workers(job: tuple[Any, ...], indices: Sequence[int], jobs: int) -> Iterable[Outcome]:
    """The outcomes of `indices`, in order, checked by `jobs` processes (spawned: jax
    does not survive a fork), a few programs at a time; each program is checked exactly
    as in one process (its program and inputs depend on the seed and index only)."""
    import multiprocessing

    chunks = [list(indices[k : k + 5]) for k in range(0, len(indices), 5)]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for outcomes in pool.imap(_check_chunk, [(*job, c) for c in chunks]):
            yield from outcomes


def _main_widths(a: argparse.Namespace) -> int:
    from tests.fuzz import widths

    indices = [a.only] if a.only is not None else range(a.n)
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    for i in indices:
        for o in check_widths(widths.generate(f"{a.seed}:{i}"), a.seed, i, a.verbose):
            outcomes.append(o)
            if o.kind != "ok":
                print(o.report(a.seed), flush=True)
    features = Counter(f for o in outcomes for f in o.program.features)
    print(f"# {len(outcomes)} program x strategy runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"# features: {dict(sorted(features.items()))}", file=sys.stderr)
    print(summary(outcomes), flush=True)
    return 1 if any(o.kind in FAILURES for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
