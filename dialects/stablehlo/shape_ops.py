"""StableHLO ops that move data or change shapes (incl. dot_general and gather)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    BoolAttr,
    DenseArrayBase,
    DenseIntElementsAttr,
    IntegerAttr,
    TensorType,
)
from xdsl.ir import (
    Attribute,
    SSAValue,
    TypedAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import (
    ConstantLike,
    Pure,
)
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import init_fixed, irdl_op_definition
from vmlir.dialects.stablehlo import formats
from vmlir.dialects.stablehlo._shapes import _i64_array, _shape
from vmlir.dialects.stablehlo.attributes import (
    FftTypeAttr,
    RngAlgorithmAttr,
    RngDistributionAttr,
    TransposeAttr,
)
from vmlir.dialects.stablehlo.dimension_numbers import (
    ConvDimensionNumbersAttr,
    Dims,
    DotDimensionNumbersAttr,
    GatherDimensionNumbersAttr,
)
from vmlir.dialects.stablehlo.syntax import OperandsAndListsFormat

# ---------------------------------------------------------------------------
# Shape and data-movement ops
# ---------------------------------------------------------------------------


@irdl_op_definition
class BitcastConvertOp(OperandsAndListsFormat, IRDLOperation):
    """Reinterpret bits; the shape gains or loses a minor dim if widths differ."""

    name = "stablehlo.bitcast_convert"

    operand = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class ConstantOp(formats.ConstantFormat, IRDLOperation):
    """A constant tensor."""

    name = "stablehlo.constant"

    value = prop_def(Attribute)
    output = result_def(TensorType)
    traits = traits_def(ConstantLike(), Pure())

    def __init__(self, value: TypedAttribute):
        super().__init__(result_types=[value.get_type()], properties={"value": value})

    def verify_(self) -> None:
        if (
            isinstance(self.value, TypedAttribute)
            and self.value.get_type() != self.output.type
        ):
            raise VerifyException(
                f"{self.name}: value type {self.value.get_type()} does not match "
                f"result type {self.output.type}"
            )


@irdl_op_definition
class IotaOp(formats.IotaFormat, IRDLOperation):
    """0, 1, 2, ... along iota_dimension, broadcast along the others."""

    name = "stablehlo.iota"

    iota_dimension = prop_def(IntegerAttr[I64])
    output = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class BroadcastInDimOp(OperandsAndListsFormat, IRDLOperation):
    """Broadcast; operand dim i becomes result dim broadcast_dimensions[i]."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = (("dims", "broadcast_dimensions"),)

    name = "stablehlo.broadcast_in_dim"

    operand = operand_def(TensorType)
    broadcast_dimensions = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(
        self, operand: SSAValue, dimensions: Sequence[int], result_type: Attribute
    ):
        init_fixed(
            self,
            operands=(operand,),
            result_types=(result_type,),
            properties={"broadcast_dimensions": _i64_array(dimensions)},
        )

    def verify_(self) -> None:
        dims = self.broadcast_dimensions.get_values()
        operand_shape, result_shape = _shape(self.operand), _shape(self.result)
        if len(dims) != len(operand_shape):
            raise VerifyException(
                f"{self.name}: broadcast_dimensions has {len(dims)} entries but "
                f"the operand has rank {len(operand_shape)}"
            )
        for size, dim in zip(operand_shape, dims):
            if not 0 <= dim < len(result_shape):
                raise VerifyException(
                    f"{self.name}: broadcast dimension {dim} is out of range for "
                    f"result rank {len(result_shape)}"
                )
            if size not in (1, -1, result_shape[dim]) and result_shape[dim] != -1:
                raise VerifyException(
                    f"{self.name}: operand dimension of size {size} cannot "
                    f"broadcast to result dimension {dim} of size {result_shape[dim]}"
                )


@irdl_op_definition
class ReshapeOp(OperandsAndListsFormat, IRDLOperation):
    """Reshape preserving the row-major element order."""

    name = "stablehlo.reshape"

    operand = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(self, operand: SSAValue, result_type: Attribute):
        init_fixed(self, operands=(operand,), result_types=(result_type,), properties={})

    def verify_(self) -> None:
        operand_shape, result_shape = _shape(self.operand), _shape(self.result)
        if -1 in operand_shape or -1 in result_shape:
            return
        operand_count = _product(operand_shape)
        result_count = _product(result_shape)
        if operand_count != result_count:
            raise VerifyException(
                f"{self.name}: operand has {operand_count} elements but the "
                f"result has {result_count}"
            )


def _product(shape: Dims) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


