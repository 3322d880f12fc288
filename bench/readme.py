"""The README's measured numbers, generated from bench/results.md.

Every number the README quotes from the benchmark sits between markers,

    RBF gram with `fast_math` <!-- bench:rbf_fast_math -->6.72x<!-- /bench -->

and `python -m bench.readme` (run by `make bench` after a full run) rewrites the text
between them from the data block of bench/results.md. tests/unit/test_readme_numbers.py
fails when the README and results.md disagree, or when a marker names no known value.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import fmt_ratio, geomean

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
RESULTS = HERE / "results.md"

MARKER = re.compile(r"<!-- bench:(?P<name>[a-z0-9_]+) -->(?P<value>.*?)<!-- /bench -->", re.S)


def _row(data: dict[str, Any], label: str) -> dict[str, Any]:
    for r in data["rows"]:
        if r["label"] == label:
            return r
    raise KeyError(f"results.md has no row {label!r}")


def _ratio(label: str) -> Callable[[dict[str, Any]], str]:
    return lambda data: fmt_ratio(_row(data, label)["jax_ratio"])


def _same_program_range(data: dict[str, Any]) -> str:
    ratios = [r["jax_ratio"] for r in data["rows"] if r.get("same_program") and r["primary"]]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def _compaction_cost(workload: str) -> Callable[[dict[str, Any]], str]:
    """How much slower than without compaction, in percent (where compaction costs)."""

    def value(data: dict[str, Any]) -> str:
        on = _row(data, workload)["jax_ratio"]
        off = _row(data, f"{workload} (vmlir no compaction)")["jax_ratio"]
        return f"{round(100 * (1 - on / off))}%"

    return value


def _geomean_primary(data: dict[str, Any]) -> str:
    return fmt_ratio(geomean([r["jax_ratio"] for r in data["rows"] if r["primary"]]))


def _compile_ratios(data: dict[str, Any]) -> list[float]:
    return [c["ratio"] for c in data.get("compile") or [] if "ratio" in c]


def _fresh(key: str, which: str) -> Callable[[dict[str, Any]], str]:
    """A fresh-process ratio: of the tiny function, or the worst over the workloads."""

    def value(data: dict[str, Any]) -> str:
        rows = [f for f in (data.get("latency") or {}).get("fresh", []) if key in f]
        if which == "tiny":
            rows = [f for f in rows if f["workload"] == "tiny"]
        if not rows:
            raise KeyError("results.md has no fresh-process rows")
        return fmt_ratio(max(f[key] for f in rows))

    return value


def _chain(data: dict[str, Any]) -> str:
    chain = (data.get("latency") or {}).get("chain")
    if not chain or "ratio" not in chain:
        raise KeyError("results.md has no 1,000-op chain row")
    return fmt_ratio(chain["ratio"])


VALUES: dict[str, Callable[[dict[str, Any]], str]] = {
    "rbf_fast_math": _ratio("rbf_gram (vmlir fast_math)"),
    "mandelbrot": _ratio("mandelbrot"),
    "mandelbrot_no_compaction": _ratio("mandelbrot (vmlir no compaction)"),
    "newton": _ratio("newton_sqrt"),
    "newton_no_compaction": _ratio("newton_sqrt (vmlir no compaction)"),
    "newton_compaction_cost": _compaction_cost("newton_sqrt"),
    "rare_cond": _ratio("rare_expensive_cond"),
    "same_program_range": _same_program_range,
    "geomean": _geomean_primary,
    "dispatch": lambda data: fmt_ratio(data["dispatch"]["ratio"]),
    "compile_geomean": lambda data: fmt_ratio(geomean(_compile_ratios(data))),
    "compile_worst": lambda data: fmt_ratio(max(_compile_ratios(data))),
    "compile_chain": _chain,
    "fresh_cold_tiny": _fresh("cold_ratio", "tiny"),
    "fresh_warm_tiny": _fresh("warm_ratio", "tiny"),
    "fresh_cold_worst": _fresh("cold_ratio", "worst"),
    "fresh_warm_worst": _fresh("warm_ratio", "worst"),
}
"""Every number the README may quote, by marker name."""


def read_data(results: Path | str = RESULTS) -> dict[str, Any]:
    """The JSON data block at the end of results.md."""
    import json

    text = Path(results).read_text()
    start = text.index("<!-- bench-data") + len("<!-- bench-data")
    return json.loads(text[start : text.index("-->", start)])


def fill(readme: str, data: dict[str, Any]) -> str:
    """`readme` with every marker's text replaced by its value from `data`."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in VALUES:
            raise KeyError(f"README marker bench:{name} names no value (known: {', '.join(VALUES)})")
        return f"<!-- bench:{name} -->{VALUES[name](data)}<!-- /bench -->"

    return MARKER.sub(sub, readme)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    results = Path(argv[0]) if argv else RESULTS
    text = README.read_text()
    try:
        new = fill(text, read_data(results))
    except KeyError as e:
        print(f"README not updated: {e.args[0]}", file=sys.stderr)
        return 1
    if new != text:
        README.write_text(new)
        print(f"updated the measured numbers in {README.name} from {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
