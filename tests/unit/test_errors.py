"""User-facing errors: jax.vmap's texts and exception types where jax has them."""

from __future__ import annotations

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from vmlir.compiler import Stages, run_pipeline
from vmlir.frontend.importer import import_per_example

X4 = np.ones((4, 3), np.float32)
X5 = np.ones((5, 3), np.float32)


def _jax_error_type(fn, args, **vmap_kw) -> type[BaseException]:
    """The type of exception jax.vmap raises for the same input (the test fails if none)."""
    with pytest.raises(Exception) as info:
        jax.vmap(fn, **vmap_kw)(*args)
    return type(info.value)


def _our_error(fn, args, **vmap_kw) -> BaseException:
    with pytest.raises(Exception) as info:
        vmlir.compile(vmlir.vmap(fn, **vmap_kw))(*args)
    return info.value


def _check_like_jax(fn, args, message: str, **vmap_kw) -> None:
    """vmlir raises jax.vmap's exception type, with exactly `message`."""
    err = _our_error(fn, args, **vmap_kw)
    assert type(err) is _jax_error_type(fn, args, **vmap_kw)
    assert str(err) == message


# --- in_axes and sizes ----------------------------------------------------------------


def test_inconsistent_sizes():
    """Mapped axes of different sizes: every argument named with its shape, axis and size."""
    _check_like_jax(
        lambda a, b: a + b,
        (X4, X5),
        "vmap got inconsistent sizes for array axes to be mapped:\n"
        "  * argument [0] has shape float32[4,3] and axis 0 is to be mapped (size 4)\n"
        "  * argument [1] has shape float32[5,3] and axis 0 is to be mapped (size 5)",
    )


def test_inconsistent_sizes_names_pytree_paths():
    """In pytree arguments, inconsistent sizes name each leaf by its key path and axis."""
    _check_like_jax(
        lambda p, b: p[0] + p[1]["k"].T + b,
        ((X4, {"k": X5.T}), X4),
        "vmap got inconsistent sizes for array axes to be mapped:\n"
        "  * argument [0][0] has shape float32[4,3] and axis 0 is to be mapped (size 4)\n"
        "  * argument [0][1]['k'] has shape float32[3,5] and axis 1 is to be mapped (size 5)\n"
        "  * argument [1] has shape float32[4,3] and axis 0 is to be mapped (size 4)",
        in_axes=((0, {"k": 1}), 0),
    )


def test_axis_size_disagrees_with_mapped_axis():
    """axis_size different from a mapped axis's size is an inconsistent size, named first."""
    _check_like_jax(
        lambda a: a * 2,
        (X4,),
        "vmap got inconsistent sizes for array axes to be mapped:\n"
        "  * axis_size was given as 5\n"
        "  * argument [0] has shape float32[4,3] and axis 0 is to be mapped (size 4)",
        axis_size=5,
    )


def test_in_axes_out_of_range():
    """in_axes beyond an argument's rank: jax's 'rank should be at least' text."""
    _check_like_jax(
        lambda a: a,
        (X4,),
        "vmap was requested to map its argument along axis 2, which implies that its rank "
        "should be at least 3, but is only 2 (its shape is (4, 3))",
        in_axes=2,
    )


def test_negative_in_axes_out_of_range():
    """A negative in_axes beyond an argument's rank: the same text, with the negative axis."""
    _check_like_jax(
        lambda a: a,
        (X4,),
        "vmap was requested to map its argument along axis -3, which implies that its rank "
        "should be at least 3, but is only 2 (its shape is (4, 3))",
        in_axes=-3,
    )


def test_in_axes_on_a_scalar():
    """Mapping a rank-0 argument is out of range (rank 0)."""
    _check_like_jax(
        lambda a, b: a * b,
        (X4, np.float32(2.0)),
        "vmap was requested to map its argument along axis 0, which implies that its rank "
        "should be at least 1, but is only 0 (its shape is ())",
        in_axes=(0, 0),
    )


def test_in_axes_length_mismatch():
    """An in_axes tuple shorter than the positional arguments: jax's len() text."""
    _check_like_jax(
        lambda a, b: a + b,
        (X4, X4),
        "vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
        "positional arguments passed to the function, but got len(in_axes)=1, len(args)=2",
        in_axes=(0,),
    )


def test_in_axes_not_a_tree_prefix():
    """in_axes whose structure is not a prefix of the arguments' tree names both trees."""
    _check_like_jax(
        lambda p, b: p[0] + p[1] + b,
        ((X4, X4), X4),
        "vmap in_axes specification must be a tree prefix of the corresponding value, got "
        "specification ({'a': 0}, 0) for value tree PyTreeDef(((*, *), *)).",
        in_axes=({"a": 0}, 0),
    )


def test_in_axes_wrong_type():
    """in_axes that is neither an int, None nor a tuple is a TypeError, as in jax."""
    _check_like_jax(
        lambda a: a,
        (X4,),
        "vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
        "positional arguments passed to the function, but got 'a'.",
        in_axes="a",
    )


def test_in_axes_float_leaf_is_type_error():
    """An in_axes leaf that is not an int or None is a TypeError, as in jax.vmap."""
    err = _our_error(lambda a: a, (X4,), in_axes=(1.0,))
    assert type(err) is _jax_error_type(lambda a: a, (X4,), in_axes=(1.0,))


