"""chainrule.viz: the graph walk, DOT text, pictures, the explorer's trace, and `chainrule graph`.

The browser test of the explorer page is in test_viz_browser.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.scalar import Value
from chainrule.viz import VizError, build_trace, draw, explore
from chainrule.viz.explore import _rule_local

HAS_DOT = shutil.which("dot") is not None


def lesson():
    """The lesson's loss = (w*x + b - y)**2 with labelled inputs, after backward."""
    w, x, b, y = (Value(v, label=n) for v, n in [(2.0, "w"), (3.0, "x"), (1.0, "b"), (5.0, "y")])
    loss = (w * x + b - y) ** 2
    loss.backward()
    return loss, {"w": w, "x": x, "b": b, "y": y}


def dag():
    """The lesson's DAG case c = x*2 + (x+1): x is used twice, dc/dx = 3."""
    x = Value(3.0, label="x")
    c = x * 2 + (x + 1)
    c.backward()
    return c, x


def neuron():
    """A small tensor neuron: loss = sum(tanh(w @ x + b)**2)."""
    cr.manual_seed(0)
    w = cr.nn.Parameter(cr.randn(1, 3))
    b = cr.nn.Parameter(cr.zeros(1))
    x = cr.tensor([[1.0], [2.0], [3.0]])
    z = w @ x + b
    z.retain_grad()
    h = z.tanh()
    loss = (h * h).sum()
    loss.backward()
    return loss, {"w": w, "b": b, "z": z, "h": h}


# --- the walk and DOT ---------------------------------------------------------------------


def test_scalar_graph_nodes_edges_and_dot():
    loss, inputs = lesson()
    g = draw(loss)
    assert [n.label for n in g.nodes] == ["w", "x", "t1", "b", "t2", "y", "t3", "out"]
    assert [n.op for n in g.nodes] == ["", "", "*", "", "+", "", "-", "**2"]
    assert g.edges == [(0, 2), (1, 2), (2, 4), (3, 4), (4, 6), (5, 6), (6, 7)]
    assert [n.grad for n in g.nodes if n.kind == "leaf"] == [12.0, 8.0, 4.0, -4.0]
    dot = g.dot
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    # micrograd's record nodes { label | data | grad } and an op node feeding each result
    assert 'label="{ w | data 2 | grad 12 }"' in dot
    assert 'label="{ y | data 5 | grad -4 }"' in dot
    assert 'n7_op [shape=circle, fixedsize=false, fontsize=10, label="**2"];' in dot
    assert "n6 -> n7_op;" in dot and "n7_op -> n7;" in dot


def test_node_used_twice_has_two_edges_and_full_grad():
    x = Value(3.0, label="x")
    y = x * x
    y.backward()
    g = draw(y)
    assert g.edges == [(0, 1), (0, 1)]
    assert g.nodes[0].grad == 6.0
    assert g.dot.count("n0 -> n1_op;") == 2


def test_labels_with_record_characters_are_escaped():
    v = Value(1.0, label='a{b}|<c>"')
    g = draw(v * 2)
    assert r"a\{b\}\|\<c\>\"" in g.dot


def test_tensor_graph_marks_leaves_parameters_and_retained_grads():
    loss, names = neuron()
    g = draw(loss, names=names)
    ops = [n.op for n in g.nodes]
    assert ops == [
        "",
        "MmBackward0",
        "",
        "AddBackward0",
        "TanhBackward0",
        "MulBackward0",
        "SumBackward0",
    ]
    w, z = g.nodes[0], g.nodes[3]
    assert w.label == "w" and w.kind == "leaf" and w.parameter
    assert w.value["shape"] == [1, 3] and w.value["dtype"] == "float32"
    np.testing.assert_allclose(w.grad["norm"], np.linalg.norm(names["w"].grad.data), rtol=1e-6)
    assert z.retains_grad and z.grad is not None
    np.testing.assert_allclose(z.grad["mean"], float(names["z"].grad.data.mean()), rtol=1e-6)
    assert g.nodes[-1].value["mean"] == pytest.approx(float(loss.data))
    dot = g.dot
    assert "w (parameter)" in dot and "MmBackward0" in dot
    assert dot.count("n4 -> n5;") == 2  # h * h: h feeds the product twice


