"""`init_fixed` (dialects/deferred.py) builds the same op as xDSL's IRDL builder."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import Block
from xdsl.irdl import IRDLOperation

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp
from vmlir.dialects.deferred import init_fixed
from vmlir.ir import print_custom


def _value():
    return Block(arg_types=[TensorType(f32, [3, 5])]).args[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda v: BroadcastOp(v, 1, 4),
        lambda v: MoveAxisOp(v, 0, 1),
        lambda v: hlo.TransposeOp(v, [1, 0]),
        lambda v: hlo.ReshapeOp(v, TensorType(f32, [15])),
        lambda v: hlo.BroadcastInDimOp(v, [0, 2], TensorType(f32, [3, 2, 5])),
    ],
)
def test_same_op_as_the_irdl_builder(make):
    fast = make(_value())
    slow = type(fast).__new__(type(fast))
    IRDLOperation.__init__(
        slow,
        operands=[_value()],
        result_types=[r.type for r in fast.results],
        properties=dict(fast.properties),
    )
    fast.verify()
    slow.verify()
    assert (fast.properties, fast.attributes, [r.type for r in fast.results]) == (
        slow.properties,
        slow.attributes,
        [r.type for r in slow.results],
    )
    assert print_custom(fast) == print_custom(slow)


def test_a_wrong_count_goes_through_the_irdl_builder():
    """Two operands for a one-operand op: xDSL's builder names the mismatch."""
    op = BroadcastOp.__new__(BroadcastOp)
    with pytest.raises(ValueError, match="^Expected 1 operand, but got 2$"):
        init_fixed(op, operands=(_value(), _value()), result_types=(TensorType(f32, [4, 3, 5]),), properties={})
