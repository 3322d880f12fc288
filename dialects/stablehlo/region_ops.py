"""StableHLO ops that carry regions (reductions, scatter, sort, control flow)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    BoolAttr,
    DenseArrayBase,
    DenseIntElementsAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import (
    Attribute,
    Region,
    SSAValue,
)
from xdsl.irdl import (
    IRDLOperation,
    SameVariadicOperandSize,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_region_def,
    var_result_def,
)
from xdsl.traits import (
    IsTerminator,
    Pure,
    RecursiveMemoryEffect,
    ReturnLike,
)
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import irdl_op_definition
from vmlir.dialects.stablehlo import region_formats
from vmlir.dialects.stablehlo._shapes import _i64_array
from vmlir.dialects.stablehlo.dimension_numbers import ScatterDimensionNumbersAttr

# ---------------------------------------------------------------------------
# Region-carrying ops
# ---------------------------------------------------------------------------


@irdl_op_definition
class ReturnOp(region_formats.ReturnFormat, IRDLOperation):
    """Terminator yielding the values of a stablehlo region."""

    name = "stablehlo.return"

    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), ReturnLike(), Pure())

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[values])


def _verify_one_result_per_input(op: IRDLOperation, inputs: Sequence[SSAValue]) -> None:
    if len(op.results) != len(inputs):
        raise VerifyException(
            f"{op.name}: expected one result per input ({len(inputs)}), "
            f"got {len(op.results)}"
        )


@irdl_op_definition
class ReduceOp(region_formats.ReduceFormat, IRDLOperation):
    """Reduce inputs over dimensions with body, starting from init_values."""

    name = "stablehlo.reduce"

    inputs = var_operand_def(TensorType)
    init_values = var_operand_def(TensorType)
    dimensions = prop_def(DenseArrayBase[I64])
    body = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (SameVariadicOperandSize(),)

    def __init__(
        self,
        inputs: Sequence[SSAValue],
        init_values: Sequence[SSAValue],
        dimensions: Sequence[int],
        body: Region,
        result_types: Sequence[Attribute],
    ):
        super().__init__(
            operands=[inputs, init_values],
            result_types=[result_types],
            properties={"dimensions": _i64_array(dimensions)},
            regions=[body],
        )

    def verify_(self) -> None:
        _verify_one_result_per_input(self, self.inputs)


@irdl_op_definition
class ReduceWindowOp(IRDLOperation):
    """Reduce each sliding window of the inputs with body."""

    name = "stablehlo.reduce_window"

    inputs = var_operand_def(TensorType)
    init_values = var_operand_def(TensorType)
    window_dimensions = prop_def(DenseArrayBase[I64])
    window_strides = opt_prop_def(DenseArrayBase[I64])
    base_dilations = opt_prop_def(DenseArrayBase[I64])
    window_dilations = opt_prop_def(DenseArrayBase[I64])
    padding = opt_prop_def(DenseIntElementsAttr)
    body = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (SameVariadicOperandSize(),)

    def verify_(self) -> None:
        _verify_one_result_per_input(self, self.inputs)


@irdl_op_definition
class ScatterOp(IRDLOperation):
    """Combine updates into inputs at scatter_indices with update_computation."""

    name = "stablehlo.scatter"

    inputs = var_operand_def(TensorType)
    scatter_indices = operand_def(TensorType)
    updates = var_operand_def(TensorType)
    scatter_dimension_numbers = prop_def(ScatterDimensionNumbersAttr)
    indices_are_sorted = opt_prop_def(BoolAttr)
    unique_indices = opt_prop_def(BoolAttr)
    update_computation = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (SameVariadicOperandSize(),)

    def verify_(self) -> None:
        _verify_one_result_per_input(self, self.inputs)


@irdl_op_definition
class SortOp(IRDLOperation):
    """Sort inputs together along dimension using the comparator region."""

    name = "stablehlo.sort"

    inputs = var_operand_def(TensorType)
    dimension = prop_def(IntegerAttr[I64])
    is_stable = opt_prop_def(BoolAttr)
    comparator = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())


@irdl_op_definition
class SelectAndScatterOp(IRDLOperation):
    """In each window of operand pick one element with `select`, and combine the
    matching source element into it with `scatter` (the gradient of max pooling)."""

    name = "stablehlo.select_and_scatter"

    operand = operand_def(TensorType)
    source = operand_def(TensorType)
    init_value = operand_def(TensorType)
    window_dimensions = opt_prop_def(DenseArrayBase[I64])
    window_strides = opt_prop_def(DenseArrayBase[I64])
    padding = opt_prop_def(DenseIntElementsAttr)
    select = region_def()
    scatter = region_def()
    result = result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())


@irdl_op_definition
class CaseOp(IRDLOperation):
    """Run the branch selected by index (out of range: the last branch)."""

    name = "stablehlo.case"

    index = operand_def(TensorType)
    branches = var_region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())


@irdl_op_definition
class IfOp(IRDLOperation):
    """Run true_branch or false_branch depending on a scalar i1."""

    name = "stablehlo.if"

    pred = operand_def(TensorType)
    true_branch = region_def()
    false_branch = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())


@irdl_op_definition
class WhileOp(region_formats.WhileFormat, IRDLOperation):
    """Loop body over the carried values while cond returns true."""

    name = "stablehlo.while"

    operand = var_operand_def(TensorType)
    cond = region_def()
    body = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())


@irdl_op_definition
class OptimizationBarrierOp(IRDLOperation):
    """Identity that XLA may not optimise across (no Pure: must not be CSE'd)."""

    name = "stablehlo.optimization_barrier"

    operand = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)


@irdl_op_definition
class CustomCallOp(IRDLOperation):
    """A call of an external target by name.

    vmlir itself emits one: a nested `vmlir.vmap` lowers to `call_target_name =
    "vmlir.vmap"` naming the per-example function in `called_computations`, and the
    importer turns it into a nested `batch.vmap`. Any other target has no batching rule.
    """

    name = "stablehlo.custom_call"

    inputs = var_operand_def()
    call_target_name = prop_def(StringAttr)
    has_side_effect = opt_prop_def(BoolAttr)
    backend_config = opt_prop_def(Attribute)
    api_version = opt_prop_def(IntegerAttr)
    called_computations = opt_prop_def(ArrayAttr)
    operand_layouts = opt_prop_def(Attribute)
    result_layouts = opt_prop_def(Attribute)
    output_operand_aliases = opt_prop_def(Attribute)
    outputs = var_result_def()
