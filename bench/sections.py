"""The sections of `make bench` that follow the workload tables, one registry entry each.

A section is a module of bench/ with a `section(args) -> str` returning its markdown;
bench/run.py runs every registered section in order (skipped with `--no-<name>`, and
with `--only`, which selects workloads of the main table) and inserts the markdown
before the data block that bench/plot.py reads back. Adding a section is one entry
here; its own options go into `options`.
"""

from __future__ import annotations

import argparse
import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    name: str
    """`--no-<name>` skips it."""
    module: str
    """bench.<module>.section(args) -> markdown."""
    title: str
    """The progress line printed before it runs."""
    options: tuple[tuple[str, dict], ...] = field(default=())
    """Extra command-line options (flag, argparse keywords) it reads from args."""

    def run(self, args: argparse.Namespace) -> str:
        fn: Callable[[argparse.Namespace], str] = importlib.import_module(f"bench.{self.module}").section
        return fn(args)


SECTIONS: tuple[Section, ...] = (
    Section("sharded", "sharded", "batch-sharded vmap (8 host devices, own process)"),
    Section("autodiff", "autodiff", "derivatives (jax.grad, training step)"),
    Section(
        "divergent",
        "divergent",
        "divergent-loop suite (every strategy forced, and auto)",
        (("--divergent-no-large", {"action": "store_true", "help": "divergent suite: without the 1M-example rows"}),),
    ),
    Section("ragged", "ragged", "ragged vmap (log-normal lengths) against pad+mask, lax.map and a per-example loop"),
)


FAILED: list[str] = []
"""The sections that raised in this run (bench/run.py then exits non-zero)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    for s in SECTIONS:
        p.add_argument(f"--no-{s.name}", action="store_true", help=f"skip the {s.title} section (bench/{s.module}.py)")
        for flag, kw in s.options:
            p.add_argument(flag, **kw)


def run_sections(args: argparse.Namespace) -> list[str]:
    """The markdown of every section that is not switched off, in registry order."""
    out = []
    if args.only:
        return out
    for s in SECTIONS:
        if getattr(args, f"no_{s.name}"):
            continue
        print(f"-- {s.title}", flush=True)
        try:
            out.append(s.run(args).rstrip("\n") + "\n")
        except Exception as e:  # noqa: BLE001 (one broken section must not throw away the others' hour)
            traceback.print_exc()
            FAILED.append(s.name)
            out.append(f"## {s.title}\n\nFAILED: {type(e).__name__}: {e}\n")
    return out


def insert_before_data(text: str, sections: list[str]) -> str:
    """results.md with the sections inserted before the data block bench/plot.py reads."""
    head, sep, rest = text.partition("\n<!-- bench-data")
    return "\n".join([head.rstrip("\n"), "", *sections]) + sep + rest
