"""The practice page in a real browser: Playwright driving Debian's Chromium.

Skipped when the playwright package or /usr/bin/chromium is missing (nothing here ever
downloads a browser). The server is a real uvicorn in a thread, grading in the real sandbox.
Set CHAINRULE_SCREENSHOTS=DIR to keep the page's screenshots (before, failing, passing, XSS).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("playwright.sync_api")

import uvicorn
from playwright import sync_api

from chainrule.serve.app import create_app
from chainrule.serve.grading import grade_code

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-proxy-server",
]
SOLUTIONS = Path(__file__).parent / "exercise_solutions"
XSS = '<img src=x onerror="window.__pwned = 1; alert(1)">'

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM}")


def _grade(code: str, cancel: threading.Event) -> dict[str, Any]:
    return grade_code(code, timeout=5.0, cancel=cancel)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(workers=2, grade=_grade), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(250):
        if server.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    pg.goto(base_url + "/")
    pg.errors = errors
    yield pg
    context.close()


def _shot(page: Any, name: str) -> None:
    where = os.environ.get("CHAINRULE_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


def _check(page: Any, code: str) -> None:
    page.fill("#code", code)
    page.click("#check")  # disables the button until the answer is shown
    page.wait_for_selector("#check:enabled", timeout=60_000)
    assert page.is_visible("#result"), page.inner_text("#status")


def test_assignment_bug_then_fix(page):
    assert "class Value:" in page.input_value("#code")  # the starter
    assert page.is_hidden("#result")
    _shot(page, "1-before-check")

    _check(page, (SOLUTIONS / "assign_grad.py").read_text())
    first = page.locator("#checks li").first
    assert first.get_attribute("data-status") != "pass"  # failing checks come first
    acc = page.locator("#checks li[data-name=accumulation]")
    assert acc.get_attribute("data-status") == "fail"
    assert "accumulated with += in _backward, not assigned with =" in acc.inner_text()
    assert "required checks pass" in page.inner_text("#summary")
    assert page.is_hidden("#graph")
    _shot(page, "2-failing-report")

    _check(page, (SOLUTIONS / "correct.py").read_text())
    assert page.inner_text("#summary").startswith("Every required check passes")
    required = page.eval_on_selector_all(
        "#checks li:not(:has(.optional))", "els => els.map(e => e.dataset.status)"
    )
    assert required and set(required) == {"pass"}
    assert page.is_visible("#graph-img")
    width = page.eval_on_selector("#graph-img", "img => img.complete && img.naturalWidth")
    assert width and width > 100  # the SVG drew
    _shot(page, "3-all-passing")
    assert page.errors == []


def test_markup_from_the_learner_is_shown_as_text_and_never_runs(page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    code = (
        (SOLUTIONS / "correct.py")
        .read_text()
        .replace(
            '        return f"Value(data={self.data}, grad={self.grad})"', f"        return {XSS!r}"
        )
    )
    assert XSS in code
    code = code.replace("class Value:", f"print({XSS!r})\n\nclass Value:", 1)
    code += f"\nprint(repr(Value(1.0)))\nraise ValueError({XSS!r})\n"
    _check(page, code)
    imp = page.locator("#checks li[data-name=import]")
    assert imp.get_attribute("data-status") == "fail"
    assert XSS in imp.inner_text()  # the characters, not an element
    assert XSS in page.inner_text("#output-text")
    assert page.eval_on_selector_all("#result img:not(#graph-img)", "els => els.length") == 0
    time.sleep(0.5)  # an onerror would have fired by now
    assert page.evaluate("window.__pwned === undefined") and dialogs == []
    _shot(page, "4-xss-as-text")
