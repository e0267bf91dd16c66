"""Draw the graph the grader exported (``chainrule.exercise.graph_export``) as SVG, or as text.

The learner's objects never leave the sandboxed worker: what arrives here is a dict of nodes
and edges that the grader's parent process validated
(:func:`chainrule.exercise.graph_export.validate`, also available here as :func:`sanitize`).
:func:`render_svg` draws it with ``chainrule.viz`` when that is importable and accepts the
graph, else with graphviz's ``dot`` (layout by dot; this module only writes DOT
text), else returns None and the page shows :func:`render_text`. The page shows the SVG in an
``<img>``, where an SVG can run no script.

>>> g = sanitize({"example": "e", "nodes": [{"id": 0, "label": "c", "op": "+", "data": 1.0,
...     "grad": 1.0}, {"id": 1, "label": "x", "op": "", "data": 2, "grad": "nan"}],
...     "edges": [[1, 0]], "truncated": False})
>>> print(render_text(g))
c = 1 (grad 1) = + of x
x = 2 (grad nan)
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from chainrule.exercise.graph_export import ACCEPT_NODES, validate

__all__ = ["render_svg", "render_text", "sanitize"]

# The parent's validation lives with the exporter, in the grader: the report's "graph" has
# passed it already. sanitize is the same function, for a dict from anywhere else.
sanitize = validate


def _fmt(value: float | str | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, str):
        return value
    return f"{value:.4g}"


def render_text(graph: dict[str, Any]) -> str:
    """One line per node: its value, its gradient and what it was computed from."""
    names = {n["id"]: n["label"] or f"#{n['id']}" for n in graph["nodes"]}
    inputs: dict[int, list[str]] = {}
    for src, dst in graph["edges"]:
        inputs.setdefault(dst, []).append(names[src])
    lines = []
    for n in graph["nodes"]:
        line = f"{names[n['id']]} = {_fmt(n['data'])} (grad {_fmt(n['grad'])})"
        if n["id"] in inputs:
            line += f" = {n['op'] or '?'} of {', '.join(sorted(inputs[n['id']]))}"
        lines.append(line)
    if graph["truncated"]:
        lines.append("(cut: the graph has more nodes than are shown)")
    return "\n".join(lines)


def to_dot(graph: dict[str, Any]) -> str:
    """micrograd's picture: a record per Value (name | data | grad), an oval per operation.

    Every string placed in the DOT text comes from :func:`sanitize`'s fixed alphabets, which
    exclude DOT's and records' special characters, so nothing needs escaping.
    """
    lines = ["digraph G {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=13];']
    for n in graph["nodes"]:
        title = n["label"] or " "
        record = f"{{ {title} | data {_fmt(n['data'])} | grad {_fmt(n['grad'])} }}"
        lines.append(f'  n{n["id"]} [shape=record, label="{record}"];')
    has_inputs = {dst for _, dst in graph["edges"]}
    for n in graph["nodes"]:
        if n["id"] in has_inputs:
            lines.append(f'  op{n["id"]} [label="{n["op"] or "?"}"];')
            lines.append(f"  op{n['id']} -> n{n['id']};")
    for src, dst in graph["edges"]:
        lines.append(f"  n{src} -> op{dst};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _viz_svg(graph: dict[str, Any]) -> str | None:
    """chainrule.viz's drawing (micrograd's records, the viz issue's colours), or None."""
    try:
        from chainrule.viz import draw
    except ImportError:  # the viz package needs nothing optional to import; still, be safe
        return None

    class _Node:  # the attributes micrograd's Value has; no learner code behind them
        def __init__(self, n: dict[str, Any]) -> None:
            self.data, self.grad = _as_float(n["data"]), _as_float(n["grad"])
            self._op, self.label, self._prev = n["op"], n["label"], set()

    nodes = {n["id"]: _Node(n) for n in graph["nodes"]}
    for src, dst in graph["edges"]:
        nodes[dst]._prev.add(nodes[src])
    try:
        svg = draw(nodes[graph["nodes"][0]["id"]], max_nodes=ACCEPT_NODES).svg()
    except Exception:  # no renderer (neither dot nor matplotlib), or a drawing failure
        return None
    return svg if isinstance(svg, str) and "<svg" in svg else None


def _as_float(value: float | str | None) -> float:
    # validate's numbers: a finite float, "nan"/"inf"/"-inf", or None for "not a number".
    return float(value) if value is not None else float("nan")


def render_svg(graph: dict[str, Any], timeout: float = 5.0) -> str | None:
    """The graph as SVG text, or None when neither chainrule.viz nor graphviz can draw it."""
    svg = _viz_svg(graph)
    if svg is not None:
        return svg
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run(
            [dot, "-Tsvg"],
            input=to_dot(graph).encode(),
            capture_output=True,
            timeout=timeout,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")
