"""The StableHLO dialect's attributes (vmlir.dialects.stablehlo): dot, gather and
scatter dimension numbers, enums and the dot algorithm parse and print exactly like
jaxlib's, and are built from Python values."""

from __future__ import annotations

import pytest
from stablehlo_helpers import context as _context
from stablehlo_helpers import jaxlib_attr as _jaxlib_attr
from stablehlo_helpers import print_attr as _print_attr
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError

from vmlir.dialects import stablehlo as shlo

# ---------------------------------------------------------------------------
# attributes: parse and print exactly like jaxlib
# ---------------------------------------------------------------------------


def _round_trip_attr(text: str) -> str:
    attr = Parser(_context(), text).parse_attribute()
    return _print_attr(attr)


@pytest.mark.parametrize(
    "text",
    [
        "#stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], "
        "lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>",
        "#stablehlo.dot<lhs_contracting_dimensions = [1], "
        "rhs_contracting_dimensions = [0]>",
        "#stablehlo.dot<rhs_contracting_dimensions = [0, 1], "
        "lhs_contracting_dimensions = [1,2]>",
        "#stablehlo.dot<lhs_batching_dimensions = []>",
        "#stablehlo.dot<>",
    ],
)
def test_dot_dimension_numbers_print_like_jaxlib(text: str):
    """#stablehlo.dot prints canonically: fixed order, empty lists omitted."""
    assert _round_trip_attr(text) == _jaxlib_attr(text)


@pytest.mark.parametrize(
    "text",
    [
        "#stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], "
        "operand_batching_dims = [2], start_indices_batching_dims = [0], "
        "start_index_map = [0], index_vector_dim = 1>",
        "#stablehlo.gather<collapsed_slice_dims = [0], start_index_map = [0], "
        "index_vector_dim = 1>",
        "#stablehlo.gather<index_vector_dim = 0>",
    ],
)
def test_gather_dimension_numbers_print_like_jaxlib(text: str):
    """#stablehlo.gather omits empty lists and a zero index_vector_dim."""
    assert _round_trip_attr(text) == _jaxlib_attr(text)


@pytest.mark.parametrize(
    "text",
    [
        "#stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], "
        "input_batching_dims = [2], scatter_indices_batching_dims = [0], "
        "scatter_dims_to_operand_dims = [0], index_vector_dim = 1>",
        "#stablehlo.scatter<inserted_window_dims = [0], "
        "scatter_dims_to_operand_dims = [0]>",
        "#stablehlo.scatter<index_vector_dim = 2, update_window_dims = [1]>",
    ],
)
def test_scatter_dimension_numbers_print_like_jaxlib(text: str):
    """#stablehlo.scatter prints canonically, like jaxlib."""
    assert _round_trip_attr(text) == _jaxlib_attr(text)


@pytest.mark.parametrize(
    "text",
    [
        "#stablehlo<precision DEFAULT>",
        "#stablehlo<precision HIGH>",
        "#stablehlo<precision HIGHEST>",
        "#stablehlo<comparison_direction EQ>",
        "#stablehlo<comparison_direction GE>",
        "#stablehlo<comparison_type NOTYPE>",
        "#stablehlo<comparison_type TOTALORDER>",
    ],
)
def test_enum_attributes_print_like_jaxlib(text: str):
    """Enum attributes use the spaced opaque form #stablehlo<mnemonic VALUE>."""
    assert _round_trip_attr(text) == _jaxlib_attr(text)


def test_dot_algorithm_prints_like_jaxlib():
    """#stablehlo.dot_algorithm prints every field in MLIR's fixed order."""
    text = (
        "#stablehlo.dot_algorithm<lhs_precision_type = f8E4M3FN, "
        "rhs_precision_type = f8E4M3FN, accumulation_type = f32, "
        "lhs_component_count = 1, rhs_component_count = 1, "
        "num_primitive_operations = 1, allow_imprecise_accumulation = true>"
    )
    assert _round_trip_attr(text) == _jaxlib_attr(text)


def test_struct_attribute_rejects_a_duplicated_field():
    """A field given twice is a parse error, as in MLIR."""
    with pytest.raises(ParseError, match="duplicated `offset_dims` entry"):
        Parser(
            _context(), "#stablehlo.gather<offset_dims = [0], offset_dims = [1]>"
        ).parse_attribute()


def test_struct_attribute_rejects_an_unknown_field():
    """An unknown field name is a parse error."""
    with pytest.raises(ParseError, match="unknown field `lhs_dims`"):
        Parser(_context(), "#stablehlo.dot<lhs_dims = [0]>").parse_attribute()


def test_dot_dimension_numbers_make_and_accessors():
    """DotDimensionNumbersAttr.make stores tuples readable by name."""
    attr = shlo.DotDimensionNumbersAttr.make([0], [0], [2], [1])
    assert attr.lhs_batching_dimensions == (0,)
    assert attr.rhs_batching_dimensions == (0,)
    assert attr.lhs_contracting_dimensions == (2,)
    assert attr.rhs_contracting_dimensions == (1,)
    assert attr == shlo.DotDimensionNumbersAttr.make((0,), (0,), (2,), (1,))


def test_gather_dimension_numbers_make_and_accessors():
    """GatherDimensionNumbersAttr.make stores tuples readable by name."""
    attr = shlo.GatherDimensionNumbersAttr.make([1], [0], [0], 1, [2], [0])
    assert attr.offset_dims == (1,)
    assert attr.collapsed_slice_dims == (0,)
    assert attr.start_index_map == (0,)
    assert attr.index_vector_dim == 1
    assert attr.operand_batching_dims == (2,)
    assert attr.start_indices_batching_dims == (0,)


def test_scatter_dimension_numbers_make_and_accessors():
    """ScatterDimensionNumbersAttr.make stores tuples readable by name."""
    attr = shlo.ScatterDimensionNumbersAttr.make([1], [0], [0], 1, [2], [0])
    assert attr.update_window_dims == (1,)
    assert attr.inserted_window_dims == (0,)
    assert attr.scatter_dims_to_operand_dims == (0,)
    assert attr.index_vector_dim == 1
    assert attr.input_batching_dims == (2,)
    assert attr.scatter_indices_batching_dims == (0,)


def test_enum_attributes_are_built_from_their_enum():
    """Enum attributes are constructed from (and expose) a StrEnum member."""
    assert _print_attr(shlo.PrecisionAttr(shlo.Precision.HIGHEST)) == (
        "#stablehlo<precision HIGHEST>"
    )
    attr = shlo.ComparisonTypeAttr(shlo.ComparisonType.SIGNED)
    assert attr.data is shlo.ComparisonType.SIGNED
