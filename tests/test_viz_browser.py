"""The explorer page in a real browser: headless Chromium driven by Playwright.

Skips cleanly when the playwright package or a Chromium binary is missing. Chromium comes
from the system (Debian's ``chromium`` package), never from a download; set
``CHAINRULE_CHROMIUM`` to point elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from chainrule.scalar import Value
from chainrule.viz import build_trace, explore

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium binary at {CHROMIUM}", allow_module_level=True)

ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        except Exception as err:  # a broken install: skip rather than fail the suite
            pytest.skip(f"Chromium did not start: {err}")
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.set_default_timeout(5_000)
        yield pg
        browser.close()


def _shown_grad(pg, node_id: int) -> float:
    text = pg.text_content(f"#node-{node_id} .grad")
    m = re.fullmatch(r"grad (-?[0-9.e+-]+)", text.strip())
    assert m, f"node {node_id} shows {text!r}"
    return float(m.group(1))


def _counter(pg) -> tuple[int, int]:
    m = re.fullmatch(r"Step (\d+) of (\d+)", pg.inner_text("#step-counter").strip())
    assert m
    return int(m.group(1)), int(m.group(2))


def test_lesson_page_clicked_through_every_step(page, tmp_path):
    w, x, b, y = (Value(v, label=n) for v, n in [(2.0, "w"), (3.0, "x"), (1.0, "b"), (5.0, "y")])
    loss = (w * x + b - y) ** 2
    loss.backward()
    inputs = {"w": w, "x": x, "b": b, "y": y}
    path = explore(loss, tmp_path / "lesson.html")
    trace = build_trace(loss)
    steps = trace["steps"]
    page.goto(path.as_uri())
    assert _counter(page) == (1, len(steps))
    assert page.is_disabled("#btn-prev")
    by_id = {n["id"]: n for n in trace["nodes"]}
    last_step_of = {s["target"]: i for i, s in enumerate(steps) if "target" in s}
    checked = set()
    for i, step in enumerate(steps):
        assert _counter(page) == (i + 1, len(steps))
        assert page.inner_text("#step-text") == step["text"]
        # The current node is marked, and it is the step's node.
        assert page.get_attribute(f"#node-{step['node']}", "class").split().count("current") == 1
        assert page.locator(".node.current").count() == 1
        if step["phase"] == "forward":
            assert page.inner_text("#phase").lower() == "forward pass"
            shown = page.text_content(f"#node-{step['node']} .val")
            assert float(shown.split()[-1]) == step["value"]
        else:
            assert page.inner_text("#phase").lower() == "backward pass"
            target = step["target"]
            shown = _shown_grad(page, target)
            assert shown == pytest.approx(step["grad"], rel=1e-5)
            label = by_id[target]["label"]
            if last_step_of[target] == i and label in inputs:
                # The gradient on the page equals chainrule's own.
                assert shown == pytest.approx(inputs[label].grad, rel=1e-5)
                checked.add(label)
        if i < len(steps) - 1:
            page.click("#btn-next")
    assert checked == set(inputs)
    assert page.is_disabled("#btn-next")
    assert not page.is_visible("#accumulate")  # nothing is used twice here


def test_dag_page_shows_the_accumulation_and_steps_back(page, tmp_path):
    x = Value(3.0, label="x")
    c = x * 2 + (x + 1)
    c.backward()
    path = explore(c, tmp_path / "dag.html")
    steps = build_trace(c)["steps"]
    page.goto(path.as_uri())
    seen_accumulate = False
    for i, step in enumerate(steps):
        if step.get("accumulate"):
            assert page.is_visible("#accumulate")
            assert "+=" in page.inner_text("#accumulate")
            assert "1 + 2 = 3" in page.inner_text("#accumulate")
            assert _shown_grad(page, step["target"]) == x.grad == 3.0
            assert page.get_attribute(".node.target", "id") == "node-0"
            seen_accumulate = True
        else:
            assert not page.is_visible("#accumulate")
        if i < len(steps) - 1:
            page.keyboard.press("ArrowRight")
    assert seen_accumulate
    assert _counter(page) == (len(steps), len(steps))
    # Backward through the steps: the second contribution is taken away again.
    page.keyboard.press("ArrowLeft")
    assert _shown_grad(page, 0) == 1.0
    for _ in range(len(steps)):
        page.keyboard.press("ArrowLeft")
    assert _counter(page) == (1, len(steps))
    assert page.text_content("#node-0 .grad") == "grad ?"
    assert page.text_content("#node-3 .val") == "value ?"


def test_tensor_neuron_page_plays_without_errors(page, tmp_path):
    import chainrule as cr

    cr.manual_seed(0)
    w = cr.nn.Parameter(cr.randn(1, 3))
    b = cr.nn.Parameter(cr.zeros(1))
    h = (w @ cr.tensor([[1.0], [2.0], [3.0]]) + b).tanh()
    loss = (h * h).sum()
    loss.backward()
    names = {"w": w, "b": b, "h": h}
    path = explore(loss, tmp_path / "neuron.html", names)
    steps = build_trace(loss, names)["steps"]
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(path.as_uri())
    for _ in range(len(steps) - 1):
        page.keyboard.press("ArrowRight")
    assert _counter(page) == (len(steps), len(steps))
    w_id = next(i for i, s in enumerate(steps) if s["phase"] == "forward" and s["text"][:2] == "w:")
    assert page.text_content(f"#node-{w_id} .grad").startswith("grad (1, 3) ")
    assert not errors
