"""The computational graph as data, as DOT text and as a picture.

``draw(root)`` walks the graph behind a scalar ``Value`` or a ``Tensor`` and returns a ``Graph``:
its nodes in data-flow order (every node after the nodes it was computed from) and its edges
``(from, to)``. Walking uses only what a user can see:

- scalars: ``Value.data``, ``.grad``, ``._op``, ``.label`` and the ordered ``._parents``
  (micrograd's ``_prev`` is a set, so it is only the fallback);
- tensors: PyTorch's surface, ``tensor.grad_fn``, ``node.next_functions``, ``node.name()``,
  ``tensor.is_leaf``, ``.requires_grad``, ``.grad``, ``.retains_grad``, ``.shape``,
  ``.dtype``, ``.data``. A leaf in ``next_functions`` is either the tensor itself or an
  ``AccumulateGrad``-style object holding it in ``.variable``; both are understood.

The walk is an iterative depth-first search (no recursion, so a chain of 100,000 nodes is
fine). Past a node budget the picture is summarised: long chains collapse into one node that
counts their ops, and if that is not enough only the nodes nearest the output are kept, with
one node saying how many were left out. DOT text needs nothing; pictures use Graphviz's
``dot`` program when it is installed and otherwise networkx's layered layout drawn by
matplotlib (both imported only when a picture is asked for).
"""

from __future__ import annotations

import functools
import html
import json
import math
import shutil
import subprocess
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Graph", "GraphNode", "VizError", "draw"]

# Chains (one input, one consumer) longer than this collapse when the graph is over budget.
_CHAIN_KEEP = 4


class VizError(TypeError):
    """What ``draw``/``explore`` raise for input that is not a graph they can show."""


@dataclass
class GraphNode:
    """One node of a drawn graph.

    ``value`` and ``grad`` are floats for scalars and summary dicts for tensors (shape, dtype,
    min, mean, max, norm); ``None`` when unknown. ``kind`` is ``"leaf"``, ``"op"``, ``"chain"``
    (a collapsed run of nodes) or ``"more"`` (nodes left out).
    """

    id: int
    kind: str
    op: str
    label: str
    value: Any = None
    grad: Any = None
    requires_grad: bool = True
    parameter: bool = False
    retains_grad: bool = False
    count: int = 1  # how many original nodes this one stands for (chain / more)
    detail: str = ""  # the collapsed ops of a chain, e.g. "tanh ×500, + ×500"
    obj: Any = field(default=None, repr=False)  # the Value / grad_fn / Tensor it shows


def _is_value(x: Any) -> bool:
    """A chainrule Value, or a micrograd-style one (data, grad, _op, _prev): a learner's own
    Value class from the exercise can be drawn and explored too."""
    from chainrule.scalar.engine import Value

    if isinstance(x, Value):
        return True
    return all(hasattr(x, a) for a in ("data", "grad", "_op", "_prev")) and not _is_tensor(x)


def _is_tensor(x: Any) -> bool:
    return isinstance(x, _tensor_class())


@functools.cache
def _tensor_class() -> type:
    # Imported on first use and cached: the walk asks once per node.
    from chainrule.tensor import Tensor

    return Tensor


def _finite(x: float) -> float | str:
    """JSON has no NaN/inf: those become the strings 'nan', 'inf', '-inf'."""
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def summarize(array: Any) -> dict[str, Any]:
    """A short, JSON-ready description of a tensor or array: shape, dtype, min/mean/max, norm."""
    import numpy as np

    data = np.asarray(getattr(array, "data", array))
    out: dict[str, Any] = {"shape": list(data.shape), "dtype": str(data.dtype)}
    if data.size and data.dtype.kind in "biuf":
        d = data.astype(np.float64)
        out.update(
            min=_finite(d.min()),
            mean=_finite(d.mean()),
            max=_finite(d.max()),
            norm=_finite(np.sqrt((d * d).sum())),
        )
    return out


def fmt_number(x: Any) -> str:
    """A number for a human: integers plainly, others with 4 significant decimals."""
    if isinstance(x, str):
        return x
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.3e}"


