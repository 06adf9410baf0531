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
leaves a hole: no commit is missing there). Readers only read (the lock lets them). The lock,
the row and the ``NOTIFY`` are one PL/pgSQL function, ``fdb_append`` (made by ``bootstrap``),
whose plans the server keeps per session: the commit sends ``SELECT fdb_append(...); COMMIT``
(``append_sql``).

**Trimming** deletes what no live reader still needs. Each following process's reader
(``PgLogReader``) registers in ``_fdb_log_readers`` (one row: an id, the last entry it has
read, the backend pid) and holds a session-level advisory lock on that id on its reading
connection. A read moves the row on in the same statement, once the reader has read
``REPORT_EVERY`` entries past it or ``REPORT_SECONDS`` passed (so most reads write nothing,
and the log keeps that much more than the least it could). Every ``TRIM_EVERY`` commits
the writer that made the commit runs ``trim`` after it (its own statement, outside the write
transaction): readers whose lock is gone (their connection closed: the process exited, was
killed, or its network went away and the server's TCP keepalives noticed) are dropped, and
the log is trimmed to the lowest position among live readers (all of it when none is live),
but never to more than ``KEEP_MAX`` entries, so a reader that is alive but stuck cannot make
the log grow without bound. The highest trimmed number is recorded (``_fdb_log_trim``), so a
reader behind it knows that it missed commits (holes alone do not make it think so) and its
consumer re-runs everything, once. A reader whose reading connection was lost reconnects on
its next read, registers again at the log's end, and reports that read incomplete.

Liveness is the lock, not a heartbeat: it dies with the connection, so a reader killed with
``SIGKILL`` stops holding the log at once, and a slow reader is never taken for a dead one.
A registration happens under the lock (lock first, then the row), and a trim reads the rows
in one snapshot before ``pg_locks``, so a row it sees without its lock is a dead reader's.

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
from .errors import TRANSLATE, translated

KEEP_MAX = 100_000  # the hard cap: entries kept for live readers that fell this far behind
TRIM_EVERY = 256  # a commit whose number is a multiple of this trims the log after it
# The reading connection asks the server to probe the client this often, so a reader whose
# network went away (no FIN) loses its lock within about a minute (TCP; not Unix sockets).
KEEPALIVES = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}
# A reader moves its row on (a write) only every REPORT_EVERY entries or REPORT_SECONDS: the
# log keeps that much more than the least it could, and a read costs no more than before.
REPORT_EVERY = 64
REPORT_SECONDS = 1.0
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
# One row per live reader: the last entry it read (seq), its backend (pid, for an operator's
# pg_terminate_backend) and when it last moved on (seen). Its id is also its advisory lock's.
CREATE_READERS = (
    "CREATE TABLE IF NOT EXISTS _fdb_log_readers (id int PRIMARY KEY, seq bigint NOT NULL, "
    "pid int NOT NULL, seen timestamptz NOT NULL DEFAULT now())"
)
CREATE_READER_IDS = "CREATE SEQUENCE IF NOT EXISTS _fdb_log_readers_id AS int CYCLE"

# The append (lock, log row, NOTIFY) as a PL/pgSQL function: its statements' plans are cached
# per session (a prepared statement would not do: psycopg deallocates them all after any
# ROLLBACK), so a logged commit is one short string, ``SELECT fdb_append(...); COMMIT``.
APPEND_BODY = """
DECLARE
  s bigint;
BEGIN
  LOCK TABLE _fdb_changelog IN EXCLUSIVE MODE;
  INSERT INTO _fdb_changelog VALUES (nextval('_fdb_changelog_seq'), a_origin, a_writes) RETURNING seq INTO s;
  PERFORM pg_notify(a_channel, s::text);
  RETURN s;
END
"""
APPEND_FUNCTION = "fdb_append"
CREATE_APPEND = (
    f"CREATE OR REPLACE FUNCTION {APPEND_FUNCTION}(a_origin text, a_writes bytea, a_channel text) "
    f"RETURNS bigint LANGUAGE plpgsql AS $fdb${APPEND_BODY}$fdb$"
)
# The function's body as the schema holds it (NULL when missing): created or replaced only
# when it differs, so opening a database needs no ownership of it.
APPEND_DEFINED = (
    "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = %s AND p.proname = %s"
)

# The last commit: the log's last entry, or the last one trimmed when it was trimmed empty.
POSITION = (
    "SELECT greatest((SELECT coalesce(max(seq), 0) FROM _fdb_changelog), "
    "(SELECT upto FROM _fdb_log_trim))"
)

