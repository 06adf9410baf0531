"""Helpers shared by the benchmark scripts: sizes, repeated timing, and the ratio lines.

Convention: every figure is ``ratio = raw_time / fusiondb_time`` for the same work in the
same run, so 1.0 means as fast as raw apsw and higher is better. Timings are the best of
several alternating runs (raw, fusiondb, raw, ...), which is the least noisy statistic on a
shared machine; the median ratio is printed too so the spread is visible.

``BENCH_QUICK=1`` shrinks every size so the scripts run in seconds (the test suite uses it to
keep the scripts from rotting; quick figures mean nothing).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script (python benchmarks/bench_x.py): make the repository importable.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

CONVENTION = (
    "ratio = raw apsw time / fusiondb time for the same work "
    "(1.0 = as fast as raw; higher is better)"
)


def size(full: int, quick: int) -> int:
    """``full`` normally, ``quick`` under BENCH_QUICK=1."""
    return quick if QUICK else full


def repeats(full: int) -> int:
    return 2 if QUICK else full


def header(title: str) -> None:
    print(f"== {title}" + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""))
    print(f"   {CONVENTION}")
    sys.stdout.flush()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    raw: Callable[[], object],
    fusion: Callable[[], object],
    repeat: int,
    setup: Callable[[], object] | None = None,
) -> tuple[list[float], list[float]]:
    """Time ``raw`` and ``fusion`` alternately ``repeat`` times each (``setup`` before each)."""
    raw_times: list[float] = []
    fdb_times: list[float] = []
    for _ in range(repeat):
        for fn, out in ((raw, raw_times), (fusion, fdb_times)):
            if setup is not None:
                setup()
            out.append(timed(fn))
    return raw_times, fdb_times


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def report(
    name: str,
    raw_times: list[float],
    fdb_times: list[float],
    *,
    per: int = 1,
    unit: str = "op",
    target: float | None = None,
) -> float:
    """Print one ratio line; times are per call of the timed function, ``per`` ops each."""
    best_raw, best_fdb = min(raw_times) / per, min(fdb_times) / per
    ratio = best_raw / best_fdb
    med = statistics.median(r / f for r, f in zip(raw_times, fdb_times, strict=True))
    verdict = ""
    if target is not None:
        verdict = f"  target >= {target:.1f}x: {'met' if ratio >= target else 'SHORT'}"
    print(
        f"{name:<52} raw {fmt_time(best_raw):>9}/{unit}  fusiondb {fmt_time(best_fdb):>9}/{unit}"
        f"  ratio {ratio:.2f}x (median {med:.2f}x, n={len(raw_times)}){verdict}"
    )
    sys.stdout.flush()
    return ratio
