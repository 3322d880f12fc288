"""Python control flow on traced values, AutoGraph-style: `convert(fn)` rewrites `fn`'s AST.

`convert` returns a function with the same signature whose `if`/`elif`/`else`, `while`,
`for`, `and`/`or`/`not`, `a if c else b` and `a < b < c` call the helpers in
`pycontrol_runtime`, which choose when they run: Python control flow on Python values (the
same jaxpr as before), `lax.cond` / `lax.while_loop` on traced scalars. Per function (and
per nested `def`): (1) `return` inside a block -> `returned` flag + value, the rest guarded;
(2) `break`/`continue` -> flags, the rest guarded; (3) boolean operators -> helper calls;
(4) liveness analysis; (5) each `if`/loop -> local functions from the variables it assigns
to those live after it, and `a, b = _pc_rt.if_stmt(test, true_fn, false_fn, (a, b), ...)`.
See docs/python-control-flow.md.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend import pycontrol_runtime as rt

RT, RET, RETVAL = "_pc_rt", "_pc_ret", rt.RETVAL
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, *_COMPS)
_TRY = (ast.Try, getattr(ast, "TryStar", ast.Try))
_LOOPS = (ast.While, ast.For)
_LIBRARIES = {"jax", "jaxlib", "numpy"}  # their functions are never converted
_FUTURE = functools.reduce(
    lambda acc, f: acc | getattr(__future__, f).compiler_flag, __future__.all_feature_names, 0
)
TRY = "{what} inside `try` cannot be converted (traced code raises no exceptions to catch)"
WITH = "{what} inside a `with` block cannot be converted"
_cache: dict[types.CodeType, types.CodeType | None] = {}


def convert(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its control flow rewritten to work on traced scalars too.

    Returned unchanged: lambdas, functions without source, wrappers with `__wrapped__`
    (convert the inner function, then decorate), objects that are not Python functions,
    JAX's and numpy's functions. Bound methods and `functools.partial` objects are
    converted through. Raises VmlirUnsupportedError for what cannot be converted.
    """
    if getattr(fn, "__vmlir_converted__", False):
        return fn
    if isinstance(fn, functools.partial):
        return functools.partial(convert(fn.func), *fn.args, **fn.keywords)
    if inspect.ismethod(fn):
        inner = convert(fn.__func__)
        return fn if inner is fn.__func__ else types.MethodType(inner, fn.__self__)
    if (not isinstance(fn, types.FunctionType) or fn.__name__ == "<lambda>"
            or hasattr(fn, "__wrapped__") or "__class__" in fn.__code__.co_freevars
            or (fn.__module__ or "").split(".")[0] in _LIBRARIES):
        return fn  # (`__class__`: zero-argument super() needs the class body's cell)
    code = fn.__code__
    if code not in _cache:
        _cache[code] = _convert_code(fn)
    new_code = _cache[code]
    if new_code is None:
        return fn
    # The original closure cells themselves, so the converted function sees rebinding.
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()), **{RT: types.CellType(rt)})
    closure = tuple(cells[n] for n in new_code.co_freevars)
    new = types.FunctionType(new_code, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    functools.update_wrapper(new, fn)
    new.__vmlir_converted__ = True
    return new


def converted_source(fn: Callable[..., Any]) -> str | None:
    """The source `convert` compiles for `fn` (to read and debug), or None."""
    module = _converted_tree(fn)
    return None if module is None else ast.unparse(module.body[0].body[0])


def _convert_code(fn: types.FunctionType) -> types.CodeType | None:
    module = _converted_tree(fn)
    if module is None:
        return None
    code = fn.__code__
    flags = code.co_flags & _FUTURE
    compiled = compile(module, code.co_filename, "exec", flags=flags, dont_inherit=True)
    factory = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    new = next(c for c in factory.co_consts
               if isinstance(c, types.CodeType) and c.co_name == code.co_name)
    return _requalify(new, new.co_qualname, code.co_qualname)


def _requalify(code: types.CodeType, old: str, new: str) -> types.CodeType:
    # `_pc_factory.<locals>.f...` -> `f...`: the names JAX puts in its debug locations.
    consts = tuple(_requalify(c, old, new) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_qualname=new + code.co_qualname[len(old):], co_consts=consts)


def _converted_tree(fn: types.FunctionType) -> ast.Module | None:
    """`def _pc_factory(_pc_rt, *freevars): <converted fn>; return fn`, or None.
    Raises VmlirUnsupportedError for generators and async functions."""
    code = fn.__code__
    try:
        lines, first = inspect.getsourcelines(code)  # the code's own source: no unwrapping
        # Indented source (a nested function, a method) parses under `if 1:`, not dedented,
        # so that its columns and multi-line string literals stay as they are.
        indented = lines[0][:1].isspace()
        tree = ast.parse(("if 1:\n" if indented else "") + "".join(lines))
    except (OSError, TypeError, SyntaxError):
        return None
    ast.increment_lineno(tree, first - (2 if indented else 1))
    node = tree.body[0].body[0] if indented else tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != code.co_name:
        return None
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        kinds = (ast.Yield, ast.YieldFrom, ast.Await)
        at = next((n for n in _scope_walk(node.body) if isinstance(n, kinds)), node)
        what = ("a generator function (`yield`)" if isinstance(at, kinds[:2])
                else "an `async` function")
        raise VmlirUnsupportedError(f"{code.co_filename}:{at.lineno}: cannot convert {what}")
    # A method's `self.__x` was compiled as `self._Cls__x` in its class body; compiled
    # again outside it, it would not be: such methods are left alone.
    owner = fn.__qualname__.rpartition(".")[0]
    if owner and not owner.endswith("<locals>") and any(
        s.startswith("__") and not s.endswith("__") for n in ast.walk(node)
        for s in (getattr(n, "id", None), getattr(n, "attr", None), getattr(n, "arg", None))
        if isinstance(s, str)
    ):
        return None
    node.decorator_list = []  # already applied: `fn` is what they returned
    _Converter(code.co_filename).function(node)
    factory = _def("_pc_factory", [RT, *code.co_freevars], [node, ast.Return(_name(node.name))])
    return ast.Module(body=_at([factory], node), type_ignores=[])


# --- AST builders --------------------------------------------------------------------


def _name(name: str, store: bool = False) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store() if store else ast.Load())


