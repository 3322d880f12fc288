"""The divergent-loop suite of `make bench` (`python -m bench.divergent` alone): every
kernel of bench/divergent_kernels.py under every divergence strategy forced, plus the
automatic choice, against jax.jit(jax.vmap), in alternating rounds; runtime, first-call
time, and the lanes' occupancy (useful / executed lane-iterations, from the trip counts:
passes/rules/occupancy.py). Results are checked against jax.vmap.

A contender whose final StableHLO is the same as one timed before it (auto's, when it
chose one strategy for every loop) is timed once: the table says "same program as", and
the two ratios are one measurement, so noise cannot split them. Kernels whose rounds
would take over ROUNDS_BUDGET seconds run MIN_ROUNDS rounds. Each target of the issue
gets a line saying whether this run met it.

`--large`: also 1M-example rows for the heavy-tailed kernels (refill's regime): mask,
compact, refill and auto, without jax (mask runs once: its calls take tens of seconds).
Timings on a shared machine are noisy: read the ratios of one run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import jax
import numpy as np

import vmlir
from bench.divergent_kernels import HELD_OUT, KERNELS, Kernel
from vmlir.passes import DEFAULT_PIPELINE

STRATEGIES = ("mask", "compact", "refill", "sequential", "auto")
PROFILED = "auto+profile"
"""vmlir.compile(f, profile=True): auto on the trip counts measured at the first call."""
SEQUENTIAL_MAX = 4096
"""`sequential` runs one example at a time: only timed up to this many examples."""
N = 100_000
LARGE_N = 1_000_000
LARGE_KERNELS = ("rejection", "random_walk", "mandelbrot")
MIN_ROUNDS = 3
ROUNDS_BUDGET = 60.0
"""A kernel whose rounds would take longer than this many seconds runs MIN_ROUNDS."""


def pipeline(strategy: str) -> str:
    return DEFAULT_PIPELINE.replace("batch-vectorize", f"batch-vectorize{{strategy={strategy}}}")


def _leaves(x: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(x)]


def _agree(got: Any, want: Any) -> float:
    """The fraction of examples whose outputs all agree."""
    ok = None
    for g, w in zip(_leaves(got), _leaves(want)):
        close = np.isclose(g, w, rtol=1e-4, atol=1e-4, equal_nan=True).reshape(len(g), -1).all(axis=1)
        ok = close if ok is None else ok & close
    return float(ok.mean())


def _seconds(fn: Any, args: tuple[Any, ...], min_time: float = 0.02) -> float:
    """One sample: the mean of as many calls as fit in min_time (at least one), each
    waited for (jax dispatches asynchronously: without the wait, the loop would queue
    calls for min_time, hundreds of a slow kernel's, and wait minutes for them)."""
    calls, t0 = 0, time.perf_counter()
    while True:
        jax.block_until_ready(fn(*args))
        calls += 1
        if time.perf_counter() - t0 >= min_time:
            break
    return (time.perf_counter() - t0) / calls


def _fresh(fn: Any) -> Any:
    def fresh(*a: Any) -> Any:
        return fn(*a)

    return fresh


def _model(k: Kernel, compiled: Any, args: tuple[Any, ...], trips: np.ndarray, n: int) -> dict[str, float]:
    """The cost model's estimate of each strategy for the kernel's (first) loop."""
    from vmlir.dialects import stablehlo as hlo
    from vmlir.ir import make_context, parse_module
    from vmlir.passes.rules import costmodel
    from vmlir.passes.vectorize import VectorizeOptions

    text = compiled.lower(*args).as_text("batch-mask-control-flow", generic=True)
    loop = next(op for op in parse_module(text, make_context(allow_unregistered=True)).walk() if isinstance(op, hlo.WhileOp))
    est = costmodel.estimate(trips, n, costmodel.features(loop), VectorizeOptions())
    return {s: w.cost for s, w in est.items()}


def _program_text(compiled: Any, args: tuple[Any, ...]) -> str:
    """The final StableHLO of `compiled` for these (already called) arguments: from its
    cache of programs, without compiling again."""
    return compiled._program(args, {})[0].text


def _choice(compiled: Any, args: tuple[Any, ...]) -> str:
    """The strategy the (first) lane loop got, read off the IR after batch-vectorize."""
    text = compiled.lower(*args).as_text("batch-vectorize")
    return next((s for s in STRATEGIES[:-1] if f'batch.strategy = "{s}"' in text), "none")


def bench_kernel(
    k: Kernel, n: int, rounds: int, strategies: tuple[str, ...] = (*STRATEGIES, PROFILED), against_jax: bool = True,
) -> dict[str, Any]:
    """One kernel's row. A contender whose program is the same as one timed before it
    (auto's is a forced strategy's whenever it chose that strategy for every loop) is
    not timed again: it gets that one's times, and the row says so (`same_program`).
    `against_jax=False` (the 1M rows): no jax.jit(jax.vmap) contender, ratios against
    compact's time; `mask` then runs one round."""
    from vmlir.passes.rules.occupancy import occupancy

    rng = np.random.default_rng(0)
    args = tuple(jax.device_put(a) for a in k.inputs(rng, n))
    contenders: dict[str, Any] = {}
    first: dict[str, float] = {}
    want = None
    if against_jax:
        t0 = time.perf_counter()
        theirs = jax.jit(jax.vmap(_fresh(k.fn)))
        want = jax.block_until_ready(theirs(*args))
        first["jax"] = time.perf_counter() - t0
        contenders["jax"] = theirs
    row: dict[str, Any] = {"agree_with_jax": 1.0, "kernel": k.name, "domain": k.domain, "shape": k.shape, "n": n, "divergent": k.divergent}
    same: dict[str, bool] = {}
    programs: dict[str, str] = {}
    same_program: dict[str, str] = {}
    reference = None  # vmlir under `mask`: the strategies must agree with it exactly
    for s in strategies:
        if s == "sequential" and n > SEQUENTIAL_MAX:
            continue
        t0 = time.perf_counter()
        if s == PROFILED:
            ours = vmlir.compile(vmlir.vmap(_fresh(k.fn)), profile=True)
        elif s == "auto":
            ours = vmlir.compile(vmlir.vmap(_fresh(k.fn)))
        else:
            ours = vmlir.compile(vmlir.vmap(_fresh(k.fn)), pipeline=pipeline(s))
        got = jax.block_until_ready(ours(*args))
        first[s] = time.perf_counter() - t0
        if reference is None:
            reference = got
            if want is not None:
                row["agree_with_jax"] = _agree(got, want)
        # Lanes computed at another width can round differently (XLA vectorizes each
        # width its own way); a chaotic kernel turns that into another trip count for a
        # handful of examples, a logic error into many.
        same[s] = _agree(got, reference) >= 0.999
        text = _program_text(ours, args)
        twin = next((other for other, t in programs.items() if t == text), None)
        if twin is not None:
            same_program[s] = twin
        else:
            programs[s] = text
            contenders[s] = ours
    trips = _leaves(reference if want is None else want)[-1].astype(np.int64)
    row["trips"] = {"mean": float(trips.mean()), "p50": float(np.median(trips)), "p99": float(np.percentile(trips, 99)), "max": int(trips.max())}
    for name in ("auto", PROFILED):
        if name in first:
            twin = same_program.get(name)
            row["auto_choice" if name == "auto" else "profiled_choice"] = (
                twin if twin in STRATEGIES else _choice(contenders[name], args) if twin is None else row["auto_choice"]
            )
    row["model"] = _model(k, contenders.get("mask") or next(iter(contenders.values())), args, trips, n)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    r, t0 = 0, time.perf_counter()
    while r < rounds:
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
            if name == "mask" and not against_jax and times[name]:
                continue
            times[name].append(_seconds(contenders[name], args))
        r += 1
        if r == MIN_ROUNDS and (time.perf_counter() - t0) / r * rounds > ROUNDS_BUDGET:
            break  # slow kernels: their calls take seconds, and vary less than fast ones'
    for s, twin in same_program.items():
        times[s] = times[twin]
    base = "jax" if against_jax else "compact"
    base_t = times[base]
    row["base"] = base
    row["rounds"] = r
    row["t"] = {name: statistics.median(ts) for name, ts in times.items()}
    row["ratio"] = {
        name: statistics.median(j / t for j, t in zip(base_t, ts)) if len(ts) == len(base_t) else row["t"][base] / row["t"][name]
        for name, ts in times.items() if name != "jax"
    }
    row["first"] = first
    row["same"] = same
    row["same_program"] = same_program
    row["occupancy"] = occupancy(trips, n)
    return row


def plot_kernel(k: Kernel, n: int, folder: str) -> str:
    """The lanes of the kernel's loop (vmlir.profile, vmlir.lanes.plot) as a PNG."""
    import os

    from vmlir import lanes

    args = k.inputs(np.random.default_rng(0), n)
    loop = vmlir.profile(vmlir.compile(vmlir.vmap(k.fn)), *args)[0]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"lanes_{k.name}_{n}.png")
    lanes.plot(loop, path, f"{k.name} ({k.shape}, {n} examples): model picks {loop.choice}")
    return path


