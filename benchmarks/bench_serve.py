"""Serving figures: live queries over WebSockets under a steady writer.

    .venv/bin/python benchmarks/bench_serve.py    # BENCH_QUICK=1 for a smoke run

A `fusiondb.serve` app (uvicorn, its own process, on 127.0.0.1) holds a file of tasks. 200
WebSocket clients each subscribe to their own user's tasks and to one shared query (the newest
task). A writer sends 200 mutations/s for 10 s over a WebSocket, each to a random user. The
clients and the writer are one Node process (``serve_load.mjs``, the ``ws`` package from
clients/js/node_modules: ``make web-deps``), far cheaper per message than Python clients, so
the figures are the server's. Every task carries ``stamp``, the server's clock inside the
mutation, so a client's receive time minus the newest stamp in a value is commit -> client
message latency.

Checked: every client ends on the fresh value of both its queries (the writer knows what they
are), values never go backwards (out of order), and every value a client gets is one the
writer committed. Reported: latency p50/p99 (targets: p50 <= 5 ms, p99 <= 50 ms), mutations
achieved, server CPU per message and per client, memory per client, and the ratio of
in-process callback latency (a ``changed`` callback in the same process as the commit,
measured in this run) to the served latency.

The server runs as ``fusiondb serve`` does (``fusiondb.serve.uvicorn_ws.UVICORN_OPTIONS``:
value messages as frames shared by the connections); ``BENCH_SERVE_ASGI=1`` runs it with
uvicorn's own WebSocket protocol instead (every message an ASGI send), to compare.
``BENCH_SERVE_PIN=1`` keeps the load client on a core of its own (``load_core``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchutil import QUICK, ROOT, size

import fusiondb as fdb

CLIENTS = size(200, 20)
# Mutations per second and for how long (BENCH_SERVE_RATE / BENCH_SERVE_SECONDS to change them,
# e.g. a lower rate to see the latency of a server that is not saturated).
RATE = int(os.environ.get("BENCH_SERVE_RATE", 0)) or size(200, 50)
SECONDS = int(os.environ.get("BENCH_SERVE_SECONDS", 0)) or size(10, 2)
# BENCH_SERVE_PIN=1: the load client kept on one core (see load_core()), instead of wherever
# the kernel puts it.
PIN = bool(os.environ.get("BENCH_SERVE_PIN")) and len(os.sched_getaffinity(0)) >= 2


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
    options: dict[str, Any] = {}
    if not os.environ.get("BENCH_SERVE_ASGI"):  # BENCH_SERVE_ASGI=1: uvicorn's own protocol
        from fusiondb.serve.uvicorn_ws import UVICORN_OPTIONS

        options = UVICORN_OPTIONS  # as `fusiondb serve` runs: shared frames (frames.py)
    uvicorn.run(app(db, [by_user, newest, add]), host="127.0.0.1", port=port, log_level="error", **options)


def load_core() -> None:
    """With ``BENCH_SERVE_PIN``: keep the load client (this process, before it execs Node) on
    the last allowed core; the server is left to the kernel, which then runs its event loop on
    the other core.

    Unpinned on this 2-core machine, the kernel often runs the load client on the event loop's
    core: each frame the loop writes wakes the client, which takes that core for its read, and
    the fan-out's wall time doubles (measured: ~7 ms instead of ~3.6 ms for 201 frames). With
    the client on a core of its own, as when the clients are other machines, the figures are
    the server's rather than those of its co-tenant; both are in docs/performance.md. The
    machine's other work still shares both cores."""
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def loop_cpu(pid: int) -> float:
    """CPU seconds of the process's main thread: uvicorn's event loop, where values fan out
    to the connections (the queries re-run on fusiondb's subscription thread, the mutations
    on worker threads)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def load_generator() -> list[str]:
    """The command starting the Node load client, or exit saying what is missing."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("bench_serve needs node on PATH (the load client is benchmarks/serve_load.mjs)")
    if not (ROOT / "clients" / "js" / "node_modules" / "ws").is_dir():
        raise SystemExit("bench_serve needs clients/js/node_modules: run `make web-deps`")
    return [node, str(Path(__file__).with_name("serve_load.mjs"))]