def _call(fn: str, args: list[ast.expr], **kw: ast.expr) -> ast.Call:
    func = ast.Attribute(value=_name(RT), attr=fn, ctx=ast.Load())
    keywords = [ast.keyword(arg=k, value=v) for k, v in kw.items()]
    return ast.Call(func=func, args=args, keywords=keywords)


def _args(params: list[str]) -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def _def(name: str, params: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    extra = {"type_params": []} if sys.version_info >= (3, 12) else {}
    return ast.FunctionDef(name=name, args=_args(params), body=body, decorator_list=[],
                           returns=None, **extra)


def _tuple(elts: list[ast.expr]) -> ast.Tuple:
    return ast.Tuple(elts=elts, ctx=ast.Load())


def _strs(names: list[str]) -> ast.Tuple:
    return _tuple([ast.Constant(n) for n in names])


def _assign(name: str, value: ast.expr | bool | None) -> ast.Assign:
    value = value if isinstance(value, ast.AST) else ast.Constant(value)
    return ast.Assign(targets=[_name(name, True)], value=value)


def _lambda(body: ast.expr) -> ast.Lambda:
    node = ast.Lambda(args=_args([]), body=body)
    node._pc_thunk = True  # called at once, not later: what it reads is not captured
    return node


def _at(nodes: list[Any], where: ast.AST) -> list[Any]:
    """Generated nodes, located on the first line of `where` (their unlocated parts too)."""
    for n in nodes:
        _locate(n, where.lineno, where.col_offset, force=True)
    return nodes


def _locate(node: ast.AST, line: int, col: int, force: bool = False) -> None:
    # Like ast.fix_missing_locations, but each generated node spans a single line: Python
    # 3.11 places a method call at its callee's *last* line, which would otherwise be the
    # last line of the user's statement the call stands for.
    if "lineno" in node._attributes:
        if force or getattr(node, "lineno", None) is None:
            node.lineno = node.end_lineno = line
            node.col_offset = node.end_col_offset = col
        line, col = node.lineno, node.col_offset
    for child in ast.iter_child_nodes(node):
        _locate(child, line, col)


def _guard_if(flags: list[str], body: list[ast.stmt]) -> ast.If:
    """`if not (flag or ...): body`: the code after a break/continue/return."""
    node = ast.If(test=_call("not_any", [_name(f) for f in flags]), body=body, orelse=[])
    node._pc_guard = True
    return _at([node], body[0])[0]


# --- scope analysis ------------------------------------------------------------------


def _scope_walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node in these nodes' scope; nested scopes are yielded but not entered."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NESTED):
            stack.extend(ast.iter_child_nodes(node))


def _bound(nodes: Iterable[ast.AST]) -> set[str]:
    """Names these nodes bind in their own scope, at any depth."""
    out = set()
    for n in _scope_walk(nodes):
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
        elif isinstance(n, _COMPS):  # `:=` in a comprehension binds in the enclosing scope
            out |= {m.target.id for m in ast.walk(n) if isinstance(m, ast.NamedExpr)}
    return out


def _reads(*nodes: ast.AST) -> set[str]:
    """Names these nodes read from their scope, including what nested scopes read."""
    out = set()
    for n in _scope_walk(nodes):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
        elif isinstance(n, _NESTED):
            inner = list(ast.walk(n))
            local = {m.arg for m in inner if isinstance(m, ast.arg)}
            local |= {m.id for m in inner
                      if isinstance(m, ast.Name) and not isinstance(m.ctx, ast.Load)}
            local -= {x for m in inner if isinstance(m, ast.Nonlocal) for x in m.names}
            out |= {m.id for m in inner if isinstance(m, ast.Name) and m.id not in local}
    return out


def _live(stmts: list[ast.stmt], out: set[str], keep: set[str]) -> set[str]:
    """Names live before `stmts` given those live after; annotates if/while/for nodes with
    what is live after them (`_pc_out`), in an if's branches, at a loop's head. `keep` are
    live everywhere: the variables nested functions read, whenever they are called."""
    out = out | keep
    for s in reversed(stmts):
        out = _live_stmt(s, out, keep) | keep
    return out


def _fixpoint(step: Callable[[set[str]], set[str]], start: set[str]) -> set[str]:
    head = start
    while (new := start | step(head)) != head:
        head = new
    return head


def _live_stmt(s: ast.stmt, out: set[str], keep: set[str]) -> set[str]:
    if isinstance(s, ast.If):
        s._pc_out, s._pc_in = out, _live(s.body, out, keep) | _live(s.orelse, out, keep)
        return _reads(s.test) | s._pc_in
    if isinstance(s, ast.While):
        s._pc_out, start = out, _reads(s.test) | _live(s.orelse, out, keep)
        s._pc_head = _fixpoint(lambda h: _live(s.body, h, keep), start)
        return s._pc_head
    if isinstance(s, ast.For):
        s._pc_out, target = out, _bound([s.target])
        # A loop with a `break` also reads its flag at its head (in the test built later).
        start = _live(s.orelse, out, keep) | ({s._pc_break} if hasattr(s, "_pc_break") else set())
        step = lambda h: (_live(s.body, h, keep) - target) | _reads(s.target)  # noqa: E731
        s._pc_head = _fixpoint(step, start)
        return s._pc_head | _reads(s.iter)
    if isinstance(s, (*_TRY, ast.Match)):
        live = out | _reads(s)  # exceptions and patterns jump anywhere: all it reads is live
        for block in _blocks(s):
            _live(block, live, keep)
        return live
    if isinstance(s, ast.With):
        return (_live(s.body, out, keep) - _bound(s.items)) | _reads(*s.items)
    if isinstance(s, ast.Return):
        return _reads(s)
    return (out - _bound([s])) | _reads(s)


def _jumps(stmts: list[ast.stmt], kind: type) -> bool:
    """Whether a `kind` (Break/Continue/Return) in `stmts` jumps out of them (a break in
    an inner loop does not)."""
    stack = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, kind):
            return True
        if not isinstance(n, _NESTED) and (kind is ast.Return or not isinstance(n, _LOOPS)):
            stack.extend(ast.iter_child_nodes(n))
    return False


