"""Time per ``chainrule check`` with and without the namespace layer (bubblewrap).

Three measurements, each with namespaces on and off, in interleaved rounds (this VM's speed
drifts within seconds, so the two variants alternate rather than run one after the other):

- one full grading of the reference solution (``tests/exercise_solutions/correct.py``, all
  checks: worker start, sandbox set-up, import, 24 checks, judging);
- the bare start of the interpreter, ``python -I -S -c pass``, directly and under the same
  bwrap command line (what the namespaces themselves cost);
- ``--concurrent N`` gradings at once from N threads (classroom load; wall time for all).

Usage: ``python benchmarks/grader.py [--rounds 5] [--concurrent 32]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chainrule.exercise import check_source  # noqa: E402
from chainrule.exercise.namespaces import bwrap_argv, bwrap_status  # noqa: E402

SOURCE = (ROOT / "tests" / "exercise_solutions" / "correct.py").read_text()


def grade_once(namespaces: bool) -> float:
    start = time.perf_counter()
    report = check_source(SOURCE, namespaces=namespaces)
    elapsed = time.perf_counter() - start
    assert report.passed, report.format_text()
    assert report.isolation == ("namespaces" if namespaces else "reduced")
    return elapsed


def bare_start(namespaces: bool) -> float:
    command = [sys.executable, "-I", "-S", "-c", "pass"]
    r, w = os.pipe()
    try:
        if namespaces:
            root = str(ROOT / "src")
            command = bwrap_argv(command, root, 1 << 20, w)
        start = time.perf_counter()
        subprocess.run(command, check=True, pass_fds=(w,), stdout=subprocess.DEVNULL)
        return time.perf_counter() - start
    finally:
        os.close(r)
        os.close(w)


def concurrent(namespaces: bool, n: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        reports = list(pool.map(lambda _: check_source(SOURCE, namespaces=namespaces), range(n)))
    elapsed = time.perf_counter() - start
    assert all(r.passed for r in reports)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=32, metavar="N")
    args = parser.parse_args()
    print(machine())
    status = bwrap_status()
    print(f"bwrap: {status}")
    if status != "on":
        print("namespaces unavailable here: only the reduced-isolation numbers are measured")
    variants = [False, True] if status == "on" else [False]
    grading: dict[bool, list[float]] = {v: [] for v in variants}
    start: dict[bool, list[float]] = {v: [] for v in variants}
    for v in variants:  # warm-up: imports, the bwrap probe, the page cache
        grade_once(v)
        bare_start(v)
    for _ in range(args.rounds):
        for v in variants:
            grading[v].append(grade_once(v))
            start[v].append(bare_start(v))
    crowd = {v: concurrent(v, args.concurrent) for v in variants} if args.concurrent else {}

    def ms(xs: list[float]) -> str:
        return f"{1000 * statistics.median(xs):7.1f} ms"

    print(f"\nmedian of {args.rounds} interleaved rounds")
    print(f"  {'':34}{'no namespaces':>14}{'namespaces':>14}{'added':>12}")
    rows = [("one full grading (24 checks)", grading), ("python -I -S -c pass", start)]
    for name, data in rows:
        off = statistics.median(data[False])
        cells = [ms(data[False])]
        if True in data:
            on = statistics.median(data[True])
            cells += [ms(data[True]), f"{1000 * (on - off):+8.1f} ms"]
        print(f"  {name:<34}" + "".join(f"{c:>14}" for c in cells))
    for v, t in crowd.items():
        label = "namespaces" if v else "no namespaces"
        print(
            f"  {args.concurrent} concurrent gradings, {label}: {t:.1f} s wall, all passed "
            f"({t / args.concurrent * 1000:.0f} ms per grading)"
        )


if __name__ == "__main__":
    main()
