"""The subscription manager on its own: a change feed, a fake evaluator, no SQLite.

The manager is given its change feed and an evaluator (``Runner`` in a real database); here the
evaluator reads a dict of documents and records the key range it read, so each test counts
exactly which live queries a commit re-ran and what they published.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.core.keys import TOP, KeyLayout
from fusiondb.reactive.manager import SubscriptionManager
from fusiondb.transaction.changefeed import ChangeFeed
from fusiondb.transaction.readset import ReadSet
from fusiondb.transaction.writeset import WriteSet

LAYOUTS = {"tasks": KeyLayout.build([("by_user", ("user",))], ())}


class Engine:
    """Just enough of an engine for a change feed of one process (no log to poll)."""

    shared = False
    closed = False


class Txn:
    def __init__(self) -> None:
        self.commits = 0

    def commit(self, *args: Any) -> None:
        self.commits += 1


class Store:
    """Documents (rowid -> user) and an evaluator over them that records what it read."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.users: dict[int, str] = {}
        self.runs: Counter[str] = Counter()
        self.order: list[str] = []  # the users evaluated, in order
        self.slow: set[str] = set()  # users whose evaluation takes 5 ms
        self.gate = threading.Event()  # evaluations return once it is set
        self.gate.set()
        self.evaluated = threading.Event()

    def evaluate(self, fn: Any, args: dict[str, Any], pins: dict[Any, Any]) -> tuple[Any, ReadSet, int]:
        user = args["user"]
        self.runs[user] += 1
        self.order.append(user)
        if user in self.slow:
            time.sleep(0.005)
        readset = ReadSet()
        readset.add_range("tasks", "by_user", (user,), (user, TOP))
        value = sorted(rowid for rowid, u in self.users.items() if u == user)
        position = self.feed.position(None)  # type: ignore[arg-type]
        self.evaluated.set()
        assert self.gate.wait(5)
        return value, readset, position

    def write(self, rowid: int, user: str | None) -> None:
        """One commit: insert, move or delete (user None) document ``rowid``."""
        self.feed.commit(Txn(), self.change(rowid, user))  # type: ignore[arg-type]

    def change(self, rowid: int, user: str | None) -> WriteSet:
        """Make the change, and return its write set (not handed to the feed)."""
        old = self.users.get(rowid)
        writes = WriteSet([("tasks", rowid, float(rowid),
                            None if old is None else (old,), None if user is None else (user,),
                            None, None)], LAYOUTS)
        if user is None:
            del self.users[rowid]
        else:
            self.users[rowid] = user
        return writes


def by_user(**args: Any) -> None:
    """Stands for a query function: the manager only uses it as part of the live query's key."""


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.fixture
def parts() -> Iterator[tuple[Store, SubscriptionManager]]:
    feed = ChangeFeed(Engine())  # type: ignore[arg-type]
    store = Store(feed)
    manager = SubscriptionManager(feed, store, str.split)
    yield store, manager
    manager.close()
    feed.close()


def test_a_commit_reruns_only_the_live_queries_whose_range_it_touched(
    parts: tuple[Store, SubscriptionManager],
) -> None:
    store, manager = parts
    subs = {u: manager.subscribe(by_user, {"user": u}) for u in ("a", "b", "c")}
    store.runs.clear()
    store.write(1, "a")
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 1})
    assert subs["a"].value == [1] and subs["b"].value == []
    store.write(1, "b")  # moves from a's range to b's: both re-run, c does not
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 2, "b": 1})
    assert (subs["a"].value, subs["b"].value) == ([], [1])
    store.write(1, None)
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 2, "b": 2})
    assert manager.reruns == 4


def test_identical_subscriptions_share_one_live_query(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    first = manager.subscribe(by_user, {"user": "a"})
    second = manager.subscribe(by_user, {"user": "a"})
    assert store.runs == Counter({"a": 1})
    store.write(1, "a")
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 2}) and first.value == second.value == [1]
    first.close()
    store.write(2, "a")
    assert manager.wait_idle()
    assert second.value == [1, 2]
    second.close()  # the last handle: the live query goes, and commits re-run nothing
    store.write(3, "a")
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 3})


def test_values_are_published_in_commit_order_and_only_when_changed(
    parts: tuple[Store, SubscriptionManager],
) -> None:
    store, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    seen: list[list[int]] = []
    sub.changed.connect(lambda value: seen.append(value))
    for rowid in range(1, 6):
        store.write(rowid, "a")
        assert manager.wait_idle()
    store.write(1, "a")  # same user: the query re-runs but its value is unchanged
    assert manager.wait_idle()
    assert seen == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5]]
    assert store.runs["a"] == 7


def test_a_commit_during_the_first_run_is_not_missed(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    manager.subscribe(by_user, {"user": "other"})  # the feed now keeps this process's commits
    store.gate.clear()
    store.evaluated.clear()
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(sub=manager.subscribe(by_user, {"user": "a"})))
    thread.start()
    assert store.evaluated.wait(5)
    store.write(1, "a")  # commits after the first run's snapshot, before it is registered
    store.gate.set()
    thread.join(5)
    assert manager.wait_idle()
    # The first run's value ([]) was re-checked, not left stale.
    assert result["sub"].value == [1]
    assert store.runs["a"] == 2


