"""Building small StableHLO computations at an insertion point.

The passes that synthesize code (control-flow masking, the control-flow rules, lane
compaction) and the ragged frontend (the length as a value) need the same few things:
constants of a tensor type, comparisons, elementwise ops, selects, a reduction with a
scalar body. One builder serves them all; it lives with the dialects so that both the
frontend and the passes may use it (data flows frontend -> passes, never back).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ComplexType,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerType,
    Signedness,
    TensorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return _i64_array(tuple(values))


# Attributes are immutable and building one runs its verifier: memoized, as the batch
# type helpers are.
@functools.lru_cache(maxsize=4096)
def _i64_array(values: tuple[int, ...]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def scalar_body(scalar: TensorType, combine: type[Operation] | None) -> Region:
    """A region of two scalar arguments returning combine(a, b), or b when combine is None
    (a replacing scatter)."""
    block = Block(arg_types=[scalar, scalar])
    if combine is None:
        block.add_op(hlo.ReturnOp(block.args[1]))
    else:
        c = combine.create(operands=list(block.args), result_types=[scalar])
        block.add_ops([c, hlo.ReturnOp(c.results[0])])
    return Region(block)


def scalar_literal(element_type: Attribute, value: bool | complex):
    """`value` as the Python literal a dense splat of `element_type` is built from."""
    if isinstance(element_type, ComplexType):
        z = complex(value)
        return (z.real, z.imag)
    if isinstance(element_type, IntegerType):
        if isinstance(value, complex):
            value = value.real
        return int(value)
    if isinstance(value, complex):
        value = value.real
    return float(value)


def comparison_type(element_type: Attribute) -> hlo.ComparisonType:
    """The compare_type StableHLO wants for `element_type`."""
    if isinstance(element_type, IntegerType):
        if element_type.width.data == 1 or element_type.signedness.data == Signedness.UNSIGNED:
            return hlo.ComparisonType.UNSIGNED
        return hlo.ComparisonType.SIGNED
    return hlo.ComparisonType.FLOAT


class Builder:
    """Emits StableHLO ops before an insertion point and returns their (first) result."""

    def __init__(self, ip: InsertPoint):
        self.ip = ip

    def emit(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, self.ip)
        return op.results[0]

    def constant(self, t: TensorType, value: bool | complex) -> SSAValue:
        """`value` in every element of a tensor of type `t` (a scalar constant, broadcast).

        Any element type StableHLO programs carry: signless/unsigned integers and i1, every
        float width, and complex (whose splat is a (real, imaginary) pair)."""
        scalar = TensorType(t.element_type, [])
        attr = DenseIntOrFPElementsAttr.from_list(scalar, [scalar_literal(t.element_type, value)])
        c = self.emit(hlo.ConstantOp.create(properties={"value": attr}, result_types=[scalar]))
        return c if not t.get_shape() else self.broadcast(c, t)

    def broadcast(self, scalar: SSAValue, t: TensorType) -> SSAValue:
        return self.emit(
            hlo.BroadcastInDimOp.create(
                operands=[scalar], result_types=[t], properties={"broadcast_dimensions": i64_array([])}
            )
        )

    def compare(self, a: SSAValue, b: SSAValue, direction: str) -> SSAValue:
        """a <direction> b (EQ, NE, LT, LE, GT, GE): FLOAT for float and complex tensors,
        UNSIGNED for unsigned integers and i1 (as JAX compares them), SIGNED otherwise."""
        t = a.type
        assert isinstance(t, TensorType)
        kind = comparison_type(t.element_type)
        return self.emit(
            hlo.CompareOp.create(
                operands=[a, b],
                result_types=[TensorType(i1, t.get_shape())],
                properties={
                    "comparison_direction": hlo.ComparisonDirectionAttr(hlo.ComparisonDirection(direction)),
                    "compare_type": hlo.ComparisonTypeAttr(kind),
                },
            )
        )

    def binary(self, cls: type[Operation], a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(cls.create(operands=[a, b], result_types=[a.type]))

    def unary(self, cls: type[Operation], a: SSAValue, result_type=None) -> SSAValue:
        return self.emit(cls.create(operands=[a], result_types=[result_type or a.type]))

    def not_(self, a: SSAValue) -> SSAValue:
        return self.unary(hlo.NotOp, a)

    def and_mask(self, a: SSAValue, mask: SSAValue | None) -> SSAValue:
        return a if mask is None else self.binary(hlo.AndOp, a, mask)

    def select(self, p: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(hlo.SelectOp.create(operands=[p, a, b], result_types=[a.type]))

    def reduce(self, x: SSAValue, init: SSAValue, dims: Sequence[int], combine: type[Operation]) -> SSAValue:
        """Reduce `x` over `dims` with a scalar `combine` op, starting from `init`."""
        t, scalar = x.type, init.type
        assert isinstance(t, TensorType) and isinstance(scalar, TensorType)
        shape = [d for i, d in enumerate(t.get_shape()) if i not in dims]
        return self.emit(
            hlo.ReduceOp.create(
                operands=[x, init],
                result_types=[TensorType(t.element_type, shape)],
                properties={"dimensions": i64_array(dims)},
                regions=[scalar_body(scalar, combine)],
            )
        )
