"""Crash safety: a child process writes, the parent SIGKILLs it at random moments, then checks.

Each round kills a child in one scenario (numbered multi-document mutations; opening with a new
index over a big table; storing large files; ``db.migrate``; change-log trimming), then reopens
the file: ``PRAGMA integrity_check`` is ok, every acknowledged mutation and file is there, no
mutation is half there, and a fresh subscription agrees with a fresh query. ``make stress`` runs
300 rounds; the normal suite 20.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.stress_workers import ROUND_SPAN, SCENARIOS, crash_round, prepare_crash_file, record, scale


def test_killed_writers_lose_nothing_acknowledged_and_leave_nothing_partial(tmp_path: Path) -> None:
    rounds = scale(20, 300)
    rng = random.Random(18)
    path = str(tmp_path / "crash.db")
    prepare_crash_file(path, scale(10_000, 20_000))
    totals = {"kills": 0, "acknowledged": 0, "files": 0, "lost": 0, "partial": 0}
    seen = set()
    for k in range(rounds):
        scenario = SCENARIOS[k % len(SCENARIOS)]
        out = crash_round(path, scenario, first_batch=k * ROUND_SPAN, rng=rng)
        assert out["integrity"] == "ok", (scenario, out["integrity"])
        assert not out["lost"], f"{scenario}: acknowledged mutations lost: {out['lost'][:10]}"
        assert not out["partial"], f"{scenario}: partial mutations visible: {out['partial'][:10]}"
        assert not out["bad_files"], f"{scenario}: stored files damaged: {out['bad_files']}"
        assert out["consistent"], f"{scenario}: a fresh subscription disagrees with a fresh query"
        totals["kills"] += 1
        totals["acknowledged"] += len(out["acked"])
        totals["files"] += len(out["files"])
        if out["acked"]:
            seen.add(scenario)
    # The rounds did write: a suite whose children never got a mutation through proves nothing.
    assert totals["acknowledged"] > rounds
    assert len(seen) >= 3, seen
    record("crash", **totals)
