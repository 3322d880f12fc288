"""Which callables `pycontrol.convert` converts, and how it sees through wrappers.

Converted code calls every function through `call(convert_function, f, *args)` (the
`_pc_call` of the generated source), so the functions a per-example function calls are
converted when they are first called, as AutoGraph does: once per function object (a weak
cache), lazily, so a recursive function does not loop the converter. What is converted:

- the user's own functions, lambdas and methods (code outside the standard library,
  site-packages and vmlir itself, with source available), and callable objects whose
  class defines `__call__` in user code;
- through wrappers: `functools.partial`, `jax.jit` (rebuilt with its options), and JAX's
  Python wrappers such as jax.grad / value_and_grad / checkpoint / jacrev / hessian, whose
  closures are rebuilt with the user function they wrap converted;
- the functions user code hands to library code (`lax.fori_loop(0, n, body, x)`,
  `lax.switch(i, [f, g], x)`, `jax.grad(loss)` built inside the per-example function).

Library code itself (jax, numpy, the standard library, installed packages) is never
rewritten.

`convert` is here, not in pycontrol.py, so that deciding costs no more than this module:
the converter (pycontrol.py, its AST passes and runtime helpers, ~3 ms of a fresh
process's first call) is imported for the user's own functions only.
"""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

from vmlir.errors import VmlirUnsupportedError

try:
    # Ops a library function emits when converted code calls it through `call` are located
    # at the user's line, not at this file's.
    from jax._src import source_info_util

    source_info_util.register_exclusion(__file__)
except (ImportError, AttributeError):  # pragma: no cover - a jax without the hook
    pass

ConvertFunction = Callable[[types.FunctionType], types.FunctionType]
_LIBRARY_PACKAGES = {"jax", "jaxlib", "numpy", "vmlir", "scipy", "ml_dtypes", "opt_einsum"}
_SAME = object()  # cached: "not converted" (the original must not be the weak key's value)
_cache: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_busy = threading.local()  # library closures being rebuilt (they may refer to themselves)
_MAX_LIBRARY_DEPTH = 8  # closures followed inside library wrappers (grad -> value_and_grad -> fun)


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    # Computed on first use (~0.5 ms): a function of a package named in _LIBRARY_PACKAGES,
    # as on a disk-cache hit of vmlir's examples, never needs it.
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs |= set(getattr(site, "getsitepackages", lambda: [])())
    dirs.add(getattr(site, "getusersitepackages", lambda: "")() or "")
    vmlir_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs.add(vmlir_dir)
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d)


@functools.lru_cache(maxsize=4096)
def _is_library_file(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_library_dirs()) or filename.startswith("<frozen")


def _is_library_module(module: str | None) -> bool:
    if not module:
        return False
    if module.split(".")[0] in _LIBRARY_PACKAGES or module in sys.builtin_module_names:
        return True
    file = getattr(sys.modules.get(module), "__file__", None)
    return file is not None and _is_library_file(file)


def is_user_function(fn: Any) -> bool:
    """A Python function (or lambda) from the user's own code, which convert may rewrite."""
    return (isinstance(fn, types.FunctionType) and not _is_library_module(fn.__module__)
            and not _is_library_file(fn.__code__.co_filename))


def _is_jit(f: Any) -> bool:
    return hasattr(f, "_jit_info") and hasattr(f, "_fun") and hasattr(f, "lower")


def _is_custom(f: Any) -> bool:
    t = type(f)
    return t.__name__ in ("custom_jvp", "custom_vjp") and t.__module__.startswith("jax")


def _is_function_like(f: Any) -> bool:
    """What convert looks into when a library function holds it or is given it."""
    return (isinstance(f, (types.FunctionType, types.MethodType, functools.partial))
            or _is_jit(f) or _is_custom(f))


