"""The grader's checks: one per property of a learner's ``Value`` class.

Every check is split in two halves that run in different processes:

- ``probe(V, params) -> observations`` runs **in the sandboxed worker**, on the learner's class
  ``V``. It only builds small graphs, calls ``backward()`` and reads numbers back; it decides
  nothing.
- ``judge(observations, params) -> Verdict`` runs **in the grader's own process** and compares
  what was observed with an expectation computed independently of the learner's code: a
  closed-form derivative, central finite differences, or chainrule's own engine
  (``chainrule.scalar.Value``) on the same graph. The message says which.

Messages follow one shape: what was computed, what was expected, how the expectation was
derived, and then what usually causes the difference::

    x is used twice (a = x*2, b = x+1, c = a + b): x.grad is 1.0, expected 3.0 (dc/dx = 2
    through a + 1 through b). Gradients must be accumulated with += in _backward, not
    assigned with =.

This module imports only the standard library at import time (the worker loads it before the
sandbox is up, and NumPy's threads would get in the way of Landlock); the reference engine is
imported lazily, in the parent only.

>>> [c.name for c in CHECKS][:4]
['construction', 'forward_add', 'forward_mul', 'forward_relu']
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["CHECKS", "Check", "Verdict", "describe_error", "reference_engine"]

PASS, FAIL, SKIP = "pass", "fail", "skip"
Obs = dict[str, Any]
Params = dict[str, Any]


class Verdict(NamedTuple):
    """A check's outcome: ``status`` is pass/fail/skip; ``details`` holds extra lines."""

    status: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class Check:
    """One graded property. See the module docstring for the probe/judge split."""

    name: str
    required: bool
    summary: str
    probe: Callable[[type, Params], Obs]
    judge: Callable[[Obs, Params], Verdict]
    make_params: Callable[[random.Random], Params] = field(default=lambda rng: {})
    # Called instead of the default error message when the probe raised.
    on_error: Callable[[dict, Params], Verdict] | None = None


# ---------------------------------------------------------------------------------------------
# Helpers shared by probes (worker side) and judges (parent side).


def _num(x: Any) -> float | str:
    """A learner's ``.data`` or ``.grad`` as a float, or a description when it is not one."""
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    try:
        return float(x)  # NumPy scalars and other number types
    except Exception:
        return f"<not a number: {type(x).__name__}>"


def _f(x: Any) -> str:
    """Format a number the way Python prints it, shortened to 6 significant digits."""
    if not isinstance(x, float):
        return str(x)
    if not math.isfinite(x):
        return repr(x)
    r = repr(x)
    return r if len(r) <= 9 else f"{x:.6g}"


def _close(got: Any, want: float, tol: float = 1e-6) -> bool:
    return isinstance(got, float) and math.isclose(got, want, rel_tol=tol, abs_tol=tol)


def describe_error(err: dict, memory_mb: int | None = None, optional: bool = False) -> Verdict:
    """The verdict for a probe that raised: the error, and the learner's frames below it.

    ``err`` is what the worker sends: ``type``, ``message`` and ``traceback`` (trimmed to the
    frames of the learner's file).
    """
    kind, msg, tb = err.get("type", "?"), err.get("message", ""), err.get("traceback", "")
    if kind == "MemoryError":
        limit = f" ({memory_mb} MiB)" if memory_mb else ""
        text = (
            f"MemoryError: your code tried to use more memory than the sandbox allows{limit}; "
            "the allocation was refused by the memory limit"
        )
        return Verdict(FAIL, text, tb)
    if kind == "NotImplementedError":
        return Verdict(SKIP if optional else FAIL, f"not implemented yet ({kind}: {msg})", tb)
    if kind == "PermissionError" and msg.startswith("sandbox:"):
        return Verdict(FAIL, f"your code did something the grader does not allow: {msg}", tb)
    if kind == "SystemExit":
        return Verdict(FAIL, f"your code called sys.exit({msg})", tb)
    return Verdict(FAIL, f"your code raised {kind}: {msg}", tb)


# ---------------------------------------------------------------------------------------------
# A reference engine for the parent. chainrule's own scalar engine when it imports; otherwise
# this tiny one (iterative topological sort, += accumulation), so the grader still works while
# chainrule.scalar is being developed.


