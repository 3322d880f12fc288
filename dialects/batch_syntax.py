"""The custom syntax of the batch dialect's region ops (vmap, masked, yield).

Mixins of the op classes in `batch.py`; see its docstring for the forms. The body of a
`batch.vmap` names its arguments in the header, and their per-example types follow from
the operand types and `in_axes`, so its block header is not printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import IntegerAttr, StringAttr, TensorType, i1, i64
from xdsl.ir import Attribute
from xdsl.irdl import IRDLOperation
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer

from vmlir.dialects.stablehlo.syntax import parse_bindings

# pyright: reportAttributeAccessIssue=false

Axis = int | None


def _print_axes(printer: Printer, axes: Sequence[Axis]) -> None:
    printer.print_string("[" + ", ".join("none" if a is None else str(a) for a in axes) + "]")


def _parse_axes(parser: Parser) -> list[Axis]:
    def axis() -> Axis:
        if parser.parse_optional_keyword("none"):
            return None
        return parser.parse_integer(allow_boolean=False)

    return parser.parse_comma_separated_list(parser.Delimiter.SQUARE, axis)


def _print_attributes(printer: Printer, op: IRDLOperation) -> None:
    # With the `attributes` keyword, so that a dictionary is not read as the region.
    printer.print_op_attributes(op.attributes, print_keyword=True)


def _parse_attributes(parser: Parser) -> dict[str, Attribute]:
    attrs = parser.parse_optional_attr_dict_with_keyword()
    return {} if attrs is None else dict(attrs.data)


class VmapFormat:
    """`batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 [chunk 2] [name "i"]
    [shards "b" of "b=8"] [ragged [0, none]] : (...) -> ... { .. }`."""

    # The body's arguments are named in the header and their (per-example) types follow
    # from the operand types and in_axes, so the block header is not printed.
    def print(self, printer: Printer) -> None:
        args = self.body.block.args if self.body.blocks else ()
        printer.print_string("(")

        def print_binding(i: int) -> None:
            printer.print_ssa_value(args[i])
            printer.print_string(" = ")
            printer.print_operand(self.args[i])

        printer.print_list(range(min(len(args), len(self.args))), print_binding)
        printer.print_string(") in_axes ")
        _print_axes(printer, self.in_axes_list)
        printer.print_string(" out_axes ")
        _print_axes(printer, self.out_axes_list)
        printer.print_string(f" size {self.size}")
        if self.chunk_size is not None:
            printer.print_string(f" chunk {self.chunk_size.value.data}")
        if self.axis_name is not None:
            printer.print_string(" name ")
            printer.print_string_literal(self.axis_name.data)
        if self.shard_axes is not None and self.shard_mesh is not None:
            printer.print_string(" shards ")
            printer.print_string_literal(self.shard_axes.data)
            printer.print_string(" of ")
            printer.print_string_literal(self.shard_mesh.data)
        if self.ragged_axes is not None:
            from vmlir.dialects.batch import axes_of

            printer.print_string(" ragged ")
            _print_axes(printer, axes_of(self.ragged_axes))
        _print_attributes(printer, self)
        printer.print_string(" : ")
        printer.print_function_type([a.type for a in self.args], [r.type for r in self.outs])
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        # batch.py defines the ops these formats are mixed into, and imports this module.
        from vmlir.dialects.batch import axes_attr, remove_axis

        bindings = parse_bindings(parser)
        parser.parse_keyword("in_axes")
        in_axes = _parse_axes(parser)
        parser.parse_keyword("out_axes")
        out_axes = _parse_axes(parser)
        parser.parse_keyword("size")
        size = parser.parse_integer(allow_boolean=False)
        chunk = None
        if parser.parse_optional_keyword("chunk"):
            chunk = parser.parse_integer(allow_boolean=False)
        name = None
        if parser.parse_optional_keyword("name"):
            name = parser.parse_str_literal()
        shards = None
        if parser.parse_optional_keyword("shards"):
            shard_axes = parser.parse_str_literal()
            parser.parse_keyword("of")
            shards = (shard_axes, parser.parse_str_literal())
        ragged = None
        if parser.parse_optional_keyword("ragged"):
            ragged = _parse_axes(parser)
        attrs = _parse_attributes(parser)
        parser.parse_punctuation(":")
        pos = parser.pos
        ftype = parser.parse_function_type()
        types = list(ftype.inputs.data)
        operands = parser.resolve_operands([b[1] for b in bindings], types, pos)
        if len(in_axes) != len(types):
            parser.raise_error(
                f"in_axes must name one axis (or none) per operand: {len(in_axes)} axes "
                f"for {len(types)} operands",
                pos,
            )
        arg_types = []
        for t, axis in zip(types, in_axes):
            if axis is not None and (
                not isinstance(t, TensorType) or not 0 <= axis < t.get_num_dims()
            ):
                parser.raise_error(f"in_axes entry {axis} is out of range for {t}", pos)
            arg_types.append(t if axis is None else remove_axis(t, axis))  # type: ignore[arg-type]
        body = parser.parse_region([b[0].resolve(t) for b, t in zip(bindings, arg_types)])
        properties: dict[str, Attribute] = {
            "in_axes": axes_attr(in_axes),
            "out_axes": axes_attr(out_axes),
            "axis_size": IntegerAttr(size, i64),
        }
        if chunk is not None:
            properties["chunk_size"] = IntegerAttr(chunk, i64)
        if name is not None:
            properties["axis_name"] = StringAttr(name)
        if shards is not None:
            properties["shard_axes"] = StringAttr(shards[0])
            properties["shard_mesh"] = StringAttr(shards[1])
        if ragged is not None:
            properties["ragged_axes"] = axes_attr(ragged)
        return cls.create(
            operands=operands,
            result_types=list(ftype.outputs.data),
            properties=properties,
            attributes=attrs,
            regions=[body],
        )


class MaskedFormat:
    """`batch.masked %m -> (tensor<3xf32>) { .. }`."""

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.mask)
        _print_attributes(printer, self)
        if self.outs:
            printer.print_string(" -> (")
            printer.print_list([r.type for r in self.outs], printer.print_attribute)
            printer.print_string(")")
        printer.print_string(" ")
        printer.print_region(self.body)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        pos = parser.pos
        mask = parser.parse_unresolved_operand()
        attrs = _parse_attributes(parser)
        result_types: list[Attribute] = []
        if parser.parse_optional_punctuation("->"):
            result_types = parser.parse_comma_separated_list(
                parser.Delimiter.PAREN, parser.parse_type
            )
        (operand,) = parser.resolve_operands([mask], [TensorType(i1, [])], pos)
        body = parser.parse_region()
        return cls.create(
            operands=[operand], result_types=result_types, attributes=attrs, regions=[body]
        )


class YieldFormat:
    """`batch.yield %a, %b : t1, t2`."""

    def print(self, printer: Printer) -> None:
        if self.values:
            printer.print_string(" ")
            printer.print_list(self.values, printer.print_operand)
        printer.print_op_attributes(self.attributes)
        if self.values:
            printer.print_string(" : ")
            printer.print_list([v.type for v in self.values], printer.print_attribute)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        pos = parser.pos
        values: list[UnresolvedOperand] = []
        if (first := parser.parse_optional_unresolved_operand()) is not None:
            values.append(first)
            while parser.parse_optional_punctuation(","):
                values.append(parser.parse_unresolved_operand())
        attrs = parser.parse_optional_attr_dict()
        types: list[Attribute] = []
        if values:
            parser.parse_punctuation(":")
            types = [parser.parse_type()]
            while parser.parse_optional_punctuation(","):
                types.append(parser.parse_type())
        return cls.create(
            operands=parser.resolve_operands(values, types, pos), attributes=attrs
        )
