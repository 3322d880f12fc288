"""Command line of the sweep (see tests/sweep/__init__.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time


def _run(args: argparse.Namespace) -> int:
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import numpy as np

    from tests.sweep import catalog, report, runner

    rng = np.random.default_rng(args.seed)
    targets = catalog.targets()
    if args.only:
        wanted = set(args.only.split(","))
        targets = [t for t in targets if t.qualname in wanted]
    if args.sample:
        targets = targets[:: max(1, len(targets) // args.sample)]
    cases, skips = [], []
    for t in targets:
        c = catalog.make_case(t, rng, args.x64)
        (cases if isinstance(c, catalog.Case) else skips).append(c)
    pairs = [p for c in cases for p in runner.pairs_of(c, rng)]
    t0 = time.time()

    partial = open(args.json + ".partial.jsonl", "w") if args.json else None  # noqa: SIM115

    def progress(new: list, done: int, total: int) -> None:
        # Outcomes are kept as they come, so an interrupted sweep still tells something.
        if partial is not None:
            partial.writelines(json.dumps(o.__dict__) + "\n" for o in new)
            partial.flush()
        print(f"  {done}/{total} pairs ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)

    outcomes = runner.run_pairs(pairs, 1e-6 if args.x64 else 2e-4, progress)
    if partial is not None:
        partial.close()
    records = [o.__dict__ for o in outcomes]
    label = "x64" if args.x64 else "float32"
    skipped = [{"qualname": s.target.qualname, "reason": s.reason} for s in skips]
    if args.only and args.json:
        # A rerun of some functions: their outcomes replace those of the earlier run.
        with open(args.json) as f:
            old = json.load(f)
        names = {t.qualname for t in targets}
        records = [o for o in old["outcomes"] if o["qualname"] not in names] + records
        skipped = [s for s in old["skipped"] if s["qualname"] not in names] + skipped
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mode": label, "outcomes": records, "skipped": skipped}, f)
    for o in records:
        if o["kind"] in ("mismatch", "crash"):
            print(f"{o['kind']}: {o['qualname']} [{o['config']}]: {o['detail']}")
    print(report.summary(records, label))
    bad = any(o["kind"] in ("mismatch", "crash") for o in records)
    return 1 if bad else 0


def _docs(args: argparse.Namespace) -> int:
    from tests.sweep import report

    modes, skipped = {}, {}
    for path in args.files:
        with open(path) as f:
            data = json.load(f)
        modes[data["mode"]] = data["outcomes"]
        skipped[data["mode"]] = data["skipped"]
    with open(args.out, "w") as f:
        f.write(report.page(modes, skipped))
    ok = True
    for mode, outcomes in modes.items():
        print(report.summary(outcomes, mode))
        ok = ok and report.share(outcomes) >= args.min_share
        ok = ok and not any(o["kind"] in ("mismatch", "crash") for o in outcomes)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="sweep one mode")
    run.add_argument("--x64", action="store_true", help="jax_enable_x64: float64/int64 inputs")
    run.add_argument("--sample", type=int, default=0, help="about this many functions only")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--json", help="write the outcomes here")
    run.add_argument(
        "--only", help="comma-separated qualnames: rerun these, replacing them in --json"
    )
    docs = sub.add_parser("docs", help="write the coverage page from run --json files")
    docs.add_argument("files", nargs="+")
    docs.add_argument("--out", default="docs/api-coverage.md")
    docs.add_argument("--min-share", type=float, default=0.0, help="fail under this %% working")
    args = parser.parse_args()
    return _run(args) if args.command == "run" else _docs(args)


if __name__ == "__main__":
    sys.exit(main())
