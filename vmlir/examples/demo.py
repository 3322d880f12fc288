"""`make demo`: the seed programs through vmlir, checked against jax.vmap, and timed.

1. Compiles every seed program with `vmlir.compile(vmlir.vmap(...))` and checks shape,
   dtype and values against `jax.vmap` on the same random inputs.
2. Prints the IR of the RBF gram matrix, in the pretty syntax, before the passes (batch
   dialect, nested batch.vmap) and after them (the StableHLO handed to XLA).
3. Times vmlir, jax.jit(jax.vmap) and a Python loop (on a slice of the batch, scaled up)
   in one process, alternating the contenders round by round; prints medians in seconds
   and the median per-round ratio.
4. Measures dispatch cost on a tiny input: vmlir vs a plain jax.jit function.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

import vmlir
from vmlir.examples.seeds import SEEDS, Seed


def _block(x: Any) -> Any:
    return jax.block_until_ready(x)


def check_seeds(n: int = 8) -> bool:
    rng = np.random.default_rng(0)
    ok = True
    print(f"{'program':<22} {'shape':<12} {'dtype':<8} max |vmlir - jax.vmap|")
    for seed in SEEDS:
        args = seed.inputs(rng, n)
        got = vmlir.compile(seed.batch(vmlir.vmap))(*args)
        want = seed.batch(jax.vmap)(*args)
        err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
        same = got.shape == want.shape and got.dtype == want.dtype and err <= 1e-5
        ok &= same
        print(f"{seed.name:<22} {str(got.shape):<12} {str(got.dtype):<8} {err:.2e} {'ok' if same else 'MISMATCH'}")
    return ok


def show_ir() -> None:
    seed = next(s for s in SEEDS if s.name == "rbf_gram")
    args = seed.inputs(np.random.default_rng(0), 4)
    lowered = vmlir.compile(seed.batch(vmlir.vmap)).lower(*args)
    print("--- RBF gram matrix, batch dialect (before the passes) ---")
    print(lowered.as_text("batch"))
    print("--- after batch-propagate-axes, batch-vectorize, batch-lower: StableHLO for XLA ---")
    print(lowered.as_text("stablehlo"))


def _median_times(
    contenders: dict[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median seconds per call of each contender, and the per-round times. Rounds alternate the order (forwards,
    then backwards), so no contender always runs right after the Python loop (whose
    cache footprint slows whatever comes next); fast calls are repeated to >= 20 ms."""
    inner: dict[str, int] = {}
    for name, fn in contenders.items():  # compile and warm up outside the timed rounds
        _block(fn())
        t0 = time.perf_counter()
        _block(fn())
        inner[name] = max(1, min(1000, int(0.02 / max(time.perf_counter() - t0, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = contenders[name]
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                _block(fn())
            times[name].append((time.perf_counter() - t0) / inner[name])
    return {name: statistics.median(ts) for name, ts in times.items()}, times


# (batch size, feature size) for the timing table: big enough that XLA's work, not
# dispatch, dominates on a laptop CPU.
_SIZES = {
    "sum_of_squares": (4096, 128),
    "predict": (4096, 128),
    "pairwise_distances": (500, 64),
    "rbf_gram": (500, 64),
    "covariance_matrix": (500, 64),
    "per_example_grads": (4096, 64),
}
_LOOP_SAMPLE = 64


def _mapped_args(seed: Seed, args: tuple[Any, ...], n: int) -> list[int]:
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.shape[:1] in ((n,), (n + 1,), (n + 2,), (n + 3,))]


def _python_loop(seed: Seed, args: tuple[Any, ...], n: int) -> tuple[Callable[[], Any], float]:
    """A Python loop over _LOOP_SAMPLE examples (one jitted per-example call each), and the
    factor that scales its time to the whole batch (n examples, or n*m pairs if nested)."""
    single = jax.jit(seed.per_example)
    mapped = _mapped_args(seed, args, n)
    total = n
    if seed.nested:
        total = n * args[mapped[1]].shape[0]

    def loop() -> Any:
        out = []
        for k in range(_LOOP_SAMPLE):
            call_args = [a[k] if i in mapped else a for i, a in enumerate(args)]
            out.append(single(*call_args))
        return _block(out)

    return loop, total / _LOOP_SAMPLE


def time_seeds(rounds: int) -> None:
    rng = np.random.default_rng(1)
    print(
        f"{'program':<20} {'batch x features':>17} {'vmlir s':>10} {'jax.jit(vmap) s':>16} "
        f"{'python loop s':>14} {'jax/vmlir':>10}"
    )
    for seed in SEEDS:
        n, d = _SIZES[seed.name]
        args = seed.inputs(rng, n, d)
        ours = vmlir.compile(seed.batch(vmlir.vmap))
        theirs = jax.jit(seed.batch(jax.vmap))
        loop, scale = _python_loop(seed, args, n)
        on_device = jax.device_put(args)  # time the programs, not host-to-device copies
        t, per_round = _median_times(
            {"vmlir": lambda: ours(*on_device), "jax": lambda: theirs(*on_device), "loop": loop},
            rounds,
        )
        shape = f"{n}x{d}" if not seed.nested else f"{n}x{n}x{d}"
        print(
            f"{seed.name:<20} {shape:>17} {t['vmlir']:>10.6f} {t['jax']:>16.6f} "
            f"{t['loop'] * scale:>14.4f} {_ratio(per_round['jax'], per_round['vmlir']):>9.2f}x"
        )
    print(
        f"(jax/vmlir: median of per-round ratios, > 1: vmlir is faster; python loop: "
        f"{_LOOP_SAMPLE} examples timed, scaled; `make bench` measures longer and shows "
        "where XLA runs the very same program for both)"
    )


def _ratio(num: list[float], den: list[float]) -> float:
    """Median per-round ratio: each pair ran moments apart, so machine drift cancels."""
    return statistics.median(a / b for a, b in zip(num, den))


def time_dispatch(rounds: int = 2000) -> None:
    x = np.ones((2, 3), np.float32)
    ours = vmlir.compile(vmlir.vmap(SEEDS[0].per_example))
    plain = jax.jit(lambda v: (v**2).sum(axis=1))
    ours_x, plain_x = jax.device_put(x), jax.device_put(x)
    for fn, arg in ((ours, ours_x), (plain, plain_x)):
        _block(fn(arg))
    per_call: dict[str, list[float]] = {"vmlir": [], "jax.jit": []}
    for _ in range(20):
        for name, fn, arg in (("vmlir", ours, ours_x), ("jax.jit", plain, plain_x)):
            t0 = time.perf_counter()
            for _ in range(rounds // 20):
                fn(arg)
            _block(fn(arg))
            per_call[name].append((time.perf_counter() - t0) / (rounds // 20 + 1))
    a, b = statistics.median(per_call["vmlir"]), statistics.median(per_call["jax.jit"])
    print(f"dispatch on a (2, 3) input: vmlir {a * 1e6:.1f} us, jax.jit {b * 1e6:.1f} us, ratio {a / b:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--no-ir", action="store_true", help="skip printing the IR")
    args = parser.parse_args(argv)
    print("== seed programs: vmlir vs jax.vmap ==")
    ok = check_seeds()
    if not args.no_ir:
        print("\n== IR before and after the passes ==")
        show_ir()
    print("== timings (median of rounds, seconds, this machine) ==")
    time_seeds(args.rounds)
    time_dispatch()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