# A reader's advisory lock is (hashtext of the schema's lock name, the reader's id). Ids
# cycle: one still locked (after 2**31 registrations) is skipped; a row left under an id
# whose lock is free is a dead reader's, and is taken over.
LOCK_READER = (
    "SELECT id FROM (SELECT nextval('_fdb_log_readers_id')::int AS id) n "
    "WHERE pg_try_advisory_lock(hashtext(%s), id)"
)
REGISTER = (
    "INSERT INTO _fdb_log_readers (id, seq, pid) "
    f"SELECT %s, ({POSITION}), pg_backend_pid() "
    "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, pid = EXCLUDED.pid, seen = now() "
    "RETURNING seq"
)
UNREGISTER = "DELETE FROM _fdb_log_readers WHERE id = %s"
# The entries after a position and how far the log was trimmed, in one snapshot; and the
# same moving the reader's row on to the last entry read (a write only when it moves; the
# row is put back if it went missing: the reader holds its lock, so the row is its own).
READ = (
    "SELECT t.upto, l.seq, l.origin, CASE WHEN l.origin = %(origin)s THEN NULL ELSE l.writes END "
    "FROM _fdb_log_trim t LEFT JOIN _fdb_changelog l ON l.seq > %(seq)s ORDER BY l.seq"
)
READ_REPORTING = (
    "WITH e AS (SELECT seq, origin, CASE WHEN origin = %(origin)s THEN NULL ELSE writes END AS w "
    "FROM _fdb_changelog WHERE seq > %(seq)s), "
    "p AS (SELECT coalesce(max(seq), %(seq)s) AS seq FROM e), "
    "r AS (INSERT INTO _fdb_log_readers (id, seq, pid) SELECT %(id)s, p.seq, pg_backend_pid() FROM p "
    "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, seen = now() "
    "WHERE _fdb_log_readers.seq < EXCLUDED.seq) "
    "SELECT t.upto, e.seq, e.origin, e.w FROM _fdb_log_trim t LEFT JOIN e ON true ORDER BY e.seq"
)
# Drop the readers whose lock is gone, then trim to the lowest live reader's position (the
# log's end when none), keeping at most %(keep_max)s entries; returns the trim bound, the
# entries deleted and the readers dropped.
TRIM = (
    "WITH h AS (SELECT coalesce(max(seq), 0) AS head FROM _fdb_changelog), "
    "r AS (SELECT id, seq FROM _fdb_log_readers), "
    "held AS (SELECT objid::bigint AS id FROM pg_locks WHERE locktype = 'advisory' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = hashtext(%(key)s)::oid AND objsubid = 2 AND granted), "
    "gone AS (DELETE FROM _fdb_log_readers WHERE id IN "
    "(SELECT id FROM r WHERE id NOT IN (SELECT id FROM held)) RETURNING 1), "
    "b AS (SELECT greatest(coalesce((SELECT min(seq) FROM r WHERE id IN (SELECT id FROM held)), "
    "head), head - %(keep_max)s) AS upto FROM h), "
    "d AS (DELETE FROM _fdb_changelog WHERE seq <= (SELECT upto FROM b) RETURNING 1), "
    "u AS (UPDATE _fdb_log_trim SET upto = (SELECT upto FROM b) WHERE upto < (SELECT upto FROM b)) "
    "SELECT (SELECT upto FROM b), (SELECT count(*) FROM d), (SELECT count(*) FROM gone)"
)


def channel(schema: str) -> str:
    """The NOTIFY channel of a schema's database (at most 63 bytes)."""
    name = f"fusiondb_{schema}"
    if len(name) > 63:
        name = "fusiondb_" + hashlib.blake2b(schema.encode(), digest_size=16).hexdigest()
    return name


def lock_name(schema: str) -> str:
    """What the advisory locks of a schema's readers are keyed on (with each reader's id)."""
    return f"fusiondb-log-reader:{schema}"


def append_sql(origin: bytes, payload: bytes, channel_name: bytes) -> bytes:
    """The append's call, given its arguments as SQL (quoted literals, a ``bytea``
    expression: ``wire.py``)."""
    return b"SELECT %s(%s, %s, %s)" % (APPEND_FUNCTION.encode(), origin, payload, channel_name)


def trims(seq: int) -> bool:
    """Whether the commit numbered ``seq`` trims the log after it."""
    return seq % TRIM_EVERY == 0


