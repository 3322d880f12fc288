"""vmlir's disk cache of its pass output (vmlir/cache.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vmlir
from vmlir import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """The cache on, in a fresh directory."""
    monkeypatch.setenv("VMLIR_CACHE", "1")
    monkeypatch.setenv("VMLIR_CACHE_DIR", str(tmp_path))
    return tmp_path


def _entries(root) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".mlir")]


def _poly(x):
    return jnp.sum(jnp.tanh(x) * x) + jnp.max(x)


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import vmlir
    from vmlir.examples.seeds import sum_of_squares

    WATCHED = {watched!r}

    def loaded():
        return sorted(m for m in sys.modules if m in WATCHED)

    def f(x, w):
        return jnp.tanh(x @ w).sum() + jnp.max(x)

    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    # A library function first (vmlir's own: never converted), then one of the script.
    lib = vmlir.compile(vmlir.vmap(sum_of_squares))(x)
    after_library_function = loaded()
    ours = vmlir.compile(vmlir.vmap(f, in_axes=(0, None)))(x, w)
    theirs = jax.vmap(f, in_axes=(0, None))(x, w)
    print(json.dumps({{
        "xdsl": any(m == "xdsl" or m.startswith("xdsl.") for m in sys.modules),
        "close": bool(np.allclose(ours, theirs, rtol=1e-5, atol=1e-5))
        and bool(np.allclose(lib, jax.vmap(sum_of_squares)(x), rtol=1e-5, atol=1e-5)),
        "after_library_function": after_library_function,
        "loaded": loaded(),
    }}))
    """
)
_LINALG_SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    import vmlir

    def f(a, b):
        m = a @ a.T + 4.0 * jnp.eye(a.shape[0])
        return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(m), b)

    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4, 4)).astype(np.float32)
    b = rng.normal(size=(6, 4)).astype(np.float32)
    ours = vmlir.compile(vmlir.vmap(f))(a, b)
    theirs = jax.vmap(f)(a, b)
    print(json.dumps({"xdsl": False, "close": bool(np.allclose(ours, theirs, rtol=1e-4, atol=1e-4))}))
    """
)


_CUSTOM_VMAP_SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    import vmlir
    from jax.custom_batching import custom_vmap

    @custom_vmap
    def f(x):
        return jnp.sin(x)

    @f.def_vmap
    def rule(axis_size, in_batched, x):
        return jnp.cos(x) + 7.0, in_batched[0]  # not the body: only the rule gives this

    def g(x):
        return f(x).sum()

    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    ours, theirs = vmlir.compile(vmlir.vmap(g))(x), jax.vmap(g)(x)
    print(json.dumps({"xdsl": True, "close": bool(np.allclose(ours, theirs, rtol=1e-5, atol=1e-5))}))
    """
)


def test_custom_vmap_rule_in_a_fresh_process_with_the_cache_on(tmp_path):
    """A fresh process's first program with a custom_vmap rule, the disk cache on: its key
    lowers the program before anything of the compiler is imported, and must lower it with
    the rule's marker (vmlir.frontend.trace installs it), else the rule is lost and the
    program cached. Twice: such a program is never cached."""
    for _ in range(2):
        assert _run_script(tmp_path, script=_CUSTOM_VMAP_SCRIPT)["close"]
    assert _entries(tmp_path) == []


def test_cache_hit_of_a_linalg_program_in_a_fresh_process(tmp_path):
    """A fresh process that finds a Cholesky program in the cache runs it correctly (the
    hit once skipped jax's lowering, which fills jaxlib's LAPACK table: a segfault)."""
    for _ in range(2):
        assert _run_script(tmp_path, script=_LINALG_SCRIPT)["close"]
    assert len(_entries(tmp_path)) == 1


