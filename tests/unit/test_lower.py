"""batch-lower's walk runs exactly when there is something to lower or erase."""

from __future__ import annotations

from xdsl.parser import Parser

from vmlir.compiler import Stages, run_pipeline
from vmlir.ir import make_context

_BODY = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<3xf32>):
    %dead = "stablehlo.cosine"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %0 = "stablehlo.sine"(%x) {batch.varying = array<i1: true>} : (tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""


def _lower(text: str) -> str:
    module = Parser(make_context(), text).parse_module()
    return run_pipeline(module, "batch-lower", Stages(False), verify_each=True)


def test_a_dead_op_is_erased_with_nothing_to_lower():
    out = _lower(_BODY)
    assert "stablehlo.cosine" not in out and "stablehlo.sine" in out
    assert "batch." not in out


def test_nothing_dead_nothing_to_lower_keeps_the_ops():
    out = _lower(_BODY.replace('    %dead = "stablehlo.cosine"(%x) : (tensor<3xf32>) -> tensor<3xf32>\n', ""))
    assert "stablehlo.sine" in out and "batch." not in out
