"""The run-time half of `vmlir.frontend.pycontrol`: the helpers converted code calls.

Each helper looks at its condition (or loop bounds) when it runs. A Python value (bool,
int, numpy scalar, concrete jax.Array) runs ordinary Python control flow, so code that
only branches on Python values traces to exactly the jaxpr it traced to before. A traced
value (a `jax.core.Tracer`) becomes `lax.cond` / `lax.while_loop`, with the variables the
block assigns threaded through explicitly: the AST rewrite turns a branch or a loop body
into a function of those variables that returns their new values.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from vmlir.errors import VmlirUnsupportedError
from vmlir.jaxmlir import jax_core

jaxpr_as_fun = jax_core().jaxpr_as_fun

try:
    # The ops these helpers emit (lax.cond, casts, ...) then get the location of the user's
    # line that called them, not a line of this file: vmlir reports errors at locations.
    from jax._src import source_info_util

    source_info_util.register_exclusion(__file__)
except (ImportError, AttributeError):  # pragma: no cover - a jax without the hook
    pass

RETVAL = "_pc_retval"  # the variable a rewritten `return` stores its value in
EXPR = "<expr>"  # the one value of a conditional expression
IF = "an `if` on a traced value"
GUARD = "the code after a `break`, `continue` or `return` under a traced condition"
_STOPPABLE_FOR = "a `for` loop that may stop on a traced value"
_ONE_BRANCH = {
    GUARD: "is assigned only when no `break`, `continue` or `return` ran before it under a "
    "traced condition, and is used after it",
    _STOPPABLE_FOR: "is assigned in {kind}, used after it, and has no value before the loop",
}
_NUMBERS = (bool, int, float, complex, np.generic, np.ndarray, jax.Array)
Fn = Callable[..., Any]


class Undefined:
    """The value of a variable not assigned yet on this path; using it raises."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<undefined variable {self.name!r}>"

    def _unbound(self, *args: Any) -> Any:
        raise UnboundLocalError(f"local variable {self.name!r} referenced before assignment")

    __bool__ = __call__ = __iter__ = __getitem__ = __array__ = __jax_array__ = _unbound
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __neg__ = _unbound
    __truediv__ = __rtruediv__ = __lt__ = __le__ = __gt__ = __ge__ = _unbound


def ld(load: Callable[[], Any], name: str) -> Any:
    """The variable `load` reads, or `Undefined(name)` where it is not bound yet."""
    try:
        return load()
    except NameError:  # UnboundLocalError, or a free variable not bound yet
        return Undefined(name)


def is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _short(x: Any) -> str:
    return (x if hasattr(x, "str_short") else jax.typeof(x)).str_short(short_dtypes=True)


def _what(name: str) -> str:
    return {RETVAL: "the return value", EXPR: "the value"}.get(name, f"variable {name!r}")


def _fail(loc: str, message: str) -> None:
    raise VmlirUnsupportedError(f"{loc}: {message}")


def _pred(test: Any, loc: str, kind: str) -> Any:
    """A traced condition as a scalar bool (Python's truthiness: nonzero is true)."""
    if jnp.ndim(test) != 0:
        _fail(loc, f"the condition of {kind} must be a scalar, got {_short(test)}; use jnp.where, "
              "jnp.any or jnp.all")
    return test if jnp.result_type(test) == jnp.bool_ else test != 0


def _forbid(forbid: str | None, loc: str, kind: str) -> None:
    if forbid is not None:
        _fail(loc, forbid.format(what=kind))


# --- branches ------------------------------------------------------------------------


def _trace(fn: Callable[[], Sequence[Any]]) -> tuple[Any, list[Any]]:
    """Trace a branch once: its closed jaxpr, whose outputs are the numeric leaves of what
    it returns, and per variable Undefined or (treedef, leaves, jaxpr output index per leaf)."""
    per_var: list[Any] = []

    def flat() -> list[Any]:
        out: list[Any] = []
        for value in fn():
            if isinstance(value, Undefined):
                per_var.append(value)
                continue
            leaves, tree = jax.tree_util.tree_flatten(value)
            index = []
            for x in leaves:
                index.append(len(out) if isinstance(x, _NUMBERS) else None)
                out += [x] if isinstance(x, _NUMBERS) else []
            per_var.append((tree, leaves, index))
        return out

    return jax.make_jaxpr(flat)(), per_var