def test_accumulate_grad_style_leaves_are_understood():
    """A leaf may sit in next_functions as an AccumulateGrad-like holder (PyTorch's form)."""

    class AccumulateGrad:
        def __init__(self, variable):
            self.variable = variable

        def name(self):
            return "AccumulateGrad"

    a = cr.tensor([1.0, 2.0], requires_grad=True)

    class Fake:
        next_functions = ((AccumulateGrad(a), 0), (None, 0))

        def name(self):
            return "FakeBackward0"

    from chainrule.viz.graph import _tensor_parents

    assert _tensor_parents(Fake()) == [a]


def test_bad_input_errors():
    with pytest.raises(VizError, match=r"expected a chainrule\.scalar\.Value or a"):
        draw("loss")
    with pytest.raises(VizError, match="plain number has no graph"):
        draw(3.0)
    with pytest.raises(VizError, match="NumPy array has no graph"):
        draw(np.ones(3))
    with pytest.raises(VizError, match="has no graph"):
        draw(cr.ones(3) * 2)
    with cr.no_grad():
        y = cr.ones(3, requires_grad=True) * 2
    with pytest.raises(VizError, match="no_grad"):
        draw(y)
    with pytest.raises(ValueError, match="max_nodes"):
        draw(Value(1.0), max_nodes=0)
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.dot"):
        draw(Value(1.0) * 2).save("g.pdf")


def test_freed_graph_error_is_clear():
    class Freed:
        @property
        def next_functions(self):
            raise RuntimeError("saved tensors were freed")

        def name(self):
            return "MulBackward0"

    from chainrule.viz.graph import _tensor_parents

    with pytest.raises(VizError, match=r"freed.*retain_graph=True"):
        _tensor_parents(Freed())


def test_graph_after_backward_still_draws():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (a * a).sum()
    loss.backward()  # frees the saved tensors; the structure stays drawable
    g = draw(loss, names={"a": a})
    assert [n.op for n in g.nodes] == ["", "MulBackward0", "SumBackward0"]
    assert g.nodes[0].grad["max"] == 4.0


# --- big graphs ---------------------------------------------------------------------------


def test_long_chain_is_summarised_iteratively():
    v = x = Value(0.5, label="x")
    for _ in range(50_000):  # 100,000 nodes: far past recursion limits
        v = (v * 1.0001).tanh()
    g = draw(v)
    assert g.total == 100_001
    assert len(g.nodes) <= 300
    chain = [n for n in g.nodes if n.kind == "chain"]
    assert len(chain) == 1 and chain[0].count == 99_997
    assert "tanh ×49999" in chain[0].detail and "* ×49998" in chain[0].detail
    assert g.nodes[0].obj is x and g.nodes[-1].obj is v
    assert "99997 nodes in a chain" in g.dot


def test_wide_graph_keeps_the_nodes_nearest_the_output():
    xs = [Value(float(i)) for i in range(2_000)]
    s = Value.sum(xs)
    g = draw(s, max_nodes=100)
    assert len(g.nodes) == 101  # 100 kept + the "more" node
    more = g.nodes[0]
    assert more.kind == "more" and more.count == 1_901
    assert "1901 more nodes not shown" in g.dot
    assert g.omitted == 1_901


def test_tensor_chain_is_summarised():
    a = cr.tensor([1.0], requires_grad=True)
    y = a
    for _ in range(5_000):
        y = y * 1.0001
    g = draw(y)
    assert len(g.nodes) < 10 and g.total == 5_001
    assert any(n.kind == "chain" and "MulBackward0" in n.detail for n in g.nodes)


# --- pictures -----------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_svg_and_png_with_graphviz(tmp_path):
    loss, _ = lesson()
    g = draw(loss)
    svg = g.svg(engine="dot")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "grad 12" in svg
    assert g._repr_svg_() == svg
    assert "<svg" in g._repr_html_()
    png = g.save(tmp_path / "g.png", engine="dot").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_pictures_without_graphviz(tmp_path):
    pytest.importorskip("networkx")
    pytest.importorskip("matplotlib")
    loss, _ = lesson()
    g = draw(loss)
    svg = g.svg(engine="networkx")
    assert "<svg" in svg
    png = g.save(tmp_path / "g.png", engine="networkx").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    dot = g.save(tmp_path / "g.dot").read_text()
    assert dot == g.dot


