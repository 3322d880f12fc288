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
  each time the import's allocations trigger a full collection: paused meanwhile, and
  what an import made is moved to the oldest generation after it (`_promote_all`), so
  that the first collections after the import do not walk it.

Only Pythons whose `dataclasses._create_fn` is the exec-based one this replaces (3.11,
3.12) use the code cache; others import as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import marshal
import os
import sys
import threading
from collections.abc import Iterator
from types import CodeType
from typing import Any

from vmlir.gcpause import gc_paused

_CODE: dict[str, dict[str, CodeType]] = {}
"""Per group of imports (its own file, so that a cache hit, which imports only the API,
reads only the API's code)."""
_DIRTY: set[str] = set()
_LOCK = threading.Lock()
_MAX_ENTRIES = 20_000
"""A file that grew past this (methods of many versions of a library) starts over."""


def _code_path(group: str) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    name = f"dataclass-code-{group}.{sys.implementation.cache_tag}.marshal"
    return os.path.join(here, "__pycache__", name)


def _load(group: str) -> dict[str, CodeType]:
    try:
        with open(_code_path(group), "rb") as f:
            data = f.read()  # marshal.load(f) reads in small pieces: ~10x slower
        code = marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return code if isinstance(code, dict) else {}


def _store(group: str, code: dict[str, CodeType]) -> None:
    if sys.dont_write_bytecode:
        return
    import tempfile

    path = _code_path(group)
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


def _make_create_fn(original: Any, group: str, code: dict[str, CodeType]) -> Any:
    """dataclasses._create_fn (CPython 3.11/3.12), with the compiled text looked up."""
    missing = dataclasses.MISSING

    def _create_fn(name, args, body, *, globals=None, locals=None, return_type=missing):  # noqa: A002
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
            _DIRTY.add(group)
        ns: dict[str, Any] = {}
        exec(compiled, globals, ns)
        return ns["__create_fn__"](**locals)

    _create_fn.__wrapped__ = original  # type: ignore[attr-defined]
    return _create_fn


def _supported() -> bool:
    return sys.version_info[:2] in ((3, 11), (3, 12)) and hasattr(dataclasses, "_create_fn")


@contextlib.contextmanager
def compiler_imports(group: str = "compiler") -> Iterator[None]:
    """Around a lazy import (`group`: "api" for vmlir's API, "compiler" for xDSL, the
    dialects and the passes): the collector paused, dataclass methods compiled from the
    code cache of `group` (module doc)."""
    loaded = len(sys.modules)
    with gc_paused():
        try:
            with _code_cache(group):
                yield
        finally:
            if len(sys.modules) > loaded:
                _promote_all()


def _promote_all() -> None:
    """Move every object the collector tracks into its oldest generation, unscanned.

    An import's classes, functions and constants live as long as the process. Left in the
    youngest generation, the first collection after the import walks all of them (~10 ms
    after importing xDSL and the passes, in a fresh process's first call) and the next
    one walks them again. `gc.freeze()` then `gc.unfreeze()` moves them to the oldest
    generation without a scan: they are checked at the next full collection, as they
    would be after surviving two (garbage among them is collected then). Skipped when
    the program froze objects itself (unfreezing would undo that)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextlib.contextmanager
def _code_cache(group: str) -> Iterator[None]:
    """dataclasses' generated methods compiled from the code cache of `group`."""
    if not _supported() or not _LOCK.acquire(blocking=False):
        yield  # another thread is importing with the cache: import as usual
        return
    try:
        code = _CODE.get(group)
        if code is None:
            code = _CODE[group] = _load(group)
            if len(code) > _MAX_ENTRIES:
                code.clear()
        original = dataclasses._create_fn
        dataclasses._create_fn = _make_create_fn(original, group, code)
        try:
            yield
        finally:
            dataclasses._create_fn = original
        if group in _DIRTY:
            _DIRTY.discard(group)
            _store(group, code)
    finally:
        _LOCK.release()
