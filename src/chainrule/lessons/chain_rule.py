"""The chain rule, three layers deep: backprop is a product of Jacobians, taken from the left.

A network is a composition. For ``L = f3(f2(f1(x)))`` the chain rule says that the derivative
of the output with respect to the input is the product of the three layers' Jacobians,

    dL/dx = J3 @ J2 @ J1,      J1 = df1/dx,  J2 = df2/dh1,  J3 = df3/dh2.

This lesson computes each Jacobian on its own with ``cr.func.jacrev``, multiplies them, and
compares the product with the gradient that one ``loss.backward()`` leaves in ``x.grad``.
They agree to rounding: backprop *is* this product, nothing more.

The order of the product matters for cost, not for the answer. Multiplying from the right
(``J3 @ (J2 @ J1)``, forward mode) carries a whole matrix through the chain: every step is a
matrix-matrix product. Multiplying from the left (``(J3 @ J2) @ J1``, reverse mode) starts
from the loss, a single row, so every step is a vector-matrix product. With a scalar loss,
reverse order is cheaper by about the width of the layers, and the same single backward sweep
also hands every parameter its gradient on the way past: one ``backward()`` fills the
``.grad`` of all three weight matrices. The figure counts the multiply-adds of both orders as
the layers get wider.
"""

from __future__ import annotations

import time
from pathlib import Path

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "chain-rule"


def _layers(widths: tuple[int, int, int]) -> tuple:
    """Weights of a 3-layer net R^n0 -> R^n1 -> R^n2 -> R (float64, for exact comparison)."""
    n0, n1, n2 = widths
    W1 = cr.randn(n1, n0, dtype=cr.float64) * (1.0 / n0**0.5)
    W2 = cr.randn(n2, n1, dtype=cr.float64) * (1.0 / n1**0.5)
    w3 = cr.randn(n2, dtype=cr.float64) * (1.0 / n2**0.5)
    return W1, W2, w3


def _chain_cost(widths: list[int]) -> tuple[int, int]:
    """Multiply-adds to form dL/dx = J3 J2 J1 (J_k of shape widths[k+1] x widths[k], last
    width 1) from the right (forward order) and from the left (reverse order)."""
    # From the right the running product always has n0 columns: J_k (n_{k+1} x n_k) times
    # it (n_k x n0) costs n_{k+1} * n_k * n0, for k = 1 .. (J1 itself is free).
    right = sum(widths[k + 1] * widths[k] * widths[0] for k in range(1, len(widths) - 1))
    # From the left the running product is one row: (1 x n_{k+1}) times J_k, from the loss down.
    left = sum(widths[k + 1] * widths[k] for k in range(len(widths) - 1))
    return right, left


