"""Regenerate the viz figures under docs/: ``python docs/make_viz_figures.py``.

- ``lesson-graph.png``: the lesson's ``loss = (w*x + b - y)**2`` after backward, drawn by
  ``chainrule.viz.draw`` (Graphviz's dot when installed, networkx otherwise).
- ``explorer-lesson.html`` and ``explorer-dag.html``: the step-through pages of the lesson's
  loss and of its DAG case ``c = x*2 + (x+1)`` (x used twice: the ``+=`` step).
"""

from __future__ import annotations

from pathlib import Path

import chainrule as cr
from chainrule.scalar import Value

HERE = Path(__file__).resolve().parent


def main() -> None:
    w, x, b, y = (Value(v, label=n) for v, n in [(2.0, "w"), (3.0, "x"), (1.0, "b"), (5.0, "y")])
    loss = (w * x + b - y) ** 2
    loss.label = "loss"
    loss.backward()
    cr.viz.draw(loss).save(HERE / "lesson-graph.png")
    cr.viz.explore(loss, HERE / "explorer-lesson.html", title="loss = (w*x + b - y)**2")
    x = Value(3.0, label="x")
    c = x * 2 + (x + 1)
    c.label = "c"
    c.backward()
    cr.viz.explore(c, HERE / "explorer-dag.html", title="c = x*2 + (x+1): x is used twice")
    for name in ("lesson-graph.png", "explorer-lesson.html", "explorer-dag.html"):
        print(HERE / name)


if __name__ == "__main__":
    main()
