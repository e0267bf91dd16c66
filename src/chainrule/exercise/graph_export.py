"""The worker side of the page's graph: the lesson's example, built with the learner's ``Value``.

Runs inside the sandboxed worker (loaded by path, like ``checks.py``: standard library only,
no chainrule import). :func:`probe` has the signature of a check's probe, so the worker can
offer it as one more command::

    probes["graph"] = graph_export.probe

It builds the lesson's DAG, ``a = x*2``, ``b = x+1``, ``c = a + b`` with ``x = 3``, runs
``c.backward()`` and returns the graph reachable from ``c`` through ``_prev`` as a small,
JSON-safe dict::

    {"example": "c = x*2 + (x+1), x = 3",
     "nodes": [{"id": 0, "label": "c", "op": "+", "data": 10.0, "grad": 1.0}, ...],
     "edges": [[1, 0], ...],          # [input id, id of the node computed from it]
     "truncated": False}

Nothing the learner's objects return is trusted: only instances of the learner's class are
followed, at most ``MAX_NODES`` nodes and ``MAX_PREV`` inputs per node; numbers are kept only
when they are ints or floats (non-finite ones become the strings "nan", "inf", "-inf"), and an
op only as a short string of safe characters. The grader's parent process validates the dict
again with :func:`validate` (it trusts the worker no more than the learner) before the report
carries it as ``"graph"``.

>>> class V:
...     def __init__(self, data, _children=(), _op=""):
...         self.data, self.grad, self._prev, self._op = data, 0.0, set(_children), _op
...         self._backward = lambda: None
...     def __add__(self, o):
...         out = V(self.data + o.data, (self, o), "+")
...         def _backward():
...             self.grad += out.grad
...             o.grad += out.grad
...         out._backward = _backward
...         return out
...     def __mul__(self, o):
...         out = V(self.data * o.data, (self, o), "*")
...         def _backward():
...             self.grad += o.data * out.grad
...             o.grad += self.data * out.grad
...         out._backward = _backward
...         return out
...     def backward(self):
...         order, seen = [], set()
...         def visit(v):
...             if v not in seen:
...                 seen.add(v)
...                 for p in v._prev:
...                     visit(p)
...                 order.append(v)
...         visit(self)
...         self.grad = 1.0
...         for v in reversed(order):
...             v._backward()
>>> g = probe(V, None)
>>> for row in sorted((n["label"], n["data"], n["grad"]) for n in g["nodes"]):
...     print(row)
('1', 1.0, 1.0)
('2', 2.0, 3.0)
('a', 6.0, 1.0)
('b', 4.0, 1.0)
('c', 10.0, 1.0)
('x', 3.0, 3.0)
>>> len(g["edges"]), g["truncated"]
(6, False)
"""

from __future__ import annotations

import math
import re
from itertools import islice
from typing import Any

__all__ = ["ACCEPT_EDGES", "ACCEPT_NODES", "EXAMPLE", "MAX_NODES", "MAX_PREV", "probe", "validate"]

EXAMPLE = "c = x*2 + (x+1), x = 3"
MAX_NODES = 32  # the example has 6 Values; a learner's class that adds hidden nodes is cut here
MAX_PREV = 8
_OP_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-*/^_.() ")
# What the parent accepts (validate): more than the worker sends, never more than this.
ACCEPT_NODES = 64
ACCEPT_EDGES = 256
_LABELS = {"", "x", "a", "b", "c", "1", "2"}
_OP = re.compile(r"[A-Za-z0-9+\-*/^_. ()]{0,8}")
_NONFINITE = {"nan", "inf", "-inf"}