def test_import_chainrule_imports_no_optional_package():
    code = (
        "import sys, chainrule as cr\n"
        "from chainrule.scalar import Value\n"
        "cr.viz.draw(Value(1.0) * 2).dot\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'networkx', 'graphviz', 'playwright')]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=_env()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --- the explorer's trace -----------------------------------------------------------------


def _check_schema(trace):
    assert set(trace) == {"nodes", "edges", "steps"}
    for n in trace["nodes"]:
        assert set(n) == {"id", "op", "label", "value", "grad"}
    ids = {n["id"] for n in trace["nodes"]}
    for a, b in trace["edges"]:
        assert a in ids and b in ids
    for s in trace["steps"]:
        assert s["phase"] in ("forward", "backward") and s["node"] in ids
        assert isinstance(s["text"], str) and s["text"]
    json.dumps(trace, allow_nan=False)  # numbers only, no NaN/inf


def test_trace_of_the_lesson_matches_chainrule_gradients():
    loss, inputs = lesson()
    trace = build_trace(loss)
    _check_schema(trace)
    by_label = {n["label"]: n for n in trace["nodes"]}
    for name, v in inputs.items():
        assert by_label[name]["grad"] == v.grad  # exact: same numbers, same order
        assert by_label[name]["value"] == v.data
    forward = [s for s in trace["steps"] if s["phase"] == "forward"]
    assert [s["node"] for s in forward] == list(range(8))  # the order it was computed in
    assert forward[2]["text"] == "t1 = w * x = 6, computed from w = 2 and x = 3."
    backward = [s for s in trace["steps"] if s["phase"] == "backward"]
    assert backward[0]["grad"] == 1.0 and backward[0]["node"] == 7
    assert len(backward) == 1 + 7  # the seed, then one step per edge
    last = {}
    for s in backward[1:]:
        assert s["product"] == s["local"] * s["upstream"]
        assert s["grad"] == s["grad_before"] + s["product"]
        last[s["target"]] = s["grad"]
    assert not any(s.get("accumulate") for s in backward)
    for n in trace["nodes"]:
        if n["id"] in last:
            assert last[n["id"]] == n["grad"]
    # w receives 4 (upstream) x 3 (x, the other factor)
    w_step = next(s for s in backward if s.get("target") == 0)
    assert w_step["text"] == "t1 = w * x: ∂t1/∂w = x = 3, so w.grad += 4 × 3 = 12."


def test_trace_of_the_dag_shows_the_accumulation():
    c, x = dag()
    trace = build_trace(c)
    _check_schema(trace)
    steps = [s for s in trace["steps"] if s.get("target") == 0]
    assert [s["accumulate"] for s in steps] == [False, True]
    assert steps[0]["grad"] == 1.0 and steps[1]["grad"] == 3.0 == x.grad
    assert "+= gives 1 + 2 = 3" in steps[1]["text"]


def test_trace_without_backward_computes_one_pass_itself():
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    trace = build_trace(y)  # backward not run: grads are 0 on the Values
    assert x.grad == 0.0
    y.backward()
    assert trace["nodes"][0]["grad"] == x.grad


@pytest.mark.parametrize(
    "make",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a**b,
        lambda a, b: a**3,
        lambda a, b: 2.0**a,
        lambda a, b: -a,
        lambda a, b: a - 1.5,
        lambda a, b: 1.5 - a,
        lambda a, b: 3 * a,
        lambda a, b: a / 4,
        lambda a, b: 4 / a,
        lambda a, b: a.tanh(),
        lambda a, b: a.exp(),
        lambda a, b: a.log(),
        lambda a, b: a.sigmoid(),
        lambda a, b: a.sqrt(),
        lambda a, b: a.relu(),
        lambda a, b: Value.sum([a, b, a]),
    ],
)
def test_rule_local_derivatives_agree_with_the_engine(make):
    a, b = Value(1.7), Value(0.6)
    out = make(a, b)
    rule = _rule_local(out)
    # x - c and c - x (x / c and c / x) look alike from the numbers: there the engine's
    # stored derivatives are the only source, and the rule says so with None.
    if out._op in ("-", "/") and len(out._parents) == 1:
        assert rule is None
    else:
        assert rule == pytest.approx(out._local, rel=1e-12)
    out.backward()
    trace = build_trace(out)
    for n, v in zip(trace["nodes"], [a, b]):
        if n["op"] == "" and n["value"] == v.data:
            assert n["grad"] == pytest.approx(v.grad, rel=1e-12)


