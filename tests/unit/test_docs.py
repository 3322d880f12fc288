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
