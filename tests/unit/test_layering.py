"""Data flows one way, frontend -> passes -> runtime (docs/architecture.md): checked on
the import statements of the source, so a new import that bends it fails here.

- the dialects and the passes never import jax, the frontend or the runtime;
- the frontend never imports the passes or the runtime.

The driver modules (vmlir/api.py, compiler.py, ...) wire the stages together and may
import all of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS = {
    "dialects": ("jax", "jaxlib", "vmlir.frontend", "vmlir.runtime", "vmlir.passes"),
    "passes": ("jax", "jaxlib", "vmlir.frontend", "vmlir.runtime"),
    "vmlir/frontend": ("vmlir.passes", "vmlir.runtime"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (top level or inside functions), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _bends(layer: str) -> list[str]:
    banned = LAYERS[layer]
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, name in _imports(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_imports_only_what_comes_before_it(layer):
    assert _bends(layer) == []


def test_the_check_sees_a_bent_import(tmp_path, monkeypatch):
    (tmp_path / "passes").mkdir()
    (tmp_path / "passes" / "bad.py").write_text("def f():\n    import jax.numpy as jnp\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _bends("passes") == ["passes/bad.py:2 imports jax.numpy"]