def test_formulas_of_constant_operands():
    x = Value(2.0, label="x")
    texts = [build_trace(e)["steps"][1]["text"] for e in (x - 1.5, 1.5 - x, x / 4, 4 / x)]
    assert [t.split(" = ")[1] for t in texts] == ["x - 1.5", "1.5 - x", "x / 4", "4 / x"]


def test_tensor_trace_of_a_neuron():
    loss, names = neuron()
    trace = build_trace(loss, names)
    _check_schema(trace)
    by_label = {n["label"]: n for n in trace["nodes"]}
    for name in ("w", "b"):
        np.testing.assert_allclose(
            by_label[name]["grad"]["mean"], float(names[name].grad.data.mean()), rtol=1e-6
        )
    steps = trace["steps"]
    assert sum(s["phase"] == "forward" for s in steps) == len(trace["nodes"])
    h = by_label["h"]["id"]
    into_h = [s for s in steps if s.get("target") == h]
    assert [s["accumulate"] for s in into_h] == [False, True]  # h * h
    w_step = next(s for s in steps if s.get("target") == by_label["w"]["id"])
    assert w_step["grad"] == by_label["w"]["grad"]
    assert "mm(w, const)" in steps[1]["text"]


def test_explore_writes_one_self_contained_page(tmp_path):
    loss, _ = lesson()
    page = explore(loss, tmp_path / "page.html").read_text()
    assert (
        "<script src" not in page
        and "<link" not in page
        and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    )
    m = re.search(
        r'<script type="application/json" id="chainrule-trace">(.*?)</script>', page, re.S
    )
    assert m
    assert json.loads(m.group(1)) == build_trace(loss)


def test_explore_escapes_labels(tmp_path):
    v = Value(1.0, label="</script><b>")
    trace_page = explore(v * 2, tmp_path / "p.html")
    assert trace_page
    from chainrule.viz._page import render_page

    page = render_page(build_trace(v * 2), {"nodes": {}}, "t </title>")
    assert page.count("</script>") == 3  # the three script elements, nothing injected
    assert "t &lt;/title&gt;" in page


def test_explore_refuses_huge_graphs():
    v = Value(1.0)
    for _ in range(200):
        v = v * 1.01
    with pytest.raises(ValueError, match="explorer shows at most"):
        build_trace(v)


# --- chainrule graph ----------------------------------------------------------------------


