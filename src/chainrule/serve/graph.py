"""Draw the graph the grader exported (``chainrule.exercise.graph_export``) as SVG, or as text.

The learner's objects never leave the sandboxed worker: what arrives here is a dict of nodes
and edges, which :func:`sanitize` validates again (it came through a process that ran the
learner's code). :func:`render_svg` draws it with ``chainrule.viz`` when that is importable and
accepts the graph, else with graphviz's ``dot`` (layout by dot; this module only writes DOT
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

import math
import re
import shutil
import subprocess
from typing import Any

__all__ = ["render_svg", "render_text", "sanitize"]

MAX_NODES = 64
MAX_EDGES = 256
_LABELS = {"", "x", "a", "b", "c", "1", "2", "w", "y", "loss"}
_OP = re.compile(r"[A-Za-z0-9+\-*/^_. ()]{0,8}")
_NONFINITE = {"nan", "inf", "-inf"}


def _number(value: Any) -> float | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, str) and value in _NONFINITE:
        return value
    return None


def sanitize(graph: Any) -> dict[str, Any] | None:
    """The graph with only expected keys and types, or None when it is not a graph at all."""
    if not isinstance(graph, dict):
        return None
    raw_nodes, raw_edges = graph.get("nodes"), graph.get("edges")
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list) or not raw_nodes:
        return None
    nodes = []
    for raw in raw_nodes[:MAX_NODES]:
        if not isinstance(raw, dict) or type(raw.get("id")) is not int:
            return None
        label, op = raw.get("label"), raw.get("op")
        nodes.append(
            {
                "id": raw["id"],
                "label": label if isinstance(label, str) and label in _LABELS else "",
                "op": op if isinstance(op, str) and _OP.fullmatch(op) else "?",
                "data": _number(raw.get("data")),
                "grad": _number(raw.get("grad")),
            }
        )
    known = {n["id"] for n in nodes}
    if len(known) != len(nodes):
        return None
    edges = []
    for raw in raw_edges[:MAX_EDGES]:
        if (
            isinstance(raw, list)
            and len(raw) == 2
            and all(type(v) is int and v in known for v in raw)
        ):
            edges.append([raw[0], raw[1]])
    example = graph.get("example")
    return {
        "example": example[:80] if isinstance(example, str) else "",
        "nodes": nodes,
        "edges": edges,
        "truncated": bool(graph.get("truncated")) or len(raw_nodes) > MAX_NODES,
    }


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
    """chainrule.viz's drawing, when that package exists and draws micrograd-style objects."""
    try:
        from chainrule import viz  # the viz issue's module; absent on older trees
    except ImportError:
        return None
    draw = getattr(viz, "draw", None)
    if draw is None:
        return None

    class _Node:  # the attributes micrograd's Value has; no learner code behind them
        def __init__(self, n: dict[str, Any]) -> None:
            self.data, self.grad = n["data"], n["grad"]
            self._op, self.label, self._prev = n["op"], n["label"], set()

    nodes = {n["id"]: _Node(n) for n in graph["nodes"]}
    for src, dst in graph["edges"]:
        nodes[dst]._prev.add(nodes[src])
    try:
        drawn = draw(nodes[graph["nodes"][0]["id"]])
        if hasattr(drawn, "pipe"):  # a graphviz.Digraph
            drawn = drawn.pipe(format="svg").decode("utf-8", errors="replace")
        elif hasattr(drawn, "_repr_svg_"):
            drawn = drawn._repr_svg_()
    except Exception:  # a different signature or a failure: fall back to our own DOT
        return None
    return drawn if isinstance(drawn, str) and "<svg" in drawn else None


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
