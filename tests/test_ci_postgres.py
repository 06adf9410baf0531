"""``.ci/postgres``: the throwaway PostgreSQL server ``make test`` runs the suite against.

These start real servers with the script (about two seconds each) and connect with psycopg.
They run where the script can: bash and Debian's PostgreSQL binaries present (the script
installs the package as root; a test does not).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "postgres"
PSQL = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
HAVE_SERVER = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) and bool(shutil.which("bash"))
pytestmark = pytest.mark.skipif(
    not HAVE_SERVER, reason="no PostgreSQL server binaries here (apt-get install postgresql)"
)


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture
def folder() -> Iterator[Path]:
    # Under the system temp folder, not tmp_path: as root the server runs as the postgres user,
    # which cannot enter pytest's private folders.
    path = Path(tempfile.mkdtemp(prefix="fusiondb-ci-test-"))
    yield path
    if path.exists():  # the test failed before stopping it
        script("stop", str(path))


def refused(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return True
    return False


def test_start_gives_a_url_to_a_working_server_and_stop_removes_it(folder: Path) -> None:
    started = script("start", str(folder))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql://fusiondb@127.0.0.1:")
    assert (folder / "url").read_text().strip() == url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (%s), (%s)", (1, 2))
        assert conn.execute("SELECT sum(x) FROM t").fetchone() == (3,)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)

    stopped = script("stop", str(folder))
    assert stopped.returncode == 0, stopped.stderr
    assert not folder.exists()
    assert refused(url)


def test_start_refuses_a_folder_that_is_not_empty(folder: Path) -> None:
    (folder / "keep.txt").write_text("mine")
    started = script("start", str(folder))
    assert started.returncode == 1
    assert "not empty" in started.stderr
    assert (folder / "keep.txt").read_text() == "mine"


def test_run_exports_the_url_and_stops_the_server_even_when_the_command_fails(
    tmp_path: Path, folder: Path
) -> None:
    seen = tmp_path / "url"
    folder.chmod(0o755)  # run's TMPDIR: where it makes the server's folder
    env = {k: v for k, v in os.environ.items() if k != "FUSIONDB_POSTGRES_URL"}
    env["TMPDIR"] = str(folder)
    psql = PSQL[-1] if PSQL else "psql"
    command = (
        f'echo "$FUSIONDB_POSTGRES_URL" > {seen}; '
        f'{psql} "$FUSIONDB_POSTGRES_URL" -tAc "SELECT 40 + 2" >> {seen}; '
        f"ls {folder} >> {seen}; exit 3"
    )
    ran = script("run", "bash", "-c", command, env=env)
    assert ran.returncode == 3, ran.stderr  # the command's own status
    url, answer, server_folder = seen.read_text().split()
    assert url.startswith("postgresql://") and answer == "42"
    assert server_folder.startswith("fusiondb-postgres.")
    assert refused(url)  # stopped after the failing command
    assert list(folder.iterdir()) == []  # and its folder removed


def test_run_uses_a_url_already_set_and_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "FUSIONDB_POSTGRES_URL": "postgresql://given@127.0.0.1:1/none"}
    ran = script("run", "bash", "-c", 'echo "$FUSIONDB_POSTGRES_URL"', env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "postgresql://given@127.0.0.1:1/none"
    assert "throwaway server" not in ran.stderr
