"""The pretty syntax of StableHLO's region ops (return, reduce, while), as upstream prints it.

Mixins of the op classes, like `formats.py`. `reduce` prints upstream's `applies` short form
when its body is one commutative op of its two arguments (printReduceOp); `while` names
its region arguments in the header (printWhileOp).
"""

from __future__ import annotations

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer

from vmlir.dialects.stablehlo import syntax

# pyright: reportAttributeAccessIssue=false


class ReturnFormat:
    """`stablehlo.return %a : tensor<f32>`."""

    def print(self, printer: Printer) -> None:
        # Upstream prints this space even when there are no operands (`stablehlo.return `).
        printer.print_string(" ")
        printer.print_list(self.values, printer.print_operand)
        syntax.print_attr_dict(printer, self)
        if self.values:
            printer.print_string(" : ")
            printer.print_list([v.type for v in self.values], printer.print_attribute)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        operands = syntax.parse_operands(parser)
        attrs = syntax.parse_attr_dict(parser)
        types: list[Attribute] = []
        if parser.parse_optional_punctuation(":"):
            types = [parser.parse_type()]
            while parser.parse_optional_punctuation(","):
                types.append(parser.parse_type())
        return cls.create(operands=syntax.resolve(parser, operands, types), attributes=attrs)


class ReduceFormat:
    """`stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [0] : ...`
    when the body is one commutative op of the two block arguments; otherwise the body
    follows as ` reducer(%a: t, %b: t) { ... }`, block arguments paired per input."""

    def print(self, printer: Printer) -> None:
        pairs = list(zip(self.inputs, self.init_values))

        def print_input(pair: tuple[SSAValue, SSAValue]) -> None:
            printer.print_string("(")
            printer.print_operand(pair[0])
            printer.print_string(" init: ")
            printer.print_operand(pair[1])
            printer.print_string(")")

        printer.print_list(pairs, print_input)
        inner = self._compact_inner_op()
        if inner is not None:
            printer.print_string(f" applies {inner.name}")
        dims = ", ".join(map(str, syntax.i64_values(self.dimensions)))
        printer.print_string(f" across dimensions = [{dims}]")
        syntax.print_attr_dict(printer, self)
        printer.print_string(" : ")
        syntax.print_functional_type(printer, self)
        if inner is not None:
            return
        printer._print_new_line()  # pyright: ignore[reportPrivateUsage]
        printer.print_string(" reducer")
        args = self.body.block.args
        n = len(self.inputs)

        def print_pair(i: int) -> None:
            printer.print_string("(")
            printer.print_block_argument(args[i])
            printer.print_string(", ")
            printer.print_block_argument(args[i + n])
            printer.print_string(")")

        printer.print_list(range(n), print_pair, " ")
        printer.print_string("  ")
        printer.print_region(self.body, print_entry_block_args=False)

    def _compact_inner_op(self) -> Operation | None:
        """The body's single op when upstream prints the `applies` short form."""
        if len(self.inputs) != 1 or len(self.body.blocks) != 1:
            return None
        block = self.body.block
        ops = list(block.ops)
        if len(ops) != 2 or not isinstance(ops[1], _return_op()):
            return None
        inner, ret = ops
        if type(inner) not in _commutative_ops() or inner.attributes:
            return None
        element = self.inputs[0].type.element_type  # type: ignore[attr-defined]
        if inner.operands[0].type != TensorType(element, []):
            return None
        if list(inner.operands) != list(block.args):
            return None
        return inner if list(ret.operands) == list(inner.results) else None

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        def parse_input() -> tuple[UnresolvedOperand, UnresolvedOperand]:
            parser.parse_punctuation("(")
            value = parser.parse_unresolved_operand()
            parser.parse_keyword("init")
            parser.parse_punctuation(":")
            init = parser.parse_unresolved_operand()
            parser.parse_punctuation(")")
            return value, init

        pairs = [parse_input()]
        while parser.parse_optional_punctuation(","):
            pairs.append(parse_input())
        inner_name = None
        if parser.parse_optional_keyword("applies"):
            inner_name = parser.parse_identifier()
        parser.parse_keyword("across")
        syntax.parse_keyword_equals(parser, "dimensions")
        dimensions = syntax.parse_i64_array(parser)
        attrs = syntax.parse_attr_dict(parser)
        parser.parse_punctuation(":")
        unresolved = [p[0] for p in pairs] + [p[1] for p in pairs]
        types, results = syntax.parse_functional_type(parser, len(unresolved))
        operands = syntax.resolve(parser, unresolved, types)
        if inner_name is not None:
            body = _compact_body(parser, inner_name, types[0])
        else:
            parser.parse_keyword("reducer")
            arg_pairs = []
            for _ in pairs:
                parser.parse_punctuation("(")
                first = parser.parse_argument()
                parser.parse_punctuation(",")
                second = parser.parse_argument()
                parser.parse_punctuation(")")
                arg_pairs.append((first, second))
            args = [p[0] for p in arg_pairs] + [p[1] for p in arg_pairs]
            body = parser.parse_region(args)
        return cls.create(
            operands=operands,
            result_types=results,
            properties={"dimensions": dimensions},
            attributes=attrs,
            regions=[body],
        )


