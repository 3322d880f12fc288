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
import linecache
import re
import types
import weakref
from collections.abc import Callable
from typing import Any

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend import pycontrol_calls as calls
from vmlir.frontend.pycontrol_calls import convert  # noqa: F401 (re-exported)
from vmlir.frontend import pycontrol_runtime as rt
from vmlir.frontend.pyast import (
    CALL,
    LOOPS,
    NESTED,
    RT,
    TRY_NODES,
    always_returns,
    at_node,
    bound_names,
    guard_if,
    has_jump,
    is_range_for,
    lambda_def,
    live_before,
    mk_assign,
    mk_call,
    mk_def,
    mk_lambda,
    mk_name,
    mk_strs,
    mk_tuple,
    outer_mutation,
    read_names,
    scope_walk,
    sub_blocks,
)
from vmlir.frontend.pycontrol_exprs import Exprs

RET, RETVAL = "_pc_ret", rt.RETVAL
# The name of the converted `def` inside the factory: under its own name, the function's
# references to itself (recursion) would become the factory's local, not its global.
DEF = "_pc_def"
_FUTURE = functools.reduce(
    lambda acc, f: acc | getattr(__future__, f).compiler_flag, __future__.all_feature_names, 0
)
TRY = "{what} inside `try` cannot be converted (traced code raises no exceptions to catch)"
WITH = "{what} inside a `with` block cannot be converted"
# Per original code object (weak: a function defined in a loop or a notebook cell dies).
_cache: weakref.WeakKeyDictionary[types.CodeType, types.CodeType | None] = weakref.WeakKeyDictionary()


def convert_function(fn: types.FunctionType) -> types.FunctionType:
    """A user function (or lambda), converted; `fn` itself if it cannot be (what `convert`
    calls for the user's own functions)."""
    code = fn.__code__
    if "__class__" in code.co_freevars:
        return fn  # zero-argument super() needs the class body's cell
    if RT in code.co_freevars or CALL in code.co_freevars:
        return fn  # defined inside converted code: converted with it
    if code not in _cache:
        _cache[code] = _convert_code(fn)
    new_code = _cache[code]
    if new_code is None:
        return fn
    # The original closure cells themselves, so the converted function sees rebinding.
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()), **{
        RT: types.CellType(rt), CALL: types.CellType(_CALL)})
    closure = tuple(cells[n] for n in new_code.co_freevars)
    new = types.FunctionType(new_code, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    # Not functools.update_wrapper: a `__wrapped__` back to `fn` would keep the weak cache's
    # key alive through its value.
    for attr in ("__module__", "__qualname__", "__doc__", "__annotations__"):
        setattr(new, attr, getattr(fn, attr))
    new.__dict__.update(fn.__dict__)
    new.__vmlir_converted__ = True
    return new


_CALL = functools.partial(calls.call, convert_function)


def converted_source(fn: Callable[..., Any]) -> str | None:
    """The source `convert` compiles for `fn` (to read and debug), or None."""
    module = _converted_tree(fn)
    if module is None:
        return None
    module.body[0].body[0].name = fn.__name__
    return ast.unparse(module.body[0].body[0])


def _convert_code(fn: types.FunctionType) -> types.CodeType | None:
    module = _converted_tree(fn)
    if module is None:
        return None
    code = fn.__code__
    flags = code.co_flags & _FUTURE
    compiled = compile(module, code.co_filename, "exec", flags=flags, dont_inherit=True)
    factory = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    new = next(c for c in factory.co_consts if isinstance(c, types.CodeType) and c.co_name == DEF)
    new = _requalify(new, new.co_qualname, code.co_qualname)
    return new.replace(co_name=code.co_name)


def _requalify(code: types.CodeType, old: str, new: str) -> types.CodeType:
    # `_pc_factory.<locals>.f...` -> `f...`: the names JAX puts in its debug locations.
    consts = tuple(_requalify(c, old, new) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_qualname=new + code.co_qualname[len(old):], co_consts=consts)


_DEF_LINE = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)")


