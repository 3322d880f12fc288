"""The loop fallback: an op that cannot take a batch runs once per example.

For external kernels that only accept one problem at a time (a custom_call target with no
batch dimensions, see `passes/rules/linalg.py`), the batched op is a `stablehlo.while`
over the batch: iteration i slices example i out of every batched operand, applies the
per-example op, and writes its results into row i of the batched results. Correct for any
op without side effects, but serial, so it warns (`VmlirLoopFallbackWarning`) naming the op.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.passes.builder import Builder, i64_array
from vmlir.passes.rules.context import Axis, RuleContext, RuleResult, tensor_type, where


class VmlirLoopFallbackWarning(UserWarning):
    """An op was batched by looping over the examples (correct, but serial)."""


def _example(b: Builder, x: SSAValue, i: SSAValue, zero: SSAValue, per: TensorType) -> SSAValue:
    """Row `i` of `x` (batched at axis 0), shaped like one example."""
    row = b.emit(
        hlo.DynamicSliceOp.create(
            operands=[x, i, *[zero] * per.get_num_dims()],
            result_types=[insert_axis(per, 0, 1)],
            properties={"slice_sizes": i64_array([1, *per.get_shape()])},
        )
    )
    return b.emit(hlo.ReshapeOp(row, per))


def loop_rule(
    ctx: RuleContext,
    op: Operation,
    operands: Sequence[SSAValue],
    axes: Sequence[Axis],
    why: str | None,
    drop: tuple[str, ...] = (),
) -> RuleResult:
    """Batch `op` with a while loop over the examples (see module doc); `why` says why
    the op cannot take the batch itself (it is part of the warning; None: the loop is
    the op's meaning, no warning). The per-example op loses the attributes in `drop`."""
    n = ctx.axis_size
    if why is not None:
        warnings.warn(
            f"{where(op)}: {why}; vmlir runs it in a loop over the {n} examples",
            VmlirLoopFallbackWarning,
            stacklevel=2,
        )
    counter = TensorType(i32, [])
    batched = [ctx.move_axis(v, a, 0) if a is not None else v for v, a in zip(operands, axes)]
    per_results = [tensor_type(r) for r in op.results]
    out_types = [insert_axis(t, 0, n) for t in per_results]
    b = ctx.builder()
    inits = [b.constant(counter, 0), *(b.constant(t, 0) for t in out_types), *batched]
    carry_types = [v.type for v in inits]

    cond = Block(arg_types=carry_types)
    cb = Builder(InsertPoint.at_end(cond))
    cond.add_op(hlo.ReturnOp(cb.compare(cond.args[0], cb.constant(counter, n), "LT")))

    body = Block(arg_types=carry_types)
    bb = Builder(InsertPoint.at_end(body))
    i = body.args[0]
    zero = bb.constant(counter, 0)
    bufs = list(body.args[1 : 1 + len(out_types)])
    ins = list(body.args[1 + len(out_types) :])
    per_ops = [
        v if a is None else _example(bb, v, i, zero, tensor_type(old))
        for v, a, old in zip(ins, axes, op.operands)
    ]
    call = op.create(
        operands=per_ops,
        result_types=[r.type for r in op.results],
        properties=dict(op.properties),
        attributes={
            k: v for k, v in op.attributes.items() if not k.startswith("batch.") and k not in drop
        },
        regions=[r.clone() for r in op.regions],
        location=op.location,
    )
    body.add_op(call)
    new_bufs = []
    for buf, r, t in zip(bufs, call.results, per_results):
        row = bb.emit(hlo.ReshapeOp(r, insert_axis(t, 0, 1)))
        new_bufs.append(
            bb.emit(
                hlo.DynamicUpdateSliceOp.create(
                    operands=[buf, row, i, *[zero] * t.get_num_dims()], result_types=[buf.type]
                )
            )
        )
    step = bb.binary(hlo.AddOp, i, bb.constant(counter, 1))
    body.add_op(hlo.ReturnOp(step, *new_bufs, *ins))

    loop = ctx.emit(
        hlo.WhileOp.create(
            operands=inits, result_types=carry_types, regions=[Region(cond), Region(body)]
        )
    )
    return list(loop.results[1 : 1 + len(out_types)]), [0] * len(out_types)