def fmt_summary(s: Any) -> str:
    """One line for a value: a number, or 'shape (2, 3) float32 · min .. max'."""
    if s is None:
        return "?"
    if not isinstance(s, dict):
        return fmt_number(s)
    shape = "(" + ", ".join(map(str, s["shape"])) + ("," if len(s["shape"]) == 1 else "") + ")"
    if "min" not in s:
        return f"{shape} {s['dtype']}"
    if s["shape"] == [] or math.prod(s["shape"]) == 1:
        return f"{shape} {fmt_number(s['mean'])}"
    return f"{shape} {fmt_number(s['min'])}…{fmt_number(s['max'])}"


# --- walking ------------------------------------------------------------------------------


def _scalar_parents(v: Any) -> Sequence[Any]:
    parents = getattr(v, "_parents", None)
    if parents is None:  # a micrograd-style object: _prev is a set, so order it stably
        parents = tuple(getattr(v, "_prev", ()))
        if len(parents) > 1:
            parents = tuple(sorted(parents, key=lambda p: (str(getattr(p, "label", "")), id(p))))
    return parents


def _tensor_parents(obj: Any) -> Sequence[Any]:
    if _is_tensor(obj):
        return ()  # a leaf (a tensor with a grad_fn is replaced by it before the walk)
    try:
        edges = obj.next_functions
    except (AttributeError, RuntimeError) as err:
        raise VizError(
            f"draw: cannot read the inputs of {_node_name(obj)} ({err}); its graph may have been "
            "freed. Draw before backward, or pass retain_graph=True to backward()."
        ) from None
    out = []
    for edge in edges:
        fn = edge[0] if type(edge) is tuple else edge
        if fn is None:  # an input that needs no gradient: not part of the graph
            continue
        out.append(getattr(fn, "variable", fn))  # AccumulateGrad-style leaf holders
    return out


def _node_name(fn: Any) -> str:
    try:
        return str(fn.name())
    except Exception:
        return type(fn).__name__


def _walk(root: Any, parents_of: Callable[[Any], Sequence[Any]]) -> tuple[list, list[list[int]]]:
    """Every object ``root`` depends on, each after its parents, and their parent indices.

    An iterative post-order depth-first search (as in the scalar engine's topological_sort),
    keyed by ``id`` because tensors compare elementwise and may not be hashable.
    """
    objs: list[Any] = []
    parents: list[list[int]] = []
    index: dict[int, int] = {}  # id -> position in objs, once placed
    pending: dict[int, Sequence[Any]] = {}  # id -> its parents, while it is being explored
    stack = [root]
    while stack:
        obj = stack.pop()
        k = id(obj)
        if k in index:
            continue  # reached again through another path: already placed
        ps = pending.get(k)
        if ps is None:  # first visit: explore the parents, then come back
            ps = parents_of(obj)
            pending[k] = ps
            stack.append(obj)
            for p in reversed(ps):  # reversed: the first parent is placed first
                kp = id(p)
                if kp not in index and kp not in pending:
                    stack.append(p)
        else:  # second visit: every parent is placed
            del pending[k]
            index[k] = len(objs)
            objs.append(obj)
            parents.append([index[id(p)] for p in ps])
    return objs, parents


# --- summarising big graphs ---------------------------------------------------------------


