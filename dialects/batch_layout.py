"""Batch axes in types and attributes, and the two layout ops of the `batch` dialect.

- helpers: `[0, none]` axes attributes, the `batch.varying` flags, a tensor type with a
  batch axis inserted / removed / moved;
- `batch.move_axis`: a batched value whose batch axis moves (a transpose that only the
  batch axis takes part in);
- `batch.broadcast`: a uniform value given a batch axis.

Registered in the `batch` dialect by `vmlir.dialects.batch`, which re-exports every name.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    IntegerAttr,
    IntegerType,
    NoneAttr,
    NoneType,
    TensorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import init_fixed, irdl_op_definition

Axis = int | None


def _is_none(a: Attribute) -> bool:
    # `none` in an attribute list parses as the builtin none TYPE; accept the attribute too.
    return isinstance(a, (NoneType, NoneAttr))


def axes_attr(axes: Sequence[Axis]) -> ArrayAttr[Attribute]:
    """`[0 : i64, none]` from `[0, None]`."""
    return ArrayAttr([NoneType() if a is None else i64_attr(a) for a in axes])


def axes_of(attr: ArrayAttr[Attribute]) -> list[Axis]:
    """`[0, None]` from `[0 : i64, none]`."""
    return [None if _is_none(a) else a.value.data for a in attr]  # type: ignore[union-attr]


def varying_attr(flags: Sequence[bool]) -> DenseArrayBase:
    return _varying_attr(tuple(bool(f) for f in flags))


# Attributes are immutable and building one runs its verifier: the passes ask for the same
# few types thousands of times on a long program, so these are memoized.
@functools.lru_cache(maxsize=4096)
def _varying_attr(flags: tuple[bool, ...]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i1, [int(f) for f in flags])


@functools.lru_cache(maxsize=4096)
def i64_attr(value: int) -> IntegerAttr[I64]:
    """`value : i64` (the axes and sizes of the layout ops)."""
    return IntegerAttr(value, i64)


@functools.lru_cache(maxsize=4096)
def insert_axis(t: TensorType, axis: int, size: int) -> TensorType:
    shape = list(t.get_shape())
    shape.insert(axis, size)
    return TensorType(t.element_type, shape)


@functools.lru_cache(maxsize=4096)
def remove_axis(t: TensorType, axis: int) -> TensorType:
    shape = list(t.get_shape())
    del shape[axis]
    return TensorType(t.element_type, shape)


@functools.lru_cache(maxsize=4096)
def move_axis_type(t: TensorType, src: int, dst: int) -> TensorType:
    shape = list(t.get_shape())
    shape.insert(dst, shape.pop(src))
    return TensorType(t.element_type, shape)


def _check_axes_attr(attr: ArrayAttr[Attribute], what: str) -> None:
    for a in attr:
        if not _is_none(a) and not (
            isinstance(a, IntegerAttr) and isinstance(a.type, IntegerType)
        ):
            raise VerifyException(f"{what} entries must be integer axes or none, got {a}")


@irdl_op_definition
class MoveAxisOp(IRDLOperation):
    """Moves the batch axis of a batched value from `source` to `destination`.

    ```mlir
    %t = batch.move_axis %x from 1 to 0 : (tensor<3x4xf32>) -> tensor<4x3xf32>
    ```
    """

    name = "batch.move_axis"
    operand = operand_def(TensorType)
    result = result_def(TensorType)
    source = prop_def(IntegerAttr[I64])
    destination = prop_def(IntegerAttr[I64])
    traits = traits_def(Pure())
    assembly_format = (
        "$operand `from` $source `to` $destination attr-dict `:` "
        "functional-type($operand, $result)"
    )

    def __init__(self, operand: SSAValue, source: int, destination: int):
        t = operand.type
        assert isinstance(t, TensorType)
        init_fixed(
            self,
            operands=(operand,),
            result_types=(move_axis_type(t, source, destination),),
            properties={
                "source": i64_attr(source),
                "destination": i64_attr(destination),
            },
        )

    def verify_(self) -> None:
        t = self.operand.type
        assert isinstance(t, TensorType)
        src, dst = self.source.value.data, self.destination.value.data
        rank = t.get_num_dims()
        if not (0 <= src < rank and 0 <= dst < rank):
            raise VerifyException(
                f"axes must be in [0, {rank}) for an operand of rank {rank}, got from {src} to {dst}"
            )
        expected = move_axis_type(t, src, dst)
        if self.result.type != expected:
            raise VerifyException(f"result must have type {expected}, got {self.result.type}")

    def permutation(self) -> list[int]:
        """The stablehlo.transpose permutation that performs this move."""
        t = self.operand.type
        assert isinstance(t, TensorType)
        perm = list(range(t.get_num_dims()))
        perm.insert(self.destination.value.data, perm.pop(self.source.value.data))
        return perm


@irdl_op_definition
class BroadcastOp(IRDLOperation):
    """Gives a uniform value a batch axis: every example gets the same value.

    ```mlir
    %b = batch.broadcast %c axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
    ```
    """

    name = "batch.broadcast"
    operand = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    size = prop_def(IntegerAttr[I64])
    traits = traits_def(Pure())
    assembly_format = (
        "$operand `axis` $axis `size` $size attr-dict `:` functional-type($operand, $result)"
    )

    def __init__(self, operand: SSAValue, axis: int, size: int):
        t = operand.type
        assert isinstance(t, TensorType)
        init_fixed(
            self,
            operands=(operand,),
            result_types=(insert_axis(t, axis, size),),
            properties={"axis": i64_attr(axis), "size": i64_attr(size)},
        )

    def verify_(self) -> None:
        t = self.operand.type
        assert isinstance(t, TensorType)
        axis, size = self.axis.value.data, self.size.value.data
        if not 0 <= axis <= t.get_num_dims():
            raise VerifyException(
                f"axis {axis} is out of range for an operand of rank {t.get_num_dims()}"
            )
        if size < 0:
            raise VerifyException(f"size must be non-negative, got {size}")
        expected = insert_axis(t, axis, size)
        if self.result.type != expected:
            raise VerifyException(f"result must have type {expected}, got {self.result.type}")