class WhileFormat:
    """`stablehlo.while(%i = %x) : tensor<i32>` then `cond { .. } do { .. }` on the next
    line; both regions' arguments print under the names given in the header."""

    def print(self, printer: Printer) -> None:
        cond_args = self.cond.block.args if self.cond.blocks else ()
        body_args = self.body.block.args if self.body.blocks else ()
        printer.print_string("(")
        names = []

        def print_binding(i: int) -> None:
            names.append(printer.print_ssa_value(cond_args[i]))
            printer.print_string(" = ")
            printer.print_operand(self.operand[i])

        printer.print_list(range(len(self.operand)), print_binding)
        printer.print_string(")")
        if self.operand:
            printer.print_string(" : ")
            printer.print_list([v.type for v in self.operand], printer.print_attribute)
        syntax.print_attr_dict(printer, self, keyword=True)
        for arg, name in zip(body_args, names):
            printer._ssa_values[arg] = name  # pyright: ignore[reportPrivateUsage]
        printer._print_new_line()  # pyright: ignore[reportPrivateUsage]
        printer.print_string("cond ")
        printer.print_region(self.cond, print_entry_block_args=False)
        printer.print_string(" do ")
        printer.print_region(self.body, print_entry_block_args=False)

    @classmethod
    def parse(cls, parser: Parser) -> IRDLOperation:
        bindings = syntax.parse_bindings(parser)
        types: list[Attribute] = []
        if bindings:
            parser.parse_punctuation(":")
            types = [parser.parse_type()]
            while parser.parse_optional_punctuation(","):
                types.append(parser.parse_type())
        attrs = syntax.parse_attr_dict(parser, keyword=True)
        operands = syntax.resolve(parser, [b[1] for b in bindings], types)
        args = [b[0].resolve(t) for b, t in zip(bindings, types)]
        parser.parse_keyword("cond")
        cond = parser.parse_region(args)
        parser.parse_keyword("do")
        body = parser.parse_region(args)
        return cls.create(
            operands=operands,
            result_types=types,
            attributes=attrs,
            regions=[cond, body],
        )


def _compact_body(parser: Parser, inner_name: str, input_type: Attribute) -> Region:
    """The body `applies OP` stands for: OP of the two block arguments, returned."""
    op_type = parser.ctx.get_optional_op(inner_name)
    if op_type is None or op_type not in _commutative_ops():
        parser.raise_error(f"'applies' needs a commutative binary stablehlo op, got {inner_name}")
    assert isinstance(input_type, TensorType)
    scalar = TensorType(input_type.element_type, [])
    block = Block(arg_types=[scalar, scalar])
    inner = op_type.create(operands=list(block.args), result_types=[scalar])
    block.add_ops([inner, _return_op()(inner.results[0])])
    return Region(block)


def _commutative_ops() -> tuple[type[Operation], ...]:
    # The ops these formats are mixed into import this module: look them up when used.
    from vmlir.dialects.stablehlo import elementwise as e

    return (e.AddOp, e.MultiplyOp, e.MaximumOp, e.MinimumOp, e.AndOp, e.OrOp, e.XorOp)


def _return_op() -> type[IRDLOperation]:
    from vmlir.dialects.stablehlo.region_ops import ReturnOp

    return ReturnOp
