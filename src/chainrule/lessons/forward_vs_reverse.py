"""Forward mode or reverse mode: count the passes, time them.

Both modes compute exact derivatives with the chain rule; they differ in which end of the
chain they start from. For ``f: R^n -> R^m`` with Jacobian ``J`` (m x n):

- forward mode pushes a *tangent* from the inputs: one pass (a JVP, ``cr.func.jvp``) gives
  ``J v``, one column of ``J`` when ``v`` is a basis vector. The full Jacobian takes ``n``
  passes, one per input.
- reverse mode pulls a *cotangent* from the outputs: one pass (a VJP, ``cr.func.vjp``) gives
  ``u^T J``, one row. The full Jacobian takes ``m`` passes, one per output.

So the shape of the problem picks the mode. A loss has millions of inputs and one output:
reverse mode, one pass (that is backprop). A simulation with 10 initial conditions and
10,000 sensors: forward mode, 10 passes instead of 10,000.

The lesson builds both shapes, ``R^10 -> R^10000`` and ``R^10000 -> R^10`` (both ``tanh`` of
a random linear map), and computes each Jacobian pass by pass in both modes, counting the
passes and timing them. ``cr.func.jacfwd`` and ``cr.func.jacrev`` are timed too: they push
all the basis vectors through as one batch (one vectorised pass instead of a Python loop),
which shrinks the gap, but the work in each is still proportional to n or m.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "forward-vs-reverse"


def jacobian_by_passes(f, x: cr.Tensor, m: int, mode: str) -> tuple[np.ndarray, int, float]:
    """The Jacobian of ``f`` at ``x`` one pass per column (forward) or row (reverse);
    returns (J, passes, seconds)."""
    n = x.shape[0]
    t0 = time.perf_counter()
    passes = 0
    if mode == "forward":
        cols = []
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            _, col = cr.func.jvp(f, (x,), (cr.tensor(e),))  # J e_i: column i
            cols.append(col.numpy())
            passes += 1
        J = np.stack(cols, axis=1)
    else:
        _, vjp_fn = cr.func.vjp(f, x)  # one forward; each VJP reuses it
        rows = []
        for j in range(m):
            e = np.zeros(m)
            e[j] = 1.0
            (row,) = vjp_fn(cr.tensor(e))  # e_j^T J: row j
            rows.append(row.numpy())
            passes += 1
        J = np.stack(rows, axis=0)
    return J, passes, time.perf_counter() - t0


def _timed(fn) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out.numpy(), time.perf_counter() - t0


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Tall (few inputs, many outputs) and wide (the reverse) Jacobians in both modes."""
    result = start(NAME, out_dir)
    cr.manual_seed(0)
    few, many = 10, (2000 if quick else 10000)  # full: the lesson's table
    W = cr.randn(many, few, dtype=cr.float64) / few**0.5
    V = cr.randn(few, many, dtype=cr.float64) / many**0.5
    problems = {
        f"R^{few} -> R^{many}": (lambda x: (W @ x).tanh(), few, many),
        f"R^{many} -> R^{few}": (lambda x: (V @ x).tanh(), many, few),
    }
    table = {}
    for label, (f, n, m) in problems.items():
        x = cr.randn(n, dtype=cr.float64)
        Jf, pf, tf = jacobian_by_passes(f, x, m, "forward")
        Jr, pr, tr = jacobian_by_passes(f, x, m, "reverse")
        Jfwd, tfwd = _timed(lambda f=f, x=x: cr.func.jacfwd(f)(x))
        Jrev, trev = _timed(lambda f=f, x=x: cr.func.jacrev(f)(x))
        err = max(float(np.abs(J - Jf).max()) for J in (Jr, Jfwd, Jrev))
        table[label] = {
            "inputs": n,
            "outputs": m,
            "forward_passes": pf,
            "reverse_passes": pr,
            "forward_seconds": tf,
            "reverse_seconds": tr,
            "jacfwd_seconds": tfwd,
            "jacrev_seconds": trev,
            "max_disagreement": err,
        }
    tall, wide = table[f"R^{few} -> R^{many}"], table[f"R^{many} -> R^{few}"]
    result.claim(
        "Forward and reverse mode, pass by pass and batched (jacfwd, jacrev), give the same "
        "Jacobian on both problems",
        max(t["max_disagreement"] for t in table.values()) < 1e-12,
        max_disagreement={k: t["max_disagreement"] for k, t in table.items()},
    )
    result.claim(
        "A full Jacobian takes one forward pass per input and one reverse pass per output "
        f"({few} vs {many}, and the other way round)",
        tall["forward_passes"] == few
        and tall["reverse_passes"] == many
        and wide["forward_passes"] == many
        and wide["reverse_passes"] == few,
        passes={
            k: {"forward": t["forward_passes"], "reverse": t["reverse_passes"]}
            for k, t in table.items()
        },
    )
    result.claim(
        "Few inputs, many outputs: forward mode is faster; many inputs, few outputs: reverse "
        "mode is faster (pass by pass, measured)",
        tall["forward_seconds"] < tall["reverse_seconds"]
        and wide["reverse_seconds"] < wide["forward_seconds"],
        seconds={
            k: {
                "forward": round(t["forward_seconds"], 4),
                "reverse": round(t["reverse_seconds"], 4),
                "jacfwd": round(t["jacfwd_seconds"], 4),
                "jacrev": round(t["jacrev_seconds"], 4),
            }
            for k, t in table.items()
        },
    )

    fig = figure(12, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    labels = list(table)
    idx = np.arange(len(labels))
    ax1.bar(idx - 0.2, [table[k]["forward_passes"] for k in labels], 0.4, label="forward (JVPs)")
    ax1.bar(idx + 0.2, [table[k]["reverse_passes"] for k in labels], 0.4, label="reverse (VJPs)")
    for i, k in enumerate(labels):
        for dx, key in ((-0.2, "forward_passes"), (0.2, "reverse_passes")):
            ax1.text(i + dx, table[k][key] * 1.15, f"{table[k][key]:,}", ha="center", fontsize=9)
    ax1.set_yscale("log")
    ax1.set_ylim(1, many * 8)
    ax1.set_xticks(idx, labels)
    ax1.set_xlabel("problem (inputs -> outputs)")
    ax1.set_ylabel("passes to build the full Jacobian (count)")
    ax1.set_title("Passes: one per input (forward) or per output (reverse)")
    ax1.legend(loc="upper center")
    w = 0.2
    series = (
        ("forward_seconds", "forward, pass by pass", "tab:blue", None),
        ("reverse_seconds", "reverse, pass by pass", "tab:orange", None),
        ("jacfwd_seconds", "cr.func.jacfwd (batched)", "tab:blue", "//"),
        ("jacrev_seconds", "cr.func.jacrev (batched)", "tab:orange", "//"),
    )
    for s, (key, name, color, hatch) in enumerate(series):
        vals = [1000 * table[k][key] for k in labels]
        ax2.bar(
            idx + (s - 1.5) * w,
            vals,
            w,
            label=name,
            color=color,
            hatch=hatch,
            alpha=0.55 if hatch else 1.0,
            edgecolor="black",
            linewidth=0.5,
        )
    ax2.set_yscale("log")
    ax2.set_xticks(idx, labels)
    ax2.set_xlabel("problem (inputs -> outputs)")
    ax2.set_ylabel("wall time (ms, log scale)")
    ax2.set_title("Time to build the Jacobian (float64, measured)")
    ax2.legend(loc="upper center", fontsize=8, ncols=2)
    lo, hi = ax2.get_ylim()
    ax2.set_ylim(lo, hi * 30)  # room for the legend above the bars
    result.save_figure(fig, "forward_vs_reverse.png")
    result.write()
    return result
