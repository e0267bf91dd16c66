"""Gradient descent on a convex bowl: the learning rate, and the 2/L cliff.

The simplest loss there is, a quadratic bowl ``f(w) = 1/2 w^T A w`` with ``A`` symmetric
positive definite, already shows everything about the learning rate. Its gradient is
``A w`` and its Hessian is ``A`` everywhere. One step of gradient descent is

    w <- w - lr * A w = (I - lr * A) w,

so along each eigenvector of ``A`` (eigenvalue ``lam``) the error is multiplied by
``1 - lr * lam`` at every step. The step converges when ``|1 - lr * lam| < 1`` for every
eigenvalue, that is when ``lr < 2 / L`` with ``L`` the *largest* eigenvalue (the sharpest
direction of the bowl). Just below ``2 / L`` the iterate zig-zags across the steep direction;
just above it the zig-zag grows and the run diverges. Far below it, the flat direction (the
smallest eigenvalue) crawls: too small a rate wastes steps.

The lesson runs ``cr.optim.SGD`` at three rates (too small, good, just past the cliff), draws
the three trajectories on the contour plot, gets ``L`` from ``cr.func.hessian``, and then
finds the divergence threshold by experiment (bisection on the rate) to check it against 2/L.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "gradient-descent"

# A rotated bowl with eigenvalues 1 and 10: condition number 10, so L = 10 and 2/L = 0.2.
_THETA = math.radians(30.0)
_R = np.array([[math.cos(_THETA), -math.sin(_THETA)], [math.sin(_THETA), math.cos(_THETA)]])
A = _R @ np.diag([1.0, 10.0]) @ _R.T
W0 = (-4.0, 3.0)


def bowl(w: cr.Tensor) -> cr.Tensor:
    """f(w) = 1/2 w^T A w; gradient A w, Hessian A (in loss units, the bowl is unitless)."""
    return 0.5 * (w @ (cr.tensor(A) @ w))


def descend(lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Run SGD on the bowl from W0; return the trajectory (steps+1, 2) and the losses."""
    w = cr.nn.Parameter(cr.tensor(np.array(W0)))
    opt = cr.optim.SGD([w], lr=lr)
    path, losses = [w.detach().numpy().copy()], []
    for _ in range(steps):
        loss = bowl(w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        path.append(w.detach().numpy().copy())
    losses.append(bowl(w.detach()).item())
    return np.array(path), np.array(losses)


def diverges(lr: float, steps: int = 200) -> bool:
    """True when the loss ends above where it started (the run blew up or never settled)."""
    _, losses = descend(lr, steps)
    return not np.isfinite(losses[-1]) or losses[-1] > losses[0]


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Three learning rates on the bowl, their trajectories, and the 2/L threshold."""
    result = start(NAME, out_dir)
    H = cr.func.hessian(bowl)(cr.tensor(np.array(W0))).numpy()
    L = float(np.linalg.eigvalsh(H).max())
    threshold = 2.0 / L
    result.claim(
        "cr.func.hessian finds the bowl's Hessian A exactly (largest eigenvalue L = 10)",
        np.allclose(H, A, atol=1e-12) and abs(L - 10.0) < 1e-9,
        largest_eigenvalue=L,
        hessian=H.round(6),
    )

    steps = 60
    rates = {"too small": 0.1 * threshold, "good": 0.8 * threshold, "divergent": 1.1 * threshold}
    runs = {name: descend(lr, steps) for name, lr in rates.items()}
    final = {name: float(losses[-1]) for name, (_, losses) in runs.items()}
    start_loss = float(runs["good"][1][0])
    result.claim(
        f"In {steps} steps the good rate (0.8 * 2/L) cuts the loss a million-fold, the small "
        "rate (0.1 * 2/L) is still far from the minimum, and 1.1 * 2/L diverges",
        final["good"] < 1e-6 * start_loss
        and final["too small"] > 1e3 * final["good"]
        and final["divergent"] > start_loss,
        learning_rates=rates,
        start_loss=start_loss,
        final_loss=final,
    )

    # Bisection on the rate: below lo converges, above hi diverges.
    lo, hi = 0.5 * threshold, 1.5 * threshold
    for _ in range(12 if quick else 20):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if diverges(mid) else (mid, hi)
    found = 0.5 * (lo + hi)
    rel = abs(found - threshold) / threshold
    result.claim(
        "The learning rate where SGD starts to diverge, found by bisection, is 2/L",
        rel < 0.02,
        threshold_2_over_L=threshold,
        measured_threshold=found,
        relative_difference=rel,
    )

    fig = figure(12, 5)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
    g = np.linspace(-6, 6, 200)
    X, Y = np.meshgrid(g, g)
    Z = 0.5 * (A[0, 0] * X**2 + 2 * A[0, 1] * X * Y + A[1, 1] * Y**2)
    cs = ax1.contour(X, Y, Z, levels=np.geomspace(0.05, 150, 12), colors="0.55", linewidths=0.8)
    ax1.clabel(cs, fmt="%.3g", fontsize=7)
    colors = {"too small": "tab:blue", "good": "tab:green", "divergent": "tab:red"}
    for name, (path, _) in runs.items():
        shown = path[:8] if name == "divergent" else path  # later steps leave the plot
        ax1.plot(
            shown[:, 0],
            shown[:, 1],
            "o-",
            ms=3,
            lw=1.2,
            color=colors[name],
            label=f"{name}: lr = {rates[name]:.3f}"
            + (" (first 7 steps)" if name == "divergent" else ""),
        )
    ax1.plot(*W0, "k*", ms=12, label="start")
    ax1.set_xlim(-6, 6)
    ax1.set_ylim(-6, 6)
    ax1.set_aspect("equal")
    ax1.set_xlabel("w1 (parameter units)")
    ax1.set_ylabel("w2 (parameter units)")
    ax1.set_title("SGD on f(w) = 1/2 wᵀAw, eigenvalues 1 and 10\n(contours: loss)")
    ax1.legend(loc="lower right", fontsize=8)
    for name, (_, losses) in runs.items():
        ax2.semilogy(losses, color=colors[name], label=f"{name}: lr = {rates[name]:.3f}")
    ax2.axhline(start_loss, color="k", ls=":", lw=1, label="starting loss")
    ax2.set_xlabel("step (count)")
    ax2.set_ylabel("loss f(w) (log scale, loss units)")
    ax2.set_title(
        f"Loss per step; divergence threshold 2/L = {threshold:.3f}\n(bisection finds {found:.4f})"
    )
    ax2.legend(loc="lower left", fontsize=8)
    ax2.grid(alpha=0.3, which="both")
    result.save_figure(fig, "gradient_descent.png")
    result.write()
    return result
