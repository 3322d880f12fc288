"""bench/results.png: time per workload per contender, bars on a log scale (lower is faster).

Called by bench/run.py after a run; on its own, `python -m bench.plot [results.md] [out.png]`
redraws the figure from the data block that bench/run.py leaves at the end of results.md.
Needs matplotlib (`pip install -e '.[bench]'`); without it, prints a note and draws nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Fixed order and colours, so figures from different runs compare at a glance.
_ORDER = [
    "vmlir", "vmlir fast_math", "vmlir exact", "vmlir no compaction",
    "jax.jit(vmap)", "manual", "python loop",
]  # fmt: skip
_COLORS = {
    "vmlir": "#1f77b4",
    "vmlir fast_math": "#17becf",
    "vmlir exact": "#1f77b4",
    "vmlir no compaction": "#9467bd",
    "jax.jit(vmap)": "#ff7f0e",
    "manual": "#2ca02c",
    "python loop": "#7f7f7f",
}


def _times_by_workload(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        for name, t in r["t"].items():
            if t is not None and t > 0:
                out.setdefault(r["workload"], {})[name] = t
    return out


def plot_results(rows: list[dict[str, Any]], path: Path | str, meta: dict[str, Any] | None = None) -> bool:
    """Draw the figure; False (with a note) when matplotlib is missing or nothing was timed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed, so no results.png (pip install -e '.[bench]')")
        return False
    data = _times_by_workload(rows)
    if not data:
        print("note: nothing was timed, so no results.png")
        return False
    names = [c for c in _ORDER if any(c in d for d in data.values())]
    names += sorted({c for d in data.values() for c in d} - set(names))
    workloads = list(data)
    width = 0.8 / max(len(d) for d in data.values())
    fig, ax = plt.subplots(figsize=(max(8.0, 1.6 * len(workloads) + 2), 5.5))
    labelled: set[str] = set()
    for i, w in enumerate(workloads):
        present = [c for c in names if c in data[w]]
        for k, name in enumerate(present):
            hatch = "//" if name == "vmlir exact" else None
            ax.bar(
                i + (k - (len(present) - 1) / 2) * width,
                data[w][name],
                width,
                label=None if name in labelled else name + (" (estimated)" if name == "python loop" else ""),
                color=_COLORS.get(name),
                hatch=hatch,
                edgecolor="white" if hatch else None,
            )
            labelled.add(name)
    ratios = {
        r["workload"]: f"{r['jax_ratio']:.2f}x" + ("" if r["variant"] == "vmlir" else f" ({r['variant'].removeprefix('vmlir ')})")
        for r in rows
        if r.get("primary") and r.get("jax_ratio")
    }
    ticks = []
    for w in workloads:
        label = w.replace("_", "\n", 1) if len(w) > 14 else w
        if w in ratios:
            label += f"\njax/vmlir {ratios[w]}"
        ticks.append(label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(ticks, fontsize=8)
    ax.set_ylabel("time per call, seconds (log scale)")
    sub = ""
    if meta:
        m = meta.get("machine", {})
        sub = f"\n{m.get('cpus', '')}; {m.get('backend', '')}; median of {meta.get('rounds')} rounds"
    ax.set_title(
        "Execution time per workload and contender. Lower bars indicate faster execution; "
        "note the logarithmic scale." + sub,
        fontsize=9,
    )
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(3, len(names)))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return True


def read_results(md: Path | str) -> dict[str, Any]:
    """The data block bench/run.py writes at the end of results.md."""
    text = Path(md).read_text()
    start = text.index("<!-- bench-data") + len("<!-- bench-data")
    return json.loads(text[start : text.index("-->", start)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    md = Path(argv[0]) if argv else HERE / "results.md"
    png = Path(argv[1]) if len(argv) > 1 else md.with_suffix(".png")
    data = read_results(md)
    return 0 if plot_results(data["rows"], png, data.get("meta")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
