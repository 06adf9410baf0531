"""File storage figures: ``db.storage`` against a plain file holding the same bytes, same run.

    .venv/bin/python benchmarks/bench_storage.py       # BENCH_QUICK=1 for a smoke run

(a) write N MB (100): ``db.storage.store(data)`` on a file database (WAL, synchronous=NORMAL,
    so the commit's automatic checkpoint copies the WAL into the database and fsyncs it) against
    writing the same bytes to a plain file in 1 MiB writes, then flush and fsync. A second
    line drops the fsync from the plain file (the page-cache speed of a write).
(b) store from a binary file object against ``shutil.copyfileobj`` of the same file.
(c) read N MB back: ``FileStream.read(1 MiB)`` in a loop, and ``readinto`` a reused buffer,
    against the same reads from the plain file (both in the OS page cache).
(d) for scale, the same write and read with raw apsw blob I/O (zeroblob rows of 1 MiB, one
    transaction, the same pragmas): how much of the gap is SQLite's own cost.

Here "raw" is the plain file (the raw apsw blobs in (d)), so ratio = raw time / fusiondb time.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import apsw
from benchutil import QUICK, compare, repeats, report, size

import fusiondb as fdb

MiB = 1 << 20


def main() -> None:
    n_mib = size(100, 4)
    print(
        "== bench_storage: db.storage vs a plain file, same bytes"
        + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else "")
    )
    print("   ratio = plain-file time / fusiondb time (1.0 = as fast as a plain file; higher is better)")
    data = os.urandom(n_mib * MiB)
    rep = repeats(5)
    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        db = fdb.open(tmp / "files.db", fdb.Schema())
        plain = tmp / "plain.bin"
        stored: list[str] = []

        def clear() -> None:
            while stored:
                db.storage.delete(stored.pop())

        def plain_write(sync: bool) -> None:
            with plain.open("wb") as f:
                for i in range(0, len(data), MiB):
                    f.write(data[i : i + MiB])
                f.flush()
                if sync:
                    os.fsync(f.fileno())

        def fdb_write() -> None:
            stored.append(db.storage.store(data))

        r, f = compare(lambda: plain_write(True), fdb_write, rep, setup=clear)
        report(f"(a) write {n_mib} MB (plain file: write + fsync)", r, f, per=n_mib, unit="MB")
        r, f = compare(lambda: plain_write(False), fdb_write, rep, setup=clear)
        report(f"(a) write {n_mib} MB (plain file: write, no fsync)", r, f, per=n_mib, unit="MB")

        source = tmp / "source.bin"
        source.write_bytes(data)
        copy = tmp / "copy.bin"

        def plain_copy() -> None:
            with source.open("rb") as src, copy.open("wb") as dst:
                shutil.copyfileobj(src, dst, MiB)
                dst.flush()
                os.fsync(dst.fileno())

        def fdb_copy() -> None:
            with source.open("rb") as src:
                stored.append(db.storage.store(src))

        r, f = compare(plain_copy, fdb_copy, rep, setup=clear)
        report(f"(b) store a {n_mib} MB file object (plain: copy + fsync)", r, f, per=n_mib, unit="MB")

        clear()
        file_id = db.storage.store(data)
        plain_write(True)
        buf = bytearray(MiB)

        def plain_read() -> None:
            with plain.open("rb", buffering=0) as f:
                while f.read(MiB):
                    pass

        def fdb_read() -> None:
            with db.storage.open(file_id) as f:
                while f.read(MiB):
                    pass

        def plain_readinto() -> None:
            with plain.open("rb", buffering=0) as f:
                while f.readinto(buf):
                    pass

        def fdb_readinto() -> None:
            with db.storage.open(file_id) as f:
                while f.readinto(buf):
                    pass

        r, f = compare(plain_read, fdb_read, rep)
        report(f"(c) read {n_mib} MB, read(1 MiB) calls", r, f, per=n_mib, unit="MB")
        r, f = compare(plain_readinto, fdb_readinto, rep)
        report(f"(c) read {n_mib} MB, readinto a 1 MiB buffer", r, f, per=n_mib, unit="MB")

        blobs = apsw.Connection(str(tmp / "raw.db"))
        for pragma, value in (("journal_mode", "wal"), ("synchronous", "normal"), ("cache_size", -32_000)):
            blobs.pragma(pragma, value)
        blobs.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, file INTEGER, seq INTEGER, data BLOB)")

        def raw_blob_write() -> None:
            blobs.execute("BEGIN IMMEDIATE")
            blobs.execute("DELETE FROM chunks")
            view = memoryview(data)
            for seq, i in enumerate(range(0, len(data), MiB)):
                piece = view[i : i + MiB]
                blobs.execute(
                    "INSERT INTO chunks(file, seq, data) VALUES (1, ?, zeroblob(?))", (seq, len(piece))
                )
                with blobs.blob_open("main", "chunks", "data", blobs.last_insert_rowid(), True) as blob:
                    blob.write(piece)
            blobs.execute("COMMIT")

        def raw_blob_read() -> None:
            for (rowid,) in blobs.execute("SELECT id FROM chunks ORDER BY seq").fetchall():
                with blobs.blob_open("main", "chunks", "data", rowid, False) as blob:  # type: ignore[arg-type]
                    blob.read()

        r, f = compare(raw_blob_write, fdb_write, rep, setup=clear)
        report(f"(d) write {n_mib} MB (raw: apsw blob I/O)", r, f, per=n_mib, unit="MB")
        clear()
        r, f = compare(raw_blob_read, fdb_read, rep)
        report(f"(d) read {n_mib} MB (raw: apsw blob I/O)", r, f, per=n_mib, unit="MB")
        blobs.close()

        with db.storage.open(file_id) as f:
            assert f.read() == data
            f.seek(n_mib * MiB // 2 - 5)
            assert f.read(10) == data[n_mib * MiB // 2 - 5 : n_mib * MiB // 2 + 5]
        assert isinstance(db.storage.open(file_id), io.RawIOBase)
        db.close()


if __name__ == "__main__":
    main()
