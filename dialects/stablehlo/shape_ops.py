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
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
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

from vmlir.dialects.stablehlo import syntax
from vmlir.dialects.stablehlo._shapes import _i64_array, _shape
from vmlir.dialects.stablehlo.syntax import OperandsAndListsFormat
from vmlir.dialects.stablehlo.attributes import (
    ConvDimensionNumbersAttr,
    Dims,
    DotDimensionNumbers,
    DotDimensionNumbersAttr,
    FftTypeAttr,
    GatherDimensionNumbersAttr,
    Precision,
    PrecisionAttr,
    RngAlgorithmAttr,
    RngDistributionAttr,
    TransposeAttr,
)

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
class ConstantOp(IRDLOperation):
    """A constant tensor."""

    name = "stablehlo.constant"

    value = prop_def(Attribute)
    output = result_def(TensorType)
    traits = traits_def(ConstantLike(), Pure())

    def __init__(self, value: TypedAttribute):
        super().__init__(result_types=[value.get_type()], properties={"value": value})

    # `stablehlo.constant {attrs} dense<1.0> : tensor<f32>`; the type is the value's own.
    def print(self, printer: Printer) -> None:
        syntax.print_attr_dict(printer, self)
        printer.print_string(" ")
        printer.print_attribute(self.value)
        if not (
            isinstance(self.value, TypedAttribute)
            and self.value.get_type() == self.output.type
        ):
            printer.print_string(" : ")
            syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        attrs = syntax.parse_attr_dict(parser)
        value = parser.parse_attribute()
        if parser.parse_optional_punctuation(":"):
            _, results = syntax.parse_functional_type(parser, 0)
        elif isinstance(value, TypedAttribute):
            results = [value.get_type()]
        else:
            parser.raise_error("expected ':' and the result type after an untyped value")
        return cls.create(result_types=results, properties={"value": value}, attributes=attrs)

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
class IotaOp(IRDLOperation):
    """0, 1, 2, ... along iota_dimension, broadcast along the others."""

    name = "stablehlo.iota"

    iota_dimension = prop_def(IntegerAttr[I64])
    output = result_def(TensorType)
    traits = traits_def(Pure())

    # `stablehlo.iota dim = 0 : tensor<4xi32>`
    def print(self, printer: Printer) -> None:
        printer.print_string(f" dim = {self.iota_dimension.value.data}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        printer.print_attribute(self.output.type)

    @classmethod
    def parse(cls, parser: Parser) -> IotaOp:
        syntax.parse_keyword_equals(parser, "dim")
        dim = syntax.parse_i64_attr(parser)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        return cls.create(
            result_types=[parser.parse_type()],
            properties={"iota_dimension": dim},
            attributes=attrs,
        )


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
        super().__init__(
            operands=[operand],
            result_types=[result_type],
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
        super().__init__(operands=[operand], result_types=[result_type])

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
        super().__init__(
            operands=[operand],
            result_types=[result_type],
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
class SliceOp(IRDLOperation):
    """Static strided slice."""

    name = "stablehlo.slice"

    operand = operand_def(TensorType)
    start_indices = prop_def(DenseArrayBase[I64])
    limit_indices = prop_def(DenseArrayBase[I64])
    strides = prop_def(DenseArrayBase[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())

    # `stablehlo.slice %x [0:4:2, 1:3] : (...) -> ...` (custom<SliceRanges>; stride 1 elided)
    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.operand)
        ranges = []
        for start, limit, stride in zip(
            syntax.i64_values(self.start_indices),
            syntax.i64_values(self.limit_indices),
            syntax.i64_values(self.strides),
        ):
            ranges.append(f"{start}:{limit}" + ("" if stride == 1 else f":{stride}"))
        printer.print_string(" [" + ", ".join(ranges) + "]")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> SliceOp:
        operand = parser.parse_unresolved_operand()

        def one_range() -> tuple[int, int, int]:
            start = parser.parse_integer(allow_boolean=False)
            parser.parse_punctuation(":")
            limit = parser.parse_integer(allow_boolean=False)
            stride = 1
            if parser.parse_optional_punctuation(":"):
                stride = parser.parse_integer(allow_boolean=False)
            return start, limit, stride

        ranges = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, one_range)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, results = syntax.parse_functional_type(parser, 1)
        starts, limits, strides = (list(c) for c in zip(*ranges)) if ranges else ([], [], [])
        return cls.create(
            operands=syntax.resolve(parser, [operand], types),
            result_types=results,
            properties={
                "start_indices": _i64_array(starts),
                "limit_indices": _i64_array(limits),
                "strides": _i64_array(strides),
            },
            attributes=attrs,
        )


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
class ConcatenateOp(IRDLOperation):
    """Concatenate along one dimension."""

    name = "stablehlo.concatenate"

    inputs = var_operand_def(TensorType)
    dimension = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())

    # `stablehlo.concatenate %a, %b, dim = 0 : (...) -> ...`
    def print(self, printer: Printer) -> None:
        syntax.print_operands(printer, self.inputs)
        printer.print_string(f", dim = {self.dimension.value.data}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> ConcatenateOp:
        operands = syntax.parse_operands_then_comma(parser)
        syntax.parse_keyword_equals(parser, "dim")
        dim = syntax.parse_i64_attr(parser)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, results = syntax.parse_functional_type(parser, len(operands))
        return cls.create(
            operands=syntax.resolve(parser, operands, types),
            result_types=results,
            properties={"dimension": dim},
            attributes=attrs,
        )


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
class DotGeneralOp(IRDLOperation):
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

    # `stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [1] x
    # [0], precision = [DEFAULT, DEFAULT] : (...) -> ...` (custom<DotDimensionNumbers>)
    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        dims = self.dot_dimension_numbers.data

        def pair(lhs: Sequence[int], rhs: Sequence[int]) -> str:
            return f"[{', '.join(map(str, lhs))}] x [{', '.join(map(str, rhs))}]"

        if dims.lhs_batching_dimensions or dims.rhs_batching_dimensions:
            printer.print_string(
                ", batching_dims = "
                + pair(dims.lhs_batching_dimensions, dims.rhs_batching_dimensions)
            )
        printer.print_string(
            ", contracting_dims = "
            + pair(dims.lhs_contracting_dimensions, dims.rhs_contracting_dimensions)
        )
        if self.precision_config is not None:
            names = [p.data.value for p in self.precision_config]  # type: ignore[attr-defined]
            printer.print_string(f", precision = [{', '.join(names)}]")
        if self.algorithm is not None:
            printer.print_string(", algorithm = ")
            printer.print_attribute(self.algorithm)
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> DotGeneralOp:
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()

        def pair() -> tuple[list[int], list[int]]:
            left = syntax.parse_i64_list(parser)
            parser.parse_keyword("x")
            return left, syntax.parse_i64_list(parser)

        parser.parse_punctuation(",")
        batching: tuple[list[int], list[int]] = ([], [])
        if parser.parse_optional_keyword("batching_dims"):
            parser.parse_punctuation("=")
            batching = pair()
            parser.parse_punctuation(",")
        syntax.parse_keyword_equals(parser, "contracting_dims")
        contracting = pair()
        properties: dict[str, Attribute] = {
            "dot_dimension_numbers": DotDimensionNumbersAttr(
                DotDimensionNumbers(*(tuple(d) for d in (*batching, *contracting)))
            )
        }
        while parser.parse_optional_punctuation(","):
            if parser.parse_optional_keyword("precision"):
                parser.parse_punctuation("=")
                properties["precision_config"] = ArrayAttr(
                    parser.parse_comma_separated_list(
                        parser.Delimiter.SQUARE,
                        lambda: PrecisionAttr(parser.parse_str_enum(Precision)),
                    )
                )
            else:
                syntax.parse_keyword_equals(parser, "algorithm")
                properties["algorithm"] = parser.parse_attribute()
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, results = syntax.parse_functional_type(parser, 2)
        return cls.create(
            operands=syntax.resolve(parser, [lhs, rhs], types),
            result_types=results,
            properties=properties,
            attributes=attrs,
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
