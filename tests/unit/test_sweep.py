"""The API sweep's quick mode (the full one is `make sweep`, see tests/sweep).

A sample of the public JAX API, plus the functions this sweep was built for (LAPACK
calls, fft, ApproxTopK, composite), through vmlir.vmap and jax.vmap at several in_axes,
compiled as two programs: no mismatch, no crash, and every unsupported pair's reason is
listed in docs/api-coverage.md.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).parents[2]
if str(ROOT) not in sys.path:  # `tests.sweep` is imported from the repository root
    sys.path.insert(0, str(ROOT))

from tests.sweep import catalog, report, runner

SAMPLE = 6
ALWAYS = (
    "jax.numpy.linalg.cholesky",
    "jax.numpy.linalg.solve",
    "jax.numpy.fft.rfft2",
    "jax.lax.approx_max_k",
    "jax.lax.composite",
)


def test_quick_sweep():
    """No wrong answer and no crash on the sample; unsupported pairs are documented."""
    rng = np.random.default_rng(0)
    targets = catalog.targets()
    chosen = targets[:: len(targets) // SAMPLE] + [t for t in targets if t.qualname in ALWAYS]
    cases = [c for t in chosen if isinstance(c := catalog.make_case(t, rng, False), catalog.Case)]
    assert {c.target.qualname for c in cases} >= set(ALWAYS)
    pairs = [p for c in cases for p in runner.pairs_of(c, rng)]
    outcomes = runner.run_pairs(pairs, 2e-4)
    records = [o.__dict__ for o in outcomes]
    bad = [o for o in records if o["kind"] in ("mismatch", "crash")]
    assert not bad, report.summary(records) + "\n" + "\n".join(map(str, bad))
    doc = (ROOT / "docs" / "api-coverage.md").read_text()
    for o in records:
        if o["kind"] == "unsupported":
            assert report._cell(o["detail"]) in doc, o
    assert sum(o["kind"] == "ok" for o in records) >= len(ALWAYS)
