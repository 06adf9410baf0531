"""The benchmark scripts still run (BENCH_QUICK=1: small sizes). Nothing here asserts on time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_server import URL_ENV

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))
# bench_postgres*.py measure fusiondb on a PostgreSQL server: they run when the suite has one.
NEEDS_POSTGRES = pytest.mark.skipif(
    not os.environ.get(URL_ENV),
    reason=f"needs {URL_ENV} (make test sets it)",
)


def test_every_benchmark_is_found() -> None:
    assert {
        "bench_core.py", "bench_counts.py", "bench_reactivity.py", "bench_search.py",
        "bench_postgres.py", "bench_vector.py",
    } <= set(SCRIPTS)


@pytest.mark.parametrize(
    "script",
    [pytest.param(s, marks=NEEDS_POSTGRES) if s.startswith("bench_postgres") else s for s in SCRIPTS],
)
def test_benchmark_script_runs(script: str, tmp_path: Path) -> None:
    path = BENCHMARKS / script
    env = {**os.environ, "BENCH_QUICK": "1", "TMPDIR": str(tmp_path)}  # a crashed run's files stay here
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=BENCHMARKS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("ratio" in line for line in proc.stdout.splitlines()), proc.stdout
