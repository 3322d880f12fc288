"""`convert`, the entry point of the Python-control-flow rewrite (vmlir/frontend/pycontrol.py),
which imports the rewrite only when a function needs it.

Every first call converts the per-example function; a function of a library (jax, numpy,
vmlir itself, installed packages) is returned unchanged by `pycontrol_calls`, which
decides that, so the converter and its helpers (the AST passes and the runtime helpers,
~3 ms of a fresh process's first call) are imported for the user's own code only.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from vmlir.frontend import pycontrol_calls as calls


def convert(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its control flow rewritten to work on traced scalars too, and the user
    functions it calls converted when they are called (see pycontrol_calls).

    Sees through bound methods, callable objects, `functools.partial`, `jax.jit` and JAX's
    Python wrappers (jax.grad, value_and_grad, checkpoint, ...). Returned unchanged:
    functions without source (`exec`, the REPL), library functions (jax, numpy, the
    standard library, installed packages), methods using private `__names` or zero-argument
    `super()`. Raises VmlirUnsupportedError for what cannot be converted.
    """
    return calls.convert_callable(fn, _convert_function)


def _convert_function(fn: types.FunctionType) -> types.FunctionType:
    converter = sys.modules.get("vmlir.frontend.pycontrol")
    if converter is None:
        from vmlir.fastimport import compiler_imports

        with compiler_imports("api"):  # as when the API imported it
            from vmlir.frontend import pycontrol as converter
    return converter.convert_function(fn)
