"""Every example in migrations_free/ runs to its end (each asserts what it shows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "migrations_free"
CASES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "run.py").exists())


def test_every_case_is_there_with_a_readme() -> None:
    assert CASES == [
        "add_index_100k",
        "add_optional_field",
        "add_required_field_refused_then_fixed",
        "add_table",
        "add_unique_index",
        "remove_table_keeps_data",
        "rename_field_with_migrate",
    ]
    for case in CASES:
        assert (EXAMPLES / case / "README.md").read_text().startswith("# ")


@pytest.mark.parametrize("case", CASES)
def test_example_runs(case: str, tmp_path: Path) -> None:
    # The examples put their file in a tempfile.mkdtemp() directory they do not remove; under
    # test that directory is made inside tmp_path, not in the system temp directory.
    env = {**os.environ, "FDB_EXAMPLE_N": "5000", "TMPDIR": str(tmp_path)}  # the 100k example, smaller
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / case / "run.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith(f"OK {case}"), proc.stdout
