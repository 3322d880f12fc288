"""Reading the results of a test script that must run in its own process (the host device
count is fixed before jax starts): the script prints one `RESULTS {json}` line, a dict of
check name -> {"ok": bool, "detail": str}; each test asserts its own check."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys


def run_script(script: pathlib.Path, timeout: int = 600) -> dict[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"the sharded programs did not run:\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULTS ") :])


def check_ok(results: dict[str, dict[str, object]], name: str) -> str:
    """The check's detail text, after asserting that it ran and passed."""
    assert name in results, f"check {name} did not run"
    r = results[name]
    assert r["ok"], f"{name} failed:\n{r['detail']}"
    return str(r["detail"])
