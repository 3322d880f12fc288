"""What a process keeps from one compilation to the next (docs/latency.md, "Done once per
process"): the MLIR context of the per-example lowerings, the xDSL contexts, what the
importer read from text, the verifier's checked signatures. Each must give what a fresh
start gives."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

import vmlir
from vmlir import jaxmlir, verify
from vmlir.frontend.from_jaxlib import module_from_jaxlib
from vmlir.frontend.importer import _parse
from vmlir.ir import make_context, shared_context


def _lower(fn, n=4):
    return jax.jit(fn).lower(jax.ShapeDtypeStruct((n,), jnp.float32)).compiler_ir("stablehlo")


def _per_example_modules(compiled):
    return [per_example.module for per_example, _ in compiled._traces.values()]


def test_per_example_lowerings_share_one_mlir_context(assert_same, monkeypatch):
    """Two compilations' per-example programs are lowered in one MLIR context; jax's own
    lowerings (jax.jit's of the final program, a user's) still get a new one each."""
    monkeypatch.setattr(jaxmlir._SHARED, "context", None, raising=False)  # a new one
    x = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    f = vmlir.compile(vmlir.vmap(lambda v: jnp.sum(jnp.sin(v) ** 2)))
    g = vmlir.compile(vmlir.vmap(lambda v: jnp.cumsum(v * 3.0)))
    assert_same(f(x), jax.vmap(lambda v: jnp.sum(jnp.sin(v) ** 2))(x))
    assert_same(g(x), jax.vmap(lambda v: jnp.cumsum(v * 3.0))(x))
    (mf,), (mg,) = _per_example_modules(f), _per_example_modules(g)
    assert mf.context is mg.context
    theirs = _lower(lambda v: v + 1.0)
    assert theirs.context is not mf.context
    assert _lower(lambda v: v + 2.0).context is not theirs.context


def test_shared_mlir_context_is_per_thread_and_renewed(monkeypatch):
    monkeypatch.setattr(jaxmlir, "SHARED_CONTEXT_USES", 2)
    monkeypatch.setattr(jaxmlir._SHARED, "context", None, raising=False)
    with jaxmlir.shared_ir_context():
        first, second = _lower(jnp.sin), _lower(jnp.cos)
        third = _lower(jnp.tan)
        other: list = []
        worker = threading.Thread(target=lambda: other.append(_lower(jnp.exp)))
        worker.start()
        worker.join()
    assert first.context is second.context
    assert third.context is not first.context  # two uses, then a new context
    assert other[0].context not in (first.context, third.context)  # another thread
    # The reused context lowers the same program jax lowers in a fresh one.
    text = third.operation.get_asm(print_generic_op_form=True)
    assert text == _lower(jnp.tan).operation.get_asm(print_generic_op_form=True)


def _program(x):
    y = jnp.where(x > 0, -jnp.inf, x) + jnp.dot(x, x)
    return jax.lax.cumsum(y) * jnp.float32(np.nan) + jax.nn.softmax(x)


@pytest.mark.parametrize("attempt", ["first", "again"])
def test_importer_memos_give_what_the_text_parser_gives(attempt):
    """The importer keeps what it read from text (attributes, types, locations) for the
    process: a second import of the same program (a new lowering, new jaxlib objects)
    still builds what parsing JAX's text builds, op for op."""
    module = _lower(_program)
    text = module.operation.get_asm(print_generic_op_form=True, enable_debug_info=True)
    by_text = _parse(text).ops.first.body.walk()
    by_walk = module_from_jaxlib(module).ops.first.body.walk()
    for a, b in zip(by_text, by_walk, strict=True):
        assert (a.name, a.properties, a.attributes) == (b.name, b.properties, b.attributes)
        assert [r.type for r in a.results] == [r.type for r in b.results]
        assert a.location == b.location


def test_shared_xdsl_context_is_one_object_and_make_context_a_new_one():
    assert shared_context() is shared_context()
    assert shared_context(True) is not shared_context(False)
    assert make_context() is not make_context()


