"""The op coverage table in docs/op-coverage.md says the truth about every op."""

from __future__ import annotations

import pathlib
import re

import pytest

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS, CustomVmapOp
from vmlir.dialects.chlo import CHLO
from vmlir.dialects.stablehlo import StableHLO
from vmlir.passes.rules import RULES

DOC = (pathlib.Path(__file__).parents[2] / "docs" / "op-coverage.md").read_text()
ROWS = {
    m.group(1): m.group(2)
    for m in re.finditer(r"^\| `([\w.]+)` \| ([^|]+) \|", DOC, flags=re.MULTILINE)
}
OPS = [op for d in (StableHLO, CHLO) for op in d.operations]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_every_op_has_a_row_with_its_real_rule(op):
    """Each op is listed, and the table's rule is the one rule_for would use."""
    assert op.name in ROWS, f"{op.name} is missing from docs/op-coverage.md"
    listed = ROWS[op.name]
    if issubclass(op, hlo.ElementwiseOp):
        assert listed.startswith("elementwise_rule")
    elif op in RULES:
        assert listed.startswith(RULES[op].__name__)
    else:
        assert listed.startswith(("**none**", "none needed", "terminator"))


BATCH_RULE_OPS = [*COLLECTIVE_OPS, CustomVmapOp]


@pytest.mark.parametrize("op", BATCH_RULE_OPS, ids=lambda op: op.name)
def test_batch_ops_with_rules_have_their_real_rule(op):
    """The collectives and batch.custom_vmap are listed with the rule the table holds."""
    assert op.name in ROWS, f"{op.name} is missing from docs/op-coverage.md"
    assert ROWS[op.name].startswith(RULES[op].__name__)


def test_lit_column_names_the_lit_files_that_batch_the_op():
    """The op table's lit column is what tests/unit/op_coverage.py finds in the lit
    files' inputs (rerun it after adding or changing a lit test)."""
    from op_coverage import lit_ops, op_table, rewrite

    assert op_table(rewrite(DOC, lit_ops())) == op_table(DOC), "run: python tests/unit/op_coverage.py"


def test_unit_column_is_rewritten_from_a_record(tmp_path):
    """The unit column is rewritten from a run's record (`make op-coverage`): an op the
    record has gets the files that ran its rule, one it lacks gets '-'."""
    from op_coverage import lit_ops, read_record, rewrite

    record = tmp_path / "record.jsonl"
    record.write_text('["stablehlo.abs", "test_b.py"]\n["stablehlo.abs", "test_a.py"]\n')
    text = rewrite(DOC, lit_ops(), read_record(str(record)))
    rows = {m.group(1): m.group(3) for m in re.finditer(r"^\| `([\w.]+)` \| ([^|]+) \| ([^|]+) \|", text, re.M)}
    assert rows["stablehlo.abs"].strip() == "test_a.py, test_b.py"
    assert rows["stablehlo.negate"].strip() == "-"
    assert rows["batch.psum"].strip() == "test_collectives.py"  # the batch-op table is kept as written
