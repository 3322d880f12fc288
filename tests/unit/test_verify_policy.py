"""When the IR verifier runs: once at the end by default, after every pass on request."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import ReturnOp
from xdsl.passes import ModulePass

import vmlir
from vmlir import compiler
from vmlir.compiler import Stages, run_pipeline
from vmlir.frontend.importer import import_per_example

_MODULE = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "stablehlo.sine"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""


@dataclass(frozen=True)
class BreakReturnPass(ModulePass):
    """Erases the outer function's terminator: the block no longer ends in one."""

    name = "test-break-return"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in list(op.walk()):
            if isinstance(inner, ReturnOp):
                inner.detach()
                inner.erase()
                return


@pytest.fixture
def with_breaking_pass(monkeypatch):
    passes = compiler.available_passes()
    passes[BreakReturnPass.name] = lambda: BreakReturnPass
    monkeypatch.setattr(compiler, "available_passes", lambda: passes)


@pytest.fixture
def count_verify(monkeypatch):
    calls = []
    original = ModuleOp.verify

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ModuleOp, "verify", counting)
    return calls


def _module() -> ModuleOp:
    return import_per_example(_MODULE, [0], [0], 4)


def test_production_verifies_once(count_verify):
    """verify_each=False: the whole 6-pass pipeline verifies the module once."""
    run_pipeline(_module(), None, Stages(False), verify_each=False)
    assert len(count_verify) == 1


def test_verify_each_verifies_before_and_after_every_pass(count_verify):
    """verify_each=True: once before the first pass and once after each of the six."""
    run_pipeline(_module(), None, Stages(False), verify_each=True)
    assert len(count_verify) == 1 + len(vmlir.passes.DEFAULT_PIPELINE.split(","))


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_environment_variable_sets_the_default(monkeypatch, value, expected):
    """VMLIR_VERIFY_EACH picks the default when the caller does not say."""
    monkeypatch.setenv("VMLIR_VERIFY_EACH", value)
    assert compiler.verify_each_default() is expected


def test_verify_each_names_the_breaking_pass(with_breaking_pass):
    """With verify_each, the error names the pass right after which the IR broke."""
    pipeline = f"{BreakReturnPass.name},batch-propagate-axes"
    with pytest.raises(vmlir.VmlirError) as info:
        run_pipeline(_module(), pipeline, Stages(False), verify_each=True)
    assert str(info.value).startswith(
        f"the IR is invalid after pass '{BreakReturnPass.name}': "
    )


def test_final_verification_still_catches_it(with_breaking_pass):
    """Without verify_each, the broken IR is still caught, at the end, with the hint."""
    with pytest.raises(vmlir.VmlirError) as info:
        run_pipeline(_module(), BreakReturnPass.name, Stages(False), verify_each=False)
    assert str(info.value).startswith(
        f"the IR is invalid at the end of the pipeline (last pass '{BreakReturnPass.name}'); "
        "set VMLIR_VERIFY_EACH=1 or verify_each=True to find the pass that broke it: "
    )


def test_compile_verify_each_argument(count_verify, monkeypatch):
    """vmlir.compile(..., verify_each=True) overrides an environment that says no."""
    monkeypatch.setenv("VMLIR_VERIFY_EACH", "0")
    x = np.ones((2, 3), np.float32)
    vmlir.compile(vmlir.vmap(jnp.sin), verify_each=True)(x)
    with_each = len(count_verify)
    count_verify.clear()
    vmlir.compile(vmlir.vmap(jnp.cos))(x)
    assert (with_each, len(count_verify)) == (7, 1)
