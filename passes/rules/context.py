"""What every batching rule uses: the RuleContext and small shape helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects.batch import BroadcastOp, MoveAxisOp
from vmlir.dialects.builder import Builder, i64_array  # noqa: F401 - the rules' helper too
from vmlir.dialects.locations import where  # noqa: F401 - re-exported for the rules

Axis = int | None
RuleResult = tuple[Sequence[SSAValue], Sequence[Axis]]
Rule = Callable[
    ["RuleContext", Operation, Sequence[SSAValue], Sequence[Axis]], RuleResult
]


@dataclass
class RuleContext:
    """What a rule may use: the batch size and a place to put new ops."""

    axis_size: int
    insertion_point: InsertPoint
    vectorizer: Any = None
    """The pass's Vectorizer: rules for ops with regions use it to vectorize them."""

    def builder(self) -> Builder:
        """Small-computation helpers (constants, compares, reductions) emitting here."""
        return Builder(self.insertion_point)

    def at(self, ip: InsertPoint) -> RuleContext:
        """The same context, emitting at `ip` (e.g. into a new region's block)."""
        return RuleContext(self.axis_size, ip, self.vectorizer)

    def emit(self, op: Operation) -> Operation:
        Rewriter.insert_op(op, self.insertion_point)
        return op

    def move_axis(self, value: SSAValue, src: int, dst: int) -> SSAValue:
        if src == dst:
            return value
        return self.emit(MoveAxisOp(value, src, dst)).results[0]

    def broadcast(self, value: SSAValue, axis: int) -> SSAValue:
        """A uniform value with a batch axis inserted at `axis` (every example equal)."""
        return self.emit(BroadcastOp(value, axis, self.axis_size)).results[0]

    def to_axis(self, value: SSAValue, axis: Axis, dst: int) -> SSAValue:
        """`value` batched at `dst`, whether it was batched elsewhere or uniform."""
        if axis is None:
            return self.broadcast(value, dst)
        return self.move_axis(value, axis, dst)

    def rebuild(
        self,
        op: Operation,
        operands: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        **properties: Attribute,
    ) -> Operation:
        """`op` again with new operands, result types and (some) properties; regions cloned."""
        props = dict(op.properties)
        props.update(properties)
        attrs = {k: v for k, v in op.attributes.items() if not k.startswith("batch.")}
        new = op.create(
            operands=list(operands),
            result_types=list(result_types),
            properties=props,
            attributes=attrs,
            regions=[r.clone() for r in op.regions],
            location=op.location,
        )
        return self.emit(new)


def tensor_type(v: SSAValue) -> TensorType:
    t = v.type
    assert isinstance(t, TensorType), f"expected a tensor, got {t}"
    return t


def shift(d: int, axis: int) -> int:
    """Per-example dimension `d` in a value batched at `axis`."""
    return d if d < axis else d + 1


def first_batched(axes: Sequence[Axis]) -> int:
    return next(a for a in axes if a is not None)
