"""Importing xDSL, our dialects and passes faster: what a fresh process's first compile
pays before any pass runs.

Two costs dominate that import (measured on the 2-core benchmark machine, after
`import jax`):
- Python's `dataclasses` generates the methods of every dataclass (xDSL's attributes, ops,
  constraints are dataclasses, ~1,200 methods) by compiling their source text with
  `exec`: ~40% of the import. The text of each method is fixed by the class, so its
  compiled code can be kept like a module's bytecode: `compiler_imports` compiles each
  text once and keeps the code objects in a file next to vmlir's own bytecode
  (`__pycache__/dataclass-code.<python tag>.marshal`, written the way Python writes
  `.pyc` files: not under PYTHONDONTWRITEBYTECODE, skipped where the directory is
  read-only). The generated functions are the same: only the `compile` step is skipped.
- The cyclic garbage collector, which walks every object of the process (jax's included)
  each time the import's allocations trigger a full collection: paused meanwhile.

Only Pythons whose `dataclasses._create_fn` is the exec-based one this replaces (3.11,
3.12) use the code cache; others import as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import CodeType
from typing import Any

from vmlir.gcpause import gc_paused

_CODE: dict[str, CodeType] | None = None
_DIRTY = False
_LOCK = threading.Lock()
_MAX_ENTRIES = 20_000
"""A file that grew past this (methods of many versions of a library) starts over."""


def _code_path() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "__pycache__", f"dataclass-code.{sys.implementation.cache_tag}.marshal")


def _load() -> dict[str, CodeType]:
    try:
        with open(_code_path(), "rb") as f:
            code = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return code if isinstance(code, dict) else {}


def _store(code: dict[str, CodeType]) -> None:
    if sys.dont_write_bytecode:
        return
    path = _code_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".dataclass-code-")
        try:
            with os.fdopen(fd, "wb") as f:
                marshal.dump(code, f)
            os.chmod(tmp, 0o644)  # as Python writes .pyc files
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old or new file
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only install: import as usual next time


def _make_create_fn(original: Any, code: dict[str, CodeType]) -> Any:
    """dataclasses._create_fn (CPython 3.11/3.12), with the compiled text looked up."""
    missing = dataclasses.MISSING

    def _create_fn(name, args, body, *, globals=None, locals=None, return_type=missing):  # noqa: A002
        global _DIRTY
        if locals is None:
            locals = {}
        return_annotation = ""
        if return_type is not missing:
            locals["_return_type"] = return_type
            return_annotation = "->_return_type"
        args = ",".join(args)
        body = "\n".join(f"  {b}" for b in body)
        txt = f" def {name}({args}){return_annotation}:\n{body}"
        local_vars = ", ".join(locals.keys())
        txt = f"def __create_fn__({local_vars}):\n{txt}\n return {name}"
        compiled = code.get(txt)
        if compiled is None:
            compiled = code[txt] = compile(txt, "<string>", "exec")
            _DIRTY = True
        ns: dict[str, Any] = {}
        exec(compiled, globals, ns)
        return ns["__create_fn__"](**locals)

    _create_fn.__wrapped__ = original  # type: ignore[attr-defined]
    return _create_fn


def _supported() -> bool:
    return sys.version_info[:2] in ((3, 11), (3, 12)) and hasattr(dataclasses, "_create_fn")


@contextlib.contextmanager
def compiler_imports() -> Iterator[None]:
    """Around the lazy import of xDSL and the compiler: the collector paused, dataclass
    methods compiled from the code cache (module doc)."""
    global _CODE, _DIRTY
    with gc_paused():
        if not _supported() or not _LOCK.acquire(blocking=False):
            yield  # another thread is importing with the cache: import as usual
            return
        try:
            if _CODE is None:
                _CODE = _load()
                if len(_CODE) > _MAX_ENTRIES:
                    _CODE = {}
            original = dataclasses._create_fn
            dataclasses._create_fn = _make_create_fn(original, _CODE)
            try:
                yield
            finally:
                dataclasses._create_fn = original
            if _DIRTY:
                _DIRTY = False
                _store(_CODE)
        finally:
            _LOCK.release()
