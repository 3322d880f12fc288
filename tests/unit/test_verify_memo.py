"""The final verify's memoized signature checks (vmlir/verify.py) find what xDSL's finds."""

from __future__ import annotations

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from vmlir.ir import make_context
from vmlir.verify import memoized_verify

# Two valid batch.broadcast ops of one signature, then one whose result type is wrong.
_BAD_BROADCAST = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> (), sym_name = "main"}> ({
  ^bb0(%x: tensor<3xf32>):
    %0 = "batch.broadcast"(%x) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
    %1 = "batch.broadcast"(%x) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
    %2 = "batch.broadcast"(%x) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<5x3xf32>
    "func.return"() : () -> ()
  }) : () -> ()
}) : () -> ()
"""


def _error(module: ModuleOp, memo: bool) -> str:
    with pytest.raises(VerifyException) as info:
        if memo:
            with memoized_verify():
                module.verify()
        else:
            module.verify()
    return str(info.value)


def test_a_new_signature_is_checked_in_full():
    module = Parser(make_context(), _BAD_BROADCAST).parse_module()
    plain = _error(module, memo=False)
    assert "result must have type tensor<4x3xf32>, got tensor<5x3xf32>" in plain
    assert _error(module, memo=True) == plain


def test_a_repeated_signature_still_runs_the_traits():
    """func.return outside a function has the signature of the valid one inside it; only
    its HasParent trait (not a signature check) rejects it, and still does."""
    fn = func.FuncOp("main", ((), ()))
    fn.body.block.add_op(func.ReturnOp())
    module = ModuleOp([fn, func.ReturnOp()])
    plain = _error(module, memo=False)
    assert "func.func" in plain
    assert _error(module, memo=True) == plain


def test_memo_is_scoped_to_the_context():
    """Outside memoized_verify, nothing is remembered: xDSL's verifier as usual."""
    fn = func.FuncOp("main", ((), ()))
    fn.body.block.add_op(func.ReturnOp())
    with memoized_verify():
        ModuleOp([fn]).verify()
    from vmlir import verify

    assert getattr(verify._STATE, "seen", None) is None
