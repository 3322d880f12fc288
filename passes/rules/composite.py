"""Batching rule for `stablehlo.composite`: batch the decomposition, keep the name.

The decomposition function is copied into a new private function whose body is a
`batch.vmap` of the original body (batched arguments as the composite's operands are,
every result batched at axis 0), vectorized at once by the same machinery as the program
itself (control-flow masking included). The batched composite keeps its `name` and
version and names the new function as its decomposition, so a backend that substitutes
the composite by name still sees it. Its attributes describe one example: those of known
composites (`xla.scaled_dot`: the batch becomes a dot batching dimension) are rewritten
for the batch; those of others are kept as they are (a backend substituting an unknown
composite must treat the leading dimension as the batch).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, YieldOp, insert_axis
from vmlir.errors import VmlirError
from vmlir.passes.rules.context import Axis, Rule, RuleContext, RuleResult, tensor_type, where


def _module_of(op: Operation) -> ModuleOp:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, ModuleOp):
        parent = parent.parent_op()
    if parent is None:
        raise VmlirError(f"{where(op)}: a composite outside a module")
    return parent


def _fresh_name(module: ModuleOp, base: str) -> str:
    taken = {f.sym_name.data for f in module.ops if isinstance(f, FuncOp)}
    k = 0
    while f"{base}.batched{k}" in taken:
        k += 1
    return f"{base}.batched{k}"


def _scaled_dot_attributes(attrs: DictionaryAttr) -> DictionaryAttr:
    """dimension_numbers ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)) with every
    operand batched at 0: dimensions shift by one and 0 becomes the first batch dim."""
    entries = dict(attrs.data)

    def dims(values: Attribute, lead: list[int]) -> ArrayAttr:
        assert isinstance(values, ArrayAttr)
        shifted = [d.value.data + 1 for d in values.data if isinstance(d, IntegerAttr)]
        return ArrayAttr([IntegerAttr(d, i64) for d in lead + shifted])

    numbers = entries.get("dimension_numbers")
    if isinstance(numbers, ArrayAttr) and len(numbers.data) == 2:
        contract, batch = numbers.data
        assert isinstance(contract, ArrayAttr) and isinstance(batch, ArrayAttr)
        entries["dimension_numbers"] = ArrayAttr(
            [
                ArrayAttr([dims(d, []) for d in contract.data]),
                ArrayAttr([dims(d, [0]) for d in batch.data]),
            ]
        )
    return DictionaryAttr(entries)


_ALL_AT_ZERO = {"xla.scaled_dot": _scaled_dot_attributes}
"""Composites whose attributes name operand dimensions: every operand is batched at 0
and the attributes are rewritten for the batch."""


def composite_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    assert isinstance(op, hlo.CompositeOp)
    # The rule runs the vectorizer on a new vmap; vectorize.py imports the rule table.
    from vmlir.passes.vectorize import VectorizeOptions, vectorize_vmap

    rewrite_attributes = _ALL_AT_ZERO.get(op.composite_name.data)
    props = {}
    if rewrite_attributes is not None:
        operands = [ctx.to_axis(v, a, 0) for v, a in zip(operands, axes)]
        axes = [0] * len(operands)
        if op.composite_attributes is not None:
            props["composite_attributes"] = rewrite_attributes(op.composite_attributes)
    module = _module_of(op)
    callee_name = op.decomposition.root_reference.data
    callee = next(
        (f for f in module.ops if isinstance(f, FuncOp) and f.sym_name.data == callee_name), None
    )
    if callee is None:
        raise VmlirError(f"{where(op)}: the decomposition @{callee_name} is not in the module")
    n = ctx.axis_size
    out_types = [insert_axis(tensor_type(r), 0, n) for r in op.results]
    body = callee.body.clone()
    ret = body.block.last_op
    assert isinstance(ret, ReturnOp)
    Rewriter.replace_op(ret, YieldOp(list(ret.arguments)))
    outer = Block(arg_types=[v.type for v in operands])
    vmap = VmapOp(list(outer.args), list(axes), [0] * len(out_types), n, body, out_types)
    outer.add_ops([vmap, ReturnOp(*vmap.results)])
    name = _fresh_name(module, callee_name)
    batched = FuncOp(name, ([v.type for v in operands], out_types), Region(outer), "private")
    Rewriter.insert_op(batched, InsertPoint.after(callee))
    options = ctx.vectorizer.options if ctx.vectorizer is not None else VectorizeOptions()
    vectorize_vmap(vmap, options)
    new = ctx.rebuild(
        op, operands, out_types, decomposition=SymbolRefAttr(StringAttr(name)), **props
    )
    return list(new.results), [0] * len(out_types)


RULES: dict[type[Operation], Rule] = {hlo.CompositeOp: composite_rule}
