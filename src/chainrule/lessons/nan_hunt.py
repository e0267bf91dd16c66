"""NaN hunting: find the operation that produced a NaN, two ways.

A NaN in the loss or in a gradient poisons everything downstream of it: NaN plus anything is
NaN, so by the time you see it in the weights, the place where it was born is long gone. The
usual suspects are a learning rate that is too high, ``log`` of zero or of a negative number,
a division by zero in a normalisation, and float16 overflow.

This lesson plants one: a "probability" computed with ``relu`` that is exactly 0 for one
example, fed to ``log``. The forward pass gives ``-inf`` for that example, and the loss
``-(w * log p)`` with a zero weight for it gives ``0 * -inf = NaN``. Its backward is NaN too.

Two tools find it:

- ``cr.autograd.detect_anomaly()`` records where each op was created, checks every gradient
  the backward pass computes, and raises at the first one that is not finite, naming the
  backward function and showing the user's line that ran its forward. It makes every op
  slower, so use it to debug, not to train.
- ``tensor.register_hook(fn)`` runs ``fn(grad)`` when the gradient of that tensor is
  computed. Hooks on the intermediate values report, in backward order, which gradients are
  finite, so the first non-finite one marks the culprit. It is cheap and targeted.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "nan-hunt"


def forward(x: cr.Tensor, w: cr.Tensor) -> dict[str, cr.Tensor]:
    """The planted bug: p = relu(x) is exactly 0 for the last example, then log(p)."""
    scores = x * 2.0 - 1.0
    p = scores.relu()
    logp = p.log()  # THE BUG: log(0) = -inf for the example whose score is negative
    weighted = w * logp  # its weight is 0: 0 * -inf = NaN
    loss = -weighted.sum()
    return {"scores": scores, "p": p, "logp": logp, "weighted": weighted, "loss": loss}


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Plant a NaN, then find it with detect_anomaly and with register_hook."""
    result = start(NAME, out_dir)
    x = cr.tensor([0.9, 0.8, 0.7, 0.2], requires_grad=True)  # the last score is 2*0.2-1 < 0
    w = cr.tensor([1.0, 1.0, 1.0, 0.0])
    with np.errstate(all="ignore"):
        values = forward(x, w)
    loss_value = values["loss"].item()

    # 1. detect_anomaly: raises at the first non-finite gradient and names the op and line.
    message = ""
    with cr.autograd.detect_anomaly(), np.errstate(all="ignore"):
        planted = forward(x, w)
        try:
            planted["loss"].backward()
        except RuntimeError as err:
            message = str(err)
    this_file = Path(__file__).name
    # the message's first line and the frames in this lesson's own file (the user's code);
    # the rest of the stack (the command line, the runner) is noise for the lesson
    lines = message.splitlines()
    keep = lines[:1] + [f"{a}\n{b}" for a, b in itertools.pairwise(lines[1:]) if this_file in a]
    excerpt = "\n".join(k.replace(str(Path(__file__).parent) + "/", "") for k in keep)
    result.claim(
        "detect_anomaly() raises during backward, naming the backward op and the user's line "
        "(file and line of the forward call that made it)",
        bool(message) and "Backward" in message and this_file in message,
        error=excerpt,
    )

    # 2. register_hook on every intermediate: which gradients are finite, in backward order.
    x.grad = None
    seen: list[tuple[str, float, bool]] = []
    with np.errstate(all="ignore"):
        hooked = forward(x, w)
        for name in ("weighted", "logp", "p", "scores"):

            def hook(g: cr.Tensor, name: str = name) -> None:
                a = g.numpy()
                seen.append((name, float(np.nanmax(np.abs(a))), bool(np.isfinite(a).all())))

            hooked[name].register_hook(hook)
        hooked["loss"].backward()
    order = [s[0] for s in seen]
    first_bad = next((s[0] for s in seen if not s[2]), None)
    bad_index = np.flatnonzero(~np.isfinite(x.grad.numpy()))
    result.claim(
        "Hooks on the intermediates see a finite gradient for log(p)'s output and the first "
        "non-finite one at p, the input of log: the NaN is born in log's backward",
        first_bad == "p" and math.isnan(loss_value),
        loss=loss_value,
        backward_order=order,
        gradient_finite={s[0]: s[2] for s in seen},
        first_non_finite=first_bad,
        nan_examples_in_x_grad=bad_index,
    )

    # The fix: clamp before log (or use log_softmax / cross_entropy, which never see log 0).
    x.grad = None
    fixed = -(w * x.mul(2.0).sub(1.0).relu().clamp(min=1e-12).log()).sum()
    fixed.backward()
    result.claim(
        "Clamping p to at least 1e-12 before log gives a finite loss and finite gradients",
        math.isfinite(fixed.item()) and bool(np.isfinite(x.grad.numpy()).all()),
        loss=fixed.item(),
        x_grad=x.grad.numpy(),
    )

    fig = figure(11, 4.8)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.25])
    names = [s[0] for s in seen]
    finite = [s[2] for s in seen]
    colors = ["tab:green" if f else "tab:red" for f in finite]
    ax1.barh(range(len(names)), [1] * len(names), color=colors)
    for i, (n, f) in enumerate(zip(names, finite)):
        label = f"grad of {n}: " + ("finite" if f else "contains NaN/inf")
        ax1.text(0.03, i, label, va="center", color="white", fontsize=10, weight="bold")
    ax1.set_yticks(range(len(names)), [f"hook {i + 1}" for i in range(len(names))])
    ax1.invert_yaxis()
    ax1.set_xticks([])
    ax1.set_xlabel("backward order runs top to bottom (hook calls)")
    ax1.set_title("register_hook: the first red bar is\nwhere the NaN was born (log's backward)")
    ax2.axis("off")
    shown = "\n".join(_wrap(line, 62) for line in excerpt.splitlines())
    ax2.set_title("detect_anomaly(): the error it raises")
    ax2.text(
        0.0,
        1.0,
        shown,
        va="top",
        ha="left",
        family="monospace",
        fontsize=8.5,
        transform=ax2.transAxes,
    )
    code = (
        "The planted bug:\n"
        "  scores = x * 2 - 1        # the last example: -0.6\n"
        "  p = scores.relu()         # ... becomes exactly 0\n"
        "  logp = p.log()            # log(0) = -inf\n"
        "  loss = -(w * logp).sum()  # its weight is 0: 0 * -inf = NaN\n"
        "\n"
        "The fix: p.clamp(min=1e-12).log(), or work with logits\n"
        "and F.cross_entropy / log_softmax, which never take log(0)."
    )
    ax2.text(
        0.0,
        0.55,
        code,
        va="top",
        ha="left",
        family="monospace",
        fontsize=8.5,
        color="tab:blue",
        transform=ax2.transAxes,
    )
    result.save_figure(fig, "nan_hunt.png")
    result.write()
    return result


def _wrap(line: str, width: int) -> str:
    """Break a long line of the error message for the figure."""
    import textwrap

    return "\n".join(textwrap.wrap(line, width, subsequent_indent="  ")) or line
