# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""The change log on PostgreSQL: one row per commit, appended in the commit's own transaction,
and a ``NOTIFY`` that carries only its sequence number.

**Log order is commit order.** A sequence number taken before commit can commit out of order
(writer A takes 1, B takes 2, B commits first: a reader that saw 2 would never read 1). So the
row is appended at the very end of the write transaction, after ``LOCK TABLE _fdb_changelog
IN EXCLUSIVE MODE``: the lock is held until the commit is visible, so the next writer takes
its number only after this one committed, and every snapshot that sees a number sees all
smaller ones that committed. Numbers come from a sequence (a number whose commit failed
leaves a hole: no commit is missing there). Readers only read (the lock lets them).

**Trimming** keeps the last ``KEEP`` entries; the highest trimmed number is recorded
(``_fdb_log_trim``), so a reader behind it knows that it missed commits (holes alone do not
make it think so) and re-runs everything.

**Waking** (``PgLogReader.follow``): one connection per process ``LISTEN``s on the schema's
channel in a thread of its own. A notification marks the log moved and wakes the change
feed, which reads the rows after the last one it saw. While that connection is down (a
server restart, a network cut) notifications are lost: the reader reconnects with backoff,
and reports the first read after as incomplete, so every live query re-runs once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from ..base import LogEntry
from .errors import TRANSLATE

KEEP = 10_000
TRIM_EVERY = 256
RECONNECT_MAX = 2.0  # seconds between reconnection attempts, at most
log = logging.getLogger("fusiondb.changelog")

CREATE_LOG = (
    "CREATE TABLE IF NOT EXISTS _fdb_changelog ("
    "seq bigint PRIMARY KEY, origin text NOT NULL, writes bytea NOT NULL)"
)
CREATE_SEQ = "CREATE SEQUENCE IF NOT EXISTS _fdb_changelog_seq"
CREATE_TRIM = (
    "CREATE TABLE IF NOT EXISTS _fdb_log_trim (id int PRIMARY KEY CHECK (id = 1), upto bigint NOT NULL)"
)
INIT_TRIM = "INSERT INTO _fdb_log_trim VALUES (1, 0) ON CONFLICT (id) DO NOTHING"

LOCK = "LOCK TABLE _fdb_changelog IN EXCLUSIVE MODE"
# Append, notify, and every TRIM_EVERY commits trim to the last KEEP entries: one statement.
APPEND = (
    "WITH i AS (INSERT INTO _fdb_changelog VALUES (nextval('_fdb_changelog_seq'), %(origin)s, "
    "%(payload)s) RETURNING seq), "
    "t AS (SELECT seq - %(keep)s AS upto FROM i WHERE seq %% %(every)s = 0 AND seq > %(keep)s), "
    "d AS (DELETE FROM _fdb_changelog WHERE seq <= (SELECT upto FROM t)), "
    "u AS (UPDATE _fdb_log_trim SET upto = greatest(upto, (SELECT upto FROM t)) "
    "WHERE EXISTS (SELECT 1 FROM t)) "
    "SELECT seq, pg_notify(%(channel)s, seq::text) FROM i"
)
POSITION = "SELECT coalesce(max(seq), 0) FROM _fdb_changelog"


def channel(schema: str) -> str:
    """The NOTIFY channel of a schema's database (at most 63 bytes)."""
    name = f"fusiondb_{schema}"
    if len(name) > 63:
        name = "fusiondb_" + hashlib.blake2b(schema.encode(), digest_size=16).hexdigest()
    return name


def append_params(origin: str, payload: bytes, channel_name: str) -> dict[str, object]:
    return {
        "origin": origin,
        "payload": payload,
        "keep": KEEP,
        "every": TRIM_EVERY,
        "channel": channel_name,
    }


def position(cur: psycopg.Cursor[tuple[Any, ...]]) -> int:
    row = cur.execute(POSITION).fetchone()
    return 0 if row is None else int(row[0])  # type: ignore[call-overload]


class PgLogReader:
    """Reads the log on a connection of its own; ``follow`` listens on another."""

    def __init__(self, connect: Callable[..., psycopg.Connection[tuple[Any, ...]]], schema: str) -> None:
        self._connect = connect
        self._channel = channel(schema)
        token = uuid.uuid4().hex
        self._stop_channel = f"fusiondb_stop_{token}"
        self.listener_name = f"fusiondb-listen-{token[:16]}"  # its application_name
        with TRANSLATE:
            self._conn = connect()
        self._lock = threading.Lock()
        self._dirty = True
        self._gap = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change: Callable[[], None] | None = None

    def moved(self) -> bool:
        return self._dirty or self._thread is None

    def position(self) -> int:
        with self._lock, TRANSLATE:
            return position(self._conn.cursor())

    def read_since(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool]:
        self._dirty = False  # before reading: a notification from now on is seen again
        gap, self._gap = self._gap, False
        # One statement, so one snapshot: the entries and how far the log was trimmed.
        with self._lock, TRANSLATE:
            rows = self._conn.execute(
                "SELECT t.upto, l.seq, l.origin, CASE WHEN l.origin = %s THEN NULL ELSE l.writes END "
                "FROM _fdb_log_trim t LEFT JOIN _fdb_changelog l ON l.seq > %s ORDER BY l.seq",
                (skip_origin, seq),
            ).fetchall()
        upto = int(rows[0][0]) if rows else 0
        complete = not gap and upto <= seq
        entries = [
            LogEntry(int(s), str(o), None if w is None else bytes(w)) for _, s, o, w in rows if s is not None
        ]
        return entries, complete

    def follow(self, on_change: Callable[[], None]) -> bool:
        if self._thread is None:
            self._on_change = on_change
            self._thread = threading.Thread(target=self._listen, name="fusiondb-pg-listener", daemon=True)
            ready = threading.Event()
            self._ready = ready
            self._thread.start()
            ready.wait(5.0)  # listening before the first snapshot, normally
        return True

    def _listen(self) -> None:
        delay = 0.05
        first = True
        while not self._stop.is_set():
            try:
                conn = self._connect(self.listener_name)
            except Exception:
                self._ready.set()
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            try:
                conn.execute(f'LISTEN "{self._channel}"')
                conn.execute(f'LISTEN "{self._stop_channel}"')
                if not first:
                    # Notifications were lost while away: every live query runs again.
                    self._gap = True
                    self._wake()
                first = False
                delay = 0.05
                self._ready.set()
                for note in conn.notifies():
                    if note.channel == self._stop_channel or self._stop.is_set():
                        return
                    self._wake()
            except psycopg.Error:
                if self._stop.is_set():
                    return
                log.warning("fusiondb: the LISTEN connection was lost; reconnecting")
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.close()

    def _wake(self) -> None:
        self._dirty = True
        if self._on_change is not None:
            self._on_change()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(psycopg.Error), self._lock:
                self._conn.execute("SELECT pg_notify(%s, '')", (self._stop_channel,))
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