def _blocks(s: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists directly inside an if/with/match/try (not a loop's body)."""
    if isinstance(s, ast.If):
        return [s.body, s.orelse]
    if isinstance(s, ast.With):
        return [s.body]
    if isinstance(s, ast.Match):
        return [c.body for c in s.cases]
    if isinstance(s, _TRY):
        return [s.body, *(h.body for h in s.handlers), s.orelse, s.finalbody]
    return []


def _is_range(s: ast.stmt) -> bool:
    it = getattr(s, "iter", None)
    return (isinstance(s, ast.For) and isinstance(s.target, ast.Name)
            and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
            and it.func.id == "range" and not it.keywords and 1 <= len(it.args) <= 3
            and not any(isinstance(a, ast.Starred) for a in it.args))


def _always_returns(stmts: list[ast.stmt]) -> bool:
    return any(isinstance(s, (ast.Return, ast.Raise)) or (
        isinstance(s, ast.If) and _always_returns(s.body) and _always_returns(s.orelse)
    ) for s in stmts)


class _Converter:
    """Rewrites a function definition node in place, nested definitions included."""

    def __init__(self, filename: str):
        self.filename, self.n = filename, 0

    def loc(self, node: ast.AST) -> ast.Constant:
        return ast.Constant(f"{self.filename}:{node.lineno}")

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"_pc_{base}_{self.n}"

    def function(self, fn: ast.FunctionDef) -> None:
        for n in list(_scope_walk(fn.body)):
            # Nested generator functions are left as they are: they cannot be converted.
            if isinstance(n, ast.FunctionDef) and not any(
                    isinstance(m, (ast.Yield, ast.YieldFrom)) for m in _scope_walk(n.body)):
                self.function(n)
        decls = [n for n in _scope_walk(fn.body) if isinstance(n, (ast.Global, ast.Nonlocal))]
        self.declared = {x for n in decls for x in n.names}
        self.nonlocal_ = {x for n in decls if isinstance(n, ast.Nonlocal) for x in n.names}
        body = self.loops(self.returns(fn))
        captured = set().union(*(_reads(n) for n in _scope_walk(body) if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
            and not hasattr(n, "_pc_thunk")))
        body = [_Exprs(self).visit(s) for s in body]
        _live(body, set(), captured)
        a = fn.args
        params = {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if p}
        fn.body = self.block(body, params - self.declared, None)

    # 1. return ------------------------------------------------------------------------

    def returns(self, fn: ast.FunctionDef) -> list[ast.stmt]:
        top = {id(s) for s in fn.body}
        if not any(isinstance(n, ast.Return) and id(n) not in top for n in _scope_walk(fn.body)):
            return fn.body
        init = [_assign(RET, False), _assign(RETVAL, _call("Undefined", [ast.Constant(RETVAL)]))]
        always = _always_returns(fn.body)
        body = self.ret_block(fn.body, False)
        # Falling off the end returns None: an error if a traced value decided it.
        end = _call("retval", [_name(RETVAL), _name(RET), self.loc(fn)])
        end = _name(RETVAL) if always else end
        return _at(init, fn) + body + _at([ast.Return(end)], fn.body[-1])

    def ret_block(self, stmts: list[ast.stmt], in_loop: bool) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Return):
                jump = [ast.Break()] if in_loop else []
                return out + _at([_assign(RET, True), _assign(RETVAL, s.value), *jump], s)
            out.append(s)
            if isinstance(s, _NESTED) or not _jumps([s], ast.Return):
                continue
            for block in _blocks(s):
                block[:] = self.ret_block(block, in_loop)
            if isinstance(s, _LOOPS):
                s.body, s.orelse = self.ret_block(s.body, True), self.ret_block(s.orelse, in_loop)
            rest = stmts[k + 1:]
            if in_loop:
                if isinstance(s, _LOOPS):  # its `break` left only the inner loop
                    out += _at([ast.If(test=_name(RET), body=[ast.Break()], orelse=[])], s)
                return out + self.ret_block(rest, in_loop)
            return out + ([_guard_if([RET], self.ret_block(rest, in_loop))] if rest else [])
        return out

    # 2. break / continue --------------------------------------------------------------

    def loops(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            if not isinstance(s, _LOOPS):
                for block in _blocks(s):
                    block[:] = self.loops(block)
                out.append(s)
                continue
            s.body, s.orelse = self.loops(s.body), self.loops(s.orelse)
            flags, pre, post = {}, [], s.orelse
            if _jumps(s.body, ast.Break):
                flags[ast.Break] = s._pc_break = self.fresh("brk")
                pre = _at([_assign(s._pc_break, False)], s)
                post = [_guard_if([s._pc_break], s.orelse)] if s.orelse else []
                if isinstance(s, ast.While):
                    stop = _call("not_any", [_name(s._pc_break)])
                    test = _call("and_", [stop, _lambda(s.test)], loc=self.loc(s))
                    s.test = _at([test], s.test)[0]
            if _jumps(s.body, ast.Continue):
                flags[ast.Continue] = self.fresh("cont")
                s.body = _at([_assign(flags[ast.Continue], False)], s) + s.body
            if flags:
                s.body = self.guard(s.body, flags)
            s.orelse = []
            out += [*pre, s, *post]
        return out

    def guard(self, stmts: list[ast.stmt], flags: dict[type, str]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, s in enumerate(stmts):
            if isinstance(s, (ast.Break, ast.Continue)):
                return out + _at([_assign(flags[type(s)], True)], s)
            out.append(s)
            nested = isinstance(s, _NESTED)
            jumps = [f for kind, f in flags.items() if not nested and _jumps([s], kind)]
            if jumps:
                for block in _blocks(s):
                    block[:] = self.guard(block, flags)
                rest = stmts[k + 1:]
                return out + ([_guard_if(jumps, self.guard(rest, flags))] if rest else [])
        return out

    # 5. control flow -> helper calls ----------------------------------------------------

    def block(self, stmts: list[ast.stmt], bound: set[str], forbid: str | None) -> list[ast.stmt]:
        """`stmts` converted; `bound` holds the names surely bound where they start."""
        bound, out = set(bound), []
        for s in stmts:
            if isinstance(s, ast.If):
                new, binds = self.if_(s, bound, forbid)
            elif isinstance(s, ast.While) or _is_range(s) or hasattr(s, "_pc_break"):
                new, binds = self.loop(s, bound, forbid)
            else:
                inner = forbid
                if inner is None and isinstance(s, (*_TRY, ast.With)):
                    inner = TRY if isinstance(s, _TRY) else WITH
                blocks = _blocks(s) + ([s.body] if isinstance(s, ast.For) else [])
                for b in blocks:
                    b[:] = self.block(b, bound | _bound([getattr(s, "target", ast.Pass())]), inner)
                new, binds = [s], set() if blocks else _bound([s])
            out += new
            bound |= binds
        return out

    def local_fn(self, name: str, params: list[str], body: list[ast.stmt], results: list[str],
                 bound: set[str], forbid: str | None, where: ast.stmt) -> ast.FunctionDef:
        """`def name(*params): body; return tuple(results)`, with `body` converted."""
        for n in _scope_walk(body):
            if isinstance(n, ast.Delete) and any(isinstance(t, ast.Name) for t in n.targets):
                raise VmlirUnsupportedError(f"{self.filename}:{n.lineno}: `del` of a variable "
                                            "inside an `if`, `while` or `for` cannot be converted")
        decls = [ast.Nonlocal(names=[d]) if d in self.nonlocal_ else ast.Global(names=[d])
                 for d in sorted(_bound(body) & self.declared)]
        inner_bound = (bound - _bound(body)) | set(params)  # its locals start unbound
        ret = ast.Return(_tuple([_name(r) for r in results]))
        body = decls + self.block(body, inner_bound, forbid) + [ret]
        return _at([_def(name, params, body)], where)[0]

    def forbid_of(self, body: list[ast.stmt], forbid: str | None) -> str | None:
        declared = sorted(_bound(body) & self.declared)
        if forbid or not declared:
            return forbid
        scope = "nonlocal" if declared[0] in self.nonlocal_ else "global"
        return f"`{scope}` variable {declared[0]!r} is assigned inside {{what}}"

    def call(self, s: ast.stmt, defs: list[ast.stmt], fn: str, args: list[ast.expr],
             results: list[str], forbid: str | None, **kw: ast.expr):
        """`results = _pc_rt.fn(*args, loc, **kw)` after `defs`, and the names it binds."""
        if forbid:
            kw["forbid"] = ast.Constant(forbid)
        value = _call(fn, [*args, self.loc(s)], **kw)
        target = ast.Tuple(elts=[_name(r, True) for r in results], ctx=ast.Store())
        stmt = ast.Assign(targets=[target], value=value) if results else ast.Expr(value)
        return _at(defs + [stmt], s), set(results)

    def operands(self, names: list[str], bound: set[str]) -> ast.Tuple:
        # A name that may not be bound yet is read through `ld`, which gives an Undefined.
        return _tuple([_name(n) if n in bound else _call("ld", [_lambda(_name(n)), ast.Constant(n)])
                       for n in names])

    def if_(self, s: ast.If, bound: set[str], forbid: str | None):
        assigned = _bound(s.body + s.orelse) - self.declared
        results = sorted(assigned & s._pc_out)
        params = sorted(set(results) | (assigned & s._pc_in))
        forbid = self.forbid_of(s.body + s.orelse, forbid)
        t, f = self.fresh("if_true"), self.fresh("if_false")
        defs = [self.local_fn(t, params, s.body, results, bound, forbid, s),
                self.local_fn(f, params, s.orelse, results, bound, forbid, s)]
        guard = ast.Attribute(value=_name(RT), attr="GUARD", ctx=ast.Load())
        kw = {"kind": guard} if hasattr(s, "_pc_guard") else {}
        args = [s.test, _name(t), _name(f), self.operands(params, bound), _strs(results)]
        return self.call(s, defs, "if_stmt", args, results, forbid, **kw)

    def loop(self, s: ast.While | ast.For, bound: set[str], forbid: str | None):
        lead, body = [], s.body
        if isinstance(s, ast.For):  # the body function gets the item and binds the target
            bind = ast.Assign(targets=[s.target], value=_name("_pc_item"))
            lead, body = ["_pc_item"], [bind, *body]
        carries = sorted((_bound(body) - self.declared) & (s._pc_out | s._pc_head))
        forbid = self.forbid_of(body, forbid)
        word = "while" if isinstance(s, ast.While) else "for"
        body_fn = self.fresh(f"{word}_body")
        defs = [self.local_fn(body_fn, lead + carries, body, carries, bound, forbid, s)]
        test = s.test if isinstance(s, ast.While) else None
        if isinstance(s, ast.For) and hasattr(s, "_pc_break"):
            test = _call("not_any", [_name(s._pc_break)])
        test_arg: ast.expr = ast.Constant(None)
        if test is not None:
            test_arg = _name(self.fresh(f"{word}_test"))
            defs += _at([_def(test_arg.id, carries, [ast.Return(test)])], s)
        state = [self.operands(carries, bound), _strs(carries)]
        if isinstance(s, ast.While):
            args = [test_arg, _name(body_fn), *state]
            return self.call(s, defs, "while_stmt", args, carries, forbid)
        if not _is_range(s):
            args = [s.iter, _name(body_fn), test_arg, *state]
            return self.call(s, defs, "for_iter", args, carries, forbid)
        kw = {"target": ast.Constant(s.target.id)} if s.target.id in carries else {}
        args = [_name("range"), _tuple(s.iter.args), _name(body_fn), test_arg, *state]
        return self.call(s, defs, "for_range", args, carries, forbid, **kw)


class _Exprs(ast.NodeTransformer):
    """3. `and`/`or`/`not`, `a if c else b` and `a < b < c` -> helper calls."""

    _OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}

    def __init__(self, conv: _Converter):
        self.conv = conv

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node  # its own scope, converted on its own

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def helper(self, node: ast.expr, fn: str, args: list[ast.expr], lazy: list[ast.expr],
               **kw: ast.expr) -> ast.expr:
        """`_pc_rt.fn(*args, **kw)` in place of `node`; `lazy` are the operands that args
        evaluate inside thunks (lambdas)."""
        if any(isinstance(m, ast.NamedExpr) for t in lazy for m in ast.walk(t)):
            return node  # `:=` inside a lambda would bind in the lambda
        return _at([_call(fn, args, **kw)], node)[0]

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        fn, lazy = "and_" if isinstance(node.op, ast.And) else "or_", node.values[1:]
        args = [node.values[0], *map(_lambda, lazy)]
        return self.helper(node, fn, args, lazy, loc=self.conv.loc(node))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return self.helper(node, "not_", [node.operand, self.conv.loc(node)], [])

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        args = [node.test, _lambda(node.body), _lambda(node.orelse)]
        return self.helper(node, "ifexp", args, [node.body, node.orelse], loc=self.conv.loc(node))

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) < 2:
            return node
        ops = _strs([self._OPS[type(op)] for op in node.ops])
        args = [node.left, ops, _tuple([_lambda(c) for c in node.comparators])]
        return self.helper(node, "compare", args, node.comparators, loc=self.conv.loc(node))
