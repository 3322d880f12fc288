"""bench/divergent.py on small inputs, one round: a contender with the same program as a
forced strategy is timed once and reported as that strategy's measurement; the 1M-style
rows (no jax) compare refill with the best of mask and compact; each target gets a line
saying whether it was met. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import divergent  # noqa: E402
from bench.divergent_kernels import KERNELS  # noqa: E402

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
