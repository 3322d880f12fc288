"""A scan over the ragged axis as a loop every example of a bucket runs in step
(batch-ragged, passes/ragged.py; docs/ragged.md).

`lax.scan` over `x` (and `fori_loop(0, x.shape[0], ...)`) counts `i` from its start up to
`x.shape[0]`, which the frontend made the example's length: `while i < length`. Batched,
that predicate varies, so the loop would be masked lane by lane, each example with its
own counter, and every read `x[i]` a gather of one row per example. The padded size P
bounds every example's length, so the same loop can run in step:

    while t < P:                      # t: a new counter, from i's start; uniform
        run = i < length              # the old predicate, on the old carries
        carries = run ? body(carries with i read as t) : carries

While `run` holds, `i == t` (both start equal and step by one), so the body may read the
uniform `t` for `i`: `x[t]` is a plain slice of the batch. Once `run` is false it stays
false (the carries no longer change), so the carries end as the old loop left them. The
reads at `t` past the length (which `run` throws away) need no clamp to the length: a
slice of one row at `t < P` stays inside the padded operand (see `uniform_counters`).

Only a loop whose cond is exactly `i < length` (i a carry the body steps by one), and
whose body holds no loop or branch, is rewritten: iterations past an example's length
compute on its padding, and a nested loop could spin on what the padding holds.
"""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.passes.builder import Builder
from vmlir.passes.ragged_rewrites import value_shape

_CONTROL = (hlo.WhileOp, hlo.CaseOp)


def _is_one(v: SSAValue) -> bool:
    op = v.owner
    if not isinstance(op, hlo.ConstantOp):
        return False
    values = op.value.get_values()
    return len(values) == 1 and values[0] == 1


def scan_counter(op: hlo.WhileOp, length: SSAValue) -> int | None:
    """The carry k of a loop `while carry[k] < length` whose body steps it by one."""
    cond, body = op.cond.block, op.body.block
    ops = list(cond.ops)
    ret = ops[-1]
    if not isinstance(ret, hlo.ReturnOp) or len(ops) not in (2, 3):
        return None
    cmp = ret.operands[0].owner
    if not isinstance(cmp, hlo.CompareOp):
        return None
    if cmp.comparison_direction.data != hlo.ComparisonDirection.LT:
        return None
    lhs, rhs = cmp.operands
    if lhs not in cond.args:
        return None
    if len(ops) == 3:
        # the length converted to the counter's type
        conv = ops[0]
        if not isinstance(conv, hlo.ConvertOp):
            return None
        if rhs is not conv.results[0] or conv.operands[0] is not length:
            return None
    elif rhs is not length:
        return None
    k = cond.args.index(lhs)
    t = lhs.type
    if not isinstance(t, TensorType) or not isinstance(t.element_type, IntegerType):
        return None
    if value_shape(lhs) != ():
        return None
    step = body.last_op
    assert isinstance(step, hlo.ReturnOp)
    add = step.operands[k].owner
    arg = body.args[k]
    if not isinstance(add, hlo.AddOp) or not (
        (add.operands[0] is arg and _is_one(add.operands[1]))
        or (add.operands[1] is arg and _is_one(add.operands[0]))
    ):
        return None
    if any(isinstance(o, _CONTROL) for inner in body.ops for o in inner.walk()):
        return None
    return k


def uniform_counters(op: hlo.WhileOp, size: int, length: SSAValue) -> set[SSAValue]:
    """Rewrite `op` to run in step when it is such a scan (module doc): the new uniform
    counter (the body's last argument), whose one-row slices along the ragged axis need
    no clamp; an empty set when `op` is left as it is."""
    k = scan_counter(op, length)
    if k is None:
        return set()
    cond, body = op.cond.block, op.body.block
    counter_type = body.args[k].type
    assert isinstance(counter_type, TensorType)
    # cond: t < P
    for o in reversed(list(cond.ops)):
        cond.erase_op(o)
    t_cond = cond.insert_arg(counter_type, len(cond.args))
    cb = Builder(InsertPoint.at_end(cond))
    cond.add_op(hlo.ReturnOp(cb.compare(t_cond, cb.constant(counter_type, size), "LT")))
    # body: the old predicate first, on the old carries; the body reads t for i
    ret = body.last_op
    assert isinstance(ret, hlo.ReturnOp)
    yields = list(ret.operands)
    t = body.insert_arg(counter_type, len(body.args))
    old = body.args[k]
    old.replace_all_uses_with(t)
    first = body.first_op
    assert first is not None
    bb = Builder(InsertPoint.before(first))
    bound = length if length.type == counter_type else bb.unary(hlo.ConvertOp, length, counter_type)
    run = bb.compare(old, bound, "LT")
    eb = Builder(InsertPoint.before(ret))
    outs = [
        # a carry the body passes through unchanged needs no select (and stays uniform)
        arg if y is arg else eb.select(run, y, arg)
        for y, arg in zip(yields, [*body.args[:k], old, *body.args[k + 1 : -1]])
    ]
    step = eb.binary(hlo.AddOp, t, eb.constant(counter_type, 1))
    body.erase_op(ret)
    body.add_op(hlo.ReturnOp(*outs, step))
    loop = hlo.WhileOp.create(
        operands=[*op.operands, op.operands[k]],
        result_types=[*(r.type for r in op.results), counter_type],
        regions=[op.detach_region(r) for r in list(op.regions)],
        attributes=dict(op.attributes),
        location=op.location,
    )
    Rewriter.replace_op(op, loop, list(loop.results[:-1]))
    return {t}

