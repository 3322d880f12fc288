"""StableHLO's cross-device collectives, as jax emits them inside a jax.shard_map body.

vmlir emits them only for a batch axis split over a device mesh whose collectives must
reach the other shards (`batch.vmap ... shards`): `replica_groups` list the devices of
each group by their flat index in the mesh, `use_global_device_ids` says so, and a
`channel_handle` makes them cross partitions (the embedding into jax's module gives each
one a fresh channel, vmlir/jaxmlir.py).

```mlir
%s = "stablehlo.all_reduce"(%x) <{
      channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>,
      replica_groups = dense<[[0, 1]]> : tensor<1x2xi64>, use_global_device_ids}> ({
^bb0(%a: tensor<f32>, %b: tensor<f32>):
  %c = stablehlo.add %a, %b : tensor<f32>
  stablehlo.return %c : tensor<f32>
}) : (tensor<f32>) -> tensor<f32>
```
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, ParametrizedAttribute, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import irdl_op_definition

DEVICE_TO_DEVICE = 1
"""The channel type of a collective between devices (jax's `DEVICE_TO_DEVICE_TYPE`)."""


@irdl_attr_definition
class ChannelHandleAttr(ParametrizedAttribute):
    """`#stablehlo.channel_handle<handle = 1, type = 1>`."""

    name = "stablehlo.channel_handle"

    handle: IntAttr
    type: IntAttr

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            parser.parse_keyword("handle")
            parser.parse_punctuation("=")
            handle = parser.parse_integer(allow_boolean=False)
            parser.parse_punctuation(",")
            parser.parse_keyword("type")
            parser.parse_punctuation("=")
            kind = parser.parse_integer(allow_boolean=False)
        return [IntAttr(handle), IntAttr(kind)]

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<handle = {self.handle.data}, type = {self.type.data}>")


def _groups_attr(groups: Sequence[Sequence[int]]) -> DenseIntOrFPElementsAttr:
    rows, cols = len(groups), len(groups[0])
    flat = [int(d) for g in groups for d in g]
    return DenseIntOrFPElementsAttr.from_list(TensorType(i64, [rows, cols]), flat)


def _cross_device(groups: Sequence[Sequence[int]], channel: int) -> dict[str, Attribute]:
    return {
        "replica_groups": _groups_attr(groups),
        "channel_handle": ChannelHandleAttr(IntAttr(channel), IntAttr(DEVICE_TO_DEVICE)),
        "use_global_device_ids": UnitAttr(),
    }


def _verify_groups(op: IRDLOperation) -> None:
    groups = op.properties["replica_groups"]
    assert isinstance(groups, DenseIntOrFPElementsAttr)
    if len(groups.get_shape() or ()) != 2:
        raise VerifyException(f"{op.name}: replica_groups must be a 2-D tensor")


@irdl_op_definition
class AllReduceOp(IRDLOperation):
    """Reduces each operand over the devices of its replica group, with `computation`."""

    name = "stablehlo.all_reduce"

    operands_ = var_operand_def(TensorType)
    results_ = var_result_def(TensorType)
    replica_groups = prop_def(DenseIntOrFPElementsAttr)
    channel_handle = opt_prop_def(ChannelHandleAttr)
    use_global_device_ids = opt_prop_def(UnitAttr)
    computation = region_def("single_block")

    def __init__(
        self,
        operand: SSAValue,
        groups: Sequence[Sequence[int]],
        channel: int,
        computation: Region,
    ):
        super().__init__(
            operands=[[operand]],
            result_types=[[operand.type]],
            properties=_cross_device(groups, channel),
            regions=[computation],
        )

    def verify_(self) -> None:
        _verify_groups(self)


@irdl_op_definition
class AllGatherOp(IRDLOperation):
    """Concatenates each operand along `all_gather_dim` over the devices of its group,
    in the group's order."""

    name = "stablehlo.all_gather"

    operands_ = var_operand_def(TensorType)
    results_ = var_result_def(TensorType)
    all_gather_dim = prop_def(IntegerAttr)
    replica_groups = prop_def(DenseIntOrFPElementsAttr)
    channel_handle = opt_prop_def(ChannelHandleAttr)
    use_global_device_ids = opt_prop_def(UnitAttr)

    def __init__(
        self,
        operand: SSAValue,
        dim: int,
        groups: Sequence[Sequence[int]],
        channel: int,
        result_type: Attribute,
    ):
        props = _cross_device(groups, channel)
        props["all_gather_dim"] = IntegerAttr(dim, i64)
        super().__init__(operands=[[operand]], result_types=[[result_type]], properties=props)

    def verify_(self) -> None:
        _verify_groups(self)


@irdl_op_definition
class PartitionIdOp(IRDLOperation):
    """This device's index among the partitions of the program (`tensor<ui32>`)."""

    name = "stablehlo.partition_id"

    result = result_def(TensorType)