def _summarise(
    n: int, parents: list[list[int]], op_of: Callable[[int], str], budget: int
) -> tuple[list[tuple[str, Any]], list[list[int]]]:
    """Reduce a graph of n nodes (topological order, root last) to at most ~budget items.

    Returns items ("obj", i) | ("chain", [i, ...]) | ("more", count) in topological order and
    each item's parent item indices. Step 1 collapses the middle of long chains (one parent,
    one consumer); step 2, if still too big, keeps the items nearest the root (breadth-first
    over parents) and puts one "more" item in front of the cut.
    """
    items: list[tuple[str, Any]] = [("obj", i) for i in range(n)]
    item_parents = parents  # read-only below: the collapsing step builds new lists
    if n <= budget:
        return items, item_parents
    n_children = [0] * n
    for ps in parents:
        if len(ps) == 1:
            n_children[ps[0]] += 1
        else:
            for p in set(ps):
                n_children[p] += 1
    root = n - 1

    def chainable(i: int) -> bool:
        ps = parents[i]
        return (
            i != root
            and n_children[i] == 1
            and (len(ps) == 1 or (len(ps) > 1 and ps.count(ps[0]) == len(ps)))
        )

    # Runs of chainable nodes: in topological order a chainable node continues the run of its
    # parent when that parent is chainable too (its only consumer is then this node).
    run_of = [-1] * n
    runs: list[list[int]] = []
    for i in range(n):
        if chainable(i):
            p = parents[i][0]
            if run_of[p] >= 0:
                run_of[i] = run_of[p]
                runs[run_of[i]].append(i)
            else:
                run_of[i] = len(runs)
                runs.append([i])
    collapsed = [r for r in runs if len(r) > _CHAIN_KEEP]
    if collapsed:
        middle_of: dict[int, int] = {}  # node -> chain number, for the nodes that vanish
        for c, r in enumerate(collapsed):
            for i in r[1:-1]:
                middle_of[i] = c
        new_index: dict[tuple[str, int], int] = {}
        items, item_parents = [], []
        for i in range(n):
            c = middle_of.get(i)
            if c is not None:
                r = collapsed[c]
                if i == r[1]:  # the chain item takes the place of its first middle node
                    new_index[("c", c)] = len(items)
                    items.append(("chain", r[1:-1]))
                    item_parents.append([new_index[("o", r[0])]])
                continue
            new_index[("o", i)] = len(items)
            items.append(("obj", i))
            ps = []
            for p in parents[i]:
                c = middle_of.get(p)
                ps.append(new_index[("c", c)] if c is not None else new_index[("o", p)])
            item_parents.append(ps)
    if len(items) <= budget:
        return items, item_parents
    # Keep the `budget` items nearest the root, breadth-first over parents.
    m = len(items)
    keep = [False] * m
    keep[m - 1] = True
    kept = 1
    queue = deque([m - 1])
    while queue and kept < budget:
        j = queue.popleft()
        for p in item_parents[j]:
            if not keep[p] and kept < budget:
                keep[p] = True
                kept += 1
                queue.append(p)
    dropped = sum(
        it[1] if it[0] == "more" else (len(it[1]) if it[0] == "chain" else 1)
        for it, k in zip(items, keep)
        if not k
    )
    new_pos = {}
    out_items: list[tuple[str, Any]] = [("more", dropped)]
    out_parents: list[list[int]] = [[]]
    for j in range(m):
        if keep[j]:
            new_pos[j] = len(out_items)
            out_items.append(items[j])
            ps = []
            cut = False
            for p in item_parents[j]:
                if keep[p]:
                    ps.append(new_pos[p])
                elif not cut:
                    ps.append(0)  # one edge from "more" per node at the cut
                    cut = True
            out_parents.append(ps)
    return out_items, out_parents


# --- the Graph ----------------------------------------------------------------------------


