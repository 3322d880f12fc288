"""AST building and analysis for `pycontrol`'s rewrite: node constructors (`mk_*`),
source locations, the scope, liveness and jump analyses it runs per function, and
finding a lambda's source.

Pure functions of `ast` nodes: nothing here rewrites a tree or knows the runtime helpers
beyond the name they are imported under (`RT`).
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import linecache
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

RT = "_pc_rt"
"""The name the converted code calls the runtime helpers (pycontrol_runtime) by."""
CALL = "_pc_call"
"""What converted code calls every function through (pycontrol_calls.call)."""
COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, *COMPS)
TRY_NODES = (ast.Try, getattr(ast, "TryStar", ast.Try))
LOOPS = (ast.While, ast.For)


def mk_name(name: str, store: bool = False) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store() if store else ast.Load())


def mk_call(fn: str, args: list[ast.expr], **kw: ast.expr) -> ast.Call:
    func = ast.Attribute(value=mk_name(RT), attr=fn, ctx=ast.Load())
    keywords = [ast.keyword(arg=k, value=v) for k, v in kw.items()]
    return ast.Call(func=func, args=args, keywords=keywords)


def mk_args(params: list[str]) -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def mk_def(name: str, params: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    extra = {"type_params": []} if sys.version_info >= (3, 12) else {}
    return ast.FunctionDef(name=name, args=mk_args(params), body=body, decorator_list=[],
                           returns=None, **extra)


def mk_tuple(elts: list[ast.expr]) -> ast.Tuple:
    return ast.Tuple(elts=elts, ctx=ast.Load())


def mk_strs(names: list[str]) -> ast.Tuple:
    return mk_tuple([ast.Constant(n) for n in names])


def mk_assign(name: str, value: ast.expr | bool | None) -> ast.Assign:
    value = value if isinstance(value, ast.AST) else ast.Constant(value)
    return ast.Assign(targets=[mk_name(name, True)], value=value)


def mk_lambda(body: ast.expr) -> ast.Lambda:
    node = ast.Lambda(args=mk_args([]), body=body)
    node._pc_thunk = True  # called at once, not later: what it reads is not captured
    return node


def at_node(nodes: list[Any], where: ast.AST) -> list[Any]:
    """Generated nodes, located on the first line of `where` (their unlocated parts too)."""
    for n in nodes:
        locate(n, where.lineno, where.col_offset, force=True)
    return nodes


def locate(node: ast.AST, line: int, col: int, force: bool = False) -> None:
    # Like ast.fix_missing_locations, but each generated node spans a single line: Python
    # 3.11 places a method call at its callee's *last* line, which would otherwise be the
    # last line of the user's statement the call stands for.
    if "lineno" in node._attributes:
        if force or getattr(node, "lineno", None) is None:
            node.lineno = node.end_lineno = line
            node.col_offset = node.end_col_offset = col
        line, col = node.lineno, node.col_offset
    for child in ast.iter_child_nodes(node):
        locate(child, line, col)


def guard_if(flags: list[str], body: list[ast.stmt]) -> ast.If:
    """`if not (flag or ...): body`: the code after a break/continue/return."""
    node = ast.If(test=mk_call("not_any", [mk_name(f) for f in flags]), body=body, orelse=[])
    node._pc_guard = True
    return at_node([node], body[0])[0]


# --- scope analysis ------------------------------------------------------------------


def scope_walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node in these nodes' scope; nested scopes are yielded but not entered."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, NESTED):
            stack.extend(ast.iter_child_nodes(node))


def bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names these nodes bind in their own scope, at any depth."""
    out = set()
    for n in scope_walk(nodes):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
        elif isinstance(n, COMPS):  # `:=` in a comprehension binds in the enclosing scope
            out |= {m.target.id for m in ast.walk(n) if isinstance(m, ast.NamedExpr)}
    return out


def read_names(*nodes: ast.AST) -> set[str]:
    """Names these nodes read from their scope, including what nested scopes read."""
    out = set()
    for n in scope_walk(nodes):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
        elif isinstance(n, NESTED):
            inner = list(ast.walk(n))
            local = {m.arg for m in inner if isinstance(m, ast.arg)}
            local |= {m.id for m in inner
                      if isinstance(m, ast.Name) and not isinstance(m.ctx, ast.Load)}
            local -= {x for m in inner if isinstance(m, ast.Nonlocal) for x in m.names}
            out |= {m.id for m in inner if isinstance(m, ast.Name) and m.id not in local}
    return out


def live_before(stmts: list[ast.stmt], out: set[str], keep: set[str]) -> set[str]:
    """Names live before `stmts` given those live after; annotates if/while/for nodes with
    what is live after them (`_pc_out`), in an if's branches, at a loop's head. `keep` are
    live everywhere: the variables nested functions read, whenever they are called."""
    out = out | keep
    for s in reversed(stmts):
        out = live_stmt(s, out, keep) | keep
    return out


def fixpoint(step: Callable[[set[str]], set[str]], start: set[str]) -> set[str]:
    head = start
    while (new := start | step(head)) != head:
        head = new
    return head


