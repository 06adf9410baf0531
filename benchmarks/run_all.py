"""Run every ``benchmarks/bench_*.py`` in turn with this interpreter and print their output.

    .venv/bin/python benchmarks/run_all.py            # what ``make bench`` runs
    BENCH_QUICK=1 .venv/bin/python benchmarks/run_all.py   # small sizes, a smoke run

Every figure is a ratio against raw apsw measured in the same run:
ratio = raw time / fusiondb time (1.0 = as fast as raw; higher is better).
Exits non-zero if any script fails, after running the others.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:  # run only the scripts whose names contain one of the arguments
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    failed: list[str] = []
    for script in scripts:
        print(f"\n### {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        took = time.perf_counter() - start
        if proc.returncode != 0:
            failed.append(script.name)
            print(f"### {script.name} FAILED (exit {proc.returncode}) after {took:.1f} s", flush=True)
        else:
            print(f"### {script.name} done in {took:.1f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
