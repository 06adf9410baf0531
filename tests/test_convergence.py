"""Convergence under concurrency: seeded random rounds of writes from threads and a second
process while live subscriptions of every kind are open (index ranges, take(n), paginate,
filters, get, search); once the writers are done and ``db.wait_idle()`` returns, each
subscription's value equals a fresh ``db.run`` of its query. (tests/test_reactivity_stateful.py
explores single steps with Hypothesis; this one piles writes up concurrently.)"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import fusiondb as fdb
from tests.stress_workers import SPAWN, record, scale


class Item(fdb.Document):
    owner: str
    rank: int = 0
    text: str = ""
    done: bool = False


conv_schema = fdb.Schema(
    items=fdb.table(Item)
    .index("by_owner_rank", ["owner", "rank"])
    .search_index("search", search_field="text", filter_fields=["owner"])
)
OWNERS = ["a", "b", "c"]
WORDS = ["milk", "bread", "eggs", "tea", "jam"]


@fdb.query
def owner_range(db: fdb.Reader, owner: str, lo: int, hi: int) -> list[Any]:
    return (
        db.query("items")
        .with_index("by_owner_rank", lambda q: q.eq("owner", owner).gte("rank", lo).lt("rank", hi))
        .collect()
    )


@fdb.query
def newest(db: fdb.Reader, n: int) -> list[Any]:
    return db.query("items").order("desc").take(n)


@fdb.query
def page(db: fdb.Reader, owner: str) -> Any:
    p = db.query("items").with_index("by_owner_rank", lambda q: q.eq("owner", owner)).paginate(None, 4)
    return (p.page, p.is_done, p.continue_cursor)


@fdb.query
def page_as_pinned(db: fdb.Reader, owner: str, cursor: str, is_done: bool) -> Any:
    """What a live first page should hold now: it keeps its end (the cursor) as documents come
    and go, and a page that reached the end of the range stays open-ended."""
    q = db.query("items").with_index("by_owner_rank", lambda q: q.eq("owner", owner))
    rows = q.collect() if is_done else q.paginate(None, 4, end_cursor=cursor).page
    return (rows, is_done, cursor)


@fdb.query
def undone(db: fdb.Reader) -> list[Any]:
    return db.query("items").filter(lambda q: (q.done == False) & (q.rank >= 3)).collect()  # noqa: E712


@fdb.query
def one(db: fdb.Reader, doc_id: str) -> Any:
    return db.get(doc_id)


@fdb.query
def found(db: fdb.Reader, word: str, owner: str) -> list[Any]:
    return (
        db.query("items")
        .with_search_index("search", lambda q: q.search("text", word).eq("owner", owner))
        .collect()
    )


@fdb.mutation
def random_write(db: fdb.Writer, seed: int) -> None:
    rng = random.Random(seed)
    docs = db.query("items").take(60)
    op = rng.random()
    if op < 0.5 or not docs:
        db.insert(
            "items",
            {
                "owner": rng.choice(OWNERS),
                "rank": rng.randrange(8),
                "text": " ".join(rng.sample(WORDS, 2)),
                "done": rng.random() < 0.3,
            },
        )
    elif op < 0.85:
        doc = rng.choice(docs)
        db.patch(doc.id, {"rank": rng.randrange(8), "done": not doc.done, "text": rng.choice(WORDS)})
    else:
        db.delete(rng.choice(docs).id)


def other_process_writes(path: str, seeds: list[int]) -> int:
    with fdb.open(path, conv_schema) as db:
        for s in seeds:
            db.run(random_write, seed=s)
    return len(seeds)


def _subscriptions(db: fdb.Database, rng: random.Random, ids: list[str]) -> list[tuple[Any, dict[str, Any]]]:
    specs: list[tuple[Any, dict[str, Any]]] = [
        (owner_range, {"owner": rng.choice(OWNERS), "lo": rng.randrange(4), "hi": 4 + rng.randrange(4)}),
        (newest, {"n": rng.randrange(1, 10)}),
        (page, {"owner": rng.choice(OWNERS)}),
        (undone, {}),
        (found, {"word": rng.choice(WORDS), "owner": rng.choice(OWNERS)}),
    ]
    specs += [(one, {"doc_id": d}) for d in rng.sample(ids, min(3, len(ids)))]
    return specs


@fdb.mutation
def seed_items(db: fdb.Writer, n: int) -> list[str]:
    return [
        db.insert("items", {"owner": OWNERS[i % 3], "rank": i % 8, "text": WORDS[i % 5]}) for i in range(n)
    ]


def test_live_values_converge_to_fresh_queries(tmp_path: Path) -> None:
    rounds = scale(12, 200)
    divergences = 0
    checked = 0
    with SPAWN.Pool(1) as pool:
        for r in range(rounds):
            rng = random.Random(r)
            path = str(tmp_path / f"conv-{r % 4}.db")
            with fdb.open(path, conv_schema) as db:
                ids = db.run(seed_items, n=12) if r < 4 else [d.id for d in db.run(newest, n=9)]
                subs = [(db.subscribe(fn, **args), fn, args) for fn, args in _subscriptions(db, rng, ids)]
                other = pool.apply_async(
                    other_process_writes, (path, [rng.randrange(1 << 30) for _ in range(15)])
                )
                threads = [
                    threading.Thread(
                        target=lambda s=s: [db.run(random_write, seed=s * 1000 + i) for i in range(15)]
                    )
                    for s in range(3)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                assert other.get(60) == 15
                # The other process's commits reach us through the change log: wait for them.
                assert db.wait_idle(30)
                for sub, fn, args in subs:
                    if fn is page:
                        _, is_done, cursor = sub.value
                        fresh = db.run(page_as_pinned, cursor=cursor, is_done=is_done, **args)
                    else:
                        fresh = db.run(fn, **args)
                    checked += 1
                    if sub.value != fresh:
                        divergences += 1
                    sub.close()
    record("convergence", rounds=rounds, subscriptions_checked=checked, divergences=divergences)
    assert divergences == 0