def _same_static(a: Any, b: Any) -> bool:
    scalars = (bool, int, float, complex, str, type(None))
    return a is b or (type(a) is type(b) and isinstance(a, scalars) and a == b)


def _join(avals: Sequence[Any]) -> Any:
    """The dtype both branches' values are cast to (weak types as Python scalars)."""
    kinds = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}
    return jnp.result_type(*(kinds[a.dtype.kind] if a.weak_type else a.dtype for a in avals))


def cond(pred: Any, branches: Sequence[Callable[[], Sequence[Any]]], names: Sequence[str],
         loc: str, kind: str) -> tuple[Any, ...]:
    """`lax.cond` over branches that return one value per name. A leaf both branches leave
    the same (a Python value, an outer tracer) stays as it is; the others are joined to
    one dtype and selected. Each branch's Python code is traced once."""
    traces = [_trace(b) for b in branches]
    layout: list[Any] = []  # per variable: Undefined, or (treedef, ("static", x) | ("dyn", k))
    picks: list[list[int | None]] = [[] for _ in traces]  # per branch and dyn output: index
    dyn: list[tuple[Any, Any]] = []  # (shape, dtype) per dynamic output
    for i, name in enumerate(names):
        outs = [t[1][i] for t in traces]
        undefined = [isinstance(o, Undefined) for o in outs]
        if all(undefined):
            layout.append(outs[0])
            continue
        if any(undefined):
            if name != RETVAL:
                why = _ONE_BRANCH.get(kind, "is assigned in only one branch of {kind} and used "
                                      "after it")
                _fail(loc, f"{_what(name)} " + why.format(kind=kind))
            # Unset on a path where the `returned` flag next to it is false: never read there.
            outs = [outs[undefined.index(False)] if u else o for o, u in zip(outs, undefined)]
        if any(o[0] != outs[0][0] for o in outs):
            trees = " and ".join(str(o[0]) for o in outs)
            _fail(loc, f"{_what(name)} has a different structure in the branches of {kind}: "
                  f"{trees}")
        slots = []
        for j, leaves in enumerate(zip(*(o[1] for o in outs))):
            # A filled-in leaf copies the other branch's, maybe a tracer local to its trace.
            filled = any(undefined) and isinstance(leaves[0], _NUMBERS)
            if not filled and all(_same_static(x, leaves[0]) for x in leaves):
                slots.append(("static", leaves[0]))
                continue
            bad = [x for x in leaves if not isinstance(x, _NUMBERS)]
            if bad:
                _fail(loc, f"{_what(name)} holds a {type(bad[0]).__name__}, which cannot leave "
                      f"{kind} (only arrays and numbers can)")
            avals = [jax.typeof(x) for x in leaves]
            if avals[0].shape != avals[1].shape:
                _fail(loc, f"{_what(name)} has shape {_short(avals[0])} in one branch of {kind} "
                      f"and {_short(avals[1])} in the other")
            for b, (o, u) in enumerate(zip(outs, undefined)):
                picks[b].append(None if u else o[2][j])
            dyn.append((avals[0].shape, _join(avals)))
            slots.append(("dyn", len(dyn) - 1))
        layout.append((outs[0][0], slots))

    def replay(b: int) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            flat = jaxpr_as_fun(traces[b][0])()  # the branch's ops again, not its Python
            out = []
            for pick, (shape, dtype) in zip(picks[b], dyn):
                x = jnp.zeros(shape, dtype) if pick is None else flat[pick]
                out.append(x if getattr(x, "dtype", None) == dtype else jnp.asarray(x, dtype))
            return out

        return run

    results = lax.cond(pred, replay(0), replay(1)) if dyn else []
    values = []
    for entry in layout:
        if isinstance(entry, Undefined):
            values.append(entry)
        else:
            leaves = [v if how == "static" else results[v] for how, v in entry[1]]
            values.append(jax.tree_util.tree_unflatten(entry[0], leaves))
    return tuple(values)


