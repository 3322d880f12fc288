"""Differential fuzzing at the widths where divergence strategies switch on, and a batch of
`--extra` programs (gather, scatter, sort, control flow...), in the test suite. Longer
runs: `make fuzz WIDTHS=1 N=...`, `make fuzz EXTRA=1`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.fuzz` is imported from the repository root
    sys.path.insert(0, str(ROOT))

from tests.fuzz import run, widths  # noqa: E402

SEED = 0


def test_divergent_loops_at_real_widths_match_jax_vmap():
    """A divergent-loop program (with a varying cond in its body) at real width under
    compact and refill gives jax.vmap's results (all strategies, more programs:
    `make fuzz WIDTHS=1`)."""
    start = next(
        i for i in range(50) if {"cond", "gather"} <= set(widths.generate(f"{SEED}:{i}").features)
        and "nested_while" not in widths.generate(f"{SEED}:{i}").features
    )
    outcomes = run.run_widths(1, seed=SEED, start=start, strategies=("compact", "refill"))
    assert len(outcomes) == 2
    bad = [o for o in outcomes if o.kind != "ok"]
    assert not bad, "\n".join(o.report(SEED) for o in bad)


def test_widths_generator_covers_both_predicates():
    """The generator makes varying and uniform predicates, and the body features."""
    feats = {f for i in range(40) for f in widths.generate(f"{SEED}:{i}").features}
    assert {"pred_count", "pred_value", "pred_uniform", "cond", "nested_while", "gather", "scatter"} <= feats
    assert {widths.generate(f"{SEED}:{i}").batch for i in range(40)} == {512, 1024, 2048, 4096}


def test_a_batch_of_extra_programs_matches_jax_vmap():
    """10 programs with progen's extra ops (gather, scatter, sort, pad, control flow)."""
    outcomes = [run.check(run.program(SEED, i, extra=True), SEED, i) for i in range(10)]
    bad = [o for o in outcomes if o.kind in run.FAILURES]
    assert not bad, "\n".join(o.report(SEED) for o in bad)
