"""A PostgreSQL server for the tests of the PostgreSQL tooling (plugin, ``fusiondb copy``).

``postgres_url`` (a session fixture: import it into a test module) is ``$FUSIONDB_POSTGRES_URL``
when set (``make test`` sets it), else a throwaway server started with ``.ci/postgres`` for the
session where its binaries are installed, else the test is skipped.
"""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "postgres"
URL_ENV = "FUSIONDB_POSTGRES_URL"


def can_start_server() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    if not can_start_server():
        pytest.skip(f"no PostgreSQL: set {URL_ENV} or install Debian's postgresql package")
    folder = tempfile.mkdtemp(prefix="fusiondb-tests-pg-")
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", folder],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], check=False, timeout=120)
        raise RuntimeError(f".ci/postgres start failed: {started.stderr}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], check=False, timeout=120)


def schemas_named(url: str, prefix: str) -> set[str]:
    """The schemas of the server's database whose names start with ``prefix`` (psycopg)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
    return {str(r[0]) for r in rows}