class Graph:
    """A drawn computational graph: nodes in data-flow order, edges ``(from_id, to_id)``.

    ``dot`` is Graphviz DOT text (always available); ``svg()`` and ``save()`` make pictures;
    in Jupyter a cell ending in a Graph shows the picture.

    >>> from chainrule.scalar import Value
    >>> w = Value(2.0, label="w"); x = Value(3.0, label="x")
    >>> g = draw(w * x)
    >>> [n.label for n in g.nodes], g.edges
    (['w', 'x', 'out'], [(0, 2), (1, 2)])
    """

    def __init__(
        self,
        nodes: list[GraphNode],
        edges: list[tuple[int, int]],
        kind: str,
        total: int,
        omitted: int,
    ) -> None:
        self.nodes = nodes
        self.edges = edges
        self.kind = kind  # "scalar" or "tensor"
        self.total = total  # nodes in the full graph
        self.omitted = omitted  # nodes not drawn individually (collapsed or left out)

    @property
    def root(self) -> GraphNode:
        return self.nodes[-1]

    def __repr__(self) -> str:
        extra = f", {self.omitted} summarised" if self.omitted else ""
        return f"<Graph of {self.kind}s: {self.total} nodes{extra}, {len(self.edges)} edges>"

    # --- DOT ---------------------------------------------------------------------------------

    @property
    def dot(self) -> str:
        """The graph as Graphviz DOT text, left to right (micrograd's record nodes for scalars:
        ``{ label | data | grad }``, with a small node for the op that made each value)."""
        lines = [
            "digraph chainrule {",
            '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.25, ranksep=0.4];',
            '  node [fontname="Helvetica", fontsize=11];',
            '  edge [color="#555555", arrowsize=0.7];',
        ]
        if self.omitted:
            note = f"{self.total} nodes; {self.omitted} summarised"
            lines.append(f'  label="{_dot_escape(note)}"; labelloc=t; fontsize=12;')
        scalar = self.kind == "scalar"
        for node in self.nodes:
            lines.extend(_dot_node(node, scalar))
        for a, b in self.edges:
            # A scalar value feeds the op node of its consumer; the op node feeds the value.
            target = f"n{b}_op" if scalar and self.nodes[b].kind == "op" else f"n{b}"
            lines.append(f"  n{a} -> {target};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # --- pictures ----------------------------------------------------------------------------

    def svg(self, engine: str = "auto") -> str:
        """The picture as SVG text. ``engine``: "auto" (Graphviz's dot when installed, else
        networkx + matplotlib), "dot" or "networkx"."""
        return self._render("svg", engine).decode("utf-8")

    def png(self, engine: str = "auto") -> bytes:
        """The picture as PNG bytes (same engines as ``svg``)."""
        return self._render("png", engine)

    def save(self, path: str | Path, engine: str = "auto") -> Path:
        """Write ``.dot`` (text), ``.svg`` or ``.png``; returns the path.

        >>> import tempfile, os
        >>> from chainrule.scalar import Value
        >>> p = draw(Value(1.0) * 2).save(os.path.join(tempfile.mkdtemp(), "g.dot"))
        >>> p.read_text().startswith("digraph")
        True
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".dot", ".gv"):
            path.write_text(self.dot, encoding="utf-8")
        elif suffix in (".svg", ".png"):
            path.write_bytes(self._render(suffix[1:], engine))
        else:
            raise ValueError(
                f"Graph.save: cannot write {path.name!r}; use a .svg, .png or .dot file name "
                "(for the step-through page use chainrule.viz.explore(root, 'page.html'))."
            )
        return path

    def _render(self, fmt: str, engine: str) -> bytes:
        if engine not in ("auto", "dot", "networkx"):
            raise ValueError(f"engine must be 'auto', 'dot' or 'networkx', got {engine!r}")
        dot = shutil.which("dot")
        if engine == "dot" or (engine == "auto" and dot):
            if not dot:
                raise RuntimeError(
                    "Graphviz's dot program is not installed (Debian: apt install graphviz); "
                    "use engine='networkx' or Graph.dot for the DOT text."
                )
            result = subprocess.run(
                [dot, f"-T{fmt}"],
                input=self.dot.encode("utf-8"),
                capture_output=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace')[:500]}")
            return result.stdout
        return _render_networkx(self, fmt)

    def _repr_svg_(self) -> str | None:
        # None tells Jupyter to fall back to the next representation (the text repr) when
        # neither dot nor networkx is installed.
        try:
            return self.svg()
        except RuntimeError:
            return None

    def _repr_html_(self) -> str | None:
        svg = self._repr_svg_()
        if svg is None:
            return None
        note = f"<div>{html.escape(repr(self))}</div>" if self.omitted else ""
        return f"<div>{svg}{note}</div>"

    def to_json(self) -> str:
        """Nodes (id, op, label, value, grad) and edges as JSON."""
        return json.dumps(
            {
                "nodes": [
                    {"id": n.id, "op": n.op, "label": n.label, "value": n.value, "grad": n.grad}
                    for n in self.nodes
                ],
                "edges": [list(e) for e in self.edges],
            }
        )


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _record_escape(text: str) -> str:
    # Characters with a meaning inside a record label.
    for ch in '\\{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text


def _dot_node(node: GraphNode, scalar: bool) -> list[str]:
    i = node.id
    if node.kind == "more":
        text = f"… {node.count} more nodes not shown"
        return [f'  n{i} [shape=note, style=filled, fillcolor="#eeeeee", label="{text}"];']
    if node.kind == "chain":
        text = _record_escape(f"… {node.count} nodes in a chain: {node.detail}")
        return [f'  n{i} [shape=box, style="rounded,dashed", label="{text}"];']
    if scalar:
        fields = [
            _record_escape(node.label),
            "data " + _record_escape(fmt_number(node.value)),
            "grad " + _record_escape(fmt_number(node.grad)),
        ]
        fill = "#dbeafe" if node.kind == "leaf" else "#ffffff"
        lines = [
            f'  n{i} [shape=record, style=filled, fillcolor="{fill}", '
            f'label="{{ {" | ".join(fields)} }}"];'
        ]
        if node.kind == "op":
            op = _dot_escape(node.op or "?")
            lines.append(f'  n{i}_op [shape=circle, fixedsize=false, fontsize=10, label="{op}"];')
            lines.append(f"  n{i}_op -> n{i};")
        return lines
    # Tensors: leaves as records (name | value | grad), ops as boxes (grad_fn name, value).
    value = fmt_summary(node.value)
    if node.kind == "leaf":
        kind = "parameter" if node.parameter else "leaf"
        fields = [
            _record_escape(f"{node.label} ({kind})"),
            _record_escape(value),
            "grad " + _record_escape(fmt_summary(node.grad)),
        ]
        return [
            f'  n{i} [shape=record, style=filled, fillcolor="#dbeafe", '
            f'label="{{ {" | ".join(fields)} }}"];'
        ]
    parts = [node.op, node.label]
    if node.value is not None:
        parts.append(value)
    if node.grad is not None:
        parts.append("grad " + fmt_summary(node.grad))
    text = _dot_escape("\\n".join(parts)).replace("\\\\n", "\\n")
    style = 'style=filled, fillcolor="#fef3c7"' if node.retains_grad else 'style=""'
    return [f'  n{i} [shape=box, {style}, label="{text}"];']


def _need(module: str) -> Any:
    """Import an optional drawing package, or say how to get a picture without it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(
            f"a picture needs Graphviz's dot program (Debian: apt install graphviz) or {module} "
            "(pip install 'chainrule[viz]'); Graph.dot gives the DOT text without either."
        ) from None


def _layers(g: Graph) -> tuple[Any, dict[int, int]]:
    """A networkx DiGraph of the drawn nodes and each node's layer (topological generation)."""
    nx = _need("networkx")

    G = nx.DiGraph()
    G.add_nodes_from(n.id for n in g.nodes)
    G.add_edges_from(g.edges)
    # Generations counted back from the output (each node sits one column before its nearest
    # consumer, as dot places it), then flipped so data flows left to right.
    generations = list(nx.topological_generations(G.reverse(copy=False)))
    last = len(generations) - 1
    layer = {v: last - depth for depth, gen in enumerate(generations) for v in gen}
    return G, layer


def layout_positions(g: Graph, engine: str = "auto") -> dict[int, tuple[float, float]]:
    """Node centres in points, left to right, from dot (when installed) or networkx.

    Graphviz's plain output gives positions in inches; networkx's multipartite layout places
    each topological generation in its own column.
    """
    dot = shutil.which("dot")
    if engine == "dot" or (engine == "auto" and dot):
        lines = [
            "digraph g {",
            "rankdir=LR; nodesep=0.3; ranksep=0.45;",
            "node [shape=box, fixedsize=true, width=2.3, height=1.0];",
        ]
        lines += [f"n{n.id};" for n in g.nodes]
        lines += [f"n{a} -> n{b};" for a, b in g.edges]
        lines.append("}")
        result = subprocess.run(
            [dot or "dot", "-Tplain"],
            input="\n".join(lines).encode(),
            capture_output=True,
            timeout=60,
            check=True,
        )
        pos = {}
        for line in result.stdout.decode().splitlines():
            parts = line.split()
            if parts and parts[0] == "node":
                pos[int(parts[1][1:])] = (float(parts[2]) * 72, float(parts[3]) * 72)
        height = max(y for _, y in pos.values())
        return {k: (x, height - y) for k, (x, y) in pos.items()}  # SVG's y grows downward
    nx = _need("networkx")
    G, layer = _layers(g)
    nx.set_node_attributes(G, layer, "layer")
    raw = nx.multipartite_layout(G, subset_key="layer", align="vertical")
    n_layers = max(layer.values()) + 1
    widest = max(Counter(layer.values()).values())
    # Scale networkx's unit box to room for the boxes: 230 pt per column, 100 pt per row.
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (n_layers - 1) * 230 / (x1 - x0) if x1 > x0 else 0
    sy = (widest - 1) * 100 / (y1 - y0) if y1 > y0 else 0
    return {k: ((p[0] - x0) * sx, (y1 - p[1]) * sy) for k, p in raw.items()}


def _render_networkx(g: Graph, fmt: str) -> bytes:
    """The picture without Graphviz: networkx's layered layout drawn with matplotlib."""
    import io

    _need("matplotlib")
    # A bare Figure, not pyplot: no global backend or figure state is touched (in Jupyter
    # too), and it renders to SVG/PNG without a display.
    from matplotlib.figure import Figure

    nx = _need("networkx")

    G, layer = _layers(g)
    pos = layout_positions(g, engine="networkx")
    pos = {k: (x, -y) for k, (x, y) in pos.items()}
    n_layers = max(layer.values()) + 1
    widest = max(Counter(layer.values()).values())
    fig = Figure(figsize=(max(4.0, 2.6 * n_layers), max(2.5, 1.2 * widest)))
    ax = fig.add_subplot()
    labels = {n.id: _plain_label(n, g.kind == "scalar") for n in g.nodes}
    colors = ["#dbeafe" if n.kind == "leaf" else "#ffffff" for n in g.nodes]
    nx.draw_networkx_edges(G, pos, ax=ax, arrows=True, node_size=3000, edge_color="#555555")
    for n in g.nodes:
        x, y = pos[n.id]
        ax.text(
            x,
            y,
            labels[n.id],
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "fc": colors[n.id], "ec": "#333333"},
        )
    ax.set_axis_off()
    ax.margins(0.15)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=120)
    return buf.getvalue()


