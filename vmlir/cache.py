"""vmlir's persistent on-disk cache of its pass output.

A researcher reruns a script: JAX traces the per-example function again (cheap), but our
passes need not run again. The final StableHLO of each compilation is stored under a key
made of everything it depends on: what the per-example program computes (a digest of its
jaxpr, vmlir/frontend/jaxpr_key.py, else JAX's StableHLO without locations), the axes,
the pipeline with its options, vmlir's version and a fingerprint of its source files,
and the jax/jaxlib/xdsl versions. A hit reads one file, imports nothing of xDSL and does
not lower the per-example function.

XLA's own compilation of the result goes through jax.jit, so jax's persistent
compilation cache (`jax.config.update("jax_compilation_cache_dir", ...)`) applies to it
as to any jax program; with both caches warm, a rerun runs neither our passes nor XLA.

Where: `$VMLIR_CACHE_DIR` if set, else the user's cache directory (`$XDG_CACHE_HOME/vmlir`,
`~/.cache/vmlir`; `~/Library/Caches/vmlir` on macOS; `%LOCALAPPDATA%\\vmlir\\cache` on
Windows). `VMLIR_CACHE=0` (or off/false/no) turns it off.

Concurrency: an entry is written to a temporary file in the same directory and renamed
into place (`os.replace`, atomic on POSIX and Windows), so a reader sees a whole entry or
none, and two processes writing the same entry at once both leave a whole one. A file
that does not start with its own key's header is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

_HEADER = "// vmlir-cache v1 "
_FORMAT = 1

CACHE_DIR_ENV = "VMLIR_CACHE_DIR"
CACHE_ENV = "VMLIR_CACHE"


def enabled() -> bool:
    """Whether the disk cache is on (VMLIR_CACHE is not 0/off/false/no)."""
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def cache_dir() -> str:
    """The directory entries live in (see the module doc)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return explicit
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
        return os.path.join(base, "vmlir", "cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/vmlir")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "vmlir")


_FINGERPRINT: str | None = None


def _source_fingerprint() -> str:
    """vmlir's version plus the names, sizes and mtimes of its source files, so that an
    edited pass (a development checkout keeps its version number) misses the cache."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        import importlib.util

        import vmlir

        h = hashlib.sha256(vmlir.__version__.encode())
        for pkg in ("vmlir", "vmlir.dialects", "vmlir.passes"):
            spec = importlib.util.find_spec(pkg)
            roots = (spec.submodule_search_locations or []) if spec is not None else []
            for root in roots:
                _hash_sources(h, root, f"{pkg}/")
        import jax
        import jaxlib

        h.update(f"jax={jax.__version__};jaxlib={jaxlib.__version__};".encode())
        h.update(f"xdsl={_xdsl_version()};".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def _hash_sources(h: Any, directory: str, prefix: str) -> None:
    """Names, sizes and mtimes of the .py files under `directory`, in a fixed order
    (os.scandir: every first call of a process pays this, ~1 ms, where os.walk with a
    stat and a relpath per file cost ~3.5 ms)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir():
            if entry.name != "__pycache__":
                _hash_sources(h, entry.path, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".py"):
            st = entry.stat()
            h.update(f"{prefix}{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())


def _xdsl_version() -> str:
    """xDSL's version without importing xDSL: the name of its dist-info folder next to the
    package (a directory listing, where importlib.metadata.version scans every installed
    distribution, ~20 ms of a warm-cache first call), else importlib.metadata."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("xdsl")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        parent = os.path.dirname(loc)
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        found = [n[5:-10] for n in names if n.startswith("xdsl-") and n.endswith(".dist-info")]
        if len(found) == 1:
            return found[0]
    try:
        return importlib.metadata.version("xdsl")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def key(
    stablehlo: str,
    in_axes: Sequence[int | None],
    out_axes: Sequence[int | None],
    axis_size: int,
    pipeline: str,
    options: dict[str, object],
) -> str:
    """The entry's name: a hash of everything the pass output depends on."""
    spec = json.dumps(
        {
            "format": _FORMAT,
            "vmlir": _source_fingerprint(),
            "in_axes": list(in_axes),
            "out_axes": list(out_axes),
            "axis_size": axis_size,
            "pipeline": pipeline,
            "options": options,
        },
        sort_keys=True,
    )
    h = hashlib.sha256(spec.encode())
    h.update(b"\0")
    h.update(stablehlo.encode())
    return h.hexdigest()


def _path(k: str) -> str:
    return os.path.join(cache_dir(), k[:2], k + ".mlir")


def load(k: str) -> str | None:
    """The cached final StableHLO for key `k`, or None (missing, off, or unreadable)."""
    if not enabled():
        return None
    try:
        with open(_path(k), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    header = f"{_HEADER}{k}\n"
    if not text.startswith(header):
        return None
    return text[len(header) :]


def store(k: str, text: str) -> None:
    """Write the entry for `k` atomically; a cache that cannot be written is skipped."""
    if not enabled():
        return
    path = _path(k)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".mlir")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{_HEADER}{k}\n")
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        # A read-only or full disk must not fail the compilation the cache only speeds up.
        return
