"""The zero_grad trap: ``.grad`` accumulates, on purpose.

``loss.backward()`` does not *set* each parameter's ``.grad``; it *adds* to it (``+=``). That
is the same accumulation that makes a value used twice get both of its gradient
contributions, and it is what lets you split one large batch into micro-batches: call
``backward()`` on each, and the sum of their gradients is left in ``.grad``.

The price is that a training loop must clear the gradients before every step, with
``optimizer.zero_grad()``. Forget it, and step ``t`` updates the weights with the sum of all
``t`` gradients so far. The step grows every iteration, the run overshoots, and training
degrades or diverges, silently: no error is raised, the loss just gets worse.

The lesson trains the same small MLP on the handwritten digits twice, with the same data
and seed, once with ``zero_grad()`` and once without, and draws both loss curves and the
gradient norm the optimizer actually used. It then shows the intended use of accumulation:
four micro-batches of 16, each loss scaled by 1/4, leave in ``.grad`` exactly the gradient of
one batch of 64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "zero-grad"


def _model(seed: int) -> cr.nn.Module:
    cr.manual_seed(seed)
    return cr.nn.Sequential(cr.nn.Linear(64, 32), cr.nn.ReLU(), cr.nn.Linear(32, 10))


def train(X: np.ndarray, y: np.ndarray, steps: int, clear: bool, seed: int = 0) -> dict:
    """Full-batch-ish SGD (batches of 128 in a fixed order); ``clear`` toggles zero_grad()."""
    model = _model(seed)
    opt = cr.optim.SGD(model.parameters(), lr=0.5)
    rng = np.random.default_rng(seed)
    losses, grad_norms = [], []
    for _ in range(steps):
        idx = rng.choice(len(X), 128, replace=False)
        loss = cr.nn.functional.cross_entropy(model(cr.tensor(X[idx])), cr.tensor(y[idx]))
        if clear:
            opt.zero_grad()
        loss.backward()
        grad_norms.append(
            float(np.sqrt(sum((p.grad.numpy() ** 2).sum() for p in model.parameters())))
        )
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "grad_norms": grad_norms}


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Train with and without zero_grad(); check micro-batch accumulation against one batch."""
    result = start(NAME, out_dir)
    X, y = cr.data.load_digits()
    steps = 200 if quick else 400
    good = train(X, y, steps, clear=True)
    bad = train(X, y, steps, clear=False)
    tail = max(steps // 10, 5)
    good_end, bad_end = (
        float(np.mean(good["losses"][-tail:])),
        float(np.mean(bad["losses"][-tail:])),
    )
    result.claim(
        f"Without zero_grad() training ends with a worse loss (mean of the last {tail} steps) "
        "than with it, from the same seed and batches",
        bad_end > 1.5 * good_end,
        loss_with_zero_grad=good_end,
        loss_without_zero_grad=bad_end,
        steps=steps,
    )
    result.claim(
        "Without zero_grad() the gradient the optimizer steps with keeps growing (it is the "
        "sum of every gradient so far)",
        bad["grad_norms"][-1] > 5 * good["grad_norms"][-1],
        final_grad_norm_with=good["grad_norms"][-1],
        final_grad_norm_without=bad["grad_norms"][-1],
    )

    # Gradient accumulation, the intended use: 4 micro-batches of 16 == one batch of 64.
    Xb, yb = cr.tensor(X[:64].astype(np.float64)), cr.tensor(y[:64])
    big = _model(1).double()
    cr.nn.functional.cross_entropy(big(Xb), yb).backward()
    micro = _model(1).double()
    for k in range(4):
        part = slice(16 * k, 16 * (k + 1))
        # each micro-batch loss is a mean over 16; scaling by 1/4 makes the sum a mean over 64
        (cr.nn.functional.cross_entropy(micro(Xb[part]), yb[part]) / 4).backward()
    diff = max(
        float(np.abs(a.grad.numpy() - b.grad.numpy()).max())
        for a, b in zip(big.parameters(), micro.parameters())
    )
    result.claim(
        "Accumulating backward() over 4 micro-batches of 16 (each loss / 4) gives the same "
        ".grad as one batch of 64",
        diff < 1e-12,
        max_abs_difference=diff,
        dtype="float64",
    )

    fig = figure(12, 4.3)
    ax1, ax2 = fig.subplots(1, 2)
    steps_axis = np.arange(1, steps + 1)
    ax1.plot(steps_axis, good["losses"], color="tab:green", label="with optimizer.zero_grad()")
    ax1.plot(steps_axis, bad["losses"], color="tab:red", label="without zero_grad()")
    ax1.set_yscale("log")
    ax1.set_xlabel("training step (count)")
    ax1.set_ylabel("cross-entropy loss (nats, log scale)")
    ax1.set_title("Same model, data and seed: digits MLP 64-32-10, SGD lr 0.5")
    ax1.legend(loc="lower left")
    ax1.grid(alpha=0.3, which="both")
    ax2.plot(steps_axis, good["grad_norms"], color="tab:green", label="with zero_grad()")
    ax2.plot(steps_axis, bad["grad_norms"], color="tab:red", label="without: grads pile up")
    ax2.set_yscale("log")
    ax2.set_xlabel("training step (count)")
    ax2.set_ylabel("norm of .grad used by the step (log scale)")
    ax2.set_title("What optimizer.step() sees in .grad")
    ax2.legend(loc="center right")
    ax2.grid(alpha=0.3, which="both")
    result.save_figure(fig, "zero_grad.png")
    result.write()
    return result