def live_stmt(s: ast.stmt, out: set[str], keep: set[str]) -> set[str]:
    if isinstance(s, ast.If):
        s._pc_out, s._pc_in = out, live_before(s.body, out, keep) | live_before(s.orelse, out, keep)
        return read_names(s.test) | s._pc_in
    if isinstance(s, ast.While):
        s._pc_out, start = out, read_names(s.test) | live_before(s.orelse, out, keep)
        s._pc_head = fixpoint(lambda h: live_before(s.body, h, keep), start)
        return s._pc_head
    if isinstance(s, ast.For):
        s._pc_out, target = out, bound_names([s.target])
        # A loop with a `break` also reads its flag at its head (in the test built later).
        start = live_before(s.orelse, out, keep) | ({s._pc_break} if hasattr(s, "_pc_break") else set())
        step = lambda h: (live_before(s.body, h, keep) - target) | read_names(s.target)  # noqa: E731
        s._pc_head = fixpoint(step, start)
        return s._pc_head | read_names(s.iter)
    if isinstance(s, (*TRY_NODES, ast.Match)):
        live = out | read_names(s)  # exceptions and patterns jump anywhere: all it reads is live
        for block in sub_blocks(s):
            live_before(block, live, keep)
        return live
    if isinstance(s, ast.With):
        return (live_before(s.body, out, keep) - bound_names(s.items)) | read_names(*s.items)
    if isinstance(s, ast.Return):
        return read_names(s)
    return (out - bound_names([s])) | read_names(s)


def has_jump(stmts: list[ast.stmt], kind: type) -> bool:
    """Whether a `kind` (Break/Continue/Return) in `stmts` jumps out of them (a break in
    an inner loop does not)."""
    stack = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, kind):
            return True
        if not isinstance(n, NESTED) and (kind is ast.Return or not isinstance(n, LOOPS)):
            stack.extend(ast.iter_child_nodes(n))
    return False


def sub_blocks(s: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists directly inside an if/with/match/try (not a loop's body)."""
    if isinstance(s, ast.If):
        return [s.body, s.orelse]
    if isinstance(s, ast.With):
        return [s.body]
    if isinstance(s, ast.Match):
        return [c.body for c in s.cases]
    if isinstance(s, TRY_NODES):
        return [s.body, *(h.body for h in s.handlers), s.orelse, s.finalbody]
    return []


def is_range_for(s: ast.stmt) -> bool:
    it = getattr(s, "iter", None)
    return (isinstance(s, ast.For) and isinstance(s.target, ast.Name)
            and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
            and it.func.id == "range" and not it.keywords and 1 <= len(it.args) <= 3
            and not any(isinstance(a, ast.Starred) for a in it.args))


_MUTATORS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "popitem",
})
"""Methods that change a Python list, dict or set in place."""


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def outer_mutation(body: list[ast.stmt]) -> tuple[str, int] | None:
    """The first in-place change (`out.append(v)`, `d[k] = v`, `d[k] += v`) in `body` of a
    Python object `body` does not create itself, as (source text, line); else None.

    Under a traced condition a branch or loop body is traced once, not run per example: a
    change to an object from outside would happen once, with traced values that leak."""
    local = bound_names(body)
    for n in scope_walk(body):
        target = None
        # Converted code calls every function through `_pc_call(fn, *args)`.
        fn = n.args[0] if isinstance(n, ast.Call) and _is_name(n.func, CALL) and n.args else (
            n.func if isinstance(n, ast.Call) else None)
        if isinstance(fn, ast.Attribute) and fn.attr in _MUTATORS:
            target, text = fn.value, f"{ast.unparse(fn)}(...)"
        elif isinstance(n, (ast.Assign, ast.AugAssign)):
            stores = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in stores:
                if isinstance(t, ast.Subscript):
                    target, text = t.value, ast.unparse(n)
                    text = text if len(text) <= 60 else f"{ast.unparse(t)} = ..."
                    break
        if isinstance(target, ast.Name) and target.id not in local:
            return text, n.lineno
    return None


def always_returns(stmts: list[ast.stmt]) -> bool:
    return any(isinstance(s, (ast.Return, ast.Raise)) or endless(s) or (
        isinstance(s, ast.If) and always_returns(s.body) and always_returns(s.orelse)
    ) for s in stmts)


def endless(s: ast.stmt) -> bool:
    """`while True:` without a `break` of its own: it never completes normally (it
    returns, raises, or runs forever), so nothing falls off the end after it."""
    return (
        isinstance(s, ast.While) and isinstance(s.test, ast.Constant) and bool(s.test.value)
        and not has_jump(s.body, ast.Break)
    )


# --- lambdas -------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def parse_source(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def lambda_def(code: types.CodeType) -> ast.FunctionDef | None:
    """`def <lambda>(args): return body` for a lambda's code, from its file's source: the
    lambda on its first line with its parameters whose body spans all of its code's
    positions (the innermost such, for nested lambdas). None if not found."""
    tree = parse_source("".join(linecache.getlines(code.co_filename)))
    if tree is None:
        return None
    n_args = code.co_argcount + code.co_kwonlyargcount
    n_args += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    params = list(code.co_varnames[:n_args])
    spots = {(p[0], p[2]) for p in code.co_positions()  # not the zero-width RESUME
             if None not in p and (p[0], p[2]) != (p[1], p[3])}
    found = []
    for n in ast.walk(tree):
        if not (isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno):
            continue
        a = n.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x]
        b = n.body
        start, end = (b.lineno, b.col_offset), (b.end_lineno, b.end_col_offset)
        if sorted(names) == sorted(params) and all(start <= s <= end for s in spots):
            found.append(((end[0] - start[0], end[1] - start[1]), n))
    if not found:
        return None
    lam = copy.deepcopy(min(found, key=lambda f: f[0])[1])  # the parsed file is cached
    node = mk_def("<lambda>", [], [ast.copy_location(ast.Return(lam.body), lam.body)])
    node.args = lam.args
    return ast.copy_location(node, lam)