def if_stmt(test: Any, body: Fn, orelse: Fn, ins: tuple[Any, ...], names: tuple[str, ...],
            loc: str, kind: str = IF, forbid: str | None = None) -> tuple[Any, ...]:
    """`if test: body else: orelse`; each branch maps `ins` to the values of `names`."""
    if not is_traced(test):
        return body(*ins) if test else orelse(*ins)
    _forbid(forbid, loc, kind)
    branches = [lambda: body(*ins), lambda: orelse(*ins)]
    return cond(_pred(test, loc, kind), branches, names, loc, kind)


def assert_(test: Any, msg: Callable[[], Any] | None, loc: str) -> None:
    """`assert test, msg()`: Python's on a Python value; a traced one has no value to
    check while the function is traced."""
    if not is_traced(test):
        if not test:
            raise AssertionError() if msg is None else AssertionError(msg())
        return
    _fail(loc, "an `assert` on a traced value cannot be checked while the function is traced "
          "(under jax.vmap neither); check the inputs before the call, or use "
          "jax.experimental.checkify")


def ifexp(test: Any, body: Fn, orelse: Fn, loc: str) -> Any:
    """`body() if test else orelse()`."""
    if not is_traced(test):
        return body() if test else orelse()
    kind = "a conditional expression on a traced value"
    branches = [lambda: (body(),), lambda: (orelse(),)]
    return cond(_pred(test, loc, kind), branches, (EXPR,), loc, kind)[0]


# --- boolean operators -----------------------------------------------------------------


def _scalar(x: Any, op: str, loc: str) -> Any:
    if is_traced(x) and jnp.ndim(x) != 0:
        _fail(loc, f"`{op}` on a non-scalar traced value ({_short(x)}); use jnp.logical_{op}")
    return x


def not_(x: Any, loc: str) -> Any:
    """`not x`."""
    return jnp.logical_not(_scalar(x, "not", loc)) if is_traced(x) else not x


def _bool_op(op: str, value: Any, thunks: Sequence[Fn], loc: str) -> Any:
    # Python's value semantics (`a and b` is `a` if `a` is false, else `b`), short-circuit
    # evaluation while the deciding value is a Python value.
    for thunk in thunks:
        if not is_traced(value):
            if bool(value) == (op == "or"):
                return value
            value = thunk()
            continue
        other = _scalar(thunk(), op, loc)
        _scalar(value, op, loc)
        if jnp.result_type(value) == jnp.result_type(other) == jnp.bool_:
            value = (jnp.logical_or if op == "or" else jnp.logical_and)(value, other)
        else:
            value = jnp.where(value, value, other) if op == "or" else jnp.where(value, other, value)
    return value


def and_(first: Any, *thunks: Fn, loc: str) -> Any:
    """`first and thunks[0]() and ...`."""
    return _bool_op("and", first, thunks, loc)


def or_(first: Any, *thunks: Fn, loc: str) -> Any:
    """`first or thunks[0]() or ...`."""
    return _bool_op("or", first, thunks, loc)


_COMPARE = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
    "!=": operator.ne, "is": operator.is_, "is not": operator.is_not,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
}


def compare(first: Any, ops: tuple[str, ...], thunks: Sequence[Fn], loc: str) -> Any:
    """A chained comparison `a < b < c`: `a < b and b < c`, each operand evaluated once."""
    left, parts = first, []
    for op, thunk in zip(ops, thunks):
        right = thunk()
        parts.append(_COMPARE[op](left, right))
        left = right
        if not is_traced(parts[-1]) and not parts[-1]:
            break
    return and_(parts[0], *(lambda p=p: p for p in parts[1:]), loc=loc)


def not_any(*flags: Any) -> Any:
    """`not (flags[0] or ...)`: the guard of the code after a break/continue/return."""
    if any(f for f in flags if not is_traced(f)):
        return False
    traced = [f for f in flags if is_traced(f)]
    return jnp.logical_not(functools.reduce(jnp.logical_or, traced)) if traced else True


def retval(value: Any, returned: Any, loc: str) -> Any:
    """The function's result: `value` if a `return` ran, None if it fell off its end."""
    if not is_traced(returned):
        return value if returned else None
    if value is not None and not isinstance(value, Undefined):
        _fail(loc, "the function returns a value on some paths and falls off its end "
              "(returning None) on others, chosen by a traced value")
    return None


# --- loops ---------------------------------------------------------------------------