def bench_divergent(
    rounds: int = 5, large: bool = False, only: list[str] | None = None, n: int = 0, held_out: bool = False,
) -> dict[str, Any]:
    """`held_out`: also the kernels the cost model was not fitted on (their own table)."""
    global N
    N = n or N
    rows = []
    t0 = time.perf_counter()
    for k in [*KERNELS, *(HELD_OUT if held_out else [])]:
        if only and k.name not in only:
            continue
        size = min(k.n, N) if k.n else N
        print(f"-- divergent: {k.name} ({size} examples)", flush=True)
        rows.append(bench_kernel(k, size, rounds))
        rows[-1]["held_out"] = k in HELD_OUT
        print("   " + _row_text(rows[-1]), flush=True)
    if large:
        for k in KERNELS:
            if k.name not in LARGE_KERNELS or (only and k.name not in only):
                continue
            print(f"-- divergent: {k.name} ({LARGE_N} examples)", flush=True)
            rows.append(bench_kernel(k, LARGE_N, max(3, rounds // 2), ("mask", "compact", "refill", "auto"), against_jax=False))
            print("   " + _row_text(rows[-1]), flush=True)
    return {"rows": rows, "rounds": rounds, "seconds": time.perf_counter() - t0}


def _row_text(row: dict[str, Any]) -> str:
    parts = [f"{s} {row['ratio'][s]:.2f}x" for s in (*STRATEGIES, PROFILED) if s in row["ratio"]]
    return (
        f"vs {row['base']}: {', '.join(parts)} (auto chose {row['auto_choice']}, with a profile "
        f"{row.get('profiled_choice', '-')}); same: {all(row['same'].values())}"
    )


MODELLED = ("mask", "compact", "refill")


def agreement(row: dict[str, Any]) -> tuple[int, int, bool]:
    """How the cost model's ranking of mask, compact and refill (on the kernel's trip
    counts) agrees with the measured times: (pairs ordered alike, pairs whose measured
    times differ by more than 10%, whether the model's pick is within 10% of the
    measured best)."""
    r, m = row["ratio"], row["model"]
    agree = total = 0
    for i, a in enumerate(MODELLED):
        for b in MODELLED[i + 1 :]:
            if max(r[a], r[b]) <= 1.1 * min(r[a], r[b]):
                continue  # a measured tie: either order is right
            total += 1
            agree += (r[a] > r[b]) == (m[a] < m[b])
    pick = min(MODELLED, key=lambda s: m[s])
    return agree, total, r[pick] >= 0.9 * max(r[s] for s in MODELLED)


def _geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def _cell(row: dict[str, Any], name: str, choice: str) -> str:
    r = row["ratio"]
    if name not in r:
        return "-"
    twin = row["same_program"].get(name)
    note = f"; same program as {twin}" if twin else ""
    return f"{r[name]:.2f}x ({row[choice]}{note})"


_HEADER = (
    "| kernel | examples | trips mean / p99 / max | mask | compact | refill | sequential | auto (choice) | auto+profile (choice) | best forced | auto first call / jax | occupancy mask / compact / refill | model: pairs agreeing |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
)


def render(res: dict[str, Any]) -> str:
    """The markdown section: the kernels x strategies table and the targets."""
    base = [r for r in res["rows"] if r["base"] == "jax" and not r.get("held_out")]
    held = [r for r in res["rows"] if r.get("held_out")]
    large = [r for r in res["rows"] if r["base"] != "jax"]
    lines = [
        "",
        "## Divergent loops: a strategy per loop",
        "",
        "Runtime ratio jax.jit(jax.vmap) / vmlir (higher is better; median of per-round "
        f"ratios, {res['rounds']} alternating rounds, {MIN_ROUNDS} where they would take over "
        f"{ROUNDS_BUDGET:.0f} s), for every strategy forced and the "
        "automatic choice; first call (trace + compile + run) relative to jax's; lanes' "
        "occupancy (useful / executed lane-iterations) of each strategy, from the trip counts. "
        "When auto's program (its final StableHLO) is the same as a forced strategy's, it "
        "is timed once and the table says so: the two ratios are one measurement. "
        "Every strategy's outputs equal vmlir's masked loop's on at least 99.9% of the examples "
        "(else MISMATCH; lanes computed at another width may round differently, which "
        "chaotic kernels turn into a different trip count for a handful of examples); "
        "chaotic kernels (zoomed Mandelbrot, sphere tracing) amplify the last bit of float "
        "rounding that differs between vmlir's and jax's programs: the share of examples "
        "equal to jax's is given when below 100%.",
        "",
        *_HEADER,
    ]
    lines += [_main_row(row) for row in base]
    if held:
        lines += [
            "",
            "Held out: kernels the cost model's constants were not fitted on (other domains and "
            "trip-count shapes), measured as above.",
            "",
            *_HEADER,
            *[_main_row(row) for row in held],
        ]
    if large:
        lines += [
            "",
            f"Refill's regime, {LARGE_N} examples: time per call of each strategy (mask: one call), "
            "refill's speedup over the best of mask and compact, and the lanes' occupancy.",
            "",
            "| kernel | trips mean / p99 / max | mask | compact | refill | auto (choice) | refill / best of mask, compact | occupancy mask / compact / refill |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in large:
            t, tr, occ = row["t"], row["trips"], row["occupancy"]
            flag = "" if all(row["same"].values()) else " MISMATCH"
            twin = row["same_program"].get("auto")
            lines.append(
                f"| {row['kernel']}{flag} | {tr['mean']:.1f} / {tr['p99']:.0f} / {tr['max']} | "
                + " | ".join(f"{1e3 * t[s]:.0f} ms" for s in ("mask", "compact", "refill"))
                + f" | {1e3 * t['auto']:.0f} ms ({row['auto_choice']}{'; same program as ' + twin if twin else ''})"
                + f" | {_refill_gain(row):.2f}x | {occ['mask']:.2f} / {occ['compact']:.2f} / {occ['refill']:.2f} |"
            )
    lines += ["", f"Targets (the issue's), read off this run ({res['seconds'] / 60:.1f} min for this section):", ""]
    lines += [f"- {t}" for t in targets(res["rows"])]
    return "\n".join(lines) + "\n"


def _main_row(row: dict[str, Any]) -> str:
    """A row of the kernels x strategies table."""
    r, tr, occ = row["ratio"], row["trips"], row["occupancy"]
    forced = {s: r[s] for s in STRATEGIES[:-1] if s in r}
    best = max(forced, key=forced.get)
    cells = [f"{r[s]:.2f}x" if s in r else "-" for s in STRATEGIES[:-1]]
    agree, total, pick_ok = agreement(row)
    flag = "" if all(row["same"].values()) else " MISMATCH"
    if row["agree_with_jax"] < 1.0:
        flag += f" ({100 * row['agree_with_jax']:.1f}% equal to jax's)"
    return (
        f"| {row['kernel']} ({row['shape']}){flag} | {row['n']} | {tr['mean']:.1f} / {tr['p99']:.0f} / {tr['max']} | "
        + " | ".join(cells)
        + f" | {_cell(row, 'auto', 'auto_choice')} | {_cell(row, PROFILED, 'profiled_choice')}"
        + f" | {best} | {row['first']['auto'] / row['first']['jax']:.2f}x | "
        + f"{occ['mask']:.2f} / {occ['compact']:.2f} / {occ['refill']:.2f} | {agree}/{total}{'' if pick_ok else ' (pick off)'} |"
    )


def _refill_gain(row: dict[str, Any]) -> float:
    t = row["t"]
    return min(t["mask"], t["compact"]) / t["refill"]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _close(row: dict[str, Any], name: str) -> bool:
    """Whether contender `name` is within 10% of the row's best forced strategy."""
    r = row["ratio"]
    return r[name] >= 0.9 * max(r[s] for s in STRATEGIES[:-1] if s in r)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, read off this run, each with met / NOT met."""
    held = [r for r in rows if r.get("held_out")]
    base = [r for r in rows if r["base"] == "jax" and not r.get("held_out")]
    div = [r for r in base if r["divergent"]]
    out = []
    for name in ("auto", PROFILED):
        close = [r for r in held if name in r["ratio"] and _close(r, name)]
        if held:
            out.append(
                f"held out (the cost model was not fitted on them): {name} within 10% of the best forced strategy "
                f"on {len(close)} of {len(held)}" + (f" (not on: {', '.join(r['kernel'] for r in held if r not in close)})" if len(close) < len(held) else "")
            )
    for name in ("auto", PROFILED):
        if not div or any(name not in r["ratio"] for r in div):
            continue
        close = [r for r in div if _close(r, name)]
        need = math.ceil(7 / 8 * len(div))
        out.append(
            f"{name} within 10% of the best forced strategy on at least 7 of 8 kernels: {len(close)} of {len(div)} "
            f"divergent kernels [{_met(len(close) >= need)}]"
            + (f" (not on: {', '.join(r['kernel'] for r in div if r not in close)})" if len(close) < len(div) else "")
        )
        worst = min(div, key=lambda r: r["ratio"][name])
        out.append(f"{name} never below 0.95x of jax: lowest {worst['ratio'][name]:.2f}x ({worst['kernel']}) [{_met(worst['ratio'][name] >= 0.95)}]")
        g = _geomean([r["ratio"][name] for r in div])
        out.append(f"{name}'s geometric mean over jax (divergent kernels) at least 2.5x: {g:.2f}x [{_met(g >= 2.5)}]")
    if base:
        got = [agreement(r) for r in base]
        out.append(
            f"cost model vs measured times: {sum(a for a, _, _ in got)} of {sum(t for _, t, _ in got)} "
            f"strategy pairs ordered alike (pairs within 10% skipped); its pick within 10% of the "
            f"best of mask/compact/refill on {sum(p for *_, p in got)} of {len(got)} rows"
        )
    for r in base:
        if not r["divergent"]:
            first = r["first"]["auto"] / r["first"]["jax"]
            out.append(
                f"non-divergent control at least 0.98x of jax, first call within 1.5x of jax's: auto "
                f"{r['ratio']['auto']:.2f}x, first call {first:.2f}x jax's [{_met(r['ratio']['auto'] >= 0.98 and first <= 1.5)}]"
            )
        if r["kernel"] == "mandelbrot":
            out.append(f"Mandelbrot no slower than 20x: auto {r['ratio']['auto']:.2f}x [{_met(r['ratio']['auto'] >= 20)}]")
    for r in rows:
        if r["base"] != "jax":
            gain, occ = _refill_gain(r), r["occupancy"]["refill"]
            out.append(
                f"{r['kernel']} at {r['n']}: refill at least 1.5x the best of mask and compact, occupancy at least 0.8: "
                f"{gain:.2f}x, {occ:.2f} [{_met(gain >= 1.5 and occ >= 0.8)}]"
            )
    return out


def section(args: argparse.Namespace) -> str:
    """The section of `make bench` (bench/sections.py): with the 1M-example rows (refill's
    target), ~8 min on the shared 2-core machine."""
    return render(bench_divergent(max(3, args.rounds // 4), not args.divergent_no_large, held_out=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.divergent", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--large", action="store_true", help="also 1M-example rows for the heavy-tailed kernels")
    p.add_argument("--only", help="comma-separated kernel names")
    p.add_argument("--held-out", action="store_true", help="also the kernels the cost model was not fitted on")
    p.add_argument("--n", type=int, default=N, help=f"examples per kernel (default {N})")
    p.add_argument("--plots", metavar="DIR", help="only draw each kernel's lanes (vmlir.profile) into DIR")
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    if a.plots:
        for k in KERNELS:
            if not only or k.name in only:
                print(plot_kernel(k, a.n, a.plots))
        return 0
    res = bench_divergent(a.rounds, a.large, only, a.n, a.held_out)
    print(render(res))
    return 0 if all(all(r["same"].values()) for r in res["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