def event(proc: subprocess.Popen[str], name: str) -> dict[str, Any]:
    """The next line of the load client, which must be the event ``name``."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        said = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"the load client ended before {name!r}: {said}")
    got: dict[str, Any] = json.loads(line)
    if got.get("event") != name:
        raise SystemExit(f"the load client said {got} (expected {name!r})")
    return got


def profile(pid: int) -> subprocess.Popen[bytes] | None:
    """``BENCH_SERVE_PROFILE=out.txt``: py-spy (``pip install py-spy``; not a dependency)
    samples the server (every thread, GIL holder marked) while the writer runs, into a
    collapsed-stack file (speedscope, flamegraph.pl)."""
    out = os.environ.get("BENCH_SERVE_PROFILE")
    if not out:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--gil",
            "--idle",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            out,
        ]
    )


def main() -> None:
    print(
        "== serving: WebSocket live queries under a writer"
        + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else "")
    )
    print("   ratio = in-process callback latency / served latency (1.0 = as fast; higher is better)")
    command = load_generator()
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

    report_path = os.path.join(tmp, "report.json")
    spec = {"port": port, "clients": CLIENTS, "rate": RATE, "seconds": SECONDS, "report": report_path}
    load = subprocess.Popen(
        [*command, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=load_core if PIN else None,
    )
    assert load.stdin is not None
    try:
        event(load, "subscribed")
        cpu1, rss1 = proc_stats(server.pid)
        loop1 = loop_cpu(server.pid)
        profiler = profile(server.pid)
        load.stdin.write("go\n")
        load.stdin.flush()
        written = event(load, "written")
        cpu2, rss2 = proc_stats(server.pid)
        loop2 = loop_cpu(server.pid)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait(60)
        event(load, "report")
        report = json.loads(Path(report_path).read_text())
    finally:
        load.wait(30)
        server.terminate()
        server.join(10)

    n = report["mutations"]
    took = written["took"]
    latencies = [x / 1000 for x in report["latencies"]]
    problems = report["problems"]
    p50, p99 = pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000
    in50 = pct(inproc, 0.5) * 1000
    print(
        f"   {CLIENTS} clients x 2 live queries (one Node process"
        f"{', pinned to a core of its own' if PIN else ''}), {n} mutations in {took:.1f} s "
        f"({n / took:.0f}/s, aiming at {RATE}/s), {report['messages']} value messages, "
        f"{len(latencies)} timed"
    )
    print(
        f"   fresh at the end: {report['fresh']}/{CLIENTS} clients; out of order or bad: "
        f"{report['problemCount']}; mutation errors: {written['errors']}"
    )
    for p in problems[:5]:
        print(f"     {p}")
    print(
        f"   commit -> client message latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(targets 5 / 50 ms); in-process callback p50 {in50:.3f} ms"
    )
    cpu_share = (cpu2 - cpu1) / took
    # Less dependent on what else the machine runs than latency: CPU time per message sent.
    print(
        f"   server CPU per value message sent: {(cpu2 - cpu1) / max(1, report['messages']) * 1e6:.0f} us "
        f"({report['messages'] / n:.1f} messages per commit to {CLIENTS} clients: fewer than one each "
        f"when they are behind and skip to the newest value)"
    )
    print(
        f"   event-loop thread CPU per value message sent: "
        f"{(loop2 - loop1) / max(1, report['messages']) * 1e6:.1f} us (the fan-out and the sockets; "
        f"{(loop2 - loop1) / took * 100:.0f}% of a core)"
    )
    print(
        f"   server CPU while writing: {cpu_share * 100:.0f}% of a core, "
        f"{cpu_share * 100 / CLIENTS:.2f}% per client; load client: "
        f"{report['loadCpuSeconds'] / took * 100:.0f}% of a core"
    )
    print(
        f"   server memory per client (after subscribing): {(rss1 - rss0) / CLIENTS / 1024:.1f} KiB; "
        f"RSS at the end {rss2 / 2**20:.0f} MiB"
    )
    print(f"   ratio in-process/served latency p50: {in50 / p50 if p50 else float('nan'):.3f}")
    if report["fresh"] != CLIENTS or report["problemCount"] or written["errors"]:
        raise SystemExit(
            f"{CLIENTS - report['fresh']} clients not fresh, "
            f"{report['problemCount']} problems, {written['errors']} mutation errors"
        )


if __name__ == "__main__":
    main()
