"""Step 3 of the conversion (vmlir/frontend/pycontrol.py): expressions.

`and`/`or`/`not`, `a if c else b`, chained comparisons and `assert` become calls of the
runtime helpers (pycontrol_runtime), which pick Python or lax per value; every other call
goes through `_pc_call`, which converts the functions it calls when they run."""

from __future__ import annotations

import ast
from typing import Any

from vmlir.frontend.pyast import CALL, RT, at_node, mk_call, mk_lambda, mk_name, mk_strs, mk_tuple

_NOT_WRAPPED = {"range", "super"}  # `for i in range(...)` is matched by name; super() needs its frame


class Exprs(ast.NodeTransformer):
    """3. `and`/`or`/`not`, `a if c else b` and `a < b < c` -> helper calls."""

    _OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}

    def __init__(self, conv: Any):  # the _Converter: its loc(node) names a line
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
        return at_node([mk_call(fn, args, **kw)], node)[0]

    def visit_Call(self, node: ast.Call) -> ast.expr:
        # `f(a, *b, k=c)` -> `_pc_call(f, a, *b, k=c)`: converts `f` (or the functions a
        # library `f` is given) when it runs. Not our own helpers' calls.
        self.generic_visit(node)
        f = node.func
        if (isinstance(f, ast.Name) and f.id in _NOT_WRAPPED) or (
                isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == RT):
            return node
        call = ast.Call(func=mk_name(CALL), args=[f, *node.args], keywords=node.keywords)
        return ast.copy_location(call, node)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        fn, lazy = "and_" if isinstance(node.op, ast.And) else "or_", node.values[1:]
        args = [node.values[0], *map(mk_lambda, lazy)]
        return self.helper(node, fn, args, lazy, loc=self.conv.loc(node))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return self.helper(node, "not_", [node.operand, self.conv.loc(node)], [])

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        # Python skips asserts under -O; the converted code is compiled by us, so say so.
        self.generic_visit(node)
        if not __debug__:
            return ast.copy_location(ast.Pass(), node)
        msg = mk_lambda(node.msg) if node.msg is not None else ast.Constant(None)
        call = mk_call("assert_", [node.test, msg, self.conv.loc(node)])
        return ast.copy_location(ast.Expr(call), node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        args = [node.test, mk_lambda(node.body), mk_lambda(node.orelse)]
        return self.helper(node, "ifexp", args, [node.body, node.orelse], loc=self.conv.loc(node))

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) < 2:
            return node
        ops = mk_strs([self._OPS[type(op)] for op in node.ops])
        args = [node.left, ops, mk_tuple([mk_lambda(c) for c in node.comparators])]
        return self.helper(node, "compare", args, node.comparators, loc=self.conv.loc(node))