NOT_ON_A_MISS = (
    "xdsl.universe",  # the compiler finds its passes in vmlir.universe.PASSES
    "vmlir.passes.rules.compaction",  # only a lane loop's strategies need these
    "vmlir.passes.rules.refill",
    "vmlir.passes.rules.costmodel",
    "vmlir.runtime.autodiff",  # JAX's transformations of our primitives: on first use
    "vmlir.runtime.batching",
)
"""Modules a fresh process's first compile of a program without loops or transformations
does not import (vmlir/universe.py, passes/rules/control.py, vmlir/runtime/xla.py)."""
NOT_ON_A_HIT = (*NOT_ON_A_MISS, "vmlir.frontend.custom_vmap")
NOT_FOR_A_LIBRARY_FUNCTION = ("vmlir.frontend.pycontrol", "vmlir.frontend.pycontrol_runtime")
"""The control-flow converter: imported for the user's own functions only
(`convert` in vmlir/frontend/pycontrol_calls.py)."""


def _run_script(cache_root, jax_cache=None, script=None) -> dict[str, object]:
    if script is None:
        watched = {*NOT_ON_A_HIT, *NOT_FOR_A_LIBRARY_FUNCTION}
        script = _SCRIPT.format(watched=watched)
    env = dict(os.environ, VMLIR_CACHE="1", VMLIR_CACHE_DIR=str(cache_root), JAX_PLATFORMS="cpu")
    if jax_cache is not None:
        env.update(
            JAX_COMPILATION_CACHE_DIR=str(jax_cache),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_process_runs_no_passes_and_imports_no_xdsl(tmp_path):
    """A script run twice, with jax's persistent compilation cache on as well: the first
    run compiles (xDSL imported) and fills both caches; the second, a fresh process, reads
    ours (never importing xDSL) and jax's (XLA writes no new entry); both match jax.vmap.
    Neither imports what its programs do not need (NOT_ON_A_MISS, NOT_ON_A_HIT), and a
    library function's first call does not import the control-flow converter."""
    ours, theirs = tmp_path / "vmlir", tmp_path / "jax"
    first = _run_script(ours, theirs)
    assert (first["xdsl"], first["close"]) == (True, True)
    assert set(first["loaded"]) & set(NOT_ON_A_MISS) == set()
    assert set(first["after_library_function"]) & set(NOT_FOR_A_LIBRARY_FUNCTION) == set()
    assert "vmlir.frontend.pycontrol" in first["loaded"]  # the script's own function
    assert len(_entries(ours)) == 2
    jax_entries = sorted(os.listdir(theirs))
    assert jax_entries
    second = _run_script(ours, theirs)
    assert (second["xdsl"], second["close"]) == (False, True)
    assert set(second["loaded"]) & set(NOT_ON_A_HIT) == set()
    assert set(second["after_library_function"]) & set(NOT_FOR_A_LIBRARY_FUNCTION) == set()
    assert sorted(os.listdir(theirs)) == jax_entries


def test_hit_skips_the_passes(cache_dir, monkeypatch, assert_same):
    """A second Compiled of the same program reads the cache: the pipeline is not run."""
    x = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32)
    first = vmlir.compile(vmlir.vmap(_poly))(x)
    assert len(_entries(cache_dir)) == 1

    def no_passes(*args, **kwargs):
        raise AssertionError("the passes ran on a cache hit")

    monkeypatch.setattr("vmlir.compiler.run_pipeline", no_passes)
    second = vmlir.compile(vmlir.vmap(_poly))(x)
    assert_same(second, jax.vmap(_poly)(x))
    assert_same(second, first)


def test_lower_records_stages_even_when_cached(cache_dir):
    """`.lower()` wants every stage's IR, so it runs the passes even on a cache hit."""
    x = jax.ShapeDtypeStruct((4, 6), jnp.float32)
    vmlir.compile(vmlir.vmap(_poly)).lower(x)
    lowered = vmlir.compile(vmlir.vmap(_poly)).lower(x)
    assert "batch-vectorize" in lowered.stages()


