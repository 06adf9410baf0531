"""`make demo` runs `python -m fusiondb.demo`; it must keep working, twice on the same file,
and print the same lines in the same order every time (the live query's lines come from
another thread: they must never land inside or out of order with the main thread's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIRST_RUN = [
    "live query on u1's tasks starts at: (none)",
    "adding 'buy milk' for u1",
    "  live u1 -> [ ] buy milk",
    "  its id: ",
    "added 'walk the dog' for u2 (u1's live query does not re-run)",
    "toggling 'buy milk'",
    "  live u1 -> [x] buy milk",
    "a second process adds a task for u1 ...",
    "  live u1 -> [ ] written by another process, [x] buy milk",
    "live query saw the other process's write: 2 tasks for u1",
    "notes in the file: 1",
    "live query re-runs so far: 3",
    "closed",
]


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
        if run == 1:
            lines = out.splitlines()
            assert lines[0] == f"opened {path}"
            assert [line[:10] if line.startswith("  its id: ") else line for line in lines[1:]] == FIRST_RUN
