"""micrograd: the lesson's ``Value``, trained on two moons, and the graph of one neuron.

Everything in this library grows from one small class. A ``Value`` wraps a float (``data``),
remembers the Values it was computed from (``_prev``) and the operation (``_op``), and
carries a closure (``_backward``) that, given the gradient of the output, *adds* the local
chain-rule terms into its inputs' ``grad``. ``backward()`` orders the graph topologically
(every node after the nodes it depends on), seeds ``grad = 1`` at the output, and calls the
closures from the output down.

Two details make it correct. The order: a node's closure may only run once its own gradient
is complete, i.e. after every node that uses it, which the reverse topological order
guarantees. And accumulation: a value used twice (``a = x * 2; b = x + 1; c = a + b``) gets a
gradient from each use, so closures must use ``+=``; with ``=`` the last use would win and
``dc/dx`` would be 1 or 2 instead of 3.

The lesson trains ``MLP(2, [16, 16, 1])`` from ``chainrule.scalar.nn`` on ``make_moons`` with
the max-margin loss of micrograd's demo, every weight a ``Value``, and draws the decision
boundary it learned. It checks one neuron's gradients against finite differences, checks the
``x used twice`` rule, and draws that neuron's graph with ``cr.viz`` when it is installed.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start
from chainrule.scalar import Value
from chainrule.scalar.nn import MLP, Neuron

NAME = "micrograd"


def train_moons(steps: int, seed: int = 1337) -> tuple[MLP, np.ndarray, np.ndarray, list]:
    """micrograd's demo: SVM max-margin loss + L2, SGD with a linearly decaying rate."""
    random.seed(seed)
    X, y = cr.data.make_moons(n_samples=100, noise=0.1, random_state=seed)
    ys = [1.0 if label == 1 else -1.0 for label in y]  # max-margin labels are +-1
    model = MLP(2, [16, 16, 1], fused=True)  # fused: one Value.dot node per neuron
    rows = [list(map(float, row)) for row in X]
    history = []
    for k in range(steps):
        scores = [model(row) for row in rows]
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
        loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
        acc = sum((yi > 0) == (si.data > 0) for yi, si in zip(ys, scores)) / len(ys)
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= lr * p.grad
        history.append((loss.data, acc))
    return model, X, np.array(ys), history


def scores_grid(model: MLP, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """The trained MLP's score on a grid, evaluated with NumPy from the Values' data (the
    same function, without building 300,000 graph nodes just to draw a picture)."""
    h = np.stack([xx.ravel(), yy.ravel()], axis=1)
    for i, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        h = h @ W.T + b
        if i < len(model.layers) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0].reshape(xx.shape)


def _try_viz(out: Value, out_dir: Path) -> tuple[list[str], str]:
    """Draw ``out``'s graph with cr.viz if it is available; return (files written, note)."""
    try:
        from chainrule import viz
    except ImportError as err:
        return [], f"skipped: chainrule.viz is not available in this installation ({err.msg})"
    written, notes = [], []
    try:
        viz.draw(out).save(str(out_dir / "neuron_graph.png"))
        written.append("neuron_graph.png")
    except Exception as err:  # no graphviz binary, an older viz: say so, do not fail
        notes.append(f"graph PNG skipped: {type(err).__name__}: {err}")
    try:
        viz.explore(out, str(out_dir / "neuron_explorer.html"))
        written.append("neuron_explorer.html")
    except Exception as err:
        notes.append(f"explorer page skipped: {type(err).__name__}: {err}")
    return written, "; ".join(notes) or "drawn with chainrule.viz"


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Train the scalar MLP on moons; check one neuron's gradients; draw its graph."""
    result = start(NAME, out_dir)
    steps = 40 if quick else 100
    model, X, ys, history = train_moons(steps)
    final_loss, final_acc = history[-1]
    result.claim(
        f"MLP(2, [16, 16, 1]) built from scalar Values ({len(model.parameters())} of them) "
        f"learns the two moons: training accuracy of at least 95% after {steps} steps",
        final_acc >= 0.95,
        accuracy=final_acc,
        loss=final_loss,
        steps=steps,
    )

    # One neuron, unfused so that its graph shows every multiply and add.
    random.seed(0)
    neuron = Neuron(2)
    x = [Value(2.0), Value(-1.0)]
    out = neuron(x)
    out.backward()
    leaves = [*neuron.w, neuron.b, *x]
    numeric = []
    for leaf in leaves:  # central differences on the same neuron
        h, old = 1e-6, leaf.data
        leaf.data = old + h
        up = neuron(x).data
        leaf.data = old - h
        down = neuron(x).data
        leaf.data = old
        numeric.append((up - down) / (2 * h))
    analytic = [leaf.grad for leaf in leaves]
    err = max(abs(a - n) for a, n in zip(analytic, numeric))
    result.claim(
        "One neuron relu(w1 x1 + w2 x2 + b): backward() gives the same gradients as central "
        "finite differences for w1, w2, b, x1 and x2",
        err < 1e-6,
        backprop=analytic,
        finite_differences=numeric,
        max_abs_difference=err,
    )
    xv = Value(2.0)
    c = xv * 2 + (xv + 1)  # x used twice: dc/dx = 2 + 1
    c.backward()
    result.claim(
        "A value used twice gets both gradients: c = x*2 + (x+1) gives x.grad = 3 (+=, not =)",
        xv.grad == 3.0,
        x_grad=xv.grad,
    )
    files, note = _try_viz(out, result.out_dir)
    result.claim(
        "The neuron's graph is drawn with cr.viz when it is installed (otherwise skipped)",
        True,
        graph_files=files,
        note=note,
    )
    result.figures += [f for f in files if f.endswith(".png")]

    fig = figure(12, 4.8)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
    g = np.linspace(-1.6, 2.6, 160), np.linspace(-1.2, 1.6, 120)
    xx, yy = np.meshgrid(*g)
    zz = scores_grid(model, xx, yy)
    ax1.contourf(xx, yy, zz > 0, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"], alpha=0.8)
    ax1.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=1.2)
    for label, color, marker in ((-1.0, "tab:red", "o"), (1.0, "tab:blue", "s")):
        pts = X[ys == label]
        ax1.scatter(
            pts[:, 0],
            pts[:, 1],
            c=color,
            marker=marker,
            s=22,
            edgecolors="k",
            linewidths=0.4,
            label=f"class {int(label):+d}",
        )
    ax1.plot([], [], "k-", label="decision boundary (score = 0)")
    ax1.set_xlabel("x1 (input units)")
    ax1.set_ylabel("x2 (input units)")
    ax1.set_title(f"Scalar-Value MLP on two moons: {final_acc:.0%} training accuracy")
    ax1.legend(loc="upper right", fontsize=8)
    losses = [h[0] for h in history]
    ax2.plot(range(1, steps + 1), losses, color="tab:purple", label="loss")
    ax2.set_xlabel("training step (full batch of 100)")
    ax2.set_ylabel("max-margin loss + L2 (dimensionless)")
    ax2.set_title("Training")
    ax2b = ax2.twinx()
    ax2b.plot(
        range(1, steps + 1), [100 * h[1] for h in history], color="tab:green", label="accuracy"
    )
    ax2b.set_ylabel("training accuracy (%)")
    ax2b.set_ylim(0, 105)
    lines = ax2.get_lines() + ax2b.get_lines()
    ax2.legend(lines, [ln.get_label() for ln in lines], loc="center right")
    ax2.grid(alpha=0.3)
    result.save_figure(fig, "moons.png")
    result.write()
    return result
