"""Turn JAX's debug locations into the `loc("file.py":line:col)` that xDSL reads.

JAX prints locations as trailing aliases (`loc(#loc13)` with `#loc13 = loc(...)` at the
end of the module) built from names, call sites and file ranges; xDSL 0.74 reads neither
the aliases nor call sites. We resolve each location to the innermost Python source
position it mentions outside vmlir itself (JAX already filters its own frames out) and
write it inline, or drop it when it names no such file.
"""

from __future__ import annotations

import importlib.util
import os
import re

import vmlir

_ALIAS_DEF = re.compile(r"^(#loc\d*) = loc\((.*)\)\s*$", re.MULTILINE)
_FILE_LOC = re.compile(r'^"((?:[^"\\]|\\.)*)":(\d+):(\d+)')
_ALIAS_REF = re.compile(r"#loc\d*")
_UNSEEN = object()
_MEMO_MAX = 50_000
"""Bodies the process-wide resolver remembers before it starts over."""


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal starting at text[i] == '"'."""
    i += 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _matching_paren(text: str, i: int) -> int:
    """Index of the ')' closing the '(' at text[i], skipping string literals."""
    depth = 0
    while True:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1


def _own_dirs() -> tuple[str, ...]:
    """vmlir's own source folders: frames there are ours, not the user's. The passes'
    folder is looked up, not imported: the frontend does not depend on the passes."""
    names = ("vmlir", "vmlir.dialects", "vmlir.passes")
    specs = [importlib.util.find_spec(n) for n in names]
    return tuple(
        os.path.dirname(s.origin) + os.sep for s in specs if s is not None and s.origin  # type: ignore[arg-type]
    )


class _Resolver:
    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases
        self.memo: dict[str, str | None] = {}
        self.skip = _own_dirs()

    def resolve(self, body: str) -> str | None:
        """`"file":line:col` for a location body, or None if it names no file."""
        body = body.strip()
        got = self.memo.get(body, _UNSEEN)
        if got is not _UNSEEN:
            return got
        # Every body is remembered, not only aliases: the ops of one function share
        # their callers' call-site chains, and a process compiles the same code again.
        self.memo[body] = None  # guards against cycles of aliases
        got = self.memo[body] = self._resolve(body)
        return got

    def _resolve(self, body: str) -> str | None:
        if body.startswith("#loc"):
            return self.resolve(self.aliases.get(body, "unknown"))
        m = _FILE_LOC.match(body)
        if m:
            if m.group(1).startswith(self.skip):
                return None  # a frame inside vmlir (e.g. our tracing wrapper)
            return f'"{m.group(1)}":{m.group(2)}:{m.group(3)}'
        if body.startswith("callsite("):
            callee, _, caller = body[len("callsite(") : -1].partition(" at ")
            return self.resolve(callee) or self.resolve(caller)
        if body.startswith('"'):
            end = _skip_string(body, 0)
            rest = body[end:].strip()
            if rest.startswith("(") and rest.endswith(")"):
                return self.resolve(rest[1:-1])
            return None
        if body.startswith("fused"):
            for ref in _ALIAS_REF.findall(body):
                found = self.resolve(ref)
                if found:
                    return found
        return None


def inline_locations(text: str) -> str:
    """`text` with every location resolved inline (or removed) and alias lines dropped."""
    aliases = {m.group(1): m.group(2) for m in _ALIAS_DEF.finditer(text)}
    text = _ALIAS_DEF.sub("", text)
    resolver = _Resolver(aliases)
    out: list[str] = []
    i = 0
    while True:
        j = text.find("loc(", i)
        if j < 0:
            out.append(text[i:])
            break
        # Only a location if `loc(` is not part of a longer identifier or a string.
        if j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_.\"#"):
            out.append(text[i : j + 4])
            i = j + 4
            continue
        end = _matching_paren(text, j + 3)
        found = resolver.resolve(text[j + 4 : end])
        out.append(text[i:j].rstrip(" ") if found is None else text[i:j])
        if found is not None:
            out.append(f"loc({found})")
        i = end + 1
    return "".join(out)


_RESOLVER: _Resolver | None = None


def resolve_location(body: str) -> str | None:
    """`"file":line:col` for one location printed inline (the inside of `loc(...)`, as
    jaxlib prints an op's location), or None if it names no user file."""
    global _RESOLVER
    if _RESOLVER is None or len(_RESOLVER.memo) > _MEMO_MAX:
        _RESOLVER = _Resolver({})
    return _RESOLVER.resolve(body)
