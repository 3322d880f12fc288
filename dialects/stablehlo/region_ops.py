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
    Block,
    Operation,
    Region,
    SSAValue,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.irdl import (
    IRDLOperation,
    SameVariadicOperandSize,
    irdl_op_definition,
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

from vmlir.dialects.stablehlo import syntax
from vmlir.dialects.stablehlo._shapes import _i64_array
from vmlir.dialects.stablehlo.attributes import (
    ScatterDimensionNumbersAttr,
)

# ---------------------------------------------------------------------------
# Region-carrying ops
# ---------------------------------------------------------------------------


@irdl_op_definition
class ReturnOp(IRDLOperation):
    """Terminator yielding the values of a stablehlo region."""

    name = "stablehlo.return"

    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), ReturnLike(), Pure())

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[values])

    # `stablehlo.return %a, %b : tensor<f32>, tensor<i32>`; upstream prints the space
    # before the (empty) operand list even when there are no operands.
    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.values, printer.print_operand)
        syntax.print_attr_dict(printer, self)
        if self.values:
            printer.print_string(" : ")
            printer.print_list([v.type for v in self.values], printer.print_attribute)

    @classmethod
    def parse(cls, parser: Parser) -> ReturnOp:
        operands = syntax.parse_operands(parser)
        attrs = syntax.parse_attr_dict(parser)
        types: list[Attribute] = []
        if parser.parse_optional_punctuation(":"):
            types = [parser.parse_type()]
            while parser.parse_optional_punctuation(","):
                types.append(parser.parse_type())
        return cls.create(operands=syntax.resolve(parser, operands, types), attributes=attrs)


def _verify_one_result_per_input(op: IRDLOperation, inputs: Sequence[SSAValue]) -> None:
    if len(op.results) != len(inputs):
        raise VerifyException(
            f"{op.name}: expected one result per input ({len(inputs)}), "
            f"got {len(op.results)}"
        )


@irdl_op_definition
class ReduceOp(IRDLOperation):
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

    # `stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [0] :
    # (...) -> ...` when the body is one commutative op of the two block arguments;
    # otherwise the body follows as ` reducer(%a: t, %b: t) { ... }` (upstream's
    # printReduceOp, block arguments paired per input).
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
        if len(ops) != 2 or not isinstance(ops[1], ReturnOp):
            return None
        inner, ret = ops
        if type(inner) not in _COMMUTATIVE or inner.attributes:
            return None
        element = self.inputs[0].type.element_type  # type: ignore[attr-defined]
        if inner.operands[0].type != TensorType(element, []):
            return None
        if list(inner.operands) != list(block.args):
            return None
        return inner if list(ret.operands) == list(inner.results) else None

    @classmethod
    def parse(cls, parser: Parser) -> ReduceOp:
        def parse_input() -> tuple[syntax.UnresolvedOperand, syntax.UnresolvedOperand]:
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


def _compact_body(parser: Parser, inner_name: str, input_type: Attribute) -> Region:
    """The body `applies OP` stands for: OP of the two block arguments, returned."""
    op_type = parser.ctx.get_optional_op(inner_name)
    if op_type is None or op_type not in _COMMUTATIVE:
        parser.raise_error(f"'applies' needs a commutative binary stablehlo op, got {inner_name}")
    assert isinstance(input_type, TensorType)
    scalar = TensorType(input_type.element_type, [])
    block = Block(arg_types=[scalar, scalar])
    inner = op_type.create(operands=list(block.args), result_types=[scalar])
    block.add_ops([inner, ReturnOp(inner.results[0])])
    return Region(block)


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
class WhileOp(IRDLOperation):
    """Loop body over the carried values while cond returns true."""

    name = "stablehlo.while"

    operand = var_operand_def(TensorType)
    cond = region_def()
    body = region_def()
    outputs = var_result_def(TensorType)
    traits = traits_def(RecursiveMemoryEffect())

    # `stablehlo.while(%i = %x) : tensor<i32>` then `cond { .. } do { .. }` on the next
    # line; both regions' arguments print under the names given in the header.
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
    def parse(cls, parser: Parser) -> WhileOp:
        def parse_binding() -> tuple[Parser.UnresolvedArgument, syntax.UnresolvedOperand]:
            arg = parser.parse_argument(expect_type=False)
            parser.parse_punctuation("=")
            return arg, parser.parse_unresolved_operand()

        bindings = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parse_binding)
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


def _commutative_ops() -> tuple[type[Operation], ...]:
    from vmlir.dialects.stablehlo import elementwise as e

    return (e.AddOp, e.MultiplyOp, e.MaximumOp, e.MinimumOp, e.AndOp, e.OrOp, e.XorOp)


_COMMUTATIVE = _commutative_ops()
