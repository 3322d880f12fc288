"""Batching rule for `stablehlo.fft` (every `jnp.fft` transform, `lax.fft`).

The op transforms the trailing `len(fft_length)` dimensions (1 to 3) and treats all the
others as a batch, whatever the fft type (FFT, IFFT, RFFT, IRFFT). The batch axis stays
where it is when it is not one of the transformed dimensions; otherwise it moves to 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.passes.rules.context import Axis, Rule, RuleContext, RuleResult, tensor_type


def fft_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    (x,), (a,) = operands, axes
    assert isinstance(op, hlo.FftOp) and a is not None
    rank = tensor_type(op.operand).get_num_dims()
    transformed = len(op.fft_length)
    if a > rank - transformed:
        x, a = ctx.move_axis(x, a, 0), 0
    out = insert_axis(tensor_type(op.result), a, ctx.axis_size)
    return ctx.rebuild(op, [x], [out]).results, [a]


RULES: dict[type[Operation], Rule] = {hlo.FftOp: fft_rule}
