"""In-place changes after a save: the version counter catches them.

To differentiate ``y = x * x`` the backward pass needs ``x`` (``dy/dx = 2 x``), so the
multiply *saves* ``x`` on its graph node. If the program then changes ``x`` in place,
``x.add_(1)``, the saved tensor is the same memory: backward would read the new values and
compute ``2 (x + 1)`` instead of ``2 x``, a wrong gradient with no error at all.

chainrule, like PyTorch, prevents this with a version counter. Every tensor carries a
version that each in-place operation (``add_``, ``mul_``, ``x[i] = v``, ...) increments. A
node records the version of each tensor it saves; at backward time it compares, and if they
differ it raises an error that names the node, the saved input, both versions and the fix.

The fix is to not mutate what the graph still needs: write ``x = x + 1`` (a new tensor; the
saved one is untouched), or ``clone()`` before changing in place. The lesson triggers the
error, shows it, applies the fix, and compares the three gradients: the correct one, the one
the fix gives, and the stale one that a library without version counters would have
returned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "in-place"


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Trigger the in-place error, show it, and check the out-of-place fix."""
    result = start(NAME, out_dir)
    a = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)

    # The trap: x is saved by the multiply, then changed in place.
    x = a * 2.0
    y = (x * x).sum()  # saves x; dy/dx = 2x, dy/da = 4x = 8a
    x.add_(1)
    message = ""
    try:
        y.backward()
    except RuntimeError as err:
        message = str(err)
    result.claim(
        "Backward after x.add_(1) on a saved tensor raises an error naming the op, the saved "
        "tensor's version at save time and now, and the fix",
        "modified by an in-place operation" in message
        and "version 0" in message
        and "version 1" in message,
        error=message,
        grad_left_in_a=None if a.grad is None else a.grad.numpy(),
    )

    # The fix: an out-of-place add makes a new tensor; the saved x keeps its values.
    a.grad = None
    x = a * 2.0
    y = (x * x).sum()
    x = x + 1  # a new tensor; nothing the graph saved has changed
    y.backward()
    correct = 8.0 * a.detach().numpy()  # d/da sum((2a)^2) = 8a
    fixed = a.grad.numpy()
    # What backward would have computed from the mutated x (2 * (x + 1) * 2): stale and wrong.
    stale = 4.0 * (2.0 * a.detach().numpy() + 1.0)
    result.claim(
        "With x = x + 1 instead, backward succeeds and a.grad equals the true gradient 8a; "
        "the silently stale gradient would have been 4(2a + 1)",
        np.allclose(fixed, correct, rtol=0, atol=1e-6) and not np.allclose(stale, correct),
        a=a.detach().numpy(),
        grad_with_fix=fixed,
        true_gradient=correct,
        stale_gradient_without_the_check=stale,
    )

    fig = figure(11, 5.2)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.2])
    idx = np.arange(4)
    ax1.bar(idx - 0.27, correct, 0.26, label="true gradient 8a", color="tab:green")
    ax1.bar(idx, fixed, 0.26, label="a.grad with the fix (x = x + 1)", color="tab:blue")
    ax1.bar(idx + 0.27, stale, 0.26, label="stale: read the mutated x", color="tab:red")
    ax1.set_xticks(idx, [f"a[{i}] = {v:g}" for i, v in enumerate(a.detach().numpy())])
    ax1.set_xlabel("element of a")
    ax1.set_ylabel("dy/da (dimensionless)")
    ax1.set_title("y = sum((2a)²): gradient per element")
    ax1.legend(loc="upper left", fontsize=9)
    ax1.grid(alpha=0.3, axis="y")
    ax2.axis("off")
    import textwrap

    code = (
        "x = a * 2\n"
        "y = (x * x).sum()   # saves x (version 0)\n"
        "x.add_(1)           # x is now version 1\n"
        "y.backward()        # RuntimeError:\n"
    )
    wrapped = "\n".join(textwrap.wrap(message, 58))
    ax2.text(0, 1, code, va="top", family="monospace", fontsize=9.5, transform=ax2.transAxes)
    ax2.text(
        0,
        0.80,
        wrapped,
        va="top",
        family="monospace",
        fontsize=8.5,
        color="tab:red",
        transform=ax2.transAxes,
    )
    fix = (
        "The fix:\n"
        "x = a * 2\n"
        "y = (x * x).sum()\n"
        "x = x + 1           # a new tensor\n"
        "y.backward()        # a.grad == 8a"
    )
    ax2.text(
        0,
        0.45,
        fix,
        va="top",
        family="monospace",
        fontsize=9.5,
        color="tab:blue",
        transform=ax2.transAxes,
    )
    ax2.set_title("The trap, caught by the version counter")
    result.save_figure(fig, "in_place.png")
    result.write()
    return result