_BROADCASTS = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> (), sym_name = "main"}> ({
  ^bb0(%x: tensor<3xf32>):
    %0 = "batch.broadcast"(%x) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
    %1 = "batch.broadcast"(%x) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> RESULT
    "func.return"() : () -> ()
  }) : () -> ()
}) : () -> ()
"""


def test_verified_signatures_are_remembered_across_verifies(monkeypatch):
    """A signature checked in one memoized verify is not checked again in the next; a
    wrong op with the same operands and properties still fails with xDSL's message."""
    checked: list[str] = []
    full = verify._FULL_VERIFY

    def counting(op_def, op):
        checked.append(op.name)
        full(op_def, op)

    monkeypatch.setattr(verify, "_FULL_VERIFY", counting)
    monkeypatch.setattr(verify, "_REMEMBERED", {})
    good = _BROADCASTS.replace("RESULT", "tensor<4x3xf32>")
    with verify.memoized_verify():
        Parser(make_context(), good).parse_module().verify()
    assert checked.count("batch.broadcast") == 1
    with verify.memoized_verify():
        Parser(make_context(), good).parse_module().verify()
    assert checked.count("batch.broadcast") == 1
    bad = Parser(make_context(), _BROADCASTS.replace("RESULT", "tensor<5x3xf32>")).parse_module()
    with pytest.raises(VerifyException, match="tensor<4x3xf32>, got tensor<5x3xf32>"):
        with verify.memoized_verify():
            bad.verify()


def test_remembered_signatures_do_not_skip_traits():
    fn = func.FuncOp("main", ((), ()))
    fn.body.block.add_op(func.ReturnOp())
    with verify.memoized_verify():
        ModuleOp([fn]).verify()
    with pytest.raises(VerifyException, match="func.func"):
        with verify.memoized_verify():
            ModuleOp([func.ReturnOp()]).verify()


