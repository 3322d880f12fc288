"""StableHLO's dimension-number attributes (dot, gather, scatter, convolution) and the dot
algorithm, parsed and printed exactly as jaxlib does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple, TypeVar

from xdsl.dialects.builtin import (
    BoolAttr,
    IntAttr,
    IntegerAttr,
)
from xdsl.ir import (
    Attribute,
    Data,
    ParametrizedAttribute,
    TypeAttribute,
)
from xdsl.irdl import (
    irdl_attr_definition,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer

# ---------------------------------------------------------------------------
# Struct attributes: `#stablehlo.dot<key = [..], key = N>`
# ---------------------------------------------------------------------------

Dims = tuple[int, ...]


class DotDimensionNumbers(NamedTuple):
    lhs_batching_dimensions: Dims = ()
    rhs_batching_dimensions: Dims = ()
    lhs_contracting_dimensions: Dims = ()
    rhs_contracting_dimensions: Dims = ()


class GatherDimensionNumbers(NamedTuple):
    offset_dims: Dims = ()
    collapsed_slice_dims: Dims = ()
    operand_batching_dims: Dims = ()
    start_indices_batching_dims: Dims = ()
    start_index_map: Dims = ()
    index_vector_dim: int = 0


class ScatterDimensionNumbers(NamedTuple):
    update_window_dims: Dims = ()
    inserted_window_dims: Dims = ()
    input_batching_dims: Dims = ()
    scatter_indices_batching_dims: Dims = ()
    scatter_dims_to_operand_dims: Dims = ()
    index_vector_dim: int = 0


_StructT = TypeVar(
    "_StructT", DotDimensionNumbers, GatherDimensionNumbers, ScatterDimensionNumbers
)


def _parse_struct(parser: AttrParser, struct_type: type[_StructT]) -> _StructT:
    """
    Parse `<key = [ints], key = int, ...>` in any key order, like MLIR's
    `parseStruct`; absent keys keep the NamedTuple default (empty or 0).
    """
    defaults: dict[str, object] = struct_type._field_defaults
    values: dict[str, object] = {}
    parser.parse_punctuation("<")
    while parser.parse_optional_punctuation(">") is None:
        pos = parser.pos
        key = parser.parse_identifier(f"field name of {struct_type.__name__}")
        if key not in defaults:
            parser.raise_error(f"unknown field `{key}`", pos, parser.pos)
        if key in values:
            parser.raise_error(f"duplicated `{key}` entry", pos, parser.pos)
        parser.parse_punctuation("=")
        if isinstance(defaults[key], tuple):
            values[key] = tuple(
                parser.parse_comma_separated_list(
                    parser.Delimiter.SQUARE,
                    lambda: parser.parse_integer(allow_boolean=False),
                )
            )
        else:
            values[key] = parser.parse_integer(allow_boolean=False)
        if parser.parse_optional_punctuation(",") is None:
            parser.parse_punctuation(">")
            break
    return struct_type(**values)


def _print_struct(
    printer: Printer,
    struct: DotDimensionNumbers | GatherDimensionNumbers | ScatterDimensionNumbers,
) -> None:
    # MLIR omits empty lists and zero integers; `#stablehlo.dot<>` is valid.
    defaults: dict[str, object] = type(struct)._field_defaults
    entries = [
        (key, value)
        for key, value in struct._asdict().items()
        if value != defaults[key]
    ]

    def print_entry(entry: tuple[str, object]) -> None:
        key, value = entry
        printer.print_string(f"{key} = ")
        if isinstance(value, tuple):
            printer.print_string("[" + ", ".join(str(v) for v in value) + "]")
        else:
            printer.print_string(str(value))

    with printer.in_angle_brackets():
        printer.print_list(entries, print_entry)


@irdl_attr_definition
class DotDimensionNumbersAttr(Data[DotDimensionNumbers]):
    """Batching and contracting dimensions of `stablehlo.dot_general`."""

    name = "stablehlo.dot"

    @staticmethod
    def make(
        lhs_batch: Sequence[int],
        rhs_batch: Sequence[int],
        lhs_contract: Sequence[int],
        rhs_contract: Sequence[int],
    ) -> DotDimensionNumbersAttr:
        return DotDimensionNumbersAttr(
            DotDimensionNumbers(
                tuple(lhs_batch),
                tuple(rhs_batch),
                tuple(lhs_contract),
                tuple(rhs_contract),
            )
        )

    @property
    def lhs_batching_dimensions(self) -> Dims:
        return self.data.lhs_batching_dimensions

    @property
    def rhs_batching_dimensions(self) -> Dims:
        return self.data.rhs_batching_dimensions

    @property
    def lhs_contracting_dimensions(self) -> Dims:
        return self.data.lhs_contracting_dimensions

    @property
    def rhs_contracting_dimensions(self) -> Dims:
        return self.data.rhs_contracting_dimensions

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> DotDimensionNumbers:
        return _parse_struct(parser, DotDimensionNumbers)

    def print_parameter(self, printer: Printer) -> None:
        _print_struct(printer, self.data)


@irdl_attr_definition
class GatherDimensionNumbersAttr(Data[GatherDimensionNumbers]):
    """Dimension numbers of `stablehlo.gather`."""

    name = "stablehlo.gather"

    @staticmethod
    def make(
        offset_dims: Sequence[int],
        collapsed_slice_dims: Sequence[int],
        start_index_map: Sequence[int],
        index_vector_dim: int,
        operand_batching_dims: Sequence[int] = (),
        start_indices_batching_dims: Sequence[int] = (),
    ) -> GatherDimensionNumbersAttr:
        return GatherDimensionNumbersAttr(
            GatherDimensionNumbers(
                offset_dims=tuple(offset_dims),
                collapsed_slice_dims=tuple(collapsed_slice_dims),
                operand_batching_dims=tuple(operand_batching_dims),
                start_indices_batching_dims=tuple(start_indices_batching_dims),
                start_index_map=tuple(start_index_map),
                index_vector_dim=index_vector_dim,
            )
        )

    @property
    def offset_dims(self) -> Dims:
        return self.data.offset_dims

    @property
    def collapsed_slice_dims(self) -> Dims:
        return self.data.collapsed_slice_dims

    @property
    def operand_batching_dims(self) -> Dims:
        return self.data.operand_batching_dims

    @property
    def start_indices_batching_dims(self) -> Dims:
        return self.data.start_indices_batching_dims

    @property
    def start_index_map(self) -> Dims:
        return self.data.start_index_map

    @property
    def index_vector_dim(self) -> int:
        return self.data.index_vector_dim

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> GatherDimensionNumbers:
        return _parse_struct(parser, GatherDimensionNumbers)

    def print_parameter(self, printer: Printer) -> None:
        _print_struct(printer, self.data)


@irdl_attr_definition
class ScatterDimensionNumbersAttr(Data[ScatterDimensionNumbers]):
    """Dimension numbers of `stablehlo.scatter`."""

    name = "stablehlo.scatter"

    @staticmethod
    def make(
        update_window_dims: Sequence[int],
        inserted_window_dims: Sequence[int],
        scatter_dims_to_operand_dims: Sequence[int],
        index_vector_dim: int,
        input_batching_dims: Sequence[int] = (),
        scatter_indices_batching_dims: Sequence[int] = (),
    ) -> ScatterDimensionNumbersAttr:
        return ScatterDimensionNumbersAttr(
            ScatterDimensionNumbers(
                update_window_dims=tuple(update_window_dims),
                inserted_window_dims=tuple(inserted_window_dims),
                input_batching_dims=tuple(input_batching_dims),
                scatter_indices_batching_dims=tuple(scatter_indices_batching_dims),
                scatter_dims_to_operand_dims=tuple(scatter_dims_to_operand_dims),
                index_vector_dim=index_vector_dim,
            )
        )

    @property
    def update_window_dims(self) -> Dims:
        return self.data.update_window_dims

    @property
    def inserted_window_dims(self) -> Dims:
        return self.data.inserted_window_dims

    @property
    def input_batching_dims(self) -> Dims:
        return self.data.input_batching_dims

    @property
    def scatter_indices_batching_dims(self) -> Dims:
        return self.data.scatter_indices_batching_dims

    @property
    def scatter_dims_to_operand_dims(self) -> Dims:
        return self.data.scatter_dims_to_operand_dims

    @property
    def index_vector_dim(self) -> int:
        return self.data.index_vector_dim

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ScatterDimensionNumbers:
        return _parse_struct(parser, ScatterDimensionNumbers)

    def print_parameter(self, printer: Printer) -> None:
        _print_struct(printer, self.data)


@irdl_attr_definition
class DotAlgorithmAttr(ParametrizedAttribute):
    """Explicit dot algorithm (`precision=DotAlgorithmPreset...` in JAX)."""

    name = "stablehlo.dot_algorithm"

    lhs_precision_type: TypeAttribute
    rhs_precision_type: TypeAttribute
    accumulation_type: TypeAttribute
    lhs_component_count: IntAttr
    rhs_component_count: IntAttr
    num_primitive_operations: IntAttr
    allow_imprecise_accumulation: BoolAttr

    # Unlike the dimension-number structs, MLIR requires every field, in order.
    _TYPE_FIELDS: ClassVar[tuple[str, ...]] = (
        "lhs_precision_type",
        "rhs_precision_type",
        "accumulation_type",
    )
    _INT_FIELDS: ClassVar[tuple[str, ...]] = (
        "lhs_component_count",
        "rhs_component_count",
        "num_primitive_operations",
    )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        params: list[Attribute] = []
        with parser.in_angle_brackets():
            for key in cls._TYPE_FIELDS:
                parser.parse_keyword(key)
                parser.parse_punctuation("=")
                params.append(parser.parse_type())
                parser.parse_punctuation(",")
            for key in cls._INT_FIELDS:
                parser.parse_keyword(key)
                parser.parse_punctuation("=")
                params.append(IntAttr(parser.parse_integer(allow_boolean=False)))
                parser.parse_punctuation(",")
            parser.parse_keyword("allow_imprecise_accumulation")
            parser.parse_punctuation("=")
            params.append(IntegerAttr.from_bool(parser.parse_boolean()))
        return params

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            for key in self._TYPE_FIELDS:
                printer.print_string(f"{key} = ")
                printer.print_attribute(getattr(self, key))
                printer.print_string(", ")
            for key in self._INT_FIELDS:
                printer.print_string(f"{key} = {getattr(self, key).data}, ")
            flag = "true" if self.allow_imprecise_accumulation.value.data else "false"
            printer.print_string(f"allow_imprecise_accumulation = {flag}")



# ---------------------------------------------------------------------------
# Convolution: `#stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>`
# ---------------------------------------------------------------------------


class ConvDimensionNumbers(NamedTuple):
    input_batch_dimension: int
    input_feature_dimension: int
    input_spatial_dimensions: Dims
    kernel_input_feature_dimension: int
    kernel_output_feature_dimension: int
    kernel_spatial_dimensions: Dims
    output_batch_dimension: int
    output_feature_dimension: int
    output_spatial_dimensions: Dims


# The letters naming the two non-spatial dimensions of input, kernel and output.
_CONV_LABELS = (("b", "f"), ("i", "o"), ("b", "f"))


def _parse_conv_layout(parser: AttrParser, labels: tuple[str, str]) -> tuple[int, int, Dims]:
    """`[b, 0, 1, f]`: where the two labelled dimensions and each spatial one are."""
    start = parser.pos

    def entry() -> int | str:
        number = parser.parse_optional_integer(allow_boolean=False, allow_negative=False)
        return number if number is not None else parser.parse_identifier("dimension label")

    entries = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, entry)
    spatial = len(entries) - 2
    if sorted(entries, key=str) != sorted([*labels, *range(spatial)], key=str):
        parser.raise_error(
            f"expected {labels[0]}, {labels[1]} and spatial dimensions 0..{spatial - 1} "
            "exactly once each",
            start,
            parser.pos,
        )
    return (
        entries.index(labels[0]),
        entries.index(labels[1]),
        tuple(entries.index(s) for s in range(spatial)),
    )


def _conv_layout(first: int, second: int, spatial: Dims, labels: tuple[str, str]) -> str:
    names = [""] * (len(spatial) + 2)
    names[first], names[second] = labels
    for i, d in enumerate(spatial):
        names[d] = str(i)
    return "[" + ", ".join(names) + "]"


@irdl_attr_definition
class ConvDimensionNumbersAttr(Data[ConvDimensionNumbers]):
    """Layouts of `stablehlo.convolution`, in jaxlib's compact syntax:
    `#stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, f, 0, 1]>` (b/f: batch and feature
    of input and output, i/o: kernel input and output features, digits: spatial dims)."""

    name = "stablehlo.conv"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ConvDimensionNumbers:
        with parser.in_angle_brackets():
            lhs = _parse_conv_layout(parser, _CONV_LABELS[0])
            parser.parse_keyword("x")
            rhs = _parse_conv_layout(parser, _CONV_LABELS[1])
            parser.parse_punctuation("->")
            out = _parse_conv_layout(parser, _CONV_LABELS[2])
        return ConvDimensionNumbers(*lhs, *rhs, *out)

    def print_parameter(self, printer: Printer) -> None:
        d = self.data
        layouts = [
            _conv_layout(*d[3 * i : 3 * i + 3], _CONV_LABELS[i])  # type: ignore[arg-type]
            for i in range(3)
        ]
        printer.print_string(f"<{layouts[0]}x{layouts[1]}->{layouts[2]}>")