def test_no_mapped_argument():
    """All in_axes None and no axis_size: ValueError (jax's type), jax's leading text."""
    _check_like_jax(
        lambda a: a * 2,
        (X4,),
        "vmap must have at least one non-None value in in_axes or axis_size must be specified",
        in_axes=None,
    )


def test_output_that_is_not_an_array():
    """A function returning a string: jax.vmap's TypeError, naming the value (not our
    tracing wrapper)."""
    _check_like_jax(
        lambda a: (a.sum(), "done"), (X4,),
        "Output from batched function 'done' with type <class 'str'> is not a valid JAX type",
    )


def test_argument_that_is_not_an_array():
    """A string argument: a TypeError, as from jax.jit(jax.vmap(fn)), naming the value's
    type, where it was passed, and the function as vmlir.vmap(fn) (not our tracing
    wrapper)."""

    def scale(a):
        return a * 2

    with pytest.raises(TypeError) as info:
        vmlir.compile(vmlir.vmap(scale))("hello")
    text = str(info.value)
    assert text.startswith("Error interpreting argument to <function vmlir.vmap(scale) at ")
    assert "The problematic value is of type <class 'str'> and was passed to the function at path args[0]." in text
    assert "Compiled" not in text
    with pytest.raises(TypeError):
        jax.jit(jax.vmap(scale))("hello")


def test_vmap_of_non_callable():
    """vmap of something not callable is a TypeError, as in jax."""
    with pytest.raises(TypeError, match=re.escape("vmap requires a callable, got 3")):
        vmlir.vmap(3)
    with pytest.raises(TypeError):
        jax.vmap(3)


def test_compile_of_non_vmapped():
    """vmlir.compile of a plain function is a TypeError naming what it got."""
    with pytest.raises(TypeError) as info:
        vmlir.compile(lambda a: a)
    assert str(info.value) == "vmlir.compile expects what vmlir.vmap returns, got function"


# --- out_axes ---------------------------------------------------------------------------


def test_out_axes_none_for_batched_output():
    """out_axes=None on an output that varies: VmlirError naming the result."""
    with pytest.raises(vmlir.VmlirError) as info:
        vmlir.compile(vmlir.vmap(lambda a: a * 2, out_axes=None))(X4)
    assert str(info.value) == "vmap has mapped output (result 0) but out_axes is None"


def test_out_axes_none_names_the_batched_result():
    """With several outputs, the error names the index of the batched one."""
    with pytest.raises(vmlir.VmlirError) as info:
        vmlir.compile(vmlir.vmap(lambda a, c: (c * 2, a * c), in_axes=(0, None), out_axes=None))(
            X4, X4[0]
        )
    assert str(info.value) == "vmap has mapped output (result 1) but out_axes is None"


def test_out_axes_none_error_type_like_jax():
    """out_axes=None on a batched output raises an exception of jax.vmap's type."""
    err = _our_error(lambda a: a * 2, (X4,), out_axes=None)
    assert isinstance(err, _jax_error_type(lambda a: a * 2, (X4,), out_axes=None))


def test_out_axes_out_of_range():
    """out_axes beyond the batched output's rank is a ValueError (jax's type)."""
    _check_like_jax(
        lambda a: a,
        (X4,),
        "vmap out_axes specification 3 is out of range for an output of rank 1 (the "
        "batched output has rank 2)",
        out_axes=3,
    )


# --- ops without batching rules -----------------------------------------------------------

_OPTIONAL_LOC = r"( \(from .+:\d+(:\d+)?\))?"


def _unknown_kernel(m):
    return jax.ffi.ffi_call("my_kernel", jax.ShapeDtypeStruct(m.shape, m.dtype))(m)


def test_custom_call_has_no_rule():
    """A custom_call of a target vmlir knows nothing about, on a batched operand:
    VmlirUnsupportedError naming the op and its call target."""
    err = _our_error(_unknown_kernel, (np.eye(3, dtype=np.float32)[None].repeat(4, 0),))
    assert isinstance(err, vmlir.VmlirUnsupportedError)
    assert isinstance(err, NotImplementedError)
    pattern = (
        re.escape("'stablehlo.custom_call'")
        + _OPTIONAL_LOC
        + re.escape(
            ": custom_call @my_kernel has no batching rule (vmlir knows the linear-algebra "
            "kernels of passes/rules/linalg.py, ApproxTopK and Python callbacks)"
        )
    )
    assert re.fullmatch(pattern, str(err)), str(err)


def test_unsupported_op_names_python_location():
    """The no-rule error names the user's file when the importer kept the op's location."""
    err = _our_error(_unknown_kernel, (np.eye(3, dtype=np.float32)[None].repeat(4, 0),))
    assert isinstance(err, vmlir.VmlirUnsupportedError)
    assert str(err).startswith("'stablehlo.custom_call' (from ")
    assert os.path.basename(__file__) in str(err)


_UNDEFINED_OP_MODULE = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "chlo.no_such_op"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""


def test_op_we_do_not_define_is_unsupported():
    """An op in JAX's text that vmlir does not define is imported as unregistered; on a
    batched value, vectorization raises VmlirUnsupportedError naming it."""
    module = import_per_example(_UNDEFINED_OP_MODULE, [0], [0], 4)
    with pytest.raises(vmlir.VmlirUnsupportedError) as info:
        run_pipeline(module, None, Stages())
    assert str(info.value) == (
        "vmlir has no definition of the op 'chlo.no_such_op' that JAX emitted for this "
        "function (no batching rule either)"
    )
