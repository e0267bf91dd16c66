"""Shared benchmark helpers: timing by median, peer discovery, machine description."""

from __future__ import annotations

import gc
import importlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def timeit(fn: Callable[[], Any], min_time: float = 0.3, repeats: int = 7) -> float:
    """Median seconds per call: ``repeats`` rounds of as many calls as fill ``min_time``."""
    fn()  # warm up (imports, caches, BLAS threads)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time / repeats or n < 1:
        fn()
        n += 1
    rounds = []
    gc_was = gc.isenabled()
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n)
    if gc_was:
        gc.enable()
    return statistics.median(rounds)


def compare(
    fns: dict[str, Callable[[], Any]], min_time: float = 0.05, rounds: int = 15
) -> list[tuple[str, float]]:
    """Median seconds per call of each function, measured in *interleaved* rounds.

    On a shared machine the speed drifts from one second to the next; timing the libraries
    one after another would bill that drift to whichever ran during a slow spell. Each round
    times every function back to back (in a rotating order), so all see the same conditions.
    """
    names = list(fns)
    counts = {}
    for name in names:
        fn = fns[name]
        fn()  # warm up
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time or n < 1:
            fn()
            n += 1
        counts[name] = n
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, n = fns[name], counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return [(name, statistics.median(samples[name])) for name in names]


def limit_threads(n: int) -> None:
    """Give every library the same number of threads (NumPy's BLAS and PyTorch's pool).

    On this 2-core VM, two thread pools that both spin between calls (OpenBLAS, OpenMP)
    slow each other down by large and varying factors when their runs are interleaved, so
    the comparisons run with the same explicit count for everyone (default 1).
    """
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    torch = peer("torch")
    if torch is not None:
        torch.set_num_threads(n)


THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def peer(name: str) -> Any | None:
    """Import a peer library if it is installed (benchmarks compare against what is there)."""
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {numpy.__version__}, {THREADS} thread(s) per library (BENCH_THREADS)"
    )


def fmt(seconds: float, unit: str = "ms") -> str:
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    return f"{seconds * scale:9.3f} {unit}"


def report(title: str, rows: list[tuple[str, float]], unit: str, baseline: str) -> None:
    """Print a table with each row's ratio to ``baseline`` (all measured in this run)."""
    base = dict(rows).get(baseline)
    print(f"\n{title}")
    for name, t in rows:
        ratio = f"{t / base:6.2f}x {baseline}" if base else ""
        print(f"  {name:<28}{fmt(t, unit)}   {ratio}")
