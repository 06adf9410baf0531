"""Resources: subscribe/close and open/close cycles leave no growth in memory, file
descriptors or threads; no thread outlives db.close(); the interpreter exits cleanly with
live subscriptions open. ``make stress`` runs 100k and 10k cycles; the normal suite fewer."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import fusiondb as fdb
from tests.models import add_task, list_by_user, schema
from tests.stress_workers import record, scale


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _measure() -> tuple[int, int, int]:
    gc.collect()
    return _rss_kib(), _fds(), threading.active_count()


def test_subscribe_close_cycles_do_not_grow(make_file_db: object) -> None:
    db = make_file_db()  # type: ignore[operator]
    db.run(add_task, text="a", user_id="u1")
    cycles = scale(3_000, 100_000)
    warm = cycles // 10
    for i in range(warm):
        db.subscribe(list_by_user, user_id=f"u{i % 7}").close()
    rss0, fds0, threads0 = _measure()
    for i in range(cycles):
        sub = db.subscribe(list_by_user, user_id=f"u{i % 7}")
        sub.close()
        if i % 500 == 0:
            db.run(add_task, text=f"t{i}", user_id="u1")
    assert db.wait_idle()
    rss1, fds1, threads1 = _measure()
    record(
        "resources: subscribe/close",
        cycles=cycles,
        rss_growth_kib=rss1 - rss0,
        fd_growth=fds1 - fds0,
        thread_growth=threads1 - threads0,
    )
    assert fds1 == fds0
    assert threads1 == threads0
    assert rss1 - rss0 < 8_192, f"RSS grew by {rss1 - rss0} KiB over {cycles} cycles"


def test_open_close_cycles_do_not_grow(tmp_path: Path) -> None:
    cycles = scale(300, 10_000)
    path = tmp_path / "cycles.db"
    fdb.open(path, schema).close()

    def cycle(i: int) -> None:
        with fdb.open(path, schema) as db:
            if i % 3 == 0:
                db.subscribe(list_by_user, user_id="u").close()
            if i % 5 == 0:
                db.run(add_task, text="x", user_id="u")

    for i in range(cycles // 10):
        cycle(i)
    rss0, fds0, threads0 = _measure()
    for i in range(cycles):
        cycle(i)
    rss1, fds1, threads1 = _measure()
    record(
        "resources: open/close",
        cycles=cycles,
        rss_growth_kib=rss1 - rss0,
        fd_growth=fds1 - fds0,
        thread_growth=threads1 - threads0,
    )
    assert fds1 == fds0
    assert threads1 == threads0
    assert rss1 - rss0 < 8_192, f"RSS grew by {rss1 - rss0} KiB over {cycles} cycles"


def test_no_thread_is_left_after_close(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    db = fdb.open(tmp_path / "threads.db", schema)
    subs = [db.subscribe(list_by_user, user_id=f"u{i}") for i in range(5)]
    db.run(add_task, text="a", user_id="u1")
    assert db.wait_idle()
    assert subs[1].value and set(threading.enumerate()) - before  # a worker was running
    db.close()
    assert set(threading.enumerate()) - before == set()


EXIT_SCRIPT = """
import sys
import fusiondb as fdb
from tests.models import add_task, list_by_user, schema
db = fdb.open(sys.argv[1], schema)
subs = [db.subscribe(list_by_user, user_id="u") for _ in range(3)]
subs[0].changed.connect(lambda v: None)
db.run(add_task, text="a", user_id="u")
db.wait_idle()
print("done", flush=True)
"""


def test_interpreter_exit_with_live_subscriptions_is_clean(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(tmp_path / "exit.db")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert proc.stderr == "", proc.stderr
