"""Serving figures: live queries over WebSockets under a steady writer.

    .venv/bin/python benchmarks/bench_serve.py    # BENCH_QUICK=1 for a smoke run

A `fusiondb.serve` app (uvicorn, its own process, on 127.0.0.1) holds a file of tasks. 200
WebSocket clients (in up to 4 client processes) each subscribe to their own user's tasks and to one
shared query (the newest task). A writer sends 200 mutations/s for 10 s over a WebSocket, each
to a random user. Every task carries ``stamp``, the server's clock inside the mutation, so a
client's receive time minus the newest stamp in a value is commit -> client message latency.

Checked: every client ends on the fresh value of both its queries (the writer knows what they
are), values never go backwards (out of order), and every value a client gets is one the
writer committed. Reported: latency p50/p99 (targets: p50 <= 5 ms, p99 <= 50 ms), server CPU
and memory per client, and the ratio of in-process callback latency (a ``changed`` callback
in the same process as the commit, measured in this run) to the served latency.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from benchutil import QUICK, size

import fusiondb as fdb

CLIENTS = size(200, 20)
PROCS = 4  # client processes (decoding 40k values/s is the load generator's biggest cost)
RATE = size(200, 50)  # mutations per second
SECONDS = size(10, 2)


class Task(fdb.Document):
    seq: int
    user_id: str
    stamp: float


schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]).index("by_seq", ["seq"]))


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def newest(db: fdb.Reader) -> Task | None:
    return db.query("tasks").with_index("by_seq").order("desc").first()


@fdb.mutation
def add(db: fdb.Writer, seq: int, user_id: str) -> str:
    return db.insert("tasks", Task(seq=seq, user_id=user_id, stamp=time.time()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_process(path: str, port: int) -> None:
    import logging

    import uvicorn

    from fusiondb.serve import app

    logging.getLogger("fusiondb.serve").setLevel(logging.ERROR)
    db = fdb.open(path, schema)
    uvicorn.run(app(db, [by_user, newest, add]), host="127.0.0.1", port=port, log_level="error")


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def client_process(port: int, users: list[int], ready: Any, go: Any, out: Any, stop_after: float) -> None:
    asyncio.run(_clients(port, users, ready, go, out, stop_after))


async def _clients(port: int, users: list[int], ready: Any, go: Any, out: Any, stop_after: float) -> None:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    problems: list[str] = []
    finals: dict[int, tuple[int, int]] = {}  # user -> (tasks seen, newest seq seen)

    async def one(user: int, subscribed: asyncio.Event) -> None:
        async with connect(f"ws://127.0.0.1:{port}/api/sync", max_size=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "id": 1, "name": "by_user",
                                      "args": {"user_id": f"u{user}"}}))
            await ws.send(json.dumps({"type": "subscribe", "id": 2, "name": "newest"}))
            count, newest_seq, got = 0, -1, 0
            deadline: float | None = None
            while True:
                if deadline is None and stop_event.is_set():
                    deadline = time.monotonic() + stop_after
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                now = time.time()
                msg = orjson.loads(raw)
                if msg.get("type") != "value":
                    problems.append(f"u{user}: {msg}")
                    continue
                got += 1
                if got == 2:
                    subscribed.set()
                if msg["id"] == 1:
                    tasks = msg["value"]
                    if len(tasks) < count:
                        problems.append(f"u{user}: tasks went back from {count} to {len(tasks)}")
                    if tasks and len(tasks) > count and go.is_set():
                        latencies.append(now - max(t["stamp"] for t in tasks))
                    count = len(tasks)
                else:
                    value = msg["value"]
                    seq = -1 if value is None else value["seq"]
                    if seq < newest_seq:
                        problems.append(f"u{user}: newest went back from {newest_seq} to {seq}")
                    if value is not None and seq > newest_seq and go.is_set():
                        latencies.append(now - value["stamp"])
                    newest_seq = seq
            finals[user] = (count, newest_seq)

    stop_event = asyncio.Event()
    stop_file = Path(os.environ["BENCH_SERVE_STOP"])

    async def watch_stop() -> None:
        while not stop_file.exists():
            await asyncio.sleep(0.05)
        stop_event.set()

    events = [asyncio.Event() for _ in users]
    tasks = [asyncio.create_task(one(u, e)) for u, e in zip(users, events, strict=True)]
    await asyncio.gather(*(e.wait() for e in events))
    ready.set()
    # The stop: the parent creates the stop file once the writer is done; clients then read
    # for a moment more (stop_after) and report what they ended on.
    stopper = asyncio.create_task(watch_stop())
    await asyncio.gather(*tasks)
    stopper.cancel()
    out.put({"latencies": latencies, "problems": problems, "finals": finals})


def in_process_latency(tmp: str) -> list[float]:
    """Commit -> changed callback in the committing process, for the ratio line."""
    lat: list[float] = []
    with fdb.open(os.path.join(tmp, "inproc.db"), schema) as db:
        sub = db.subscribe(newest)
        sub.changed.connect(lambda value: lat.append(time.time() - value.stamp) if value else None)
        for i in range(size(400, 50)):
            db.run(add, seq=i, user_id="u0")
            db.wait_idle()
        sub.close()
    return lat


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    print("== serving: WebSocket live queries under a writer"
          + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""))
    print("   ratio = in-process callback latency / served latency (1.0 = as fast; higher is better)")
    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    inproc = in_process_latency(tmp)
    path = os.path.join(tmp, "serve.db")
    fdb.open(path, schema).close()
    port = free_port()
    ctx = mp.get_context("spawn")
    server = ctx.Process(target=serve_process, args=(path, port), daemon=True)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
    assert server.pid is not None
    _, rss0 = proc_stats(server.pid)

    stop_file = os.path.join(tmp, "stop")
    os.environ["BENCH_SERVE_STOP"] = stop_file
    ready = [ctx.Event() for _ in range(PROCS)]
    go = ctx.Event()
    out = ctx.Queue()
    users = list(range(CLIENTS))
    clients = [
        ctx.Process(target=client_process, args=(port, users[i::PROCS], ready[i], go, out, 2.0), daemon=True)
        for i in range(PROCS)
    ]
    for c in clients:
        c.start()
    for r in ready:
        if not r.wait(120):
            raise SystemExit("clients did not subscribe in time")
    cpu1, rss1 = proc_stats(server.pid)
    go.set()

    # The writer: paced mutations over one WebSocket, each to a random user.
    expected: dict[int, int] = dict.fromkeys(users, 0)
    n = RATE * SECONDS

    async def write() -> None:
        from websockets.asyncio.client import connect

        async with connect(f"ws://127.0.0.1:{port}/api/sync") as ws:
            start = time.monotonic()
            rng = random.Random(1)
            for seq in range(n):
                user = rng.choice(users)
                expected[user] += 1
                await ws.send(json.dumps({"type": "mutation", "id": seq, "name": "add",
                                          "args": {"seq": seq, "user_id": f"u{user}"}}))
                delay = start + (seq + 1) / RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            results = 0
            while results < n:
                if json.loads(await ws.recv())["type"] == "result":
                    results += 1

    started = time.monotonic()
    asyncio.run(write())
    wrote_for = time.monotonic() - started
    cpu2, rss2 = proc_stats(server.pid)
    Path(stop_file).touch()
    reports = [out.get(timeout=120) for _ in clients]
    for c in clients:
        c.join(30)
    server.terminate()
    server.join(10)

    latencies = [x for r in reports for x in r["latencies"]]
    problems = [p for r in reports for p in r["problems"]]
    finals: dict[int, tuple[int, int]] = {}
    for r in reports:
        finals.update({int(k): v for k, v in r["finals"].items()})
    stale = [u for u in users if tuple(finals.get(u, (-1, -1))) != (expected[u], n - 1)]
    p50, p99 = pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000
    in50 = pct(inproc, 0.5) * 1000
    print(f"   {CLIENTS} clients x 2 live queries, {n} mutations in {wrote_for:.1f} s "
          f"({n / wrote_for:.0f}/s), {len(latencies)} values timed")
    print(f"   fresh at the end: {CLIENTS - len(stale)}/{CLIENTS} clients; out of order or bad: "
          f"{len(problems)}")
    for p in problems[:5]:
        print(f"     {p}")
    print(f"   commit -> client message latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"(targets 5 / 50 ms); in-process callback p50 {in50:.3f} ms")
    cpu_share = (cpu2 - cpu1) / wrote_for
    print(f"   server CPU while writing: {cpu_share * 100:.0f}% of a core, "
          f"{cpu_share * 100 / CLIENTS:.2f}% per client")
    print(f"   server memory per client (after subscribing): {(rss1 - rss0) / CLIENTS / 1024:.1f} KiB; "
          f"RSS at the end {rss2 / 2**20:.0f} MiB")
    print(f"   ratio in-process/served latency p50: {in50 / p50 if p50 else float('nan'):.3f}")
    if stale or problems:
        raise SystemExit(f"{len(stale)} clients not fresh, {len(problems)} problems")


if __name__ == "__main__":
    main()