@irdl_op_definition
class TransposeOp(OperandsAndListsFormat, IRDLOperation):
    """Permute dimensions: result dim i is operand dim permutation[i]."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = (("dims", "permutation"),)

    name = "stablehlo.transpose"

    operand = operand_def(TensorType)
    permutation = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(
        self,
        operand: SSAValue,
        permutation: Sequence[int],
        result_type: Attribute | None = None,
    ):
        if result_type is None:
            assert isinstance(operand.type, TensorType)
            shape = operand.type.get_shape()
            result_type = TensorType(
                operand.type.element_type, [shape[p] for p in permutation]
            )
        init_fixed(
            self,
            operands=(operand,),
            result_types=(result_type,),
            properties={"permutation": _i64_array(permutation)},
        )

    def verify_(self) -> None:
        permutation = self.permutation.get_values()
        rank = len(_shape(self.operand))
        if sorted(permutation) != list(range(rank)):
            raise VerifyException(
                f"{self.name}: permutation {list(permutation)} is not a "
                f"permutation of range({rank})"
            )


@irdl_op_definition
class ReverseOp(OperandsAndListsFormat, IRDLOperation):
    """Reverse the element order along the given dimensions."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = (("dims", "dimensions"),)
    FORMAT_FUNCTIONAL: ClassVar[bool] = False

    name = "stablehlo.reverse"

    operand = operand_def(TensorType)
    dimensions = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class SliceOp(formats.SliceFormat, IRDLOperation):
    """Static strided slice."""

    name = "stablehlo.slice"

    operand = operand_def(TensorType)
    start_indices = prop_def(DenseArrayBase[I64])
    limit_indices = prop_def(DenseArrayBase[I64])
    strides = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class DynamicSliceOp(OperandsAndListsFormat, IRDLOperation):
    """Slice of static size at run-time (clamped) start indices."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = (("sizes", "slice_sizes"),)

    name = "stablehlo.dynamic_slice"

    operand = operand_def(TensorType)
    start_indices = var_operand_def(TensorType)
    slice_sizes = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class DynamicUpdateSliceOp(OperandsAndListsFormat, IRDLOperation):
    """Overwrite a slice at run-time (clamped) start indices."""

    name = "stablehlo.dynamic_update_slice"

    operand = operand_def(TensorType)
    update = operand_def(TensorType)
    start_indices = var_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class ConcatenateOp(formats.ConcatenateFormat, IRDLOperation):
    """Concatenate along one dimension."""

    name = "stablehlo.concatenate"

    inputs = var_operand_def(TensorType)
    dimension = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class PadOp(OperandsAndListsFormat, IRDLOperation):
    """Edge (possibly negative) and interior padding with a scalar value."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("low", "edge_padding_low"),
        ("high", "edge_padding_high"),
        ("interior", "interior_padding"),
    )

    name = "stablehlo.pad"

    operand = operand_def(TensorType)
    padding_value = operand_def(TensorType)
    edge_padding_low = prop_def(DenseArrayBase[I64])
    edge_padding_high = prop_def(DenseArrayBase[I64])
    interior_padding = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class DotGeneralOp(formats.DotGeneralFormat, IRDLOperation):
    """Batched tensor contraction."""

    name = "stablehlo.dot_general"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    dot_dimension_numbers = prop_def(DotDimensionNumbersAttr)
    precision_config = opt_prop_def(ArrayAttr)
    algorithm = opt_prop_def(Attribute)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(
        self,
        lhs: SSAValue,
        rhs: SSAValue,
        dot_dimension_numbers: DotDimensionNumbersAttr,
        result_type: Attribute,
        precision_config: ArrayAttr | None = None,
    ):
        super().__init__(
            operands=[lhs, rhs],
            result_types=[result_type],
            properties={
                "dot_dimension_numbers": dot_dimension_numbers,
                "precision_config": precision_config,
            },
        )


@irdl_op_definition
class GatherOp(IRDLOperation):
    """Gather slices of operand at positions given by start_indices."""

    name = "stablehlo.gather"

    operand = operand_def(TensorType)
    start_indices = operand_def(TensorType)
    dimension_numbers = prop_def(GatherDimensionNumbersAttr)
    slice_sizes = prop_def(DenseArrayBase[I64])
    indices_are_sorted = opt_prop_def(BoolAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())


# ---------------------------------------------------------------------------
# Less common ops JAX emits: signal processing, linear algebra, random bits
# ---------------------------------------------------------------------------


@irdl_op_definition
class ConvolutionOp(IRDLOperation):
    """Windowed contraction of an input with a kernel (lax.conv*, jnp.convolve)."""

    name = "stablehlo.convolution"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    window_strides = opt_prop_def(DenseArrayBase[I64])
    padding = opt_prop_def(DenseIntElementsAttr)
    lhs_dilation = opt_prop_def(DenseArrayBase[I64])
    rhs_dilation = opt_prop_def(DenseArrayBase[I64])
    window_reversal = opt_prop_def(DenseArrayBase)
    dimension_numbers = prop_def(ConvDimensionNumbersAttr)
    feature_group_count = prop_def(IntegerAttr[I64])
    batch_group_count = prop_def(IntegerAttr[I64])
    precision_config = opt_prop_def(ArrayAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class FftOp(IRDLOperation):
    """FFT over the trailing len(fft_length) dimensions (jnp.fft.*)."""

    name = "stablehlo.fft"

    operand = operand_def(TensorType)
    fft_type = prop_def(FftTypeAttr)
    fft_length = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class TriangularSolveOp(IRDLOperation):
    """Solve a x = b (or x a = b) for triangular a; how GPU and TPU lower
    solve_triangular (on CPU JAX calls LAPACK through a custom_call instead)."""

    name = "stablehlo.triangular_solve"

    a = operand_def(TensorType)
    b = operand_def(TensorType)
    left_side = prop_def(BoolAttr)
    lower = prop_def(BoolAttr)
    unit_diagonal = prop_def(BoolAttr)
    transpose_a = prop_def(TransposeAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class RngOp(IRDLOperation):
    """Stateful random numbers between a and b of a given shape (lax.rng_uniform).

    Not Pure: two identical calls must not be merged into one.
    """

    name = "stablehlo.rng"

    a = operand_def(TensorType)
    b = operand_def(TensorType)
    shape = operand_def(TensorType)
    rng_distribution = prop_def(RngDistributionAttr)
    result = result_def(TensorType)


@irdl_op_definition
class RngBitGeneratorOp(IRDLOperation):
    """Random bits from an explicit state; returns the next state and the bits
    (JAX's "rbg" and "unsafe_rbg" PRNG implementations)."""

    name = "stablehlo.rng_bit_generator"

    initial_state = operand_def(TensorType)
    rng_algorithm = prop_def(RngAlgorithmAttr)
    output_state = result_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())
