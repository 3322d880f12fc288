"""Batching rules: misc ops (see passes/rules/__init__.py for the rule contract)."""

from __future__ import annotations

from xdsl.ir import Operation

from vmlir.passes.rules.context import Rule

RULES: dict[type[Operation], Rule] = {}
