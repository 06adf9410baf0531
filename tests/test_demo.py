"""`make demo` runs `python -m fusiondb.demo`; it must keep working, twice on the same file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_sees_the_other_process(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    for run in (1, 2):
        out = subprocess.run(
            [sys.executable, "-m", "fusiondb.demo", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert "live u1 -> [ ] buy milk" in out
        assert f"live query saw the other process's write: {2 * run} tasks for u1" in out
        assert f"notes in the file: {run}" in out
        assert out.rstrip().endswith("closed")