def test_cli_graph_prints_gradients_and_writes_files(tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["graph", "(w*x + b - y)**2", "w=2", "x=3", "b=1", "y=5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(w*x + b - y)**2 = 4" in printed
    for line in ("d/dw = 12", "d/dx = 8", "d/db = 4", "d/dy = -4"):
        assert line in printed
    assert "{ w | data 2 | grad 12 }" in out.read_text()
    page = tmp_path / "g.html"
    assert main(["graph", "x*2 + (x+1)", "x=3", "--out", str(page)]) == 0
    assert 'id="chainrule-trace"' in page.read_text()
    assert (
        main(
            [
                "graph",
                "tanh(a) * relu(b) + exp(a) - log(b) / sigmoid(a)",
                "a=0.5",
                "b=2",
                "--out",
                str(tmp_path / "f.dot"),
            ]
        )
        == 0
    )
    a, b = Value(0.5), Value(2.0)
    f = a.tanh() * b.relu() + a.exp() - b.log() / a.sigmoid()
    f.backward()
    printed = capsys.readouterr().out
    assert f"d/da = {a.grad:.6g}" in printed and f"d/db = {b.grad:.6g}" in printed


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os').system('echo hi')", "is not allowed"),
        ("__import__('os')", "calling '__import__' is not allowed"),
        ("x.__class__", "attribute access"),
        ("open('/etc/passwd')", "calling 'open' is not allowed"),
        ("eval('1')", "calling 'eval' is not allowed"),
        ("x[0]", "indexing"),
        ("lambda: x", "a lambda"),
        ("[x for x in ()]", "a comprehension"),
        ("x if x else 1", "if/else"),
        ("x < 2", "a comparison"),
        ("'a' * x", "is not a real number"),
        ("x // 2", "FloorDiv"),
        ("x @ x", "MatMult"),
        ("~x", "Invert"),
        ("z * 2", "name 'z' has no value"),
        ("tanh", "must be called"),
        ("tanh(x, x)", "exactly one argument"),
        ("tanh(x=x)", "exactly one argument"),
        ("x +", "cannot parse"),
        ("(x := 2)", "assignment"),
        ("2 + 3", "no input names"),
        ("x" + "+x" * 1500, "limit is 2000"),
        ("log(x - 3)", "log: got log(0.0)"),
        ("x / (x - 3)", "division by zero"),
        ("9.0 ** 9.0 ** 9.0 * x", "too large"),
    ],
)
def test_cli_graph_refuses_hostile_and_bad_expressions(expr, message, capsys, tmp_path):
    assert main(["graph", expr, "x=3", "--out", str(tmp_path / "g.svg")]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "x"], "write name=number"),
        (["x", "x=abc"], "not a finite number"),
        (["x", "x=nan"], "not a finite number"),
        (["x", "tanh=1"], "write name=number"),
        (["x", "x=1", "--out", "g.pdf"], "use a .svg, .png, .dot or .html"),
    ],
)
def test_cli_graph_refuses_bad_values(args, message, capsys):
    assert main(["graph", *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_graph_does_not_eval(monkeypatch, tmp_path):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert main(["graph", "x*x", "x=2", "--out", str(tmp_path / "g.dot")]) == 0


def _env():
    """The environment for a subprocess that imports this chainrule (the one under test)."""
    src = str(Path(cr.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def test_cli_graph_as_a_subprocess(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "graph", "__import__('os').getcwd()", "x=1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env=_env(),
    )
    assert out.returncode == 2
    assert out.stderr.startswith("chainrule graph: ") and out.stderr.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_fmt_numbers():
    from chainrule.viz.graph import fmt_number

    assert fmt_number(4.0) == "4" and fmt_number(-0.25) == "-0.25"
    assert fmt_number(math.inf) == "inf" and fmt_number("nan") == "nan"


def test_without_graphviz_the_explorer_and_pictures_use_networkx(tmp_path, monkeypatch):
    pytest.importorskip("networkx")
    pytest.importorskip("matplotlib")
    from chainrule.viz import graph as graph_module

    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)  # as if no dot
    c, _ = dag()
    page = explore(c, tmp_path / "dag.html").read_text()
    layout = json.loads(re.search(r'id="chainrule-layout">(.*?)</script>', page, re.S).group(1))[
        "nodes"
    ]
    xs = {k: v["x"] for k, v in layout.items()}
    assert xs["0"] < xs["1"] == xs["2"] < xs["3"]  # layered left to right
    svg = draw(c).svg()
    assert "<svg" in svg
    with pytest.raises(RuntimeError, match="dot program is not installed"):
        draw(c).svg(engine="dot")


def test_micrograd_style_values_can_be_drawn_and_explored():
    """A learner's own Value class (micrograd's shape: data, grad, _prev set, _op)."""

    class V:
        def __init__(self, data, children=(), op="", label=""):
            self.data, self.grad, self._prev, self._op = data, 0.0, set(children), op
            self.label = label
            self._backward = lambda: None

        def __add__(self, other):
            out = V(self.data + other.data, (self, other), "+")

            def backward():
                self.grad += out.grad
                other.grad += out.grad

            out._backward = backward
            return out

        def __mul__(self, other):
            out = V(self.data * other.data, (self, other), "*")

            def backward():
                self.grad += other.data * out.grad
                other.grad += self.data * out.grad

            out._backward = backward
            return out

    a, b = V(2.0, label="a"), V(-3.0, label="b")
    out = a * b + a
    g = draw(out)
    assert sorted(n.label for n in g.nodes if n.kind == "leaf") == ["a", "b"]
    trace = build_trace(out)
    grads = {n["label"]: n["grad"] for n in trace["nodes"]}
    assert grads["a"] == -3.0 + 1.0 and grads["b"] == 2.0  # d/da (a*b + a) = b + 1
    assert any(s.get("accumulate") for s in trace["steps"])
