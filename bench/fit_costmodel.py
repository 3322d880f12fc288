"""Refit the divergence cost model's constants (passes/rules/costmodel.py) to measured
times: `python -m bench.fit_costmodel [bench/costmodel_fit.json]`.

The data file holds, per kernel of bench/divergent.py, its loop's static features
(costmodel.features), its trip counts' percentiles and the measured ratios jax / vmlir
of mask, compact and refill forced (a bench/results.md run). Each strategy's modelled
cost is linear in the constants (costmodel.terms), so the fit minimizes, over the
constants' logarithms, the squared error of the log of every predicted time ratio
between two strategies of a kernel (Nelder-Mead from 30 random starts). ITERATION and
MOVE are held fixed: every kernel compacts from the same width to the same bucket, so
the fit cannot tell a compaction's fixed costs apart. Prints the constants, and per
kernel the predicted and measured times relative to its fastest strategy.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from vmlir.passes.rules import costmodel
from vmlir.passes.vectorize import VectorizeOptions

DATA = Path(__file__).with_name("costmodel_fit.json")
FITTED = ("ANY_LANE", "COUNT_LANE", "TOP_K_LANE", "REFILL_LANE", "REFILL_ITERATION", "REFILL_EXAMPLE")


def load(path: Path = DATA) -> dict:
    """kernel -> (trips, n, LoopFeatures, measured times relative to the fastest)."""
    out = {}
    for name, k in json.loads(path.read_text())["kernels"].items():
        n = k["n"]
        times = np.array([1.0 / k["ratio"][s] for s in ("mask", "compact", "refill")])
        trips = costmodel.expand(np.asarray(k["percentiles"], np.float64), n)
        out[name] = (trips, n, costmodel.LoopFeatures(k["body"], k["carries"]), times / times.min())
    return out


def main(argv: list[str]) -> int:
    from scipy.optimize import minimize  # installed with jax; only this script needs it

    data = load(Path(argv[0]) if argv else DATA)
    options = VectorizeOptions()
    terms = {name: costmodel.terms(trips, n, f, options) for name, (trips, n, f, _) in data.items()}

    def costs(values: dict[str, float], name: str) -> np.ndarray:
        return np.array([sum(values.get(c, 1.0) * x for c, x in terms[name][s].items()) for s in ("mask", "compact", "refill")])

    def loss(logs: np.ndarray) -> float:
        values = {**fixed, **dict(zip(FITTED, np.exp(logs)))}
        err = 0.0
        for name, (*_, measured) in data.items():
            pred = np.log(costs(values, name))
            for a, b in itertools.combinations(range(3), 2):
                err += ((pred[a] - pred[b]) - np.log(measured[a] / measured[b])) ** 2
        return err

    fixed = {"ITERATION": costmodel.ITERATION, "MOVE": costmodel.MOVE}
    rng = np.random.default_rng(0)
    best = None
    for _ in range(30):
        start = rng.uniform(np.log([1, 0.1, 10, 10, 10, 10]), np.log([30, 30, 1e4, 1e3, 1e5, 1e4]))
        res = minimize(loss, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-3, "fatol": 1e-6})
        best = res if best is None or res.fun < best.fun else best
    values = {**fixed, **dict(zip(FITTED, np.exp(best.x)))}
    print(f"squared log error {best.fun:.3f}")
    for c in FITTED:
        print(f"{c} = {values[c]:.2f}")
    for name, (*_, measured) in data.items():
        pred = costs(values, name)
        print(f"{name:14s} predicted {np.round(pred / pred.min(), 2)} measured {np.round(measured, 2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