def _plain_label(node: GraphNode, scalar: bool) -> str:
    if node.kind == "more":
        return f"… {node.count} more nodes"
    if node.kind == "chain":
        return f"… {node.count} nodes:\n{node.detail}"
    head = node.label if node.kind == "leaf" else f"{node.label} = {node.op}"
    return f"{head}\ndata {fmt_summary(node.value)}\ngrad {fmt_summary(node.grad)}"


# --- draw ---------------------------------------------------------------------------------


def draw(
    root: Any,
    *,
    names: Mapping[str, Any] | None = None,
    max_nodes: int = 300,
) -> Graph:
    """The computational graph behind ``root`` (a scalar ``Value`` or a ``Tensor``).

    Args:
        root: the output to draw from, usually the loss.
        names: optional ``{name: Value or Tensor}`` (e.g. ``dict(model.named_parameters())``
            plus intermediate tensors): those nodes are labelled with the name, and tensors
            given here show their value, and their grad when they retain it.
        max_nodes: the node budget; bigger graphs are summarised (see the module docstring).

    Returns:
        A ``Graph``. For scalars a node's value is its ``data`` and its grad its ``grad``; for
        tensors both are summaries (shape, dtype, min, mean, max, norm), and an op node's value
        is known only for the root and for tensors passed in ``names``.

    Raises:
        VizError: ``root`` is not a Value or Tensor, or it has no graph to draw.

    >>> from chainrule.scalar import Value
    >>> x = Value(3.0, label="x")
    >>> c = x * 2 + (x + 1)
    >>> c.backward()
    >>> print(draw(c).dot.splitlines()[4])
      n0 [shape=record, style=filled, fillcolor="#dbeafe", label="{ x | data 3 | grad 3 }"];
    """
    if max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be at least 1, got {max_nodes}")
    names = dict(names or {})
    if _is_value(root):
        return _draw_scalar(root, names, max_nodes)
    if _is_tensor(root):
        return _draw_tensor(root, names, max_nodes)
    kind = type(root).__name__
    hint = ""
    if isinstance(root, int | float):
        hint = " A plain number has no graph: build it from chainrule.scalar.Value objects."
    elif type(root).__module__.startswith("numpy"):
        hint = " A NumPy array has no graph: use cr.tensor(..., requires_grad=True)."
    raise VizError(
        f"draw: expected a chainrule.scalar.Value or a chainrule Tensor, got {kind} "
        f"{repr(root)[:60]}.{hint}"
    )