def _source_lines(fn: types.FunctionType) -> tuple[list[str], int]:
    """inspect.getsourcelines(fn.__code__), without its search of sys.modules for the
    module that owns the file (realpath of every loaded module: ~0.3 s in a fresh process
    with jax loaded); the lines come from linecache with the function's own globals."""
    code = fn.__code__
    lines = linecache.getlines(code.co_filename, fn.__globals__)
    if not lines and code.co_filename.startswith("<") and code.co_filename.endswith(">"):
        # exec'd source ("<string>"): no file, and the function's globals (its module's
        # loader) gave none; inspect would scan sys.modules to fail the same way.
        raise OSError("source code not available")
    if not lines:
        return inspect.getsourcelines(code)
    lnum = code.co_firstlineno - 1
    while lnum > 0:  # as inspect.findsource does for a code object
        if lnum >= len(lines):
            raise OSError("source code not available")
        if _DEF_LINE.match(lines[lnum]):
            break
        lnum -= 1
    return inspect.getblock(lines[lnum:]), lnum + 1


def _converted_tree(fn: types.FunctionType) -> ast.Module | None:
    """`def _pc_factory(_pc_rt, *freevars): <converted fn>; return fn`, or None.
    Raises VmlirUnsupportedError for generators and async functions."""
    code = fn.__code__
    if code.co_name == "<lambda>":
        node = lambda_def(code)
        if node is None:
            return None
        _Converter(code.co_filename).function(node)
        return _factory(node, code)
    try:
        lines, first = _source_lines(fn)  # the code's own source: no unwrapping
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
        at = next((n for n in scope_walk(node.body) if isinstance(n, kinds)), node)
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
    return _factory(node, code)


def _factory(node: ast.FunctionDef, code: types.CodeType) -> ast.Module:
    params = [RT, CALL, *code.co_freevars]
    node.name = DEF
    factory = mk_def("_pc_factory", params, [node, ast.Return(mk_name(node.name))])
    return ast.Module(body=at_node([factory], node), type_ignores=[])