def test_key_depends_on_program_axes_pipeline_and_options():
    """Changing any input of the key changes the key."""
    base = ("module {}", [0], [0], 4, "batch-lower", {"chunk_size": None})
    keys = {
        cache.key(*base),
        cache.key("module { }", *base[1:]),
        cache.key(base[0], [None], *base[2:]),
        cache.key(base[0], base[1], [1], *base[3:]),
        cache.key(*base[:3], 8, *base[4:]),
        cache.key(*base[:4], "batch-fuse,batch-lower", base[5]),
        cache.key(*base[:5], {"chunk_size": 2}),
    }
    assert len(keys) == 7


def test_different_axes_are_different_entries(cache_dir, assert_same):
    """The same function under in_axes=0 and in_axes=1 gets two entries, each right."""
    x = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    assert_same(vmlir.compile(vmlir.vmap(_poly, in_axes=0))(x), jax.vmap(_poly, in_axes=0)(x))
    assert_same(vmlir.compile(vmlir.vmap(_poly, in_axes=1))(x), jax.vmap(_poly, in_axes=1)(x))
    assert len(_entries(cache_dir)) == 2


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    """VMLIR_CACHE=0 turns the cache off."""
    monkeypatch.setenv("VMLIR_CACHE", "0")
    monkeypatch.setenv("VMLIR_CACHE_DIR", str(tmp_path))
    vmlir.compile(vmlir.vmap(_poly))(np.ones((2, 3), np.float32))
    assert _entries(tmp_path) == []


def test_damaged_entry_is_ignored_and_replaced(cache_dir, assert_same):
    """An entry without its key's header (a torn or foreign file) is a miss; the
    compilation overwrites it with a whole entry."""
    x = np.random.default_rng(4).normal(size=(3, 5)).astype(np.float32)
    vmlir.compile(vmlir.vmap(_poly))(x)
    (path,) = _entries(cache_dir)
    with open(path, "w") as f:
        f.write("garbage")
    k = os.path.basename(path)[: -len(".mlir")]
    assert cache.load(k) is None
    assert_same(vmlir.compile(vmlir.vmap(_poly))(x), jax.vmap(_poly)(x))
    assert cache.load(k) is not None


def test_concurrent_writers_leave_whole_entries(cache_dir):
    """Writers racing on one key while a reader reads: every read is None or one whole
    text that some writer wrote, and no temporary file is left behind."""
    k = "ab" + "0" * 62
    texts = [f"// writer {i}\n" + "x" * (200_000 + i) for i in range(6)]
    seen: list[str | None] = []
    stop = threading.Event()

    def write(text: str) -> None:
        for _ in range(15):
            cache.store(k, text)

    def read() -> None:
        while not stop.is_set():
            seen.append(cache.load(k))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(t,)) for t in texts]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert cache.load(k) in texts
    assert all(s is None or s in texts for s in seen)
    leftovers = [f for _, _, fs in os.walk(cache_dir) for f in fs if f.startswith(".tmp-")]
    assert leftovers == []


def test_default_directory_is_the_users_cache_dir(monkeypatch, tmp_path):
    """Without VMLIR_CACHE_DIR the cache lives under XDG_CACHE_HOME (Linux)."""
    monkeypatch.delenv("VMLIR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert cache.cache_dir() == os.path.join(str(tmp_path), "vmlir")
    monkeypatch.setenv("VMLIR_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == str(tmp_path / "elsewhere")


def test_source_hash_sees_edits_and_new_files_not_bytecode(tmp_path):
    """The fingerprint part of the key: an edited or added .py file anywhere under the
    package changes it; bytecode and other files do not."""
    import hashlib
    import os

    from vmlir.cache import _hash_sources

    def digest() -> str:
        h = hashlib.sha256()
        _hash_sources(h, str(tmp_path), "pkg/")
        return h.hexdigest()

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    first = digest()
    assert digest() == first
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "c.py").write_text("")
    (tmp_path / "notes.txt").write_text("z")
    assert digest() == first
    st = os.stat(tmp_path / "sub" / "b.py")
    os.utime(tmp_path / "sub" / "b.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    edited = digest()
    assert edited != first
    (tmp_path / "sub" / "new.py").write_text("")
    assert digest() != edited
