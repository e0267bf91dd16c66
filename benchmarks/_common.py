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
        f"NumPy {numpy.__version__}"
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