def _number(value: Any) -> float | str | None:
    """A float for an int or float (bool excluded), a string for a non-finite one, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float.__float__(value) if isinstance(value, float) else float(int.__index__(value))
    except (OverflowError, TypeError, ValueError):
        return None
    return f if math.isfinite(f) else str(f)


def _op(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = str.__str__(value)[:8]
    return "".join(ch for ch in text if ch in _OP_CHARS)


def probe(value_class: type, params: Any) -> dict[str, Any]:
    """Build the lesson's example with ``value_class``, run backward, return the bounded graph.

    Raises whatever the learner's class raises while building the example or in backward()
    (the worker reports it like any check's error); reading the graph afterwards never raises.
    """
    x = value_class(3.0)
    two, one = value_class(2.0), value_class(1.0)
    a = x * two
    b = x + one
    c = a + b
    c.backward()
    names = {id(x): "x", id(two): "2", id(one): "1", id(a): "a", id(b): "b", id(c): "c"}

    ids: dict[int, int] = {id(c): 0}
    keep = [c]  # holds the objects, so that their id()s stay unique during the walk
    nodes: list[dict[str, Any]] = []
    edges: list[list[int]] = []
    truncated = False
    i = 0
    while i < len(keep):  # breadth-first from c, iterative: the walk never recurses
        node = keep[i]
        nodes.append(
            {
                "id": i,
                "label": names.get(id(node), ""),
                "op": _op(_attr(node, "_op")),
                "data": _number(_attr(node, "data")),
                "grad": _number(_attr(node, "grad")),
            }
        )
        # _prev is usually a set, whose order follows the objects' addresses: the example's
        # named nodes go first, by name, so the same class always exports the same graph.
        inputs = _inputs(node, value_class)
        inputs.sort(key=lambda p: (id(p) not in names, names.get(id(p), "")))
        for parent in inputs:
            if id(parent) not in ids:
                if len(keep) >= MAX_NODES:
                    truncated = True
                    continue
                ids[id(parent)] = len(keep)
                keep.append(parent)
            edges.append([ids[id(parent)], i])
        i += 1
    return {"example": EXAMPLE, "nodes": nodes, "edges": edges, "truncated": truncated}


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property of the learner's that raises
        return None


def _inputs(node: Any, value_class: type) -> list[Any]:
    """Up to MAX_PREV distinct instances of the learner's class in ``node._prev``."""
    prev = _attr(node, "_prev")
    if prev is None or isinstance(prev, (str, bytes)):
        return []
    found: list[Any] = []
    try:
        for item in islice(iter(prev), 4 * MAX_PREV):
            if isinstance(item, value_class) and all(item is not f for f in found):
                found.append(item)
                if len(found) == MAX_PREV:
                    break
    except Exception:  # a _prev whose iteration raises: keep what was read
        pass
    return found


def _accept_number(value: Any) -> float | str | None:
    if isinstance(value, bool):
        return None
    if type(value) in (int, float):
        try:
            f = float(value)
        except OverflowError:  # an int beyond float range
            return None
        return f if math.isfinite(f) else str(f)
    if type(value) is str and value in _NONFINITE:
        return value
    return None


def validate(graph: Any) -> dict[str, Any] | None:
    """The parent's check of what the worker sent: only the expected keys, types and alphabets.

    Returns a fresh dict (nothing of the input is kept by reference), or None when ``graph``
    is not a graph at all. Labels come from the fixed set the probe uses, ops from a short
    fixed alphabet (no quote, bracket or angle bracket: safe in DOT records and HTML), numbers
    are finite floats or the strings "nan"/"inf"/"-inf", at most ``ACCEPT_NODES`` nodes and
    ``ACCEPT_EDGES`` edges between known nodes. The input has already passed the runner's
    message caps (1 MiB, nesting depth 20).
    """
    if not isinstance(graph, dict):
        return None
    raw_nodes, raw_edges = graph.get("nodes"), graph.get("edges")
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list) or not raw_nodes:
        return None
    nodes = []
    for raw in raw_nodes[:ACCEPT_NODES]:
        if not isinstance(raw, dict) or type(raw.get("id")) is not int:
            return None
        label, op = raw.get("label"), raw.get("op")
        nodes.append(
            {
                "id": raw["id"],
                "label": label if type(label) is str and label in _LABELS else "",
                "op": op if type(op) is str and _OP.fullmatch(op) else "?",
                "data": _accept_number(raw.get("data")),
                "grad": _accept_number(raw.get("grad")),
            }
        )
    known = {n["id"] for n in nodes}
    if len(known) != len(nodes):
        return None
    edges = []
    for raw in raw_edges[:ACCEPT_EDGES]:
        if (
            isinstance(raw, list)
            and len(raw) == 2
            and all(type(v) is int and v in known for v in raw)
        ):
            edges.append([raw[0], raw[1]])
    return {
        "example": EXAMPLE,  # the parent knows it: no text of the worker's reaches the page
        "nodes": nodes,
        "edges": edges,
        "truncated": graph.get("truncated") is True or len(raw_nodes) > ACCEPT_NODES,
    }