def test_wait_idle_inside_a_callback_is_refused(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    errors: list[BaseException] = []

    def callback(value: Any) -> None:
        try:
            manager.wait_idle()
        except fdb.FusionError as exc:
            errors.append(exc)

    sub.changed.connect(callback)
    store.write(1, "a")
    assert manager.wait_idle()
    assert len(errors) == 1 and "wait for itself" in str(errors[0])


def test_close_ends_iterators_and_refuses_new_subscriptions(
    parts: tuple[Store, SubscriptionManager],
) -> None:
    store, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    values: list[Any] = []
    thread = threading.Thread(target=lambda: values.extend(sub))
    thread.start()
    wait_for(lambda: values == [[]])
    store.write(1, "a")
    assert manager.wait_idle()
    wait_for(lambda: values == [[], [1]])
    manager.close()
    thread.join(5)
    assert not thread.is_alive()
    assert values == [[], [1]]
    with pytest.raises(fdb.FusionError, match="closed"):
        manager.subscribe(by_user, {"user": "b"})


def test_an_incomplete_feed_reruns_every_live_query(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    for u in ("a", "b"):
        manager.subscribe(by_user, {"user": u})
    store.runs.clear()
    take = store.feed.take_others
    store.feed.take_others = lambda: (take()[0], False)  # type: ignore[method-assign]
    store.feed.wake()
    assert manager.wait_idle()
    assert store.runs == Counter({"a": 1, "b": 1})


def test_this_process_commits_go_first_and_an_older_one_of_another_reruns_only_what_they_did_not(
    parts: tuple[Store, SubscriptionManager],
) -> None:
    """A round re-runs what this process's commits hit before it reads the log; a commit of
    another process found there, older than them, re-runs only the live queries whose
    snapshot does not hold it yet."""
    store, manager = parts
    for u in ("a", "b"):
        manager.subscribe(by_user, {"user": u})
    store.runs.clear()
    foreign = [(1, store.change(10, "a")), (1, store.change(11, "b"))]  # seq 1: older
    looked: list[Counter[str]] = []

    def take_others() -> tuple[list[Any], bool]:
        looked.append(store.runs.copy())  # what had re-run when the log was read
        taken = foreign[:]
        foreign.clear()
        return taken, True

    store.feed.take_others = take_others  # type: ignore[method-assign]
    store.feed._latest = 1  # the other process's commit took number 1
    store.write(1, "a")  # this process's commit, number 2: hits a
    assert manager.wait_idle()
    assert looked[0] == Counter({"a": 1})  # a re-ran before the look at the log
    # a's re-run saw commit 2 (so also 1): not again; b had not re-run since 1: once.
    assert store.runs == Counter({"a": 1, "b": 1})


def test_a_round_reruns_the_quickest_per_consumer_first(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    store.slow.add("a")  # a's evaluation takes 5 ms, b's microseconds
    subs = {u: manager.subscribe(by_user, {"user": u}) for u in ("a", "b")}
    store.write(1, "a")
    assert manager.wait_idle()
    store.order.clear()
    store.write(1, "b")  # moves the document: hits a and b
    assert manager.wait_idle()
    assert store.order == ["b", "a"]
    subs["a"].consumers = 100_000  # a's values reach 100,000: 0.05 us of re-run each
    store.order.clear()
    store.write(1, "a")
    assert manager.wait_idle()
    assert store.order == ["a", "b"]


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2", None])
def test_consumers_must_be_a_positive_int(parts: tuple[Store, SubscriptionManager], count: Any) -> None:
    _, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    with pytest.raises(fdb.InvalidArgument, match="consumers must be a positive int"):
        sub.consumers = count
    assert sub.consumers == 1


def test_muted_signal_delivers_nothing(parts: tuple[Store, SubscriptionManager]) -> None:
    store, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    seen: list[Any] = []
    sub.changed.connect(lambda value: seen.append(value))
    with sub.changed.muted():
        store.write(1, "a")
        assert manager.wait_idle()
    assert seen == [] and sub.value == [1]  # the value moved on; the callback was muted
    store.write(2, "a")
    assert manager.wait_idle()
    assert seen == [[1, 2]]


def test_receivers_get_sender_and_value_or_the_value_alone(
    parts: tuple[Store, SubscriptionManager],
) -> None:
    store, manager = parts
    sub = manager.subscribe(by_user, {"user": "a"})
    calls: list[Any] = []
    sub.changed.connect(lambda sender, value: calls.append(("blinker", sender, value)))
    sub.changed.connect(lambda value: calls.append(("value", value)))

    def broken(value: Any) -> None:
        raise RuntimeError("a receiver that fails does not stop the others")

    sub.changed.connect(broken)
    store.write(1, "a")
    assert manager.wait_idle()
    assert sorted(calls, key=str) == sorted([("blinker", sub, [1]), ("value", [1])], key=str)
