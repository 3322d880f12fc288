"""Upstream StableHLO's pretty syntax, byte for byte as jaxlib prints it.

The op classes call these helpers from their `print`/`parse` methods. Each helper is
named after the upstream directive it reproduces (`custom<SameOperandsAndResultType>`,
`custom<DenseI64Array>`, `custom<SliceRanges>`, ...), so a reader can compare it with
StableHLO's `AssemblyFormat.cpp` / `StablehloOps.td`. `tests/unit/test_pretty_syntax.py`
prints every form with jaxlib and with us and compares the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    FunctionType,
    IntegerAttr,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer

# ---------------------------------------------------------------------------
# Operands and attribute dictionaries
# ---------------------------------------------------------------------------


def print_operands(printer: Printer, operands: Sequence[SSAValue]) -> None:
    """` %a, %b` (nothing for no operands)."""
    if operands:
        printer.print_string(" ")
        printer.print_list(operands, printer.print_operand)


def parse_operands(parser: Parser) -> list[UnresolvedOperand]:
    """A possibly empty comma-separated operand list."""
    first = parser.parse_optional_unresolved_operand()
    if first is None:
        return []
    operands = [first]
    while parser.parse_optional_punctuation(","):
        operands.append(parser.parse_unresolved_operand())
    return operands


def parse_operands_then_comma(parser: Parser) -> list[UnresolvedOperand]:
    """`%a, %b,` (upstream's custom<VariadicOperandWithAttribute>): stops at a keyword."""
    operands = []
    while (operand := parser.parse_optional_unresolved_operand()) is not None:
        operands.append(operand)
        parser.parse_punctuation(",")
    return operands


def parse_bindings(parser: Parser) -> list[tuple[Parser.UnresolvedArgument, UnresolvedOperand]]:
    """`(%arg = %operand, ...)`: a region's entry arguments named with the operands they
    are bound to (stablehlo.while, batch.vmap)."""

    def parse_binding() -> tuple[Parser.UnresolvedArgument, UnresolvedOperand]:
        arg = parser.parse_argument(expect_type=False)
        parser.parse_punctuation("=")
        return arg, parser.parse_unresolved_operand()

    return parser.parse_comma_separated_list(parser.Delimiter.PAREN, parse_binding)


def print_attr_dict(printer: Printer, op: Operation, keyword: bool = False) -> None:
    """The discardable attributes, ` {a = 1}` (nothing when there are none)."""
    printer.print_op_attributes(op.attributes, print_keyword=keyword)


def parse_attr_dict(parser: Parser, keyword: bool = False) -> dict[str, Attribute]:
    if keyword:
        attrs = parser.parse_optional_attr_dict_with_keyword()
        return {} if attrs is None else dict(attrs.data)
    return parser.parse_optional_attr_dict()


def resolve(
    parser: Parser, operands: Sequence[UnresolvedOperand], types: Sequence[Attribute]
) -> Sequence[SSAValue]:
    return parser.resolve_operands(operands, types, parser.pos)


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------


def print_functional_type(printer: Printer, op: Operation) -> None:
    """`(a, b) -> c`: MLIR's printFunctionalType(op)."""
    printer.print_function_type(
        [o.type for o in op.operands], [r.type for r in op.results]
    )


def parse_functional_type(
    parser: Parser, n_operands: int | None = None
) -> tuple[list[Attribute], list[Attribute]]:
    t = parser.parse_function_type()
    if n_operands is not None and len(t.inputs) != n_operands:
        parser.raise_error(f"expected {n_operands} operand types, got {len(t.inputs)}")
    return list(t.inputs.data), list(t.outputs.data)


def print_same_operands_and_result_type(printer: Printer, op: Operation) -> None:
    """One type when every operand has the result type, else the functional type."""
    result = op.results[0].type
    if all(o.type == result for o in op.operands):
        printer.print_attribute(result)
    else:
        print_functional_type(printer, op)


def parse_same_operands_and_result_type(
    parser: Parser, n_operands: int
) -> tuple[list[Attribute], Attribute]:
    t = parser.parse_type()
    if isinstance(t, FunctionType):
        if len(t.inputs) != n_operands or len(t.outputs) != 1:
            parser.raise_error(
                f"expected a function type with {n_operands} inputs and one result"
            )
        return list(t.inputs.data), t.outputs.data[0]
    return [t] * n_operands, t


# ---------------------------------------------------------------------------
# Attributes printed bare
# ---------------------------------------------------------------------------


def print_i64_list(printer: Printer, values: Sequence[int]) -> None:
    """`[1, 0]` (custom<DenseI64Array>)."""
    printer.print_string("[" + ", ".join(str(v) for v in values) + "]")


def parse_i64_list(parser: Parser) -> list[int]:
    return parser.parse_comma_separated_list(
        Parser.Delimiter.SQUARE, lambda: parser.parse_integer(allow_boolean=False)
    )


def parse_i64_array(parser: Parser) -> DenseArrayBase[I64]:
    return DenseArrayBase.from_list(i64, parse_i64_list(parser))


def i64_values(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(attr.get_values())  # type: ignore[arg-type]


def parse_keyword_equals(parser: Parser, keyword: str) -> None:
    parser.parse_keyword(keyword)
    parser.parse_punctuation("=")


def parse_i64_attr(parser: Parser) -> IntegerAttr[I64]:
    return IntegerAttr(parser.parse_integer(allow_boolean=False), i64)


# ---------------------------------------------------------------------------
# The common shape: `%a, %b, kw = [..], kw = [..] {attrs} : types`
# ---------------------------------------------------------------------------


def print_operands_and_lists(
    printer: Printer,
    op: Operation,
    lists: Sequence[tuple[str, str]],
    functional: bool = True,
) -> None:
    """Operands, then `keyword = [i64 list]` for each (keyword, property), attributes, type."""
    print_operands(printer, op.operands)
    for keyword, prop in lists:
        printer.print_string(f", {keyword} = ")
        print_i64_list(printer, i64_values(op.properties[prop]))  # type: ignore[arg-type]
    print_attr_dict(printer, op)
    printer.print_string(" : ")
    if functional:
        print_functional_type(printer, op)
    else:
        print_same_operands_and_result_type(printer, op)


def parse_operands_and_lists(
    cls: type[Operation],
    parser: Parser,
    lists: Sequence[tuple[str, str]],
    functional: bool = True,
) -> Operation:
    operands = parse_operands_then_comma(parser) if lists else parse_operands(parser)
    properties: dict[str, Attribute] = {}
    for i, (keyword, prop) in enumerate(lists):
        if i:
            parser.parse_punctuation(",")
        parse_keyword_equals(parser, keyword)
        properties[prop] = parse_i64_array(parser)
    attrs = parse_attr_dict(parser)
    parser.parse_punctuation(":")
    if functional:
        types, results = parse_functional_type(parser, len(operands))
    else:
        types, result = parse_same_operands_and_result_type(parser, len(operands))
        results = [result]
    return cls.create(
        operands=resolve(parser, operands, types),
        result_types=results,
        properties=properties,
        attributes=attrs,
    )


class OperandsAndListsFormat:
    """Mixin: `op %a, kw = [..] : type`, the format of many upstream shape ops.

    `FORMAT_LISTS` names the (keyword, property) pairs; `FORMAT_FUNCTIONAL` says whether
    the type is `(operands) -> result` or upstream's SameOperandsAndResultType."""

    FORMAT_LISTS: ClassVar[tuple[tuple[str, str], ...]] = ()
    FORMAT_FUNCTIONAL: ClassVar[bool] = True

    def print(self, printer: Printer) -> None:
        print_operands_and_lists(
            printer, self, self.FORMAT_LISTS, self.FORMAT_FUNCTIONAL  # type: ignore[arg-type]
        )

    @classmethod
    def parse(cls, parser: Parser):  # type: ignore[no-untyped-def]
        return parse_operands_and_lists(
            cls, parser, cls.FORMAT_LISTS, cls.FORMAT_FUNCTIONAL  # type: ignore[arg-type]
        )