def _walk_scalar(root: Any) -> tuple[list, list[list[int]]]:
    """The scalar engine's own iterative topological sort (its order is backward's order),
    then each node's parent indices; the generic walk for micrograd-style objects."""
    from chainrule.scalar.engine import Value, topological_sort

    if not isinstance(root, Value):
        return _walk(root, _scalar_parents)
    objs = topological_sort(root)
    # chainrule's Value hashes by identity (no __eq__), so it can key the dict itself.
    index = {v: i for i, v in enumerate(objs)}
    return objs, [[index[p] for p in v._parents] for v in objs]


def _draw_scalar(root: Any, names: dict[str, Any], budget: int) -> Graph:
    objs, parents = _walk_scalar(root)
    given = {id(v): k for k, v in names.items()}

    def label(v: Any, i: int, counter: list[int]) -> str:
        if id(v) in given:
            return given[id(v)]
        if getattr(v, "label", ""):
            return v.label
        if v is root:
            return "out"
        k = 0 if parents[i] else 1  # separate numbering for results (t) and inputs (v)
        counter[k] += 1
        return f"t{counter[0]}" if parents[i] else f"v{counter[1]}"

    def make(i: int, nid: int, counter: list[int]) -> GraphNode:
        v = objs[i]
        return GraphNode(
            id=nid,
            kind="op" if parents[i] else "leaf",
            op=str(getattr(v, "_op", "") or ""),
            label=label(v, i, counter),
            value=_finite(v.data),
            grad=_finite(v.grad),
            obj=v,
        )

    return _build(objs, parents, budget, make, lambda i: str(objs[i]._op or "leaf"), "scalar")