def convert_callable(f: Any, convert_function: ConvertFunction) -> Any:
    """`f` with the user functions in it (or behind it) converted; `f` itself if none."""
    if getattr(f, "__vmlir_converted__", False):
        return f
    if isinstance(f, types.MethodType):
        inner = convert_callable(f.__func__, convert_function)
        return f if inner is f.__func__ else types.MethodType(inner, f.__self__)
    try:
        hit = _cache.get(f, None)
    except TypeError:  # not hashable or no weak references: decided every time (cheap)
        return _convert(f, convert_function)
    if hit is None:
        hit = _convert(f, convert_function)
        if isinstance(hit, types.MethodType) and hit.__self__ is f:
            return hit  # a callable object's bound `__call__`: cached, it would keep `f` alive
        # Functions being rebuilt refer to the one in progress; cache only settled answers.
        if not getattr(_busy, "set", None):
            _cache[f] = _SAME if hit is f else hit
    return f if hit is _SAME else hit


def convert(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its control flow rewritten to work on traced scalars too, and the user
    functions it calls converted when they are called (module doc); the rewrite itself is
    vmlir/frontend/pycontrol.py.

    Sees through bound methods, callable objects, `functools.partial`, `jax.jit` and JAX's
    Python wrappers (jax.grad, value_and_grad, checkpoint, ...). Returned unchanged:
    functions without source (`exec`, the REPL), library functions (jax, numpy, the
    standard library, installed packages), methods using private `__names` or zero-argument
    `super()`. Raises VmlirUnsupportedError for what cannot be converted.
    """
    return convert_callable(fn, _convert_function)


def _convert_function(fn: types.FunctionType) -> types.FunctionType:
    converter = sys.modules.get("vmlir.frontend.pycontrol")
    if converter is None:
        from vmlir.fastimport import compiler_imports

        with compiler_imports("api"):  # as when the API imported it
            from vmlir.frontend import pycontrol as converter
    return converter.convert_function(fn)


def _convert(f: Any, convert_function: ConvertFunction) -> Any:
    if isinstance(f, types.FunctionType):
        if is_user_function(f):
            return convert_function(f)
        return _rebuild_library_closure(f, convert_function)
    if isinstance(f, functools.partial):
        inner = convert_callable(f.func, convert_function)
        return f if inner is f.func else functools.partial(inner, *f.args, **f.keywords)
    if _is_jit(f):
        return _rebuild_jit(f, convert_function)
    if _is_custom(f):
        return _rebuild_custom(f, convert_function)
    call_fn = getattr(type(f), "__call__", None)
    if not isinstance(f, type) and is_user_function(call_fn):
        # A callable object: its `__call__`, bound to it (not cached: it would keep `f`).
        inner = convert_callable(call_fn, convert_function)
        return f if inner is call_fn else types.MethodType(inner, f)
    return f


def _rebuild_library_closure(f: types.FunctionType, convert_function: ConvertFunction) -> Any:
    """A library wrapper (jax.grad(fun), jax.checkpoint(fun), ...) with the user functions
    in its closure, and in the closures of the library functions it closes over, converted.
    Only entered at a wrapper (`__wrapped__`); nothing else of the library is copied."""
    busy = getattr(_busy, "set", None)
    if busy is None:
        if not hasattr(f, "__wrapped__"):
            return f
        busy = _busy.set = set()
    if id(f) in busy or len(busy) >= _MAX_LIBRARY_DEPTH or not f.__closure__:
        return f
    busy.add(id(f))
    try:
        cells, changed = [], False
        for cell in f.__closure__:
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                cells.append(cell)
                continue
            new = value
            if _is_function_like(value):
                new = convert_callable(value, convert_function)
            changed |= new is not value
            cells.append(types.CellType(new) if new is not value else cell)
    finally:
        busy.discard(id(f))
        if not busy:
            _busy.set = None
    if not changed:
        return f
    new_f = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, tuple(cells))
    new_f.__kwdefaults__ = f.__kwdefaults__
    new_f.__dict__.update(f.__dict__)
    new_f.__qualname__, new_f.__doc__ = f.__qualname__, f.__doc__
    return new_f


_JIT_OPTIONS = ("static_argnums", "static_argnames", "donate_argnums", "donate_argnames",
                "keep_unused", "inline")


def _rebuild_jit(f: Any, convert_function: ConvertFunction) -> Any:
    """`jax.jit(fun, ...)` again around the converted `fun`, with the same options; left
    as it is when it has options that cannot be given back (shardings, layouts, device)."""
    fun = f._fun
    new = convert_callable(fun, convert_function)
    if new is fun:
        return f
    info = f._jit_info
    if (info.user_specified_in_shardings or info.device is not None or info.backend is not None
            or info.compiler_options_kvs or any(
                not type(x).__name__.startswith("Unspecified")
                for x in (*info.in_shardings_leaves, *info.out_shardings_leaves))
            or any(x is not None for x in (*info.in_layouts_leaves, *info.out_layouts_leaves))):
        return f
    import jax  # noqa: PLC0415 - only jit wrappers need it

    return jax.jit(new, **{k: getattr(info, k) for k in _JIT_OPTIONS})


class _Unconvertible:
    """A user function convert rejected, called as it is."""

    def __init__(self, fn: Any, error: str):
        self.fn, self.error = fn, error

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import jax  # noqa: PLC0415

        try:
            return self.fn(*args, **kwargs)
        except (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError) as e:
            raise VmlirUnsupportedError(self.error) from e


_failed: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # f -> error


def _rebuild_custom(f: Any, convert_function: ConvertFunction) -> Any:
    """jax.custom_jvp / custom_vjp again around the converted function and rules (their
    Python `if`s run on tracers too); as it is when nothing in it is converted."""
    import jax  # noqa: PLC0415 - only custom derivative wrappers need it

    parts = ("fun", "jvp") if type(f).__name__ == "custom_jvp" else ("fun", "fwd", "bwd")
    old = [getattr(f, p, None) for p in parts]
    new = [None if o is None else convert_callable(o, convert_function) for o in old]
    if all(n is o for n, o in zip(new, old)) or getattr(f, "optimize_remat", False):
        return f  # (optimize_remat: defvjp already wrapped fwd; wrapping again would differ)
    out = type(f)(new[0], nondiff_argnums=f.nondiff_argnums)
    if parts[1] == "jvp" and new[1] is not None:
        out.defjvp(new[1], symbolic_zeros=f.symbolic_zeros)
    elif parts[1] == "fwd" and new[1] is not None:
        out.defvjp(new[1], new[2], symbolic_zeros=f.symbolic_zeros)
    return out


def _convert_args(items: Any, convert_function: ConvertFunction) -> Any:
    out, changed = [], False
    for a in items:
        new = a
        if _is_function_like(a):
            new = convert_callable(a, convert_function)
        elif type(a) in (list, tuple) and any(isinstance(x, types.FunctionType) for x in a):
            new = type(a)(_convert_args(a, convert_function))  # lax.switch's branches
        changed |= new is not a
        out.append(new)
    return out if changed else items


def call(convert_function: ConvertFunction, f: Any, /, *args: Any, **kwargs: Any) -> Any:
    """`f(*args, **kwargs)` as converted code runs it: `f` converted; when `f` is library
    code, the functions passed to it converted (lax.fori_loop's body, jax.grad's fun).

    A called function that cannot be converted (a generator, a `del` in a block) is called
    as it is, since it may well only branch on Python values; if it does branch on a
    traced value, the conversion's error (naming its file:line) is raised instead of JAX's."""
    try:
        error = _failed.get(f)
    except TypeError:  # an unhashable callable
        error = None
    try:
        g = _Unconvertible(f, error) if error else convert_callable(f, convert_function)
    except VmlirUnsupportedError as e:
        g = _Unconvertible(f, str(e))
        _failed[f] = g.error
    if g is f:
        if not is_user_function(f) and (args or kwargs):
            args = tuple(_convert_args(args, convert_function))
            if kwargs:
                kwargs = dict(zip(kwargs, _convert_args(list(kwargs.values()), convert_function)))
        return g(*args, **kwargs)
    try:
        return g(*args, **kwargs)
    except RecursionError:
        code = getattr(getattr(g, "__func__", g), "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
        raise VmlirUnsupportedError(
            f"the recursion of {getattr(f, '__qualname__', f)!r}{where} exceeds Python's "
            "recursion limit: a recursion whose end depends on a traced value never ends when "
            "converted (both branches of an `if` on a traced value are traced); write it as "
            "a `while` loop"
        ) from None