class _TinyValue:
    def __init__(self, data: float, _prev: tuple = (), _op: str = "") -> None:
        self.data, self.grad, self._prev, self._op = float(data), 0.0, _prev, _op
        self._backward: Callable[[], None] = lambda: None

    def __add__(self, other: _TinyValue) -> _TinyValue:
        out = _TinyValue(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: _TinyValue) -> _TinyValue:
        out = _TinyValue(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def relu(self) -> _TinyValue:
        out = _TinyValue(max(self.data, 0.0), (self,), "ReLU")

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative post-order DFS
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def reference_engine() -> tuple[type, str]:
    """``(Value class, its name)`` for expectations: chainrule.scalar if importable."""
    try:
        from chainrule.scalar import Value
    except Exception:  # chainrule.scalar missing or broken: fall back, and say so
        return _TinyValue, "the grader's built-in reference Value"
    return Value, "chainrule.scalar.Value"


# ---------------------------------------------------------------------------------------------
# Construction and forward values.


def _probe_construction(V: type, p: Params) -> Obs:
    v = V(2.0)
    w = V(-3)
    return {"data": _num(v.data), "grad": _num(v.grad), "int_data": _num(w.data)}


def _judge_construction(o: Obs, p: Params) -> Verdict:
    if not _close(o["data"], 2.0):
        return Verdict(
            FAIL,
            f"Value(2.0).data is {_f(o['data'])}, expected 2.0 (the number "
            "passed to the constructor). Store it unchanged in self.data.",
        )
    if not _close(o["grad"], 0.0):
        return Verdict(
            FAIL,
            f"Value(2.0).grad is {_f(o['grad'])}, expected 0.0 (a new node has "
            "received no gradient yet). Start every node with self.grad = 0.0.",
        )
    if not _close(o["int_data"], -3.0):
        return Verdict(
            FAIL,
            f"Value(-3).data is {_f(o['int_data'])}, expected -3.0 (the int "
            "passed to the constructor).",
        )
    return Verdict(PASS, "Value(2.0).data is 2.0 and .grad starts at 0.0")


def _binary_forward(op: str) -> Callable[[type, Params], Obs]:
    def probe(V: type, p: Params) -> Obs:
        a, b = V(2.0), V(-3.0)
        c = a + b if op == "+" else a * b
        return {"is_value": isinstance(c, V), "type": type(c).__name__, "data": _num(c.data)}

    return probe


def _judge_binary_forward(op: str, want: float) -> Callable[[Obs, Params], Verdict]:
    expr = f"Value(2.0) {op} Value(-3.0)"

    def judge(o: Obs, p: Params) -> Verdict:
        if not o["is_value"]:
            return Verdict(
                FAIL,
                f"{expr} returned a {o['type']}, expected a Value (a new node "
                "of the graph, so that backward() can reach its inputs).",
            )
        if not _close(o["data"], want):
            return Verdict(
                FAIL,
                f"({expr}).data is {_f(o['data'])}, expected {_f(want)} "
                f"(2.0 {op} -3.0, computed with Python floats).",
            )
        return Verdict(PASS, f"({expr}).data is {_f(want)}")

    return judge


_RELU_INPUTS = (-2.0, 0.0, 3.0)


def _probe_forward_relu(V: type, p: Params) -> Obs:
    return {"data": [_num(V(x).relu().data) for x in _RELU_INPUTS]}


def _judge_forward_relu(o: Obs, p: Params) -> Verdict:
    for x, got in zip(_RELU_INPUTS, o["data"]):
        want = max(x, 0.0)
        if not _close(got, want):
            return Verdict(
                FAIL,
                f"Value({_f(x)}).relu().data is {_f(got)}, expected "
                f"{_f(want)} (relu(x) = max(0, x)).",
            )
    return Verdict(PASS, "relu(-2.0) = 0.0, relu(0.0) = 0.0, relu(3.0) = 3.0")


# ---------------------------------------------------------------------------------------------
# Local gradients of the required ops.


def _probe_grad_binary(op: str) -> Callable[[type, Params], Obs]:
    def probe(V: type, p: Params) -> Obs:
        a, b = V(2.0), V(-3.0)
        c = a + b if op == "+" else a * b
        c.backward()
        return {"a": _num(a.grad), "b": _num(b.grad), "c": _num(c.grad)}

    return probe


def _judge_grad_add(o: Obs, p: Params) -> Verdict:
    head = "c = a + b with a = 2.0, b = -3.0, after c.backward()"
    for name in ("a", "b"):
        if not _close(o[name], 1.0):
            hint = ""
            if _close(o[name], 0.0):
                hint = " No gradient reached the inputs: does backward() seed c.grad = 1.0 and "
                hint += "call each node's _backward?"
            return Verdict(
                FAIL,
                f"{head}: {name}.grad is {_f(o[name])}, expected 1.0 "
                f"(d(a + b)/d{name} = 1, closed form: + passes out.grad through "
                f"unchanged).{hint}",
            )
    return Verdict(PASS, "d(a + b)/da = d(a + b)/db = 1.0")


def _judge_grad_mul(o: Obs, p: Params) -> Verdict:
    head = "c = a * b with a = 2.0, b = -3.0, after c.backward()"
    for name, want, other, own in (("a", -3.0, "b", 2.0), ("b", 2.0, "a", -3.0)):
        got = o[name]
        if not _close(got, want):
            hint = ""
            if _close(got, own):
                hint = (
                    f" That is {name}'s own value: the local gradient of a * b with "
                    f"respect to {name} is the *other* factor, {other}.data."
                )
            elif _close(got, 1.0):
                hint = " That is out.grad alone: multiply it by the other factor's data."
            return Verdict(
                FAIL,
                f"{head}: {name}.grad is {_f(got)}, expected {_f(want)} "
                f"(d(a * b)/d{name} = {other} = {_f(want)}, closed form).{hint}",
            )
    return Verdict(PASS, "d(a * b)/da = b = -3.0 and d(a * b)/db = a = 2.0")


def _probe_grad_relu(V: type, p: Params) -> Obs:
    plain = []
    for x0 in _RELU_INPUTS:
        x = V(x0)
        y = x.relu()
        y.backward()
        plain.append(_num(x.grad))
    # relu inside a graph: the gradient arriving at relu's output is 5.0, not 1.0.
    x, five = V(3.0), V(5.0)
    z = x.relu() * five
    z.backward()
    return {"plain": plain, "scaled": _num(x.grad)}


def _judge_grad_relu(o: Obs, p: Params) -> Verdict:
    rule = "d/dx relu(x) = 1 if x > 0 else 0"
    for x0, got in zip(_RELU_INPUTS, o["plain"]):
        want = 1.0 if x0 > 0 else 0.0
        if _close(got, want):
            continue
        msg = (
            f"y = relu(x) at x = {_f(x0)}, after y.backward(): x.grad is {_f(got)}, "
            f"expected {_f(want)} ({rule}, evaluated at x = {_f(x0)})."
        )
        if x0 < 0:
            msg += (
                " A negative input must block the gradient: in relu's _backward, multiply "
                "out.grad by (out.data > 0)."
            )
        elif x0 == 0:
            msg += (
                " At exactly 0 relu has no derivative; chainrule, PyTorch and micrograd all "
                "use relu'(0) = 0, which is what (out.data > 0) gives. Use > 0, not >= 0."
            )
        return Verdict(FAIL, msg)
    if not _close(o["scaled"], 5.0):
        return Verdict(
            FAIL,
            f"z = relu(x) * 5.0 at x = 3.0: x.grad is {_f(o['scaled'])}, "
            "expected 5.0 (dz/dx = relu'(3.0) * 5.0 = 1 * 5.0, chain rule). relu's "
            "_backward must multiply by out.grad, the gradient arriving from above.",
        )
    return Verdict(
        PASS,
        "relu'(-2) = 0, relu'(0) = 0 (PyTorch's convention), relu'(3) = 1, "
        "and the incoming gradient is passed on",
    )


# ---------------------------------------------------------------------------------------------
# Seeding, accumulation, order, repetition, depth.


def _probe_backward_seed(V: type, p: Params) -> Obs:
    x, w = V(2.0), V(-3.0)
    y = x * w + x
    y.backward()
    return {"y": _num(y.grad), "x": _num(x.grad), "w": _num(w.grad)}


def _judge_backward_seed(o: Obs, p: Params) -> Verdict:
    head = "y = x*w + x with x = 2.0, w = -3.0, after y.backward()"
    if not _close(o["y"], 1.0):
        return Verdict(
            FAIL,
            f"{head}: y.grad is {_f(o['y'])}, expected 1.0 (dy/dy = 1). "
            "backward() must start with self.grad = 1.0 before walking the graph.",
        )
    if not _close(o["x"], -2.0) or not _close(o["w"], 2.0):
        return Verdict(
            FAIL,
            f"{head}: x.grad is {_f(o['x'])} and w.grad is {_f(o['w'])}, "
            "expected -2.0 and 2.0 (dy/dx = w + 1, dy/dw = x, closed form).",
        )
    return Verdict(PASS, "backward() seeds y.grad = 1.0 and reaches the inputs")


_ACCUMULATION_CASES = (
    # (description, expected, how, contributions of each use of x)
    ("x is used twice in one op (y = x + x, x = 3.0)", 2.0, "dy/dx = 1 + 1", (1.0,)),
    ("x is used twice in one op (y = x * x, x = 3.0)", 6.0, "dy/dx = 2*x", (3.0,)),
    (
        "x is used twice (a = x*2, b = x+1, c = a + b)",
        3.0,
        "dc/dx = 2 through a + 1 through b",
        (2.0, 1.0),
    ),
)


def _probe_accumulation(V: type, p: Params) -> Obs:
    got = []
    x = V(3.0)
    y = x + x
    y.backward()
    got.append(_num(x.grad))
    x = V(3.0)
    y = x * x
    y.backward()
    got.append(_num(x.grad))
    x, two, one = V(3.0), V(2.0), V(1.0)
    a = x * two
    b = x + one
    c = a + b
    c.backward()
    got.append(_num(x.grad))
    return {"grads": got}


def _judge_accumulation(o: Obs, p: Params) -> Verdict:
    for (what, want, how, parts), got in zip(_ACCUMULATION_CASES, o["grads"]):
        if _close(got, want):
            continue
        msg = f"{what}: x.grad is {_f(got)}, expected {_f(want)} ({how})."
        if any(_close(got, part) for part in parts):
            msg += (
                " Gradients must be accumulated with += in _backward, not assigned with "
                "=: each use of x adds its own contribution, and = keeps only the last."
            )
        elif _close(got, 0.0):
            msg += (
                " No gradient reached x at all: check that backward() visits every node, "
                "in reverse topological order (see topo_order)."
            )
        return Verdict(FAIL, msg)
    return Verdict(PASS, "a node used twice receives the sum of both contributions")


def _probe_topo_order(V: type, p: Params) -> Obs:
    # The short path out -> h1 and the long path out -> h3 -> h2 -> h1 meet at h1, so h1's
    # gradient is complete only after h2 has run. Breadth-first order runs h1 before h2;
    # order of creation (not reversed) runs every node before its consumers; a walk that
    # revisits nodes runs h1 twice. Only a reverse topological order gets 26.0.
    x = V(1.5)
    h1 = x * V(2.0)
    h2 = h1 * V(3.0)
    h3 = h2 * V(4.0)
    out = h3 + h1
    out.backward()
    return {"x": _num(x.grad), "h1": _num(h1.grad), "out": _num(out.data)}


def _judge_topo_order(o: Obs, p: Params) -> Verdict:
    graph = "out = h3 + h1 with h1 = x*2, h2 = h1*3, h3 = h2*4, x = 1.5 (h1 feeds both h2 and out)"
    if not _close(o["out"], 39.0):
        return Verdict(
            FAIL,
            f"{graph}: out.data is {_f(o['out'])}, expected 39.0 (24*1.5 + "
            "2*1.5, computed with Python floats).",
        )
    if _close(o["x"], 26.0):
        return Verdict(PASS, "nodes are processed in reverse topological order")
    msg = (
        f"{graph}: x.grad is {_f(o['x'])}, expected 26.0 (d/dx (2*3*4*x + 2*x) = 24 + 2, "
        f"closed form); h1.grad is {_f(o['h1'])}, expected 13.0 (1 from out + 3*4 from h2)."
    )
    if _close(o["x"], 52.0) or (
        _close(o["h1"], 13.0) and isinstance(o["x"], float) and o["x"] > 26.0
    ):
        msg += (
            " Some _backward ran more than once: visit each node once (keep a set of "
            "visited nodes) and call _backward once per node."
        )
    else:
        msg += (
            " A node's _backward ran before every node that uses it had passed its "
            "gradient back. backward() must call _backward in reverse topological order: "
            "build the order with a depth-first post-order over _prev (a node is appended "
            "after all of its inputs) and walk it from the output back. Breadth-first "
            "order and creation order do not guarantee this."
        )
    return Verdict(FAIL, msg)


def _probe_repeated_backward(V: type, p: Params) -> Obs:
    x, w = V(2.0), V(3.0)
    xw = x * w
    y = xw + x
    y.backward()
    first = [_num(x.grad), _num(w.grad)]
    for node in (x, w, xw, y):  # zero every node of the graph, as an optimizer would
        node.grad = 0.0
    y.backward()
    second = [_num(x.grad), _num(w.grad)]
    x.grad = 0.0
    w.grad = 0.0
    y2 = x * x  # a new graph from the same leaves; the old graph must not take part
    y2.backward()
    third = [_num(x.grad), _num(w.grad)]
    return {"first": first, "second": second, "third": third}


def _judge_repeated_backward(o: Obs, p: Params) -> Verdict:
    head = "y = x*w + x with x = 2.0, w = 3.0"
    if not (_close(o["first"][0], 4.0) and _close(o["first"][1], 2.0)):
        return Verdict(
            FAIL,
            f"{head}, first y.backward(): x.grad is {_f(o['first'][0])} and "
            f"w.grad is {_f(o['first'][1])}, expected 4.0 and 2.0 (dy/dx = w + 1, "
            "dy/dw = x, closed form). Fix the checks above first.",
        )
    if not (_close(o["second"][0], 4.0) and _close(o["second"][1], 2.0)):
        return Verdict(
            FAIL,
            f"{head}: after setting every node's grad to 0.0 and calling "
            f"y.backward() again, x.grad is {_f(o['second'][0])} and w.grad is "
            f"{_f(o['second'][1])}, expected 4.0 and 2.0 again (dy/dx = w + 1, "
            "dy/dw = x, closed form). backward() must give the same result on a "
            "zeroed graph: keep no state between calls except .grad.",
        )
    if not (_close(o["third"][0], 4.0) and _close(o["third"][1], 0.0)):
        return Verdict(
            FAIL,
            f"after y.backward(), zeroing x.grad and w.grad and building a new "
            f"graph y2 = x*x from the same leaves, y2.backward() gives x.grad = "
            f"{_f(o['third'][0])} and w.grad = {_f(o['third'][1])}, expected 4.0 and "
            "0.0 (d(x*x)/dx = 2*x, and w is not in y2's graph). Nodes of the old graph "
            "took part in the new backward: backward() must only visit the nodes "
            "reachable from its output through _prev (a global list of every Value "
            "ever created re-runs old graphs).",
        )
    return Verdict(
        PASS,
        "zeroing and calling backward again gives the same gradients, and old "
        "graphs are left alone",
    )


DEEP_CHAIN_DEPTH = 5000


def _probe_deep_chain(V: type, p: Params) -> Obs:
    depth = p["depth"]
    x = V(0.5)
    y = x
    for _ in range(depth):
        y = y + V(0.001)
    y.backward()
    return {"x": _num(x.grad), "y": _num(y.data)}


def _judge_deep_chain(o: Obs, p: Params) -> Verdict:
    d = p["depth"]
    head = f"a chain of {d} additions (y = x + 0.001 + 0.001 + ..., x = 0.5)"
    want_y = 0.5 + d * 0.001
    if not _close(o["y"], want_y, 1e-9):
        return Verdict(
            FAIL,
            f"{head}: y.data is {_f(o['y'])}, expected {_f(want_y)} (computed with Python floats).",
        )
    if not _close(o["x"], 1.0):
        return Verdict(
            FAIL,
            f"{head}: x.grad is {_f(o['x'])}, expected 1.0 (every + passes the "
            "gradient through unchanged, so dy/dx = 1, closed form).",
        )
    return Verdict(PASS, f"backward() handles a graph {d} nodes deep")


def _deep_chain_error(err: dict, p: Params) -> Verdict:
    d = p["depth"]
    if err.get("type") != "RecursionError":
        return describe_error(err)
    funcs = [f for _, f in err.get("frames", [])]
    repeated = max(set(funcs), key=funcs.count) if funcs else None
    who = f" ({repeated}() in your file calls itself once per node)" if repeated else ""
    msg = (
        f"RecursionError at depth {d}: your topological sort is recursive{who}. Python "
        "stops at about 1000 nested calls (sys.getrecursionlimit()), so a recursive "
        "depth-first search passes small graphs and dies on long chains, such as a network "
        "unrolled over many steps. Build the order with an explicit stack (a list you push "
        "to and pop from) instead of recursion."
    )
    return Verdict(FAIL, msg, err.get("traceback", ""))


# ---------------------------------------------------------------------------------------------
# Random expression graphs against the reference engine.

_GRAPH_OPS = ("+", "*", "*", "relu")


def _random_graph(rng: random.Random) -> Params:
    while True:
        n_leaves = rng.randint(2, 4)
        leaves = [round(rng.choice((-1, 1)) * rng.uniform(0.2, 1.6), 3) for _ in range(n_leaves)]
        ops: list[list[Any]] = []
        n = n_leaves
        for _ in range(rng.randint(6, 14)):
            op = rng.choice(_GRAPH_OPS)
            # Prefer recent nodes (long paths) but reuse old ones too (fan-out, shared leaves).
            i = n - 1 - min(int(rng.expovariate(0.6)), n - 1)
            if op == "relu":
                ops.append(["relu", i])
            else:
                ops.append([op, i, rng.randrange(n)])
            n += 1
        spec = {"leaves": leaves, "ops": ops}
        values = _eval_floats(spec, leaves)
        relu_inputs = [values[op[1]] for op in ops if op[0] == "relu"]
        # Keep away from relu's kink (finite differences would straddle it) and from blow-up.
        if all(abs(v) > 1e-3 for v in relu_inputs) and abs(values[-1]) < 1e3:
            return spec


def _eval_floats(spec: Params, leaves: list[float]) -> list[float]:
    values = list(leaves)
    for op in spec["ops"]:
        if op[0] == "+":
            values.append(values[op[1]] + values[op[2]])
        elif op[0] == "*":
            values.append(values[op[1]] * values[op[2]])
        else:
            values.append(max(values[op[1]], 0.0))
    return values


def _build_graph(V: type, spec: Params) -> list[Any]:
    nodes = [V(x) for x in spec["leaves"]]
    for op in spec["ops"]:
        if op[0] == "+":
            nodes.append(nodes[op[1]] + nodes[op[2]])
        elif op[0] == "*":
            nodes.append(nodes[op[1]] * nodes[op[2]])
        else:
            nodes.append(nodes[op[1]].relu())
    return nodes


def _node_name(spec: Params, i: int) -> str:
    k = len(spec["leaves"])
    return f"x{i}" if i < k else f"n{i - k}"


def _graph_listing(spec: Params) -> str:
    k = len(spec["leaves"])
    lines = [f"  {_node_name(spec, i)} = {_f(v)}" for i, v in enumerate(spec["leaves"])]
    for j, op in enumerate(spec["ops"]):
        name = _node_name(spec, k + j)
        if op[0] == "relu":
            lines.append(f"  {name} = relu({_node_name(spec, op[1])})")
        else:
            lines.append(f"  {name} = {_node_name(spec, op[1])} {op[0]} {_node_name(spec, op[2])}")
    lines.append(f"  out = {_node_name(spec, k + len(spec['ops']) - 1)}")
    return "\n".join(lines)


def _params_random_graphs(rng: random.Random) -> Params:
    return {"graphs": [_random_graph(rng) for _ in range(20)]}


def _probe_random_graphs(V: type, p: Params) -> Obs:
    results = []
    for spec in p["graphs"]:
        nodes = _build_graph(V, spec)
        nodes[-1].backward()
        results.append({"data": _num(nodes[-1].data), "grads": [_num(n.grad) for n in nodes]})
    return {"results": results}


def _central_difference(spec: Params, i: int, h: float = 1e-6) -> float:
    up, down = list(spec["leaves"]), list(spec["leaves"])
    up[i] += h
    down[i] -= h
    return (_eval_floats(spec, up)[-1] - _eval_floats(spec, down)[-1]) / (2 * h)


def _judge_random_graphs(o: Obs, p: Params) -> Verdict:
    V, engine = reference_engine()
    for g, (spec, got) in enumerate(zip(p["graphs"], o["results"]), start=1):
        ref = _build_graph(V, spec)
        ref[-1].backward()
        k = len(spec["leaves"])
        size = f"graph {g} of {len(p['graphs'])} ({k} inputs, {len(spec['ops'])} operations)"
        listing = "the graph:\n" + _graph_listing(spec)
        if not _close(got["data"], ref[-1].data):
            return Verdict(
                FAIL,
                f"{size}: out.data is {_f(got['data'])}, expected "
                f"{_f(ref[-1].data)} (the same graph evaluated by {engine}).",
                listing,
            )
        for i in range(k):
            want = float(ref[i].grad)
            if _close(got["grads"][i], want):
                continue
            fd = _central_difference(spec, i)
            agree = "agrees" if math.isclose(fd, want, rel_tol=1e-4, abs_tol=1e-4) else "differs"
            wrong = [
                _node_name(spec, j)
                for j in range(k, len(ref))
                if not _close(got["grads"][j], float(ref[j].grad))
            ]
            first = f"; the wrong grad nearest the output is {wrong[-1]}.grad" if wrong else ""
            return Verdict(
                FAIL,
                f"{size}: {_node_name(spec, i)}.grad is "
                f"{_f(got['grads'][i])}, expected {_f(want)} (the same graph "
                f"differentiated by {engine}; a central difference gives {_f(fd)}, "
                f"which {agree}){first}. The graph is listed below; the checks above "
                "usually name the cause.",
                listing,
            )
    n = len(p["graphs"])
    return Verdict(PASS, f"{n} random graphs of +, * and relu match {engine}")


# ---------------------------------------------------------------------------------------------
# A tiny MLP trained with the learner's Value.

_MLP_XS = ((-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0), (0.5, -0.5), (-0.5, 0.5))


def _params_mlp(rng: random.Random) -> Params:
    return {
        "w1": [[round(rng.uniform(-1, 1), 4) for _ in range(2)] for _ in range(4)],
        "b1": [round(rng.uniform(-0.1, 0.1), 4) for _ in range(4)],
        "w2": [round(rng.uniform(-1, 1), 4) for _ in range(4)],
        "b2": 0.0,
        "xs": [list(x) for x in _MLP_XS],
        "ys": [x1 - 0.5 * x2 for x1, x2 in _MLP_XS],
        "lr": 0.02,
        "steps": 30,
    }


def _train(V: type, p: Params) -> list[float | str]:
    """SGD on a 2-4-1 relu MLP with a sum-of-squares loss; only +, * and relu on Values."""
    w1 = [[V(w) for w in row] for row in p["w1"]]
    b1 = [V(b) for b in p["b1"]]
    w2 = [V(w) for w in p["w2"]]
    b2 = V(p["b2"])
    params = [w for row in w1 for w in row] + b1 + w2 + [b2]
    losses: list[float | str] = []
    for _ in range(p["steps"]):
        for q in params:
            q.grad = 0.0  # zero_grad: gradients accumulate across backward calls
        loss = None
        for x, y in zip(p["xs"], p["ys"]):
            hidden = []
            for row, b in zip(w1, b1):
                s = b
                for w, xi in zip(row, x):
                    s = s + w * V(xi)
                hidden.append(s.relu())
            out = b2
            for w, h in zip(w2, hidden):
                out = out + w * h
            diff = out + V(-y)
            loss = diff * diff if loss is None else loss + diff * diff
        loss.backward()
        losses.append(_num(loss.data))
        for q in params:
            q.data = q.data - p["lr"] * q.grad
    return losses


def _probe_mlp(V: type, p: Params) -> Obs:
    return {"losses": _train(V, p)}


def _judge_mlp(o: Obs, p: Params) -> Verdict:
    V, engine = reference_engine()
    ref = _train(V, p)
    losses = o["losses"]
    setup = (
        f"a 2-4-1 relu MLP trained with your Value for {p['steps']} SGD steps (learning "
        f"rate {p['lr']}, {len(p['xs'])} points, sum-of-squares loss)"
    )
    reference = f"{engine} on the same data, initial weights and learning rate: "
    reference += f"{_f(ref[0])} -> {_f(ref[-1])}"
    if not all(isinstance(v, float) and math.isfinite(v) for v in losses):
        bad = next(v for v in losses if not (isinstance(v, float) and math.isfinite(v)))
        return Verdict(
            FAIL,
            f"{setup}: the loss became {bad}, expected finite numbers that decrease ({reference}).",
        )
    if not losses[-1] < 0.9 * losses[0]:
        return Verdict(
            FAIL,
            f"{setup}: the loss went {_f(losses[0])} -> {_f(losses[-1])}, "
            f"expected it to decrease by at least 10% ({reference}). The gradients "
            "do not point downhill; the checks above usually say why.",
        )
    same = all(_close(a, b, 1e-6) for a, b in zip(losses, ref))
    note = "" if same else f" (it differs from {reference}: some gradients are slightly off)"
    return Verdict(PASS, f"the loss decreases: {_f(losses[0])} -> {_f(losses[-1])}{note}")


# ---------------------------------------------------------------------------------------------
# Optional: reflected operators with plain numbers, and the other ops of the lesson.

_REFLECTED = (
    # (expression, forward at v = 3.0, d/dv)
    ("v + 1", 4.0, 1.0),
    ("1 + v", 4.0, 1.0),
    ("v * 2", 6.0, 2.0),
    ("2 * v", 6.0, 2.0),
)


def _reflected_forward(expr: str, v: Any) -> Any:
    if expr == "v + 1":
        return v + 1
    if expr == "1 + v":
        return 1 + v
    if expr == "v * 2":
        return v * 2
    return 2 * v


def _probe_reflected(V: type, p: Params) -> Obs:
    cases = {}
    for expr, _, _ in _REFLECTED:
        v = V(3.0)
        try:
            out = _reflected_forward(expr, v)
        except (TypeError, AttributeError) as e:
            cases[expr] = {"missing": f"{type(e).__name__}: {e}"}
            continue
        out.backward()
        cases[expr] = {"data": _num(out.data), "grad": _num(v.grad)}
    return {"cases": cases}


_REFLECTED_FIX = {
    "v + 1": "wrap plain numbers in __add__: other = other if isinstance(other, Value) "
    "else Value(other)",
    "v * 2": "wrap plain numbers in __mul__ the same way",
    "1 + v": "define __radd__ (Python calls v.__radd__(1) when int + Value fails): "
    "return self + other",
    "2 * v": "define __rmul__: return self * other",
}


def _judge_reflected(o: Obs, p: Params) -> Verdict:
    missing = []
    for expr, want, dwant in _REFLECTED:
        case = o["cases"][expr]
        if "missing" in case:
            missing.append(f"{expr} raised {case['missing']} ({_REFLECTED_FIX[expr]})")
            continue
        if not _close(case["data"], want):
            return Verdict(
                FAIL,
                f"{expr} at v = 3.0: .data is {_f(case['data'])}, expected "
                f"{_f(want)} (computed with Python floats).",
            )
        if not _close(case["grad"], dwant):
            return Verdict(
                FAIL,
                f"{expr} at v = 3.0: v.grad is {_f(case['grad'])}, expected "
                f"{_f(dwant)} (d/dv ({expr}) = {_f(dwant)}, closed form).",
            )
    if missing:
        return Verdict(SKIP, "not implemented: " + "; ".join(missing))
    return Verdict(PASS, "v + 1, 1 + v, v * 2 and 2 * v work, forward and backward")


# (name, build from the operand Values, operand values, forward, {operand: derivative}, how)
_UNARY_AND_OTHER_OPS = {
    "sub": ("a - b", (5.0, 3.0), 2.0, (1.0, -1.0), "d(a-b)/da = 1, d(a-b)/db = -1"),
    "neg": ("-a", (5.0,), -5.0, (-1.0,), "d(-a)/da = -1"),
    "div": ("a / b", (3.0, 4.0), 0.75, (0.25, -0.1875), "d(a/b)/da = 1/b, d(a/b)/db = -a/b**2"),
    "pow": ("a ** 3", (2.0,), 8.0, (12.0,), "d(a**3)/da = 3*a**2"),
    "tanh": (
        "a.tanh()",
        (0.5,),
        math.tanh(0.5),
        (1 - math.tanh(0.5) ** 2,),
        "d/da tanh(a) = 1 - tanh(a)**2",
    ),
    "exp": ("a.exp()", (0.5,), math.exp(0.5), (math.exp(0.5),), "d/da exp(a) = exp(a)"),
    "log": ("a.log()", (2.0,), math.log(2.0), (0.5,), "d/da log(a) = 1/a"),
}


def _apply_op(name: str, args: list[Any]) -> Any:
    if name == "sub":
        return args[0] - args[1]
    if name == "neg":
        return -args[0]
    if name == "div":
        return args[0] / args[1]
    if name == "pow":
        return args[0] ** 3
    return getattr(args[0], name)()


def _probe_op(name: str) -> Callable[[type, Params], Obs]:
    def probe(V: type, p: Params) -> Obs:
        args = [V(x) for x in _UNARY_AND_OTHER_OPS[name][1]]
        try:
            out = _apply_op(name, args)
        except (TypeError, AttributeError, NotImplementedError) as e:
            return {"missing": f"{type(e).__name__}: {e}"}
        out.backward()
        return {"data": _num(out.data), "grads": [_num(a.grad) for a in args]}

    return probe


def _judge_op(name: str) -> Callable[[Obs, Params], Verdict]:
    expr, inputs, want, dwant, how = _UNARY_AND_OTHER_OPS[name]

    def judge(o: Obs, p: Params) -> Verdict:
        if "missing" in o:
            return Verdict(SKIP, f"not implemented: {expr} raised {o['missing']}")
        at = ", ".join(f"{n} = {_f(v)}" for n, v in zip("ab", inputs))
        if not _close(o["data"], want):
            return Verdict(
                FAIL,
                f"{expr} at {at}: .data is {_f(o['data'])}, expected "
                f"{_f(want)} (computed with Python's math module).",
            )
        for n, got, d in zip("ab", o["grads"], dwant):
            if not _close(got, d):
                return Verdict(
                    FAIL,
                    f"{expr} at {at}: {n}.grad is {_f(got)}, expected "
                    f"{_f(d)} ({how}, closed form).",
                )
        return Verdict(PASS, f"{expr}: forward and local gradient correct ({how})")

    return judge


CHECKS: list[Check] = [
    Check(
        "construction",
        True,
        "Value(2.0) stores .data and starts with .grad = 0",
        _probe_construction,
        _judge_construction,
    ),
    Check(
        "forward_add",
        True,
        "a + b computes the sum as a new Value",
        _binary_forward("+"),
        _judge_binary_forward("+", -1.0),
    ),
    Check(
        "forward_mul",
        True,
        "a * b computes the product as a new Value",
        _binary_forward("*"),
        _judge_binary_forward("*", -6.0),
    ),
    Check("forward_relu", True, "relu() is max(0, x)", _probe_forward_relu, _judge_forward_relu),
    Check("grad_add", True, "local gradient of +", _probe_grad_binary("+"), _judge_grad_add),
    Check("grad_mul", True, "local gradient of *", _probe_grad_binary("*"), _judge_grad_mul),
    Check(
        "grad_relu",
        True,
        "relu' at negative, zero and positive inputs",
        _probe_grad_relu,
        _judge_grad_relu,
    ),
    Check(
        "backward_seed",
        True,
        "backward() seeds the output with 1.0",
        _probe_backward_seed,
        _judge_backward_seed,
    ),
    Check(
        "accumulation",
        True,
        "a node used twice accumulates (+=) both gradients",
        _probe_accumulation,
        _judge_accumulation,
    ),
    Check(
        "topo_order",
        True,
        "backward() runs in reverse topological order",
        _probe_topo_order,
        _judge_topo_order,
    ),
    Check(
        "repeated_backward",
        True,
        "backward again after zeroing; old graphs left alone",
        _probe_repeated_backward,
        _judge_repeated_backward,
    ),
    Check(
        "deep_chain",
        True,
        f"a chain {DEEP_CHAIN_DEPTH} nodes deep (no recursion limit)",
        _probe_deep_chain,
        _judge_deep_chain,
        lambda rng: {"depth": DEEP_CHAIN_DEPTH},
        _deep_chain_error,
    ),
    Check(
        "random_graphs",
        True,
        "random graphs of +, *, relu against chainrule's engine",
        _probe_random_graphs,
        _judge_random_graphs,
        _params_random_graphs,
    ),
    Check(
        "mlp_training",
        True,
        "a tiny MLP trained with your Value: the loss decreases",
        _probe_mlp,
        _judge_mlp,
        _params_mlp,
    ),
    Check(
        "reflected_ops",
        False,
        "v + 1, 1 + v, v * 2, 2 * v (plain numbers)",
        _probe_reflected,
        _judge_reflected,
    ),
    *[
        Check(
            f"op_{name}",
            False,
            f"{spec[0]}: forward and local gradient",
            _probe_op(name),
            _judge_op(name),
        )
        for name, spec in _UNARY_AND_OTHER_OPS.items()
    ],
]