def trim(cur: psycopg.Cursor[tuple[Any, ...]], schema: str) -> tuple[int, int, int] | None:
    """Trim the log to what live readers still need (see the module docstring), on an
    autocommit connection outside any transaction: ``(bound, entries deleted, readers
    dropped)``, or ``None`` when it failed. A failure is only logged: the commit before it
    stands, and the next trim does the work."""
    try:
        row = cur.execute(TRIM, {"key": lock_name(schema), "keep_max": KEEP_MAX}, prepare=False).fetchone()
    except psycopg.Error as exc:
        log.warning("fusiondb: trimming the change log failed (%s); the next trim will", exc)
        return None
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def position(cur: psycopg.Cursor[tuple[Any, ...]]) -> int:
    row = cur.execute(POSITION).fetchone()
    return 0 if row is None else int(row[0])  # type: ignore[call-overload]


class PgLogReader:
    """Reads the log on a connection of its own, registered as a live reader (see the module
    docstring); ``follow`` listens on another."""

    def __init__(self, connect: Callable[..., psycopg.Connection[tuple[Any, ...]]], schema: str) -> None:
        self._connect = connect
        self._channel = channel(schema)
        self._lock_name = lock_name(schema)
        token = uuid.uuid4().hex
        self._stop_channel = f"fusiondb_stop_{token}"
        self.listener_name = f"fusiondb-listen-{token[:16]}"  # its application_name
        self.reader_name = f"fusiondb-read-{token[:16]}"  # the reading connection's
        self._lock = threading.Lock()
        self._dirty = True
        self._gap = False
        self._covered = 0  # commits up to here were in a gap already reported
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change: Callable[[], None] | None = None
        self.reader_id = 0
        self._reported = 0  # the position the reader's row holds
        self._reported_at = 0.0  # monotonic time
        self._conn = self._register()

    def _register(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A new reading connection, registered as a live reader at the log's end: the lock
        first, then the row (a row without its lock is a dead reader's)."""
        with TRANSLATE:
            conn = self._connect(self.reader_name)
            try:
                for name, value in KEEPALIVES.items():
                    conn.execute(f"SET {name} = {int(value)}")
                # Its only write is its own position: nothing to wait for the disk for.
                conn.execute("SET synchronous_commit = off")
                row = None
                while row is None:
                    row = conn.execute(LOCK_READER, (self._lock_name,)).fetchone()
                self.reader_id = int(row[0])
                row = conn.execute(REGISTER, (self.reader_id,)).fetchone()
                assert row is not None
                self._reported = int(row[0])
                self._covered = max(self._covered, self._reported)
                self._reported_at = time.monotonic()
            except BaseException:
                conn.close()
                raise
        return conn

    def moved(self) -> bool:
        return self._dirty or self._thread is None

    def position(self) -> int:
        with self._lock, TRANSLATE:
            return position(self._conn.cursor())

    def read_since(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool]:
        self._dirty = False  # before reading: a notification from now on is seen again
        now = time.monotonic()
        report = seq - self._reported >= REPORT_EVERY or now - self._reported_at >= REPORT_SECONDS
        try:
            with self._lock:
                rows = self._fetch(READ_REPORTING if report else READ, skip_origin, seq)
                gap, self._gap = self._gap, False
        except BaseException:
            self._dirty = True  # read again at the next look
            raise
        if report:
            last = rows[-1][1] if rows else None
            self._reported = max(self._reported, seq if last is None else int(last))
            self._reported_at = now
        upto = int(rows[0][0]) if rows else 0
        complete = not gap and upto <= max(seq, self._covered)
        if not complete:
            # The consumer re-runs everything now: a later read need not report this again.
            self._covered = max(self._covered, upto)
        entries = [
            LogEntry(int(s), str(o), None if w is None else bytes(w)) for _, s, o, w in rows if s is not None
        ]
        return entries, complete

    def _fetch(self, statement: str, skip_origin: str, seq: int) -> list[tuple[Any, ...]]:
        """The rows of one read (one statement, so one snapshot: the entries and how far the
        log was trimmed), reconnecting once if the connection was lost."""
        try:
            return self._conn.execute(statement, self._params(skip_origin, seq)).fetchall()
        except psycopg.OperationalError as exc:
            if not self._conn.closed:
                translated(exc)
        except psycopg.Error as exc:
            translated(exc)
        # The connection was lost (a server restart, a network cut, a terminated backend; or
        # a reconnection failed), and the reader with it: the log may have been trimmed past
        # this reader meanwhile. Register again (this raises while the server cannot be
        # reached) and report this read as a gap.
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        self._conn = self._register()
        self._gap = True
        with TRANSLATE:
            return self._conn.execute(statement, self._params(skip_origin, seq)).fetchall()

    def _params(self, skip_origin: str, seq: int) -> dict[str, object]:
        return {"origin": skip_origin, "seq": seq, "id": self.reader_id}

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
        with contextlib.suppress(psycopg.Error), self._lock:
            # Closing the connection would drop the reader too, at the next trim.
            self._conn.execute(UNREGISTER, (self.reader_id,))
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
