"""The change-log position a read's snapshot sees, which a live query's first run is stamped
with: SQLite reads it once per snapshot (``SqliteTxn.log_position`` keys it by the
connection's ``data_version``), so it must move with every commit, whichever connection
made it, and never name a commit the snapshot does not see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fusiondb as fdb
from tests.models import add_task, schema


def position(db: fdb.Database, read_first: bool) -> int:
    engine: Any = db._engine  # type: ignore[attr-defined]
    with engine.read() as txn:
        if read_first:  # the snapshot is open before the position is asked for
            txn.cur.execute("SELECT count(*) FROM sqlite_master").get  # noqa: B018
        return int(txn.log_position())


def test_the_position_moves_with_each_commit_of_any_connection(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    other = fdb.open(tmp_path / "x.db", schema)  # its own connections, as another process's
    start = position(db, True)
    assert position(db, True) == start  # the same snapshot: the same position
    db.run(add_task, text="a", user_id="u")
    assert position(db, True) == start + 1
    other.run(add_task, text="b", user_id="u")
    assert position(db, True) == start + 2
    assert position(other, True) == start + 2
    other.close()
    db.close()


def test_asked_before_the_snapshot_is_open_the_position_is_never_ahead(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    other = fdb.open(tmp_path / "x.db", schema)
    start = position(db, True)
    other.run(add_task, text="b", user_id="u")
    # Nothing read yet in this transaction: the position may be the older one, not a newer.
    assert position(db, False) in (start, start + 1)
    assert position(db, True) == start + 1
    other.close()
    db.close()


def test_a_live_query_subscribed_after_another_connection_commits_sees_the_next(
    tmp_path: Path,
) -> None:
    @fdb.query
    def texts(r: fdb.Reader, user_id: str) -> list[str]:
        tasks = r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return sorted(t.text for t in tasks.collect())

    db = fdb.open(tmp_path / "x.db", schema)
    other = fdb.open(tmp_path / "x.db", schema)
    for round_ in range(5):
        other.run(add_task, text=f"x{round_}", user_id=f"u{round_}")
        sub = db.subscribe(texts, user_id=f"u{round_}")
        assert sub.value == [f"x{round_}"]
        other.run(add_task, text=f"y{round_}", user_id=f"u{round_}")
        assert sub.wait(lambda v, r=round_: v == [f"x{r}", f"y{r}"], timeout=10) == [
            f"x{round_}", f"y{round_}"
        ]
        sub.close()
    other.close()
    db.close()