def test_program_with_large_constants_gets_its_own_context(assert_same, monkeypatch):
    """MLIR frees a context's constants only with the context: a per-example program
    closing over more than SHARED_CONTEXT_MAX_CONSTS bytes is not lowered in the shared one."""
    from vmlir.frontend.trace import SHARED_CONTEXT_MAX_CONSTS

    monkeypatch.setattr(jaxmlir._SHARED, "context", None, raising=False)  # a new one

    big = np.arange(SHARED_CONTEXT_MAX_CONSTS // 4 + 16, dtype=np.float32)
    x = np.ones((2, 4), np.float32)
    small = vmlir.compile(vmlir.vmap(lambda v: v * 2.0 + jnp.sum(big[:8])))
    large = vmlir.compile(vmlir.vmap(lambda v: v * 2.0 + jnp.sum(jnp.asarray(big))))
    other = vmlir.compile(vmlir.vmap(lambda v: v - 1.0))
    assert_same(large(x), jax.vmap(lambda v: v * 2.0 + jnp.sum(jnp.asarray(big)))(x))
    small(x), other(x)
    (ms,), (ml,), (mo,) = map(_per_example_modules, (small, large, other))
    assert ms.context is mo.context
    assert ml.context is not ms.context


def test_passes_without_options_are_what_xdsls_parse_makes():
    """A pipeline's passes named without options are made as their class's default
    instance (no option parsing): the same passes xDSL's parse makes, for every pass."""
    from xdsl.passes import PassPipeline

    from vmlir.compiler import _parsed, available_passes

    passes = available_passes()
    spec = ",".join(passes)
    assert _parsed(spec, passes) == PassPipeline.parse_spec(passes, spec).passes
    with_options = "batch-fuse{algebraic=true},batch-lower"
    made = _parsed(with_options, passes)
    assert made == PassPipeline.parse_spec(passes, with_options).passes
    assert made[0].algebraic is True


def _composite(x):
    return jax.lax.composite(lambda v: jnp.sin(v) * 2.0, name="my.sin2")(x)


def test_final_program_is_inlined_at_the_call_with_its_location(assert_same):
    """The final program's ops go into jax.jit's function (no call of a second function:
    XLA compiled that ~5% slower), located at the user's call, not at lines of our text;
    a program with functions of its own (a composite's decomposition) is merged and
    called as before."""
    x = np.linspace(-1.0, 1.0, 24, dtype=np.float32).reshape(4, 6)
    fn = vmlir.compile(vmlir.vmap(lambda v: jnp.sum(jnp.tanh(v) ** 2)))
    assert_same(fn(x), jax.vmap(lambda v: jnp.sum(jnp.tanh(v) ** 2))(x))
    outer = fn._jitted.lower(x).compiler_ir("stablehlo")
    text = outer.operation.get_asm(enable_debug_info=True)
    assert "call @" not in text and text.count("func.func") == 1
    assert '"-":' not in text  # no location of our text's own lines
    assert "vmlir_call" in text  # jax's location of the call
    comp = vmlir.compile(vmlir.vmap(_composite))
    assert_same(comp(x), jax.vmap(lambda v: jnp.sin(v) * 2.0)(x))
    outer = comp._jitted.lower(x).compiler_ir("stablehlo").operation.get_asm()
    assert "call @vmlir_main" in outer and "stablehlo.composite" in outer


def test_shared_xdsl_contexts_know_the_same_dialects_and_keep_their_rules():
    from xdsl.utils.exceptions import ParseError

    strict, loose = shared_context(), shared_context(True)
    assert not strict.allow_unregistered and loose.allow_unregistered
    assert set(strict.registered_dialect_names) == set(make_context().registered_dialect_names)
    text = '"builtin.module"() ({\n  "foo.bar"() : () -> ()\n}) : () -> ()'
    Parser(loose, text).parse_module()  # remembered by the loose one only
    with pytest.raises(ParseError, match="foo.bar"):
        Parser(strict, text).parse_module()


def test_identity_memo_lives_with_the_shared_context(monkeypatch):
    """What the importer keys by jaxlib identity is kept only with the shared context
    (identities mean nothing across contexts) and starts over with a new one."""
    monkeypatch.setattr(jaxmlir, "SHARED_CONTEXT_USES", 2)
    monkeypatch.setattr(jaxmlir._SHARED, "context", None, raising=False)

    def lower():  # a new function each time: jax's own cache would return its module
        return _lower(lambda v: _program(v))

    with jaxmlir.shared_ir_context():
        first = lower()
        module_from_jaxlib(first)
        memo = jaxmlir.shared_context_memo(first.context)
        assert memo is not None and memo["types"] and memo["locs"]
        second = lower()  # the same context, one more use
        assert jaxmlir.shared_context_memo(second.context) is memo
        third = lower()  # a new context: a new, empty memo
        assert jaxmlir.shared_context_memo(third.context) == {}
        assert jaxmlir.shared_context_memo(first.context) is None
    assert jaxmlir.shared_context_memo(lower().context) is None


def test_signatures_with_large_literals_are_not_kept_for_the_process(monkeypatch):
    """A remembered signature keeps its attributes alive: one holding a large dense
    literal is remembered within its own verify only."""
    monkeypatch.setattr(verify, "_REMEMBERED", {})
    values = ", ".join(f"{float(i)}" for i in range(100))
    text = f"""
"builtin.module"() ({{
  "func.func"() <{{function_type = () -> (), sym_name = "main"}}> ({{
    %0 = "stablehlo.constant"() <{{value = dense<[{values}]> : tensor<100xf32>}}> : () -> tensor<100xf32>
    %1 = "stablehlo.constant"() <{{value = dense<1.0> : tensor<f32>}}> : () -> tensor<f32>
    "func.return"() : () -> ()
  }}) : () -> ()
}}) : () -> ()
"""
    with verify.memoized_verify():
        Parser(make_context(), text).parse_module().verify()
    from xdsl.dialects.builtin import Float32Type, TensorType

    kept = [key for key in verify._REMEMBERED if key[0][0].name == "stablehlo.constant"]
    assert [key[1][1] for key in kept] == [(TensorType(Float32Type(), []),)]
