"""The learner's graph in the grader's report: exported by the sandboxed worker once every
required check passed, through the same capped pipe, validated again in the parent.

Each grading spawns a real worker (under bubblewrap where it works), about a second each.
"""

from __future__ import annotations

import json
from pathlib import Path

from chainrule.exercise import check_source, grade_source
from chainrule.exercise.graph_export import ACCEPT_NODES, EXAMPLE, validate

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
CORRECT = (SOLUTIONS / "correct.py").read_text()

# Appended to the correct solution: code that runs only when the graph exporter calls it (the
# learner's code can see who calls it; the checks never come from graph_export).
_WHEN_EXPORTING = """

import sys as _sys

_orig_backward = Value.backward


def _exporting():
    f = _sys._getframe(1)
    while f is not None:
        if f.f_globals.get("__name__") == "_chainrule_exercise_graph":
            return True
        f = f.f_back
    return False


def _backward(self):
    if _exporting():
{action}
    _orig_backward(self)


Value.backward = _backward
"""


def _with_export_action(action: str) -> str:
    body = "\n".join("        " + line for line in action.splitlines())
    return CORRECT + _WHEN_EXPORTING.replace("{action}", body)


def test_a_passing_report_carries_the_learners_graph():
    report = check_source(CORRECT, timeout=5.0)
    assert report.passed and report.graph is not None
    nodes = {n["label"]: n for n in report.graph["nodes"]}
    assert set(nodes) == {"x", "2", "1", "a", "b", "c"}
    assert (nodes["x"]["data"], nodes["x"]["grad"]) == (3.0, 3.0)  # dc/dx = 2 + 1
    assert nodes["c"]["op"] == "+" and nodes["a"]["op"] == "*" and len(report.graph["edges"]) == 6
    out = report.to_json()
    assert out["graph"] == report.graph and json.dumps(out, allow_nan=False)


def test_a_failing_report_has_no_graph():
    report = grade_source((SOLUTIONS / "relu_negative.py").read_text(), 5.0)
    assert report["passed"] is False and report["graph"] is None


def test_the_exported_graph_is_the_same_every_time():
    first = check_source(CORRECT, timeout=5.0).graph
    assert first is not None and check_source(CORRECT, timeout=5.0).graph == first


def test_a_hanging_export_costs_the_picture_not_the_verdict():
    report = check_source(_with_export_action("while True:\n    pass"), timeout=2.0)
    assert report.passed and report.graph is None
    assert all(c.status == "pass" for c in report.checks if c.required)


def test_a_crashing_export_costs_the_picture_not_the_verdict():
    report = check_source(_with_export_action("import os\nos._exit(3)"), timeout=3.0)
    assert report.passed and report.graph is None


def test_an_operation_refused_during_the_export_fails_the_sandbox_check():
    action = "try:\n    open('/etc/hostname').read()\nexcept OSError:\n    pass"
    report = check_source(_with_export_action(action), timeout=5.0)
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "during graph" in sandbox.details
    assert not report.passed and report.graph is None


def test_what_a_hostile_class_puts_in_its_nodes_is_cleaned_in_the_worker_and_parent():
    # _op with markup, data a huge int, grad a float subclass: the worker's probe keeps only
    # safe characters and plain numbers; the parent's validate checks them again.
    action = (
        "class _F(float):\n    pass\n"
        "self._op = '\"];<script>' + self._op\n"
        "self.data = 10 ** 400\n"
        "self.grad = _F(1.0)"
    )
    report = check_source(_with_export_action(action), timeout=5.0)
    assert report.passed and report.graph is not None
    root = report.graph["nodes"][0]
    assert root["op"] == "scri" and root["data"] is None  # cut at 8 characters, then filtered
    assert all(set(n["op"]) <= set("abcdefghijklmnopqrstuvwxyz+*") for n in report.graph["nodes"])


def test_validate_refuses_what_a_worker_could_forge():
    assert validate(None) is None and validate([]) is None
    assert validate({"nodes": [], "edges": []}) is None
    assert validate({"nodes": [{"id": True}], "edges": []}) is None  # a bool is no id
    assert validate({"nodes": [{"id": 0}, {"id": 0}], "edges": []}) is None  # duplicate ids
    forged = {
        "example": "x" * 10_000,
        "nodes": [
            {"id": 0, "label": "</svg>", "op": "<", "data": 10**400, "grad": float("nan")},
            *({"id": i, "label": "x", "op": "+", "data": 1, "grad": "1"} for i in range(1, 500)),
        ],
        "edges": [[1, 0], [0, 99999], [1], ["0", 1], [0, 1, 2]],
        "truncated": "yes",
    }
    g = validate(forged)
    assert g["nodes"][0] == {"id": 0, "label": "", "op": "?", "data": None, "grad": "nan"}
    assert g["nodes"][1]["grad"] is None  # a string that is not nan/inf is no number
    assert len(g["nodes"]) == ACCEPT_NODES and g["truncated"] is True
    assert g["edges"] == [[1, 0]] and g["example"] == EXAMPLE  # the forged caption is dropped