def _check_carries(values: Sequence[Any], names: Sequence[str], loc: str, kind: str) -> None:
    for name, value in zip(names, values):
        if isinstance(value, Undefined):
            _fail(loc, f"{_what(name)} is assigned in {kind} and used after it (or in its next "
                  "iteration), but has no value before the loop")
        for x in jax.tree_util.tree_leaves(value):
            if not isinstance(x, _NUMBERS):
                _fail(loc, f"{_what(name)} holds a {type(x).__name__}, which cannot be carried "
                      f"through {kind} (only arrays and numbers can)")


def _signature(value: Any) -> Any:
    leaves, tree = jax.tree_util.tree_flatten(value)
    return tree, tuple(jnp.shape(x) for x in leaves)


def _describe(value: Any) -> str:
    leaves, tree = jax.tree_util.tree_flatten(value)
    strs = [_short(x) for x in leaves]
    return strs[0] if tree == jax.tree_util.tree_structure(0) else str(tree.unflatten(strs))


def _probe(body_fn: Fn, init: tuple[Any, ...]) -> list[Any]:
    """What `_trace` gives per carry for one iteration of the body on *traced* carries, as
    `lax.while_loop` runs it. Not on `init` itself: a Python carry (`n = 0`) would take
    Python paths there (`if n > 4:` false at once) that later, traced iterations take."""
    leaves, tree = jax.tree_util.tree_flatten(init)
    dyn = [i for i, x in enumerate(leaves) if isinstance(x, _NUMBERS)]
    found: list[Any] = []

    def run(*xs: Any) -> list[Any]:
        ls = list(leaves)
        for i, x in zip(dyn, xs):
            ls[i] = x
        c = tree.unflatten(ls)
        found.append(_trace(lambda: body_fn(c))[1])
        return []

    jax.make_jaxpr(run)(*(jnp.asarray(leaves[i]) for i in dyn))
    return found[0]


def _loop(cond_fn: Fn, body_fn: Fn, init: tuple[Any, ...], names: Sequence[str], loc: str,
          kind: str, fills: dict[str, Any]) -> tuple[Any, ...]:
    """`lax.while_loop` over the carries `init`. `fills` gives values to carries undefined
    before the loop that the loop itself sets before reading (the `for` target)."""
    init = tuple(fills.get(n, v) if isinstance(v, Undefined) else v for n, v in zip(names, init))
    static: set[int] = set()
    if RETVAL in names and isinstance(init[names.index(RETVAL)], Undefined):
        # A `return` inside the loop: shape its value by tracing the body once (the
        # `returned` flag keeps the zeros from ever being read).
        r = names.index(RETVAL)
        out = _probe(body_fn, init)[r]
        if isinstance(out, Undefined):
            static.add(r)  # no `return` on a traced path: it stays undefined
        else:
            zeros = [jnp.zeros(jnp.shape(x), jnp.result_type(x)) if isinstance(x, _NUMBERS) else x
                     for x in out[1]]
            init = init[:r] + (out[0].unflatten(zeros),) + init[r + 1:]

    def part(c: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v for i, v in enumerate(c) if i not in static)

    def full(c: Sequence[Any]) -> tuple[Any, ...]:
        it = iter(c)
        return tuple(init[i] if i in static else next(it) for i in range(len(init)))

    dyn_names = part(names)
    _check_carries(part(init), dyn_names, loc, kind)
    before = [_signature(v) for v in part(init)]

    def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
        out = part(body_fn(full(c)))
        _check_carries(out, dyn_names, loc, kind)
        for name, sig, old, new in zip(dyn_names, before, c, out):
            if _signature(new) != sig:
                _fail(loc, f"{_what(name)} changes from {_describe(old)} to {_describe(new)} in "
                      f"an iteration of {kind}")
        # Python's `i = i + 0.5` makes an int a float: a carry takes the widest dtype the
        # body gives it (traced again from the wider start), narrower values are cast up.
        olds, tree = jax.tree_util.tree_flatten(c)
        news = jax.tree_util.tree_leaves(out)
        wide = [jnp.result_type(jnp.result_type(o), jnp.result_type(n)) for o, n in zip(olds, news)]
        if any(w != jnp.result_type(o) for w, o in zip(wide, olds)):
            raise _Widen(wide)
        return tree.unflatten([n if jnp.result_type(n) == w else jnp.asarray(n, w)
                               for n, w in zip(news, wide)])

    start = part(init)
    while True:
        try:
            return full(lax.while_loop(lambda c: cond_fn(full(c)), body, start))
        except _Widen as widen:  # trace again from carries of the wider dtypes
            leaves, tree = jax.tree_util.tree_flatten(start)
            start = tree.unflatten([jnp.asarray(x, d) for x, d in zip(leaves, widen.dtypes)])