# --- AST builders --------------------------------------------------------------------


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
        for n in list(scope_walk(fn.body)):
            # Nested generator functions are left as they are: they cannot be converted.
            if isinstance(n, ast.FunctionDef) and not any(
                    isinstance(m, (ast.Yield, ast.YieldFrom)) for m in scope_walk(n.body)):
                self.function(n)
        decls = [n for n in scope_walk(fn.body) if isinstance(n, (ast.Global, ast.Nonlocal))]
        self.declared = {x for n in decls for x in n.names}
        self.nonlocal_ = {x for n in decls if isinstance(n, ast.Nonlocal) for x in n.names}
        body = self.loops(self.returns(fn))
        captured = set().union(*(read_names(n) for n in scope_walk(body) if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
            and not hasattr(n, "_pc_thunk")))
        body = [Exprs(self).visit(s) for s in body]
        live_before(body, set(), captured)
        a = fn.args
        params = {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if p}
        fn.body = self.block(body, params - self.declared, None)

    # 1. return ------------------------------------------------------------------------

    def returns(self, fn: ast.FunctionDef) -> list[ast.stmt]:
        top = {id(s) for s in fn.body}
        if not any(isinstance(n, ast.Return) and id(n) not in top for n in scope_walk(fn.body)):
            return fn.body
        init = [mk_assign(RET, False), mk_assign(RETVAL, mk_call("Undefined", [ast.Constant(RETVAL)]))]
        always = always_returns(fn.body)
        body = self.ret_block(fn.body, False)
        # Falling off the end returns None: an error if a traced value decided it.
        end = mk_call("retval", [mk_name(RETVAL), mk_name(RET), self.loc(fn)])
        end = mk_name(RETVAL) if always else end
        return at_node(init, fn) + body + at_node([ast.Return(end)], fn.body[-1])

    def ret_block(self, stmts: list[ast.stmt], in_loop: bool) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Return):
                jump = [ast.Break()] if in_loop else []
                return out + at_node([mk_assign(RET, True), mk_assign(RETVAL, s.value), *jump], s)
            out.append(s)
            if isinstance(s, NESTED) or not has_jump([s], ast.Return):
                continue
            for block in sub_blocks(s):
                block[:] = self.ret_block(block, in_loop)
            if isinstance(s, LOOPS):
                s.body, s.orelse = self.ret_block(s.body, True), self.ret_block(s.orelse, in_loop)
            rest = stmts[k + 1:]
            if in_loop:
                if isinstance(s, LOOPS):  # its `break` left only the inner loop
                    out += at_node([ast.If(test=mk_name(RET), body=[ast.Break()], orelse=[])], s)
                return out + self.ret_block(rest, in_loop)
            return out + ([guard_if([RET], self.ret_block(rest, in_loop))] if rest else [])
        return out

    # 2. break / continue --------------------------------------------------------------

    def loops(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            if not isinstance(s, LOOPS):
                for block in sub_blocks(s):
                    block[:] = self.loops(block)
                out.append(s)
                continue
            s.body, s.orelse = self.loops(s.body), self.loops(s.orelse)
            flags, pre, post = {}, [], s.orelse
            if has_jump(s.body, ast.Break):
                flags[ast.Break] = s._pc_break = self.fresh("brk")
                pre = at_node([mk_assign(s._pc_break, False)], s)
                post = [guard_if([s._pc_break], s.orelse)] if s.orelse else []
                if isinstance(s, ast.While):
                    stop = mk_call("not_any", [mk_name(s._pc_break)])
                    test = mk_call("and_", [stop, mk_lambda(s.test)], loc=self.loc(s))
                    s.test = at_node([test], s.test)[0]
            if has_jump(s.body, ast.Continue):
                flags[ast.Continue] = self.fresh("cont")
                s.body = at_node([mk_assign(flags[ast.Continue], False)], s) + s.body
            if flags:
                s.body = self.guard(s.body, flags)
            s.orelse = []
            out += [*pre, s, *post]
        return out

    def guard(self, stmts: list[ast.stmt], flags: dict[type, str]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, s in enumerate(stmts):
            if isinstance(s, (ast.Break, ast.Continue)):
                return out + at_node([mk_assign(flags[type(s)], True)], s)
            out.append(s)
            nested = isinstance(s, NESTED)
            jumps = [f for kind, f in flags.items() if not nested and has_jump([s], kind)]
            if jumps:
                for block in sub_blocks(s):
                    block[:] = self.guard(block, flags)
                rest = stmts[k + 1:]
                return out + ([guard_if(jumps, self.guard(rest, flags))] if rest else [])
        return out

    # 5. control flow -> helper calls ----------------------------------------------------

    def block(self, stmts: list[ast.stmt], bound: set[str], forbid: str | None) -> list[ast.stmt]:
        """`stmts` converted; `bound` holds the names surely bound where they start."""
        bound, out = set(bound), []
        for s in stmts:
            if isinstance(s, ast.If):
                new, binds = self.if_(s, bound, forbid)
            elif isinstance(s, ast.While) or is_range_for(s) or hasattr(s, "_pc_break"):
                new, binds = self.loop(s, bound, forbid)
            else:
                inner = forbid
                if inner is None and isinstance(s, (*TRY_NODES, ast.With)):
                    inner = TRY if isinstance(s, TRY_NODES) else WITH
                blocks = sub_blocks(s) + ([s.body] if isinstance(s, ast.For) else [])
                for b in blocks:
                    b[:] = self.block(b, bound | bound_names([getattr(s, "target", ast.Pass())]), inner)
                new, binds = [s], set() if blocks else bound_names([s])
            out += new
            bound |= binds
        return out

    def local_fn(self, name: str, params: list[str], body: list[ast.stmt], results: list[str],
                 bound: set[str], forbid: str | None, where: ast.stmt) -> ast.FunctionDef:
        """`def name(*params): body; return tuple(results)`, with `body` converted."""
        for n in scope_walk(body):
            if isinstance(n, ast.Delete) and any(isinstance(t, ast.Name) for t in n.targets):
                raise VmlirUnsupportedError(f"{self.filename}:{n.lineno}: `del` of a variable "
                                            "inside an `if`, `while` or `for` cannot be converted")
        decls = [ast.Nonlocal(names=[d]) if d in self.nonlocal_ else ast.Global(names=[d])
                 for d in sorted(bound_names(body) & self.declared)]
        inner_bound = (bound - bound_names(body)) | set(params)  # its locals start unbound
        ret = ast.Return(mk_tuple([mk_name(r) for r in results]))
        body = decls + self.block(body, inner_bound, forbid) + [ret]
        return at_node([mk_def(name, params, body)], where)[0]

    def forbid_of(self, body: list[ast.stmt], forbid: str | None) -> str | None:
        declared = sorted(bound_names(body) & self.declared)
        if forbid or not declared:
            return forbid
        scope = "nonlocal" if declared[0] in self.nonlocal_ else "global"
        return f"`{scope}` variable {declared[0]!r} is assigned inside {{what}}"

    @staticmethod
    def mutation_forbid(body: list[ast.stmt]) -> str | None:
        """Why `body` cannot run under a traced condition: it changes an object from
        outside in place (only this statement's own body counts: a Python-valued loop
        around a traced `if` still runs in Python)."""
        mutation = outer_mutation(body)
        if mutation is None:
            return None
        text, line = mutation
        return (f"`{text}` (line {line}) changes a Python object from outside {{what}}, "
                "which is traced once rather than run per example; compute the value with "
                "jnp.where or lax ops instead")

    def call(self, s: ast.stmt, defs: list[ast.stmt], fn: str, args: list[ast.expr],
             results: list[str], forbid: str | None, **kw: ast.expr):
        """`results = _pc_rt.fn(*args, loc, **kw)` after `defs`, and the names it binds."""
        if forbid:
            kw["forbid"] = ast.Constant(forbid)
        value = mk_call(fn, [*args, self.loc(s)], **kw)
        target = ast.Tuple(elts=[mk_name(r, True) for r in results], ctx=ast.Store())
        stmt = ast.Assign(targets=[target], value=value) if results else ast.Expr(value)
        return at_node(defs + [stmt], s), set(results)

    def operands(self, names: list[str], bound: set[str]) -> ast.Tuple:
        # A name that may not be bound yet is read through `ld`, which gives an Undefined.
        return mk_tuple([mk_name(n) if n in bound else mk_call("ld", [mk_lambda(mk_name(n)), ast.Constant(n)])
                       for n in names])

    def if_(self, s: ast.If, bound: set[str], forbid: str | None):
        assigned = bound_names(s.body + s.orelse) - self.declared
        results = sorted(assigned & s._pc_out)
        params = sorted(set(results) | (assigned & s._pc_in))
        forbid = self.forbid_of(s.body + s.orelse, forbid)
        t, f = self.fresh("if_true"), self.fresh("if_false")
        defs = [self.local_fn(t, params, s.body, results, bound, forbid, s),
                self.local_fn(f, params, s.orelse, results, bound, forbid, s)]
        guard = ast.Attribute(value=mk_name(RT), attr="GUARD", ctx=ast.Load())
        kw = {"kind": guard} if hasattr(s, "_pc_guard") else {}
        args = [s.test, mk_name(t), mk_name(f), self.operands(params, bound), mk_strs(results)]
        own = forbid or self.mutation_forbid(s.body + s.orelse)
        return self.call(s, defs, "if_stmt", args, results, own, **kw)

    def loop(self, s: ast.While | ast.For, bound: set[str], forbid: str | None):
        lead, body = [], s.body
        if isinstance(s, ast.For):  # the body function gets the item and binds the target
            bind = ast.Assign(targets=[s.target], value=mk_name("_pc_item"))
            lead, body = ["_pc_item"], [bind, *body]
        carries = sorted((bound_names(body) - self.declared) & (s._pc_out | s._pc_head))
        forbid = self.forbid_of(body, forbid)
        word = "while" if isinstance(s, ast.While) else "for"
        body_fn = self.fresh(f"{word}_body")
        defs = [self.local_fn(body_fn, lead + carries, body, carries, bound, forbid, s)]
        test = s.test if isinstance(s, ast.While) else None
        if isinstance(s, ast.For) and hasattr(s, "_pc_break"):
            test = mk_call("not_any", [mk_name(s._pc_break)])
        test_arg: ast.expr = ast.Constant(None)
        if test is not None:
            test_arg = mk_name(self.fresh(f"{word}_test"))
            defs += at_node([mk_def(test_arg.id, carries, [ast.Return(test)])], s)
        state = [self.operands(carries, bound), mk_strs(carries)]
        own = forbid or self.mutation_forbid(body)
        if isinstance(s, ast.While):
            args = [test_arg, mk_name(body_fn), *state]
            return self.call(s, defs, "while_stmt", args, carries, own)
        if not is_range_for(s):
            args = [s.iter, mk_name(body_fn), test_arg, *state]
            return self.call(s, defs, "for_iter", args, carries, own)
        kw = {"target": ast.Constant(s.target.id)} if s.target.id in carries else {}
        args = [mk_name("range"), mk_tuple(s.iter.args), mk_name(body_fn), test_arg, *state]
        return self.call(s, defs, "for_range", args, carries, own, **kw)
