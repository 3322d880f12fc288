"""The pretty syntax of StableHLO's elementwise and shape ops, as upstream prints it.

Mixins of the op classes (`class CompareOp(formats.CompareFormat, ElementwiseOp)`): each
gives its op `print`/`parse` (the generic form is xDSL's and needs nothing). Byte-compatible
with upstream StableHLO's printer; `tests/unit/test_pretty_syntax.py` checks it against
jaxlib's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, FunctionType, IntegerAttr, TensorType
from xdsl.ir import Attribute, TypedAttribute
from xdsl.irdl import IRDLOperation
from xdsl.parser import Parser
from xdsl.printer import Printer

from vmlir.dialects.stablehlo import syntax
from vmlir.dialects.stablehlo._shapes import _complex_part_type, _i64_array
from vmlir.dialects.stablehlo.attributes import (
    ComparisonDirection,
    ComparisonDirectionAttr,
    ComparisonType,
    ComparisonTypeAttr,
    Precision,
    PrecisionAttr,
)
from vmlir.dialects.stablehlo.dimension_numbers import (
    DotDimensionNumbers,
    DotDimensionNumbersAttr,
)

# The methods read the op's own fields (`self.operand`, ...) and build it with `cls.create`.
# pyright: reportAttributeAccessIssue=false


class ElementwiseFormat:
    """`stablehlo.add %a, %b : tensor<4xf32>`: one type when all agree, else the functional type
    (upstream's custom<SameOperandsAndResultType>)."""

    def print(self, printer: Printer) -> None:
        syntax.print_operands(printer, self.operands)
        # Properties of an op that adds some without its own format go in the attribute
        # dictionary (as MLIR prints them), so that nothing is lost in this form.
        printer.print_op_attributes({**self.properties, **self.attributes})
        printer.print_string(" : ")
        self.print_type(printer)

    def print_type(self, printer: Printer) -> None:
        if self.name.startswith("chlo."):
            # CHLO's elementwise ops share this base (and so one batching rule), but
            # upstream CHLO spells their types `t1, t2 -> r`.
            printer.print_list([o.type for o in self.operands], printer.print_attribute)
            printer.print_string(" -> ")
            printer.print_attribute(self.results[0].type)
            return
        syntax.print_same_operands_and_result_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        operands = syntax.parse_operands(parser)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, result = cls.parse_type(parser, len(operands))
        props = cls.get_irdl_definition().properties
        return cls.create(
            operands=syntax.resolve(parser, operands, types),
            result_types=[result],
            properties={k: v for k, v in attrs.items() if k in props},
            attributes={k: v for k, v in attrs.items() if k not in props},
        )

    @classmethod
    def parse_type(cls, parser: Parser, n_operands: int) -> tuple[list[Attribute], Attribute]:
        if cls.name.startswith("chlo."):
            types = [parser.parse_type()]
            while parser.parse_optional_punctuation(","):
                types.append(parser.parse_type())
            parser.parse_punctuation("->")
            return types, parser.parse_type()
        return syntax.parse_same_operands_and_result_type(parser, n_operands)


class IsFiniteFormat:
    """`stablehlo.is_finite %x : (tensor<4xf32>) -> tensor<4xi1>`."""

    def print_type(self, printer: Printer) -> None:
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse_type(cls, parser: Parser, n_operands: int) -> tuple[list[Attribute], Attribute]:
        types, results = syntax.parse_functional_type(parser, n_operands)
        return types, results[0]


class ReducePrecisionFormat:
    """`stablehlo.reduce_precision %x, format = e5m10 : tensor<4xf32>`."""

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.operand)
        e, m = self.exponent_bits.value.data, self.mantissa_bits.value.data
        printer.print_string(f", format = e{e}m{m}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        self.print_type(printer)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        operand = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        syntax.parse_keyword_equals(parser, "format")
        span = parser._current_token.span
        match = re.fullmatch(r"e([0-9]+)m([0-9]+)", parser.parse_identifier())
        if match is None:
            parser.raise_error("expected exponent mantissa in format e#m#", span)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, result = cls.parse_type(parser, 1)
        return cls.create(
            operands=syntax.resolve(parser, [operand], types),
            result_types=[result],
            properties={
                "exponent_bits": IntegerAttr(int(match.group(1)), 32),
                "mantissa_bits": IntegerAttr(int(match.group(2)), 32),
            },
            attributes=attrs,
        )


class ComplexFormat:
    """`stablehlo.complex %re, %im : tensor<4xcomplex<f32>>` (operand types implied)."""

    # The operand type is implied by the complex result type.
    def print_type(self, printer: Printer) -> None:
        result = self.result.type
        assert isinstance(result, TensorType)
        real = TensorType(_complex_part_type(result.element_type), result.get_shape())
        if self.lhs.type == real and self.rhs.type == real:
            printer.print_attribute(result)
        else:
            syntax.print_functional_type(printer, self)

    @classmethod
    def parse_type(cls, parser: Parser, n_operands: int) -> tuple[list[Attribute], Attribute]:
        t = parser.parse_type()
        if isinstance(t, FunctionType):
            return list(t.inputs.data), t.outputs.data[0]
        if not isinstance(t, TensorType):
            parser.raise_error("expected tensor with complex element type")
        real = TensorType(_complex_part_type(t.element_type), t.get_shape())
        return [real, real], t


class CompareFormat:
    """`stablehlo.compare LT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>`."""

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.comparison_direction.data.value}, ")
        printer.print_list(self.operands, printer.print_operand)
        if self.compare_type is not None:
            printer.print_string(f", {self.compare_type.data.value}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        direction = parser.parse_str_enum(ComparisonDirection)
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        compare_type = None
        if parser.parse_optional_punctuation(","):
            compare_type = ComparisonTypeAttr(parser.parse_str_enum(ComparisonType))
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        types, results = syntax.parse_functional_type(parser, 2)
        return cls.create(
            operands=syntax.resolve(parser, [lhs, rhs], types),
            result_types=results,
            properties={
                "comparison_direction": ComparisonDirectionAttr(direction),
                **({} if compare_type is None else {"compare_type": compare_type}),
            },
            attributes=attrs,
        )


class SelectFormat:
    """`stablehlo.select %p, %a, %b : tensor<i1>, tensor<4xf32>` (custom<SelectOpType>)."""

    def print_type(self, printer: Printer) -> None:
        result = self.result.type
        if self.on_true.type != result or self.on_false.type != result:
            syntax.print_functional_type(printer, self)
            return
        printer.print_attribute(self.pred.type)
        printer.print_string(", ")
        printer.print_attribute(result)

    @classmethod
    def parse_type(cls, parser: Parser, n_operands: int) -> tuple[list[Attribute], Attribute]:
        first = parser.parse_type()
        if isinstance(first, FunctionType):
            return list(first.inputs.data), first.outputs.data[0]
        parser.parse_punctuation(",")
        result = parser.parse_type()
        return [first, result, result], result


class ConstantFormat:
    """`stablehlo.constant {attrs} dense<1.0> : tensor<f32>`."""

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
    def parse(cls, parser: Parser) -> IRDLOperation:
        attrs = syntax.parse_attr_dict(parser)
        value = parser.parse_attribute()
        if parser.parse_optional_punctuation(":"):
            _, results = syntax.parse_functional_type(parser, 0)
        elif isinstance(value, TypedAttribute):
            results = [value.get_type()]
        else:
            parser.raise_error("expected ':' and the result type after an untyped value")
        return cls.create(result_types=results, properties={"value": value}, attributes=attrs)


class IotaFormat:
    """`stablehlo.iota dim = 0 : tensor<4xi32>`."""

    def print(self, printer: Printer) -> None:
        printer.print_string(f" dim = {self.iota_dimension.value.data}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        printer.print_attribute(self.output.type)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        syntax.parse_keyword_equals(parser, "dim")
        dim = syntax.parse_i64_attr(parser)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        return cls.create(
            result_types=[parser.parse_type()],
            properties={"iota_dimension": dim},
            attributes=attrs,
        )


class SliceFormat:
    """`stablehlo.slice %x [0:4:2, 1:3] : (...) -> ...` (custom<SliceRanges>)."""

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
    def parse(cls, parser: Parser) -> IRDLOperation:
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


class ConcatenateFormat:
    """`stablehlo.concatenate %a, %b, dim = 0 : (...) -> ...`."""

    def print(self, printer: Printer) -> None:
        syntax.print_operands(printer, self.inputs)
        printer.print_string(f", dim = {self.dimension.value.data}")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
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


class DotGeneralFormat:
    """`stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [1] x [0] :
    (...) -> ...`."""

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
    def parse(cls, parser: Parser) -> IRDLOperation:
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
