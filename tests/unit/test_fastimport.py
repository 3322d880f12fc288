"""vmlir.fastimport: dataclass methods compiled once and kept, the collector paused."""

import dataclasses
import gc
import os
import subprocess
import sys

import pytest

from vmlir import fastimport


def _define():
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    return Point


def _behaviour(cls):
    a, b = cls(1), cls(1, 3, ("t",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 5
    return (repr(a), repr(b), a == cls(1, 2, ("u",)), a < b, hash(a) == hash(cls(1)), cls.__init__.__defaults__)


@pytest.fixture
def code_file(tmp_path, monkeypatch):
    path = tmp_path / "dataclass-code-compiler.marshal"
    monkeypatch.setattr(fastimport, "_code_path", lambda group: str(tmp_path / f"dataclass-code-{group}.marshal"))
    monkeypatch.setattr(fastimport, "_CODE", {})
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return path


@pytest.mark.skipif(not fastimport._supported(), reason="no exec-based dataclasses._create_fn")
def test_same_methods_from_the_code_cache(code_file):
    """A dataclass built under compiler_imports (compiled, then from the kept code) behaves
    as one built without; the patch is undone afterwards and the code is kept on disk."""
    original = dataclasses._create_fn
    plain = _behaviour(_define())
    with fastimport.compiler_imports():
        assert dataclasses._create_fn is not original
        assert not gc.isenabled()
        first = _behaviour(_define())
    assert dataclasses._create_fn is original
    assert code_file.exists()
    fastimport._CODE.clear()  # a new process: the code comes from the file
    kept = fastimport._load("compiler")
    assert any("__create_fn__" in text for text in kept)
    with fastimport.compiler_imports():
        again = _behaviour(_define())
    assert plain == first == again


def test_groups_keep_separate_files(code_file, tmp_path):
    with fastimport.compiler_imports("api"):
        _define()
    assert (tmp_path / "dataclass-code-api.marshal").exists()
    assert not code_file.exists()


def test_collector_paused_and_restored(code_file):
    assert gc.isenabled()
    with fastimport.compiler_imports():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_unreadable_or_foreign_file_is_ignored(code_file):
    code_file.write_bytes(b"not marshal data")
    assert fastimport._load("compiler") == {}
    code_file.write_bytes(__import__("marshal").dumps([1, 2]))
    assert fastimport._load("compiler") == {}


def test_no_file_under_dont_write_bytecode(code_file, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    with fastimport.compiler_imports():
        _define()
    assert not code_file.exists()


def test_fresh_process_imports_compiler_through_the_cache(tmp_path):
    """A fresh process's first compile goes through compiler_imports and gives jax.vmap's
    result (the code cache of the install may or may not exist yet: both must work)."""
    script = (
        "import numpy as np, jax, vmlir\n"
        "from vmlir.examples.seeds import sum_of_squares\n"
        "x = np.arange(12, dtype=np.float32).reshape(4, 3)\n"
        "got = vmlir.compile(vmlir.vmap(sum_of_squares))(x)\n"
        "np.testing.assert_allclose(got, jax.vmap(sum_of_squares)(x), rtol=1e-6)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, VMLIR_CACHE="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _in_generation(obj, generation):
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_an_import_leaves_its_objects_in_the_oldest_generation(code_file, tmp_path, monkeypatch):
    """What an import under compiler_imports creates lives as long as the process: it is
    moved to the collector's oldest generation unscanned, so the next young collection
    does not walk it. A block that imports nothing moves nothing (a compilation's IR,
    garbage soon, stays young)."""
    (tmp_path / "vmlir_promote_probe.py").write_text("class Probe:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with fastimport.compiler_imports():
        import vmlir_promote_probe  # noqa: F401
    probe = sys.modules.pop("vmlir_promote_probe").Probe
    assert _in_generation(probe, 2) and not _in_generation(probe, 0)
    gc.disable()  # no collection may move it before it is looked for
    try:
        with fastimport.compiler_imports():
            young = type("Young", (), {})
        assert _in_generation(young, 0)
    finally:
        gc.enable()


def test_objects_a_program_froze_stay_frozen(code_file, tmp_path, monkeypatch):
    (tmp_path / "vmlir_freeze_probe.py").write_text("class Probe:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with fastimport.compiler_imports():
            import vmlir_freeze_probe  # noqa: F401
        sys.modules.pop("vmlir_freeze_probe")
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
