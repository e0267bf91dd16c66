"""Hessian-vector products: second-order information without the n x n matrix.

The Hessian ``H`` of a loss with ``n`` parameters has ``n^2`` entries: at a million
parameters that is 4 TB in float32, out of reach. Yet many second-order methods (Newton-CG,
K-FAC's curvature checks, influence functions, sharpness measures) only ever need ``H v`` for
a few vectors ``v``, and that product can be had for the price of about two gradients.

The trick is to differentiate the gradient in the direction ``v``: ``H v = d/de grad f(x + e v)``
at ``e = 0``. Forward mode computes exactly that directional derivative, so
``hvp = jvp(grad(f))``: reverse mode for the gradient, forward mode over it
("forward-over-reverse"). It never forms ``H``: its memory grows like ``n`` (a few gradients'
worth), and its time like one gradient, while the full Hessian (``cr.func.hessian``, i.e.
``jacfwd(jacrev(f))``, one forward pass per input) costs ``n^2`` memory and ``n`` passes.

The lesson takes a loss whose gradient is cheap (a chain of neighbouring couplings plus a
quartic term), checks that ``cr.func.hvp`` equals ``hessian(f)(x) @ v`` to rounding, and
measures the time and peak memory of both as ``n`` grows, on log-log axes: the slopes show
the ``n`` versus ``n^2`` growth. Peak memory is measured with ``tracemalloc``, which sees
NumPy's array allocations.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "hvp"


def loss(x: cr.Tensor) -> cr.Tensor:
    """f(x) = sum softplus(x_i x_{i+1}) + 0.1 sum x_i^4: neighbours coupled, so H is banded."""
    return (x[:-1] * x[1:]).softplus().sum() + 0.1 * (x**4).sum()


def _measure(fn) -> tuple[float, int]:
    """(seconds, peak bytes allocated while running fn). The time is the best of three runs
    (the least disturbed by other processes), taken without tracemalloc's overhead."""
    fn()  # warm up (first calls build caches)
    seconds = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        seconds = min(seconds, time.perf_counter() - t0)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return seconds, peak


def _slope(ns: list[int], ys: list[float]) -> float:
    """Least-squares slope of log y against log n over the largest three sizes."""
    return float(np.polyfit(np.log(ns[-3:]), np.log(ys[-3:]), 1)[0])


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """HVP vs full Hessian: agreement, time and memory as n grows."""
    result = start(NAME, out_dir)
    cr.manual_seed(0)
    x = cr.randn(200, dtype=cr.float64)
    v = cr.randn(200, dtype=cr.float64)
    _, hv = cr.func.hvp(loss, (x,), (v,))
    H = cr.func.hessian(loss)(x)
    err = float(np.abs(hv.numpy() - (H @ v).numpy()).max())
    scale = float(np.abs(hv.numpy()).max())
    result.claim(
        "cr.func.hvp(f, (x,), (v,)) equals hessian(f)(x) @ v (n = 200, float64)",
        err <= 1e-12 * max(scale, 1.0),
        max_abs_difference=err,
        max_abs_hvp=scale,
    )

    # The Hessian stops at a few thousand (n^2 floats, n passes); the HVP goes much further.
    ns_h = [64, 128, 256, 512, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
    ns_v = [64, 256, 1024, 4096, 16384, 65536]
    hess, hvps = {}, {}
    for n in sorted(set(ns_h) | set(ns_v)):
        xn = cr.randn(n, dtype=cr.float64)
        vn = cr.randn(n, dtype=cr.float64)
        if n in ns_h:
            hess[n] = _measure(lambda xn=xn: cr.func.hessian(loss)(xn))
        if n in ns_v:
            hvps[n] = _measure(lambda xn=xn, vn=vn: cr.func.hvp(loss, (xn,), (vn,)))
    mem_h = [hess[n][1] for n in ns_h]
    mem_v = [hvps[n][1] for n in ns_v]
    sh, sv = _slope(ns_h, mem_h), _slope(ns_v, mem_v)
    result.claim(
        "Peak memory of the full Hessian grows like n^2 (log-log slope near 2) and of the HVP "
        "like n (slope near 1)",
        1.6 <= sh <= 2.4 and 0.7 <= sv <= 1.3,
        hessian_memory_slope=sh,
        hvp_memory_slope=sv,
        hessian_sizes=ns_h,
        hessian_peak_bytes=mem_h,
        hvp_sizes=ns_v,
        hvp_peak_bytes=mem_v,
    )
    n_common = max(set(ns_h) & set(ns_v))
    t_h_last, t_v_last = hess[n_common][0], hvps[n_common][0]
    result.claim(
        f"At n = {n_common} one HVP is faster than forming the Hessian (which needs n forward "
        "passes' worth of work)",
        t_v_last < t_h_last,
        hvp_seconds=t_v_last,
        hessian_seconds=t_h_last,
        hessian_time_slope=_slope(ns_h, [hess[n][0] for n in ns_h]),
        hvp_time_slope=_slope(ns_v, [hvps[n][0] for n in ns_v]),
    )

    fig = figure(12, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.loglog(ns_h, [1000 * hess[n][0] for n in ns_h], "o-", label="hessian(f)(x)")
    ax1.loglog(ns_v, [1000 * hvps[n][0] for n in ns_v], "s-", label="hvp(f, (x,), (v,))")
    ax1.set_xlabel("number of parameters n")
    ax1.set_ylabel("wall time (ms)")
    ax1.set_title("Time (best of 3 runs, measured)")
    ax1.legend(loc="upper left")
    ax1.grid(alpha=0.3, which="both")
    ax2.loglog(ns_h, np.array(mem_h) / 2**20, "o-", label=f"full Hessian (slope {sh:.2f})")
    ax2.loglog(ns_v, np.array(mem_v) / 2**20, "s-", label=f"HVP (slope {sv:.2f})")
    ax2.set_xlabel("number of parameters n")
    ax2.set_ylabel("peak allocated memory (MiB)")
    ax2.set_title("Peak memory: n^2 for H, n for H @ v")
    ax2.legend(loc="lower right")
    ax2.grid(alpha=0.3, which="both")
    result.save_figure(fig, "hvp.png")
    result.write()
    return result
