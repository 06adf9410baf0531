"""Makes ``tests/fixtures/format1.fdb``: a small file in file format 1, for the upgrade test.

It was made by running this script with fusiondb at commit ec3581c (the last version writing
format 1: index keys as SQLite orders ``doc ->> '$.field'``, a ``by_creation_time`` index, and
``creation_time`` in every index) and committing the file:

    .venv/bin/python -m tests.make_format1_fixture

Running it with a later fusiondb would write the later format, so the committed file is the
fixture; the script documents what is in it (``tests/test_format_upgrade.py`` checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fusiondb as fdb

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format1.fdb"


class Item(fdb.Document):
    name: str
    v: Any = None
    n: int = 0
    tags: list[str] = []


schema = fdb.Schema(
    items=fdb.table(Item)
    .index("by_v", ["v"])
    .index("by_n_name", ["n", "name"])
    .index("by_tags", ["tags"])
    .search_index("search_name", search_field="name"),
)

# (name, v, n, tags): mixed value types in the Any field, as the example.
ROWS: list[tuple[str, Any, int, list[str]]] = [
    ("none", None, 3, ["b"]),
    ("three", 3, 1, []),
    ("two and a half", 2.5, 2, ["a", "b"]),
    ("true", True, 1, ["a"]),
    ("false", False, 2, ["c"]),
    ("b", "b", 3, []),
    ("a", "a", 1, ["a", "a"]),
    ("list", [1], 2, ["b", "a"]),
    ("dict", {"k": 1}, 3, []),
    ("minus one", -1, 1, ["z"]),
    ("thousand", 1000, 2, []),
]


@fdb.mutation
def seed(db: fdb.Writer) -> None:
    for name, v, n, tags in ROWS:
        db.insert("items", {"name": name, "v": v, "n": n, "tags": tags})
    db.insert("items", {"name": "no v", "n": 5})  # v missing: the model reads None


def main() -> None:
    FIXTURE.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(FIXTURE) + suffix).unlink(missing_ok=True)
    db = fdb.open(FIXTURE, schema)
    db.run(seed)
    db.close()
    # One self-contained file: fold the WAL back in.
    import apsw

    conn = apsw.Connection(str(FIXTURE))
    conn.pragma("wal_checkpoint", "TRUNCATE")
    conn.pragma("journal_mode", "delete")
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    main()