def _draw_tensor(root: Any, names: dict[str, Any], budget: int) -> Graph:
    fn = root.grad_fn
    if fn is None and not root.requires_grad:
        raise VizError(
            f"draw: this tensor (shape {tuple(root.shape)}) has no graph: it does not require "
            "grad and was not computed from tensors that do (or it was computed under "
            "no_grad() or detached). Create the inputs with requires_grad=True."
        )
    start = root if fn is None else fn
    objs, parents = _walk(start, _tensor_parents)
    # Tensors the caller named: leaves by identity, others through their grad_fn.
    named: dict[int, tuple[str, Any]] = {}
    for name, t in names.items():
        if _is_tensor(t):
            key = id(t) if t.grad_fn is None else id(t.grad_fn)
            named[key] = (name, t)
    named.setdefault(id(start), ("out", root))
    if fn is None:
        named[id(start)] = (named[id(start)][0], root)

    def make(i: int, nid: int, counter: list[int]) -> GraphNode:
        obj = objs[i]
        name, tensor = named.get(id(obj), ("", None))
        if _is_tensor(obj):  # a leaf
            if not name:
                counter[1] += 1
                name = f"v{counter[1]}"
            return GraphNode(
                id=nid,
                kind="leaf",
                op="",
                label=name,
                value=summarize(obj),
                grad=None if obj.grad is None else summarize(obj.grad),
                requires_grad=bool(obj.requires_grad),
                parameter=type(obj).__name__ == "Parameter",
                obj=obj,
            )
        if not name:
            counter[0] += 1
            name = f"t{counter[0]}"
        grad = None
        retains = False
        if tensor is not None:
            retains = bool(getattr(tensor, "retains_grad", False))
            if tensor.grad is not None:
                grad = summarize(tensor.grad)
        return GraphNode(
            id=nid,
            kind="op",
            op=_node_name(obj),
            label=name,
            value=None if tensor is None else summarize(tensor),
            grad=grad,
            retains_grad=retains,
            obj=obj,
        )

    def op_of(i: int) -> str:
        obj = objs[i]
        return "leaf" if _is_tensor(obj) else _node_name(obj)

    return _build(objs, parents, budget, make, op_of, "tensor")


def _build(
    objs: list,
    parents: list[list[int]],
    budget: int,
    make: Callable[[int, int, list[int]], GraphNode],
    op_of: Callable[[int], str],
    kind: str,
) -> Graph:
    items, item_parents = _summarise(len(objs), parents, op_of, budget)
    nodes: list[GraphNode] = []
    counter = [0, 0]
    omitted = 0
    for nid, (what, payload) in enumerate(items):
        if what == "obj":
            nodes.append(make(payload, nid, counter))
        elif what == "chain":
            ops = Counter(op_of(i) for i in payload)
            detail = ", ".join(f"{op} ×{c}" for op, c in ops.most_common(4))
            if len(ops) > 4:
                detail += ", …"
            nodes.append(
                GraphNode(
                    nid, "chain", "", f"{len(payload)} nodes", count=len(payload), detail=detail
                )
            )
            omitted += len(payload)
        else:
            nodes.append(GraphNode(nid, "more", "", f"{payload} more", count=payload))
            omitted += payload
    edges = [(p, j) for j, ps in enumerate(item_parents) for p in ps]
    return Graph(nodes, edges, kind, len(objs), omitted)
