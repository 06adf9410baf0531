"""File storage: round trips, streams, transactions, bad input, crashes and memory use."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.transaction import files as storage
from tests.helpers import raw_sql
from tests.models import Note

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_rows(db: fdb.Database) -> int:
    return int(raw_sql(db, "SELECT count(*) FROM _storage_chunks")[0][0])


@fdb.query
def list_files(db: fdb.Reader) -> list[Any]:
    return db.query("_storage").collect()


@pytest.mark.parametrize("size", [0, 1, 5, MiB - 1, MiB, MiB + 1, 3 * MiB + 17])
def test_round_trip(db: fdb.Database, size: int) -> None:
    data = random.Random(size).randbytes(size)
    file_id = db.storage.store(data, content_type="application/octet-stream")
    meta = db.storage.get_metadata(file_id)
    assert meta is not None
    assert (meta.id, meta.size, meta.sha256) == (file_id, size, sha(data))
    assert meta.content_type == "application/octet-stream"
    assert isinstance(meta.creation_time, float)
    with db.storage.open(file_id) as f:
        assert f.read() == data
        assert f.read() == b""
    assert chunk_rows(db) == -(-size // MiB)


def test_round_trip_50_mb(file_db: fdb.Database, tmp_path: Path) -> None:
    data = os.urandom(50 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with src.open("rb") as f:
        file_id = file_db.storage.store(f)
    meta = file_db.storage.get_metadata(file_id)
    assert meta is not None and meta.size == len(data) and meta.sha256 == sha(data)
    digest = hashlib.sha256()
    with file_db.storage.open(file_id) as stream:
        while piece := stream.read(MiB + 12345):  # reads that straddle chunk boundaries
            digest.update(piece)
    assert digest.hexdigest() == sha(data)
    out = tmp_path / "copy.bin"
    with file_db.storage.open(file_id) as stream, out.open("wb") as dst:
        shutil.copyfileobj(stream, dst)
    assert sha(out.read_bytes()) == sha(data)


def test_stream_sources(db: fdb.Database, tmp_path: Path) -> None:
    data = random.Random(1).randbytes(2 * MiB + 3)

    class ReadOnly:  # only .read(n), no readinto
        def __init__(self, payload: bytes) -> None:
            self._f = io.BytesIO(payload)

        def read(self, n: int = -1) -> bytes:
            return self._f.read(min(n, 1000))  # short reads, like a pipe

    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with path.open("rb", buffering=0) as raw:
        sources: list[Any] = [io.BytesIO(data), bytearray(data), memoryview(data), ReadOnly(data), raw]
        for source in sources:
            file_id = db.storage.store(source)
            meta = db.storage.get_metadata(file_id)
            assert meta is not None and meta.sha256 == sha(data), type(source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(0, 200),
    ops=st.lists(
        st.tuples(st.integers(-20, 230), st.sampled_from([0, 1, 2]), st.integers(-1, 90)), max_size=12
    ),
)
def test_seek_and_read_ranges_match_bytesio(
    size: int, ops: list[tuple[int, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "CHUNK_SIZE", 7)  # many chunks, so ranges cross boundaries
    data = random.Random(size).randbytes(size)
    with fdb.open(None, fdb.Schema()) as db:
        file_id = db.storage.store(data)
        stream = db.storage.open(file_id)
        model = io.BytesIO(data)
        for offset, whence, n in ops:
            target = offset + (0, model.tell(), size)[whence]
            if target < 0:  # BytesIO clamps some of these to 0; a file refuses them, as we do
                with pytest.raises(ValueError):
                    stream.seek(offset, whence)
                continue
            assert stream.seek(offset, whence) == model.seek(offset, whence) == target
            assert stream.read(n) == model.read(n)
            assert stream.tell() == model.tell()
            buf = bytearray(max(n, 0))
            assert stream.readinto(buf) == model.readinto(buf)
        stream.close()


def test_stream_is_a_seekable_raw_io(db: fdb.Database) -> None:
    data = bytes(range(256)) * 5000
    file_id = db.storage.store(data, content_type="image/png")
    stream = db.storage.open(file_id)
    assert isinstance(stream, io.RawIOBase)
    assert stream.readable() and stream.seekable() and not stream.writable()
    assert (stream.id, stream.size, stream.sha256, stream.content_type) == (
        file_id, len(data), sha(data), "image/png"
    )
    assert stream.seek(-10, io.SEEK_END) == len(data) - 10
    assert stream.read(100) == data[-10:]
    assert stream.seek(1000) == 1000
    assert stream.read(5) == data[1000:1005]
    assert stream.seek(10, io.SEEK_CUR) == 1015
    buffered = io.BufferedReader(stream)
    assert buffered.read(3) == data[1015:1018]
    assert buffered.read() == data[1018:]
    buffered.close()
    assert stream.closed
    with pytest.raises(ValueError):
        stream.read(1)


def test_stream_outlives_the_call_and_sees_deletes(db: fdb.Database) -> None:
    data = random.Random(2).randbytes(2 * MiB)
    file_id = db.storage.store(data)
    stream = db.storage.open(file_id)
    db.run(fdb.mutation(lambda w: w.insert("notes", {"title": "unrelated write"})))
    assert stream.read(10) == data[:10]
    db.storage.delete(file_id)
    with pytest.raises(fdb.DocumentNotFound) as info:
        stream.read(10)
    assert info.value.id == file_id and info.value.table == "_storage"
    db.close()
    with pytest.raises(fdb.DatabaseClosed):
        db.storage.open(file_id)


def test_stream_read_after_close_of_database(file_db: fdb.Database) -> None:
    file_id = file_db.storage.store(b"abc")
    stream = file_db.storage.open(file_id)
    file_db.close()
    with pytest.raises(fdb.DatabaseClosed):
        stream.read()


def test_store_inside_a_mutation_is_atomic_with_it(db: fdb.Database) -> None:
    @fdb.mutation
    def attach(w: fdb.Writer, data: bytes, fail: bool) -> tuple[str, str]:
        file_id = w.storage.store(data, content_type="text/plain")
        note_id = w.insert("notes", Note(title="with file", attachment=file_id))
        assert w.storage.get_metadata(file_id) is not None
        with w.storage.open(file_id) as f:
            assert f.read() == data
        if fail:
            raise RuntimeError("changed my mind")
        return file_id, note_id

    with pytest.raises(RuntimeError):
        db.run(attach, data=b"x" * (2 * MiB), fail=True)
    assert db.run(list_files) == [] and chunk_rows(db) == 0

    file_id, note_id = db.run(attach, data=b"hello", fail=False)
    note = db.run(fdb.query(lambda r: r.get(note_id)))
    assert note.attachment == file_id
    assert [m.id for m in db.run(list_files)] == [file_id]


def test_delete_inside_a_mutation_rolls_back_with_it(db: fdb.Database) -> None:
    file_id = db.storage.store(b"keep me")

    @fdb.mutation
    def remove(w: fdb.Writer) -> None:
        w.storage.delete(file_id)
        assert w.storage.get_metadata(file_id) is None
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        db.run(remove)
    with db.storage.open(file_id) as f:
        assert f.read() == b"keep me"
    db.storage.delete(file_id)
    assert db.storage.get_metadata(file_id) is None and chunk_rows(db) == 0
    with pytest.raises(fdb.DocumentNotFound):
        db.storage.delete(file_id)


def test_a_failing_source_leaves_nothing_even_if_the_mutation_goes_on(db: fdb.Database) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            if self.sent >= 3 * MiB:
                raise OSError("disk went away")
            n = min(len(b), MiB // 2)
            b[:n] = b"z" * n
            self.sent += n
            return n

    @fdb.mutation
    def try_store(w: fdb.Writer) -> str:
        with pytest.raises(OSError):
            w.storage.store(Broken())
        return w.storage.store(b"second try")

    file_id = db.run(try_store)
    assert [m.id for m in db.run(list_files)] == [file_id]
    assert chunk_rows(db) == 1


def test_bad_input_raises_typed_errors(db: fdb.Database, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello")
    closed = io.BytesIO(b"x")
    closed.close()

    class Texty:
        def read(self, n: int = -1) -> str:
            return "text"

    with path.open("r") as text_file:
        for bad in ["a string", text_file, closed, 42, None, Texty(), [b"a"]]:
            with pytest.raises(fdb.ValidationError) as info:
                db.storage.store(bad)  # type: ignore[arg-type]
            assert info.value.table == "_storage"
    with pytest.raises(fdb.ValidationError):
        db.storage.store(b"x", content_type=5)  # type: ignore[arg-type]
    assert db.run(list_files) == [] and chunk_rows(db) == 0

    note_id = db.run(fdb.mutation(lambda w: w.insert("notes", {"title": "n"})))
    for bad_id in ["not-an-id", note_id, 7]:
        with pytest.raises(fdb.InvalidId):
            db.storage.open(bad_id)  # type: ignore[arg-type]
        with pytest.raises(fdb.InvalidId):
            db.storage.get_metadata(bad_id)  # type: ignore[arg-type]
        with pytest.raises(fdb.InvalidId):
            db.storage.delete(bad_id)  # type: ignore[arg-type]
    gone = db.storage.store(b"x")
    db.storage.delete(gone)
    assert db.storage.get_metadata(gone) is None
    with pytest.raises(fdb.DocumentNotFound):
        db.storage.open(gone)


def test_storage_table_is_read_only_for_users(db: fdb.Database) -> None:
    file_id = db.storage.store(b"data")
    attempts = [
        lambda w: w.insert("_storage", {"sha256": "0", "size": 0}),
        lambda w: w.patch(file_id, {"size": 1}),
        lambda w: w.replace(file_id, {"sha256": "0", "size": 0}),
        lambda w: w.delete(file_id),
    ]
    for attempt in attempts:
        with pytest.raises(fdb.ReadOnlyError):
            db.run(fdb.mutation(attempt))

    @fdb.query
    def write_in_query(r: fdb.Reader, op: str) -> Any:
        return r.storage.store(b"x") if op == "store" else r.storage.delete(file_id)

    for op in ["store", "delete"]:
        with pytest.raises(fdb.ReadOnlyError):
            db.run(write_in_query, op=op)
    assert db.storage.get_metadata(file_id) is not None


def test_reading_files_inside_a_query(db: fdb.Database) -> None:
    file_id = db.storage.store(b"0123456789")

    @fdb.query
    def peek(r: fdb.Reader) -> tuple[bytes, int, Any]:
        stream = r.storage.open(file_id)
        stream.seek(3)
        meta = r.storage.get_metadata(file_id)
        return stream.read(4), meta.size, stream

    head, size, stream = db.run(peek)
    assert (head, size) == (b"3456", 10)
    with pytest.raises(fdb.DatabaseClosed):  # its transaction has ended
        stream.read()


def test_storage_is_queryable_and_subscribable(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()

    @fdb.query
    def sizes(r: fdb.Reader) -> list[int]:
        runs["sizes"] += 1
        return [m.size for m in r.query("_storage").collect()]

    @fdb.query
    def one(r: fdb.Reader, file_id: str) -> int | None:
        runs["one"] += 1
        meta = r.storage.get_metadata(file_id)
        return None if meta is None else meta.size

    first = db.storage.store(b"a")
    sub = db.subscribe(sizes)
    one_sub = db.subscribe(one, file_id=first)
    assert (sub.value, one_sub.value) == ([1], 1)
    db.storage.store(b"bb")
    assert db.wait_idle()
    assert sub.value == [1, 2] and runs == Counter(sizes=2, one=1)
    db.run(fdb.mutation(lambda w: w.insert("notes", {"title": "unrelated"})))
    assert db.wait_idle()
    assert runs == Counter(sizes=2, one=1)
    db.storage.delete(first)
    assert db.wait_idle()
    assert sub.value == [2] and one_sub.value is None and runs == Counter(sizes=3, one=2)
    sub.close()
    one_sub.close()


def test_files_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "files.db"
    data = random.Random(3).randbytes(MiB + 5)
    with fdb.open(path, fdb.Schema()) as db:
        file_id = db.storage.store(data, content_type="x/y")
    with fdb.open(path, fdb.Schema()) as db:
        meta = db.storage.get_metadata(file_id)
        assert meta is not None and meta.content_type == "x/y"
        with db.storage.open(file_id) as f:
            assert f.read() == data


CHILD_PRELUDE = """
import os, sys, resource
sys.path.insert(0, {root!r})
import fusiondb as fdb
"""


def run_child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parent.parent)
    script = CHILD_PRELUDE.format(root=root) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_crash_while_storing_leaves_no_half_file(tmp_path: Path) -> None:
    proc = run_child(
        """
        import io
        class Dying(io.RawIOBase):
            sent = 0
            def readable(self): return True
            def readinto(self, b):
                if self.sent >= 48 * 2**20:  # past the 32 MB page cache: pages spilled to the WAL
                    os._exit(17)  # the process dies mid-store: no rollback, no cleanup
                b[:] = b"q" * len(b)
                self.sent += len(b)
                return len(b)
        db = fdb.open("crash.db", fdb.Schema())
        db.storage.store(b"before")
        db.storage.store(Dying())
        """,
        tmp_path,
    )
    assert proc.returncode == 17, proc.stderr
    with fdb.open(tmp_path / "crash.db", fdb.Schema()) as db:
        files = db.run(list_files)
        assert [m.size for m in files] == [6]
        assert chunk_rows(db) == 1


def test_peak_memory_while_storing_200_mb_stays_bounded(tmp_path: Path) -> None:
    proc = run_child(
        """
        import hashlib, io

        def hwm_kib():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        class Lazy(io.RawIOBase):  # 200 MB made up on the fly, never all in memory
            def __init__(self, size):
                self.left = size
                self.block = bytes(range(256)) * 4096
                self.digest = hashlib.sha256()
            def readable(self): return True
            def readinto(self, b):
                n = min(len(b), self.left, len(self.block))
                b[:n] = self.block[:n]
                self.digest.update(self.block[:n])
                self.left -= n
                return n

        db = fdb.open("mem.db", fdb.Schema())
        db.storage.store(b"warm up" * 1000)
        base = hwm_kib()
        src = Lazy(200 * 2**20)
        file_id = db.storage.store(src)
        peak = hwm_kib()
        meta = db.storage.get_metadata(file_id)
        assert meta.size == 200 * 2**20 and meta.sha256 == src.digest.hexdigest()
        print((peak - base) // 1024)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    grew_mib = int(proc.stdout.strip())
    print(f"peak RSS growth while storing 200 MB: {grew_mib} MiB")
    assert grew_mib < 64
