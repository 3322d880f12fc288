"""The test columns of docs/op-coverage.md's op table, from what the tests exercise.

- lit: the files of tests/lit/passes whose input has the op inside a `batch.vmap` (each
  `// -----` chunk parsed); tests/unit/test_docs.py checks the column against this.
- unit: the files of tests/unit in which batch-vectorize ran the op's batching rule,
  recorded by a run of the suite with VMLIR_OP_COVERAGE=<file> (conftest.py appends
  one JSON line `[op name, test file]` per rule call); `make op-coverage` runs the suite
  so and rewrites the column (`python tests/unit/op_coverage.py <file>`).
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).parents[2]
DOC = ROOT / "docs" / "op-coverage.md"
ROW = re.compile(r"^\| `([\w.]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)


def lit_ops() -> dict[str, set[str]]:
    """op name -> the tests/lit/passes files with that op inside a batch.vmap."""
    from vmlir.ir import make_context, parse_module

    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests" / "lit" / "passes").glob("*.mlir")):
        for chunk in path.read_text().split("// -----"):
            module = parse_module(chunk, make_context(allow_unregistered=True), str(path))
            for op in module.walk():
                if op.name != "batch.vmap":
                    continue
                for inner in op.walk():
                    if inner is not op:
                        found.setdefault(inner.name, set()).add(path.name)
    return found


def op_table(text: str) -> str:
    """The doc's first table (the stablehlo and chlo ops)."""
    return text.split("\n## ")[0]


def cell(files: set[str] | None) -> str:
    return ", ".join(sorted(files)) if files else "-"


def rewrite(text: str, lit: dict[str, set[str]], unit: dict[str, set[str]] | None = None) -> str:
    """The doc with the op table's lit column (and, given a record, the unit column)
    regenerated."""
    table = op_table(text)

    def row(m: re.Match) -> str:
        name, rule, unit_cell, _ = m.groups()
        if unit is not None:
            unit_cell = cell(unit.get(name))
        return f"| `{name}` | {rule} | {unit_cell.strip()} | {cell(lit.get(name))} |"

    return ROW.sub(row, table) + text[len(table) :]


def read_record(path: str) -> dict[str, set[str]]:
    unit: dict[str, set[str]] = {}
    for line in pathlib.Path(path).read_text().splitlines():
        name, test_file = json.loads(line)
        unit.setdefault(name, set()).add(test_file)
    return unit


if __name__ == "__main__":
    DOC.write_text(rewrite(DOC.read_text(), lit_ops(), read_record(sys.argv[1]) if len(sys.argv) > 1 else None))
