"""Shared helpers for the unit tests: comparing vmlir's results with jax.vmap's."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import pytest

# The suite verifies the IR after every pass (production verifies once, at the end), so a
# pass that breaks an invariant fails the test that ran it, naming the pass.
os.environ.setdefault("VMLIR_VERIFY_EACH", "1")
# ... and runs the passes every time: vmlir's disk cache is off unless a test turns it on.
os.environ.setdefault("VMLIR_CACHE", "0")


def _assert_same(actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    a_leaves, a_tree = jax.tree_util.tree_flatten(actual)
    e_leaves, e_tree = jax.tree_util.tree_flatten(expected)
    assert a_tree == e_tree, f"output structure {a_tree} != jax.vmap's {e_tree}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"leaf {i}: shape {a.shape} != jax.vmap's {e.shape}"
        assert a.dtype == e.dtype, f"leaf {i}: dtype {a.dtype} != jax.vmap's {e.dtype}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"leaf {i}")


@pytest.fixture
def assert_same():
    """`assert_same(actual, expected)`: same pytree, shapes, dtypes; values to 1e-5."""
    return _assert_same


if os.environ.get("VMLIR_OP_COVERAGE"):
    # `make op-coverage`: record which batching rules each test file runs
    # (tests/unit/op_coverage.py turns the record into docs/op-coverage.md's column).
    import json

    import vmlir.passes.vectorize as _vectorize

    _rule_for = _vectorize.rule_for
    _recorded: set[tuple[str, str]] = set()

    def _recording_rule_for(op: Any) -> Any:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[0].rsplit("/", 1)[-1]
        if (op.name, test) not in _recorded:
            _recorded.add((op.name, test))
            with open(os.environ["VMLIR_OP_COVERAGE"], "a") as f:
                f.write(json.dumps([op.name, test]) + "\n")
        return _rule_for(op)

    _vectorize.rule_for = _recording_rule_for
