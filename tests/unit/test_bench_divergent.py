"""bench/divergent.py on small inputs, one round: a contender with the same program as a
forced strategy is timed once and reported as that strategy's measurement; the 1M-style
rows (no jax) compare refill with the best of mask and compact; each target gets a line
saying whether it was met. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import divergent  # noqa: E402
from bench.divergent_kernels import HELD_OUT, KERNELS  # noqa: E402

BY_NAME = {k.name: k for k in KERNELS}


def test_auto_shares_the_measurement_of_the_strategy_it_chose():
    row = divergent.bench_kernel(BY_NAME["newton"], 3000, 1, ("mask", "compact", "auto"))
    twin = row["same_program"]["auto"]
    assert twin == row["auto_choice"] in ("mask", "compact")
    assert row["ratio"]["auto"] == row["ratio"][twin]
    assert all(row["same"].values()) and row["agree_with_jax"] == 1.0
    assert row["trips"]["max"] == 13 and row["base"] == "jax"


def test_rows_without_jax_and_the_target_lines():
    small = divergent.bench_kernel(BY_NAME["rejection"], 5000, 1, ("mask", "compact", "refill", "auto"), against_jax=False)
    assert small["base"] == "compact" and "jax" not in small["first"]
    assert all(small["same"].values())
    assert divergent._refill_gain(small) == min(small["t"]["mask"], small["t"]["compact"]) / small["t"]["refill"]
    lines = divergent.targets([small])
    assert len(lines) == 1 and lines[0].startswith("rejection at 5000: refill at least 1.5x the best of mask and compact")
    assert lines[0].endswith(("[met]", "[NOT met]"))
    text = divergent.render({"rows": [small], "rounds": 1, "seconds": 60.0})
    assert "| rejection |" in text and "1.0 min for this section" in text


@pytest.mark.parametrize("kernel", HELD_OUT, ids=lambda k: k.name)
def test_held_out_kernels_match_jax_and_get_their_own_table(kernel):
    """The kernels the cost model was not fitted on: every strategy's outputs equal
    vmlir's masked loop's (on at least 99.9% of the examples, as the bench requires) and
    jax.vmap's on at least 98% (Jacobi stops at a tolerance: where the last bit of its
    4x4 product rounds differently from jax's program, an example stops one iteration
    apart), and they get their own table and target line, apart from the issue's."""
    row = divergent.bench_kernel(kernel, 1500, 1, ("mask", "compact", "refill", "auto"))
    assert all(row["same"].values()) and row["agree_with_jax"] >= (0.98 if kernel.name == "jacobi" else 0.999)
    row["held_out"] = True
    text = divergent.render({"rows": [row], "rounds": 1, "seconds": 60.0})
    assert "Held out:" in text and f"| {kernel.name} ({kernel.shape})" in text
    lines = divergent.targets([row])
    assert any(t.startswith("held out (the cost model was not fitted on them): auto within 10%") for t in lines)
    assert not any(t.startswith("auto within 10%") for t in lines)