def _best_time(fn, repeats: int = 5) -> float:
    """Best-of-``repeats`` wall time of fn() in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Compare the product of the three Jacobians with backprop; count both orders' cost."""
    result = start(NAME, out_dir)
    cr.manual_seed(0)
    widths = (6, 8, 5)
    W1, W2, w3 = _layers(widths)
    f1 = lambda x: (W1 @ x).tanh()  # noqa: E731  layer 1: R^6 -> R^8
    f2 = lambda h: (W2 @ h).sigmoid()  # noqa: E731  layer 2: R^8 -> R^5
    f3 = lambda h: (w3 * h).sum()  # noqa: E731  layer 3: R^5 -> R (the loss)

    x0 = cr.randn(widths[0], dtype=cr.float64)
    h1, h2 = f1(x0), f2(f1(x0))
    J1 = cr.func.jacrev(f1)(x0)  # (8, 6)
    J2 = cr.func.jacrev(f2)(h1)  # (5, 8)
    J3 = cr.func.jacrev(f3)(h2)  # (5,): the gradient of a scalar is a row
    product = (J3 @ J2 @ J1).numpy()

    x = x0.detach().requires_grad_()
    f3(f2(f1(x))).backward()
    backprop = x.grad.numpy()
    err = float(abs(product - backprop).max())
    result.claim(
        "The product of the three Jacobians J3 @ J2 @ J1 equals the gradient that one "
        "backward() leaves in x.grad",
        err < 1e-12,
        max_abs_difference=err,
        jacobian_shapes=[list(J3.shape), list(J2.shape), list(J1.shape)],
    )

    # One sweep, every parameter: make the weights leaves and call backward once.
    params = [W.detach().requires_grad_() for W in (W1, W2, w3)]
    P1, P2, p3 = params
    loss = (p3 * (P2 @ (P1 @ x0).tanh()).sigmoid()).sum()
    loss.backward()
    filled = [p.grad is not None for p in params]
    # Each parameter's gradient, checked separately against its own reverse-mode transform.
    refs = [
        cr.func.grad(lambda P: (w3 * (W2 @ (P @ x0).tanh()).sigmoid()).sum())(W1),
        cr.func.grad(lambda P: (w3 * (P @ (W1 @ x0).tanh()).sigmoid()).sum())(W2),
        cr.func.grad(lambda p: (p * (W2 @ (W1 @ x0).tanh()).sigmoid()).sum())(w3),
    ]
    perr = max(float(abs(p.grad.numpy() - r.numpy()).max()) for p, r in zip(params, refs))
    result.claim(
        "One backward() sweep fills the gradient of all three layers' weights "
        f"({sum(p.numel() for p in params)} numbers), each equal to its own gradient",
        all(filled) and perr < 1e-12,
        backward_calls=1,
        parameters_with_grad=sum(filled),
        max_abs_difference=perr,
    )

    sizes = [4, 8, 16, 32, 64, 128] if quick else [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    right, left = zip(*(_chain_cost([n, n, n, 1]) for n in sizes))
    ratio = [r / lft for r, lft in zip(right, left)]
    # The same two orders, timed on real Jacobian-sized matrices at the largest width.
    n = sizes[-1]
    Js = [cr.randn(n, n, dtype=cr.float64) for _ in range(2)] + [cr.randn(1, n, dtype=cr.float64)]
    A1, A2, a3 = Js
    t_right = _best_time(lambda: a3 @ (A2 @ A1))
    t_left = _best_time(lambda: (a3 @ A2) @ A1)
    same = float(abs((a3 @ (A2 @ A1)).numpy() - ((a3 @ A2) @ A1).numpy()).max())
    result.claim(
        "For a scalar loss, multiplying from the loss backward (reverse order) costs fewer "
        "multiply-adds than from the input forward, the gap grows with the width, and it is "
        f"faster when timed at width {n} (same product either way)",
        all(r > lft for r, lft in zip(right, left))
        and ratio[-1] > ratio[0]
        and t_left < t_right
        and same < 1e-9 * n,
        widths=sizes,
        forward_order_madds=list(right),
        reverse_order_madds=list(left),
        ratio=[round(r, 2) for r in ratio],
        seconds_forward_order=t_right,
        seconds_reverse_order=t_left,
        max_abs_difference=same,
    )

    fig = figure(11, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(backprop, product, "o", ms=8, label="each of the 6 entries of dL/dx")
    lo, hi = float(min(backprop.min(), product.min())), float(max(backprop.max(), product.max()))
    pad = 0.1 * (hi - lo)
    ax1.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x")
    ax1.set_xlabel("x.grad from loss.backward() (dimensionless)")
    ax1.set_ylabel("J3 @ J2 @ J1 (dimensionless)")
    ax1.set_title(f"Backprop equals the Jacobian product\n(max difference {err:.1e})")
    ax1.legend(loc="upper left")
    ax1.grid(alpha=0.3)
    ax2.loglog(sizes, right, "o-", label="forward order: J3 @ (J2 @ J1)")
    ax2.loglog(sizes, left, "s-", label="reverse order: (J3 @ J2) @ J1")
    ax2.set_xlabel("layer width n (units per layer)")
    ax2.set_ylabel("multiply-adds to form dL/dx (count)")
    ax2.set_title("Cost of the chain rule's two orders\n(3 layers n -> n -> n -> 1)")
    ax2.legend(loc="upper left")
    ax2.grid(alpha=0.3, which="both")
    result.save_figure(fig, "chain_rule.png")
    result.write()
    return result
