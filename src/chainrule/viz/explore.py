"""The step-through explorer: a trace of forward and backward, played by a self-contained page.

``build_trace(root)`` turns the graph behind ``root`` into a list of steps:

1. forward, one step per node in data-flow order: the node's value appears;
2. backward, a seed step (d out / d out = 1), then one step per edge in reverse topological
   order: the consumer's gradient (upstream) times the local derivative is *added* to the
   input's gradient. An input that is used twice gets two such steps; the second is the
   ``+=`` the multivariable chain rule needs, and the page says so.

For scalars every number is exact: the local derivatives are the ones the scalar engine stored
for its own backward pass (recomputed by the op's rule when a node does not carry them), and
the running sums are formed in the engine's order, so the final grads equal what
``Value.backward()`` gives (the tests check this). For tensors the values and gradients are
summaries (shape, min/mean/max, norm): leaves show their ``.grad``, intermediate nodes their
gradient when the tensor was passed in ``names`` and retains its grad.

``explore(root, path)`` writes the trace and a small player (HTML, CSS and JavaScript, all
inline: no network needed) to one file. The trace is embedded as JSON in
``<script type="application/json" id="chainrule-trace">`` for other tools to read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainrule.viz.graph import (
    Graph,
    GraphNode,
    _finite,
    _scalar_parents,
    draw,
    fmt_number,
    fmt_summary,
    layout_positions,
    summarize,
)

__all__ = ["build_trace", "explore"]

# The page is for learning: past this many nodes it would be unreadable (use draw instead).
MAX_EXPLORE_NODES = 150


def build_trace(
    root: Any, names: Mapping[str, Any] | None = None, *, max_nodes: int = MAX_EXPLORE_NODES
) -> dict[str, Any]:
    """The explorer's trace: ``{"nodes", "edges", "steps"}`` (see the module docstring).

    Nodes are ``{"id", "op", "label", "value", "grad"}``; for scalars value and grad are
    numbers (grad: the gradient after one backward pass from ``root``), for tensors summaries.
    Edges are ``[from_id, to_id]`` in data-flow direction. Steps are
    ``{"phase": "forward" | "backward", "node", "text", ...}``; backward edge steps add
    ``target``, ``local``, ``upstream``, ``product``, ``grad_before``, ``grad`` (the target's
    gradient after the step) and ``accumulate`` (True for a ``+=`` onto an earlier path).

    >>> from chainrule.scalar import Value
    >>> x = Value(3.0, label="x")
    >>> t = build_trace(x * 2 + (x + 1))
    >>> [s["text"] for s in t["steps"] if s.get("accumulate")]  # doctest: +NORMALIZE_WHITESPACE
    ['t1 = x * 2: ∂t1/∂x = 2, so x.grad += 1 × 2 = 2.
      x already holds 1 from another path, so += gives 1 + 2 = 3.']
    """
    trace = _trace_and_titles(root, names, max_nodes)
    del trace["_titles"]  # page-only data, kept out of the documented schema
    return trace


def _trace_and_titles(root: Any, names: Mapping[str, Any] | None, max_nodes: int) -> dict:
    graph = draw(root, names=names, max_nodes=max_nodes)
    if graph.omitted:
        raise ValueError(
            f"explore: this graph has {graph.total} nodes; the explorer shows at most "
            f"{max_nodes} (a step-through of more is unreadable). Use chainrule.viz.draw(root) "
            "for a summarised picture, or explore a smaller piece."
        )
    if graph.kind == "scalar":
        return _scalar_trace(graph)
    return _tensor_trace(graph, root)


def explore(
    root: Any,
    path: str | Path,
    names: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write the step-through page for ``root`` (a ``Value`` or ``Tensor``) to ``path``.

    Open the file in any browser (no network needed): Next/Previous or the arrow keys step
    through the forward pass and then the backward pass; a panel explains each step.

    Args:
        root: the output, usually the loss. Scalars need not have run backward: the page
            computes one backward pass itself. Tensors show the ``.grad`` of their leaves, so
            call ``backward()`` first.
        path: the .html file to write.
        names: optional ``{name: Value or Tensor}`` for labels (and tensor values).
        title: the page title (default: the root's label and kind).

    Returns:
        The path written.
    """
    from chainrule.viz._page import render_page

    trace = _trace_and_titles(root, names, MAX_EXPLORE_NODES)
    graph_nodes = trace.pop("_titles")
    layout = _layout(trace, graph_nodes)
    if title is None:
        title = f"chainrule explorer: {trace['nodes'][-1]['label']}"
    path = Path(path)
    path.write_text(render_page(trace, layout, title), encoding="utf-8")
    return path


def _layout(trace: dict[str, Any], titles: list[str]) -> dict[str, Any]:
    nodes = [GraphNode(id=n["id"], kind="op", op=n["op"], label=n["label"]) for n in trace["nodes"]]
    g = Graph(nodes, [tuple(e) for e in trace["edges"]], "scalar", len(nodes), 0)
    pos = layout_positions(g)
    return {
        "nodes": {str(k): {"x": x, "y": y, "title": titles[k]} for k, (x, y) in pos.items()},
    }


# --- scalars ------------------------------------------------------------------------------

_UNARY = {"ReLU", "LeakyReLU", "tanh", "sigmoid", "exp", "log", "sqrt"}


def _rule_local(v: Any) -> tuple[float, ...] | None:
    """d(v)/d(parent) for each parent, recomputed from the op and the numbers.

    The scalar engine stores these as it computes (``_local``); this is the fallback for
    nodes that do not carry them, and the tests check that both agree.
    """
    op = v._op
    ps = _scalar_parents(v)
    out = v.data
    a = ps[0].data if ps else 0.0
    if op in ("-", "/") and len(ps) == 1:
        return None  # x - c and c - x give the same numbers: only the engine knows which
    if op == "+" or op == "sum":
        return (1.0,) * len(ps)
    if op == "-" and len(ps) == 2:
        return (1.0, -1.0)
    if op == "*" and len(ps) == 2:
        return (ps[1].data, a)  # d(ab)/da = b, d(ab)/db = a
    if op == "*" and a != 0.0:
        return (out / a,)  # the constant factor
    if op == "/" and len(ps) == 2:
        b = ps[1].data
        return (1.0 / b, -a / (b * b))
    if op == "neg":
        return (-1.0,)
    if op.startswith("**") and len(op) > 2:
        n = float(op[2:])
        return (n * a ** (n - 1.0) if a != 0.0 or n >= 1.0 else math.inf,)
    if op == "**" and len(ps) == 2:
        b = ps[1].data
        return (b * a ** (b - 1.0), out * math.log(a))
    if op.endswith("**") and len(op) > 2:
        return (out * math.log(float(op[:-2])),)  # d c**x / dx = c**x log c
    if op == "ReLU":
        return (1.0 if a > 0.0 else 0.0,)
    if op == "tanh":
        return (1.0 - out * out,)
    if op == "sigmoid":
        return (out * (1.0 - out),)
    if op == "exp":
        return (out,)
    if op == "log":
        return (1.0 / a,)
    if op == "sqrt":
        return (0.5 / out if out > 0.0 else math.inf,)
    return None


def _locals(v: Any) -> tuple[float, ...] | None:
    stored = getattr(v, "_local", None)
    if isinstance(stored, tuple) and len(stored) == len(_scalar_parents(v)):
        return stored
    return _rule_local(v)


def _formula(v: Any, names: list[str]) -> str:
    """How a node was computed, e.g. 'w * x', 't1 + 1', 'tanh(t2)'."""
    op = v._op
    if not names:
        return ""
    a = names[0]
    if len(names) == 2 and op in ("+", "-", "*", "/", "**"):
        return f"{a} {op} {names[1]}"
    if len(names) == 1:
        p = _scalar_parents(v)[0].data
        loc = _locals(v)
        d = loc[0] if loc else None
        if op == "+":
            return f"{a} + {fmt_number(v.data - p)}"
        if op == "-":  # x - c has derivative 1, c - x has -1
            return (
                f"{a} - {fmt_number(p - v.data)}" if d == 1.0 else f"{fmt_number(v.data + p)} - {a}"
            )
        if op == "*":
            return f"{a} * {fmt_number(d)}" if d is not None else f"{a} * c"
        if op == "/":
            if d is not None and math.isclose(d * p, v.data, rel_tol=1e-9, abs_tol=1e-300):
                return f"{a} / {fmt_number(1.0 / d)}" if d else f"{a} / c"
            return f"{fmt_number(v.data * p)} / {a}"
        if op.startswith("**"):
            return f"{a} ** {op[2:]}"
        if op.endswith("**"):
            return f"{op[:-2]} ** {a}"
        if op == "neg":
            return f"-{a}"
    if op in ("sum",):
        return " + ".join(names)
    return f"{op}({', '.join(names)})"


def _rule_text(v: Any, k: int, names: list[str], out: str) -> str:
    """The local derivative d(out)/d(parent k) as a formula, before its value."""
    op = v._op
    n = len(names)
    a = names[0]
    if op in ("+", "sum"):
        return "1"
    if op == "-":
        return "1" if (n == 2 and k == 0) or (n == 1 and _locals(v) == (1.0,)) else "-1"
    if op == "*":
        return names[1 - k] if n == 2 else fmt_number(_locals(v)[0]) if _locals(v) else "c"
    if op == "/" and n == 2:
        return f"1/{names[1]}" if k == 0 else f"-{a}/{names[1]}²"
    if op == "neg":
        return "-1"
    if op.startswith("**") and len(op) > 2:
        e = float(op[2:])
        return f"{fmt_number(e)}·{a}" if e == 2.0 else f"{fmt_number(e)}·{a}^{fmt_number(e - 1)}"
    if op == "**" and n == 2:
        b = names[1]
        return f"{b}·{a}^({b}-1)" if k == 0 else f"{a}^{b}·ln {a}"
    if op.endswith("**") and len(op) > 2:
        return f"{op[:-2]}^{a}·ln {op[:-2]}"
    rules = {
        "ReLU": f"(1 if {a} > 0 else 0)",
        "LeakyReLU": f"(1 if {a} > 0 else the slope)",
        "tanh": f"1 - {out}²",
        "sigmoid": f"{out}·(1 - {out})",
        "exp": f"exp({a}) = {out}",
        "log": f"1/{a}",
        "sqrt": f"1/(2·√{a})",
        "dot": "the factor it is multiplied by",
    }
    if op in rules:
        return rules[op]
    return "the op's local derivative"


def _scalar_trace(graph: Graph) -> dict[str, Any]:
    nodes = graph.nodes
    index = {id(n.obj): n.id for n in nodes}
    label = [n.label for n in nodes]
    parent_ids = [[index[id(p)] for p in _scalar_parents(n.obj)] for n in nodes]
    titles = []
    steps: list[dict[str, Any]] = []
    for n in nodes:
        v = n.obj
        if n.kind == "leaf":
            titles.append(n.label)
            steps.append(
                {
                    "phase": "forward",
                    "node": n.id,
                    "value": _finite(v.data),
                    "text": f"{n.label} = {fmt_number(v.data)}: an input (a leaf of the graph).",
                }
            )
            continue
        formula = _formula(v, [label[p] for p in parent_ids[n.id]])
        titles.append(f"{n.label} = {formula}")
        parts = " and ".join(
            f"{label[p]} = {fmt_number(nodes[p].obj.data)}" for p in dict.fromkeys(parent_ids[n.id])
        )
        steps.append(
            {
                "phase": "forward",
                "node": n.id,
                "value": _finite(v.data),
                "text": f"{n.label} = {formula} = {fmt_number(v.data)}, computed from {parts}.",
            }
        )
    # Backward, in the engine's order: reverse topological, each node's edges in parent order.
    root = nodes[-1]
    grad = [0.0] * len(nodes)
    grad[root.id] = 1.0
    steps.append(
        {
            "phase": "backward",
            "node": root.id,
            "target": root.id,
            "grad": 1.0,
            "text": f"Backward starts at the output: ∂{root.label}/∂{root.label} = 1, so "
            f"{root.label}.grad = 1.",
        }
    )
    received = [0] * len(nodes)  # contributions so far, to spot the += of a second path
    for n in reversed(nodes):
        if n.kind != "op":
            continue
        v = n.obj
        loc = _locals(v)
        names = [label[p] for p in parent_ids[n.id]]
        for k, p in enumerate(parent_ids[n.id]):
            g = grad[n.id]
            d = None if loc is None else loc[k]
            before = grad[p]
            if d is None:  # a custom op without recorded derivatives: trust the engine
                product = None
                grad[p] = nodes[p].obj.grad
            else:
                product = d * g
                grad[p] = before + product
            accumulate = received[p] > 0
            received[p] += 1
            rule = _rule_text(v, k, names, n.label)
            parent = label[p]
            d_text = fmt_number(d) if d is not None else "?"
            if rule != d_text:
                rule = f"{rule} = {d_text}"
            text = (
                f"{n.label} = {_formula(v, names)}: ∂{n.label}/∂{parent} = {rule}, so "
                f"{parent}.grad += {fmt_number(g)} × {d_text}"
            )
            if product is not None:
                text += f" = {fmt_number(product)}."
            else:
                text += " (a custom op: its local derivative was not recorded)."
            if accumulate:
                text += (
                    f" {parent} already holds {fmt_number(before)} from another path, so += "
                    f"gives {fmt_number(before)} + {fmt_number(product)} = "
                    f"{fmt_number(grad[p])}."
                )
            steps.append(
                {
                    "phase": "backward",
                    "node": n.id,
                    "target": p,
                    "local": None if d is None else _finite(d),
                    "upstream": _finite(g),
                    "product": None if product is None else _finite(product),
                    "grad_before": _finite(before),
                    "grad": _finite(grad[p]),
                    "accumulate": accumulate,
                    "text": text,
                }
            )
    return {
        "nodes": [
            {
                "id": n.id,
                "op": n.op,
                "label": n.label,
                "value": n.value,
                "grad": _finite(grad[n.id]),
            }
            for n in nodes
        ],
        "edges": [list(e) for e in graph.edges],
        "steps": steps,
        "_titles": titles,
    }


# --- tensors ------------------------------------------------------------------------------

# What an op's local derivative is, in words, keyed by the grad_fn name without "Backward0".
_TENSOR_RULES = {
    "Add": "1 for each input (the gradient passes through, summed over broadcast dims)",
    "Sub": "1 for the first input, -1 for the second",
    "Mul": "the other factor, elementwise",
    "Div": "1/b for a, -a/b² for b",
    "Neg": "-1",
    "Mm": "g @ Bᵀ for A and Aᵀ @ g for B (matrix product)",
    "Matmul": "g @ Bᵀ for A and Aᵀ @ g for B (matrix product)",
    "Tanh": "1 - tanh(x)², elementwise",
    "Sigmoid": "σ(x)·(1 - σ(x)), elementwise",
    "Relu": "1 where the input is > 0, else 0",
    "Exp": "exp(x), elementwise",
    "Log": "1/x, elementwise",
    "Pow": "n·x^(n-1), elementwise",
    "Sum": "1 for every element (the gradient is broadcast back to the input's shape)",
    "Mean": "1/N for every element",
    "Permute": "the inverse permutation",
    "Reshape": "the gradient reshaped back",
    "Expand": "the gradient summed over the expanded dims",
}


def _op_word(name: str) -> str:
    return re.sub(r"Backward\d*$", "", name)


def _tensor_trace(graph: Graph, root: Any) -> dict[str, Any]:
    nodes = graph.nodes
    label = [n.label for n in nodes]
    parents: list[list[int]] = [[] for _ in nodes]
    for a, b in graph.edges:
        parents[b].append(a)
    titles = []
    steps: list[dict[str, Any]] = []
    for n in nodes:
        if n.kind == "leaf":
            kind = "a parameter" if n.parameter else "a leaf tensor that requires grad"
            titles.append(n.label)
            steps.append(
                {
                    "phase": "forward",
                    "node": n.id,
                    "value": n.value,
                    "text": f"{n.label}: {kind}, {fmt_summary(n.value)} ({n.value['dtype']}).",
                }
            )
            continue
        word = _op_word(n.op)
        # Inputs that need no gradient (data, constants) are None in next_functions.
        n_const = sum(1 for edge in n.obj.next_functions if edge[0] is None)
        args = ", ".join([label[p] for p in parents[n.id]] + ["const"] * n_const)
        titles.append(f"{n.label} = {word}({args})")
        shown = (
            f" = {fmt_summary(n.value)}"
            if n.value is not None
            else " (its value is not kept by the graph; pass the tensor in names= to see it)"
        )
        steps.append(
            {
                "phase": "forward",
                "node": n.id,
                "value": n.value,
                "text": f"{n.label} = {word.lower()}({args}){shown}; autograd records "
                f"{n.op} to run in the backward pass.",
            }
        )
    root_node = nodes[-1]
    seed = summarize(root.data * 0 + 1) if root_node.kind == "op" else None
    steps.append(
        {
            "phase": "backward",
            "node": root_node.id,
            "target": root_node.id,
            "grad": seed,
            "text": f"Backward starts at the output: the gradient of "
            f"{root_node.label} with respect to itself is ones of its shape.",
        }
    )
    remaining = [0] * len(nodes)
    for ps in parents:
        for p in ps:
            remaining[p] += 1
    received = [0] * len(nodes)
    for n in reversed(nodes):
        if n.kind != "op":
            continue
        word = _op_word(n.op)
        rule = _TENSOR_RULES.get(word, f"the VJP rule of {word}")
        upstream = seed if n.id == root_node.id else n.grad
        for p in parents[n.id]:
            accumulate = received[p] > 0
            received[p] += 1
            remaining[p] -= 1
            target = nodes[p]
            done = remaining[p] == 0
            # The target's gradient is known at its last contribution when it is a leaf
            # (its .grad) or a tensor that retains its grad.
            after = target.grad if done else None
            up = fmt_summary(upstream) if upstream is not None else f"∂out/∂{n.label}"
            text = (
                f"{n.op} (for {n.label} = {word.lower()}(…)): the upstream gradient {up} "
                f"times the local derivative ({rule}) is added to {target.label}.grad."
            )
            if accumulate:
                text += (
                    f" {target.label} is used more than once, so this second path is "
                    f"added with += to what it already received."
                )
            if after is not None:
                text += f" {target.label}.grad is now {fmt_summary(after)}."
            steps.append(
                {
                    "phase": "backward",
                    "node": n.id,
                    "target": p,
                    "local": rule,
                    "upstream": upstream,
                    "product": None,
                    "grad_before": None,
                    "grad": after,
                    "accumulate": accumulate,
                    "text": text,
                }
            )
    return {
        "nodes": [
            {"id": n.id, "op": n.op, "label": n.label, "value": n.value, "grad": n.grad}
            for n in nodes
        ],
        "edges": [list(e) for e in graph.edges],
        "steps": steps,
        "_titles": titles,
    }
