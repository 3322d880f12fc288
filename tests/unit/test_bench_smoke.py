"""Smoke test of the benchmark machinery (bench/run.py) on one tiny workload, one round.

No timing is asserted: only that a table row comes out and that every contender's result
was checked against jax.vmap and found correct.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.plot import read_results  # noqa: E402
from bench.workloads import BY_NAME, WORKLOADS  # noqa: E402


def test_one_tiny_workload_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run.main(
        [
            "--only", "sum_of_squares",
            "--scale", "0.002",
            "--rounds", "1",
            "--min-time", "0",
            "--loop-sample", "4",
            "--dispatch-rounds", "1",
            "--compile-reps", "1",
            "--fresh-reps", "0",
            "--scaling-reps", "0",
            "--no-plot",
            "--no-memory",
            "--no-sharded",
            "--out", str(tmp_path),
        ]
    )
    assert rc == 0, capsys.readouterr().out
    text = (tmp_path / "results.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| sum_of_squares |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "8x128"  # 4096 * 0.002 examples of 128 features
    assert cells[-1] == "ok"
    # sum(x**2) per example: XLA gets the very program jax.jit(jax.vmap) gives it.
    assert cells[-2] == "same as jax"
    assert "jax backend" in text and "| dispatch |" in text and "| compile (first call) |" in text
    assert "| 1000-op chain |" in text
    # The data block at the end of results.md round-trips for bench/plot.py.
    (data,) = read_results(tmp_path / "results.md")["rows"]
    assert data["ok"] and data["checks"].keys() == {"vmlir", run.JAX, run.MANUAL, run.LOOP}


def test_workload_result_checks_every_contender() -> None:
    res = run.bench_workload(
        BY_NAME["predict"], rounds=1, scale=0.002, loop_sample=3, min_time=0.0, verbose=False
    )
    kinds = {c.kind for c in res.contenders}
    assert kinds == {"vmlir", "jax", "manual", "loop"}
    for c in res.contenders:
        assert c.error is None and c.ok, (c.name, c.error, c.check)
        assert len(c.times) == 1
    (row,) = res.rows
    assert row["ok"] and row["jax_ratio"] is not None and row["t"]["vmlir"] > 0


def test_compare_is_exact_for_integers_and_loud_on_mismatch() -> None:
    ok, _ = run.compare(np.array([1, 2], np.int32), np.array([1, 2], np.int32), 1e-5, 1e-5)
    assert ok
    ok, detail = run.compare(np.array([1, 3], np.int32), np.array([1, 2], np.int32), 0.5, 10)
    assert not ok and "1 of 2 integer values differ" in detail
    ok, detail = run.compare(np.float32([1.0]), np.float32([1.1]), 1e-5, 1e-5)
    assert not ok and "values off" in detail


def test_workloads_are_well_formed() -> None:
    names = [w.name for w in WORKLOADS]
    assert len(names) == len(set(names))
    for w in WORKLOADS:
        sizes = w.scaled_sizes(0.001)
        args = w.make_inputs(np.random.default_rng(0), sizes)
        ext = run.batch_extents(w, args)
        assert len(ext) == len(w.levels) and all(e >= 2 for e in ext), w.name


def test_latency_targets_read_the_latency_rows() -> None:
    """The compile-latency targets are computed from the rows: over a bound is 'not met'."""
    from bench.report import latency_targets, render_latency

    compiles = [{"workload": "a", "ratio": 1.2}, {"workload": "b", "ratio": 1.7}]
    latency = {
        "chain": {"workload": "1000-op chain", "sizes": "64x32", "vmlir": 2.0, "jax": 1.0, "ratio": 2.0},
        "fresh": [{"workload": "tiny", "sizes": "16x128", "jax": 0.1, "cold": 0.25, "warm": 0.11,
                   "cold_ratio": 2.5, "warm_ratio": 1.1, "warm_no_xdsl": True},
                  {"workload": "big", "sizes": "4096x128", "jax": 0.05, "cold": 0.2, "warm": 0.055,
                   "cold_ratio": 4.0, "warm_ratio": 1.1, "warm_no_xdsl": True}],
        "scaling": [{"ops": 1000, "target_ops": 1000, "import": 0.1, "passes": 0.3},
                    {"ops": 2000, "target_ops": 2000, "import": 0.2, "passes": 0.6, "growth": 2.0,
                     "import_growth": 2.0}],
    }
    got = {a: (b, c) for a, b, c in latency_targets(compiles, latency)}
    first = next(k for k in got if k.startswith("first call within 1.5x"))
    assert got[first] == ("geomean 1.60x, worst 1000-op chain 2.00x; 1 of 3 within 1.5x", "**not met**")
    fresh = {k: v for k, v in got.items() if k.startswith("fresh process")}
    assert list(fresh.values()) == [
        ("cold 2.50x, warm 1.10x", "met"),  # the row: the tiny function
        ("worst big 4.00x; 1 of 2 within 3x", "**not met**"),
        ("worst tiny 1.10x; 2 of 2 within 1.2x; xDSL never imported", "met"),
    ]
    assert got[next(k for k in got if k.startswith("linear passes"))] == ("2.00x", "met")
    text = "\n".join(render_latency(latency))
    assert "| tiny | 16x128 | 100.00 ms | 250.00 ms | 110.00 ms | 2.50x | 1.10x |" in text
