"""The README's measured numbers are the ones in bench/results.md (bench/readme.py)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import readme  # noqa: E402


def test_readme_numbers_match_results_md():
    """Every marked number in README.md is what bench/readme.py computes from results.md;
    run `python -m bench.readme` (make bench does) after regenerating results.md."""
    text = readme.README.read_text()
    assert readme.fill(text, readme.read_data()) == text


def test_readme_marks_its_numbers():
    """The README quotes the headline numbers through markers, each naming a known value."""
    names = [m.group("name") for m in readme.MARKER.finditer(readme.README.read_text())]
    assert {"rbf_fast_math", "mandelbrot", "geomean", "dispatch", "compile_geomean"} <= set(names)
    assert set(names) <= set(readme.VALUES)


def test_fill_writes_the_results_value():
    """A changed result changes the README text between the markers, and only there."""
    data = copy.deepcopy(readme.read_data())
    for row in data["rows"]:
        if row["label"] == "mandelbrot":
            row["jax_ratio"] = 12.345
    text = "escape time <!-- bench:mandelbrot -->20.81x<!-- /bench --> (1% slow)"
    assert readme.fill(text, data) == "escape time <!-- bench:mandelbrot -->12.35x<!-- /bench --> (1% slow)"


def test_unknown_marker_is_an_error():
    """A marker naming no value fails loudly instead of keeping a stale number."""
    with pytest.raises(KeyError, match="bench:no_such_number names no value"):
        readme.fill("<!-- bench:no_such_number -->1x<!-- /bench -->", readme.read_data())