class _Widen(Exception):
    """A loop body changed the dtype of carries: the dtypes to start them with instead."""

    def __init__(self, dtypes: list[Any]):
        super().__init__("loop carries widen")
        self.dtypes = dtypes


def while_stmt(test: Fn, body: Fn, carries: tuple[Any, ...], names: tuple[str, ...], loc: str,
               forbid: str | None = None) -> tuple[Any, ...]:
    """`while test(*carries): carries = body(*carries)`: Python iterations while the test
    is a Python value, and from the first traced test on one `lax.while_loop`."""
    kind = "a `while` loop on a traced value"
    while not is_traced(t := test(*carries)):
        if not t:
            return carries
        carries = body(*carries)
    _forbid(forbid, loc, kind)
    return _loop(lambda c: _pred(test(*c), loc, kind), lambda c: body(*c), carries, names, loc,
                 kind, {})


def for_iter(iterable: Any, body: Fn, test: Fn | None, carries: tuple[Any, ...],
             names: tuple[str, ...], loc: str, forbid: str | None = None) -> tuple[Any, ...]:
    """`for item in iterable: carries = body(item, *carries)`, a Python loop that stops when
    `test(*carries)` (no `break` yet) is false. Once that test is traced, each remaining
    iteration runs under `lax.cond` on it, so the iterable must have a length."""
    for item in iterable:
        t = True if test is None else test(*carries)
        if not is_traced(t):
            if not t:
                break
            carries = body(item, *carries)
            continue
        if not hasattr(iterable, "__len__"):
            _fail(loc, f"a `for` loop over a {type(iterable).__name__} (not a range or a "
                  "sequence) cannot stop on a traced value (a `break` or `return` under a "
                  "traced condition)")
        _forbid(forbid, loc, _STOPPABLE_FOR)
        now = carries
        branches = [lambda: body(item, *now), lambda: now]
        carries = cond(_pred(t, loc, _STOPPABLE_FOR), branches, names, loc, _STOPPABLE_FOR)
    return carries


def for_range(rng: Any, args: tuple[Any, ...], body: Fn, test: Fn | None,
              carries: tuple[Any, ...], names: tuple[str, ...], loc: str,
              target: str | None = None, forbid: str | None = None) -> tuple[Any, ...]:
    """`for i in range(*args)`: a Python loop when the bounds are Python values, else a
    `lax.while_loop` carrying the counter. `rng` is what `range` names at the loop."""
    if rng is not range or not any(is_traced(a) for a in args):
        return for_iter(rng(*args), body, test, carries, names, loc, forbid)
    kind = "a `for` loop over a traced `range`"
    _forbid(forbid, loc, kind)
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    for a in (start, stop, step):
        if not jnp.issubdtype(jnp.result_type(a), jnp.integer):
            raise TypeError(f"{loc}: range() bounds must be integers, got {_short(a)}")
    if not is_traced(step) and step == 0:
        raise ValueError(f"{loc}: range() arg 3 must not be zero")
    dtype = jnp.result_type(start, stop, step)

    def cond_fn(c: tuple[Any, ...]) -> Any:
        i = c[0]
        if is_traced(step):
            more = jnp.where(step > 0, i < stop, i > stop)
        else:
            more = i < stop if step > 0 else i > stop
        t = True if test is None else test(*c[1:])
        return jnp.logical_and(more, _pred(t, loc, kind) if is_traced(t) else bool(t))

    def body_fn(c: tuple[Any, ...]) -> tuple[Any, ...]:
        return (c[0] + jnp.asarray(step, dtype), *body(c[0], *c[1:]))

    first = jnp.asarray(start, dtype)
    fills = {} if target is None else {target: first}
    names = ("<range counter>", *names)
    return _loop(cond_fn, body_fn, (first, *carries), names, loc, kind, fills)[1:]
