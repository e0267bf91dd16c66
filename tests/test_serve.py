"""``chainrule serve``: the page, the API's verdicts and refusals, the pool, the graph.

The verdict tests grade the planted solutions of ``tests/exercise_solutions/`` through the
ASGI app (each spawns a real sandboxed worker, about a second); the pool and refusal tests use
a stand-in grader. Skipped when Starlette is not installed (the ``serve`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
if importlib.util.find_spec("httpx2") is None:  # Starlette's TestClient needs one of them
    pytest.importorskip("httpx")

from starlette.testclient import TestClient

from chainrule.exercise.graph_export import EXAMPLE, probe
from chainrule.serve import graph as graph_module
from chainrule.serve.app import CSP, MAX_BODY, create_app
from chainrule.serve.pool import Busy, GraderPool

SOLUTIONS = Path(__file__).parent / "exercise_solutions"


def source(name: str, **subs: str) -> str:
    text = (SOLUTIONS / f"{name}.py").read_text()
    for key, value in subs.items():
        text = text.replace(f"__{key.upper()}__", value)
    assert "__" + "PATH__" not in text and "__PORT__" not in text
    return text


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(workers=2, timeout=3.0)) as c:
        yield c


def post(client: TestClient, code: Any) -> Any:
    return client.post("/api/check", json={"code": code})


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


# --------------------------------------------------------------------------------------------
# The page.


def test_page_has_task_starter_and_strict_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    page = r.text
    assert "+=" in page and "dc/dx = 2 + 1 = 3" in page  # the task: the DAG case
    assert "class Value:" in page and "raise NotImplementedError(&quot;" not in page
    assert 'raise NotImplementedError("Value.__add__")' in page  # the starter, as text
    # The only script is the package's file: no inline script, no handler attributes.
    assert page.count("<script") == 1 and '<script src="/static/app.js" defer>' in page
    assert re.search(r"<[^>]*\son[a-z]+\s*=", page, re.IGNORECASE) is None
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert ".innerHTML" not in js.text and "textContent" in js.text
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404  # a fixed table of files


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["workers"] == 2


# --------------------------------------------------------------------------------------------
# Verdicts: the same JSON as `chainrule check --json`.


def _check_json(tmp_path: Path, code: str) -> dict[str, Any]:
    """What `chainrule check solution.py --json --timeout 3` prints for ``code``."""
    import io

    from chainrule.exercise.cli import check_main

    (tmp_path / "solution.py").write_text(code)
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            check_main(["solution.py", "--json", "--timeout", "3"])
    finally:
        os.chdir(cwd)
    return json.loads(out.getvalue())


def _without_timings(report: dict[str, Any]) -> dict[str, Any]:
    # Each check's "seconds" is a measurement, the only thing two gradings may differ in.
    return {**report, "checks": [{**c, "seconds": None} for c in report["checks"]]}


def test_correct_solution_passes_with_check_json(client, tmp_path):
    r = post(client, source("correct"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    report = r.json()
    assert report["passed"] is True and report["exit_code"] == 0
    assert re.fullmatch(r"queue;dur=\d+, grade;dur=\d+", r.headers["server-timing"])
    assert report["file"] == "solution.py"
    # check --json's keys, plus the page's two drawings of the graph.
    assert set(report) == {
        "file", "passed", "exit_code", "summary", "checks", "cancelled", "sandbox", "limits",
        "graph", "output", "graph_svg", "graph_text",
    }  # fmt: skip
    assert "x = 3 (grad 3)" in report["graph_text"]
    assert "c = 10 (grad 1) = + of a, b" in report["graph_text"]
    checks = by_name(report)
    assert all(c["status"] == "pass" for c in report["checks"] if c["required"])
    assert checks["sandbox"]["status"] == "pass" and report["sandbox"]["events"] == []


# Solutions whose results do not depend on the order of a set: with `=` for `+=`, which of a
# node's gradients survives follows the objects' addresses, and so does the MLP's loss curve.
@pytest.mark.parametrize("name", ["correct", "relu_negative", "no_value", "syntax_error"])
def test_api_and_check_json_agree(client, tmp_path, name):
    """POST /api/check answers exactly what `chainrule check --json` prints for the same file
    (graph included), plus graph_svg and graph_text; only the per-check timings differ."""
    api = post(client, source(name)).json()
    cli = _check_json(tmp_path, source(name))
    svg, text = api.pop("graph_svg"), api.pop("graph_text")
    assert _without_timings(api) == _without_timings(cli)
    assert (cli["graph"] is not None) is (name == "correct") is (text is not None)
    assert svg is None or "<svg" in svg


@pytest.mark.parametrize(
    ("name", "check", "status", "phrase"),
    [
        ("assign_grad", "accumulation", "fail", "accumulated with += in _backward, not assigned"),
        ("relu_negative", "grad_relu", "fail", "d/dx relu(x) = 1 if x > 0 else 0"),
        ("creation_order", "topo_order", "fail", "reverse topological order"),
        ("bfs_order", "topo_order", "fail", "Breadth-first order"),
        ("recursive_topo", "deep_chain", "fail", "RecursionError at depth 5000"),
        ("no_reflected", "reflected_ops", "skip", "not implemented"),
        ("crash_in_backward", "grad_mul", "fail", "your code raised ZeroDivisionError"),
        ("syntax_error", "import", "fail", "SyntaxError at solution.py:6"),
        ("no_value", "import", "fail", "no class named Value in solution.py"),
    ],
)
def test_planted_bugs_get_their_verdicts(client, name, check, status, phrase):
    report = post(client, source(name)).json()
    result = by_name(report)[check]
    assert result["status"] == status and phrase in result["message"], result
    assert report["passed"] is (name == "no_reflected")


def test_private_directory_is_not_shown(client):
    report = post(client, source("crash_in_backward")).json()
    text = json.dumps(report)
    assert "chainrule-serve-" not in text
    assert 'File "solution.py", line' in by_name(report)["grad_mul"]["details"]


# --------------------------------------------------------------------------------------------
# Hostile code: contained as `chainrule check` contains it.


def test_infinite_loop_times_out(client):
    report = post(client, source("infinite_loop")).json()
    grad_add = by_name(report)["grad_add"]
    assert grad_add["status"] == "timeout"
    assert (
        "did not finish within 3 s, stopped in backward() at solution.py:" in (grad_add["message"])
    )
    assert by_name(report)["mlp_training"]["status"] == "not_run"


def test_twenty_gigabytes_exceed_the_memory_limit(client):
    imp = by_name(post(client, source("memory_hog")).json())["import"]
    assert (
        imp["status"] == "fail"
        and "more memory than the sandbox allows (1024 MiB)" in (imp["message"])
    )


def test_fork_and_subprocess_are_blocked(client, tmp_path):
    marker = tmp_path / "marker"
    report = post(client, source("fork_bomb", marker_path=str(marker))).json()
    assert not marker.exists()
    message = by_name(report)["sandbox"]["message"]
    assert "blocked os.fork()" in message and "blocked subprocess.Popen(" in message


def test_socket_is_blocked_and_nothing_connects(client):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    try:
        port = str(listener.getsockname()[1])
        report = post(client, source("open_socket", port=port)).json()
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert "blocked socket.socket(AF_INET, SOCK_STREAM)" in by_name(report)["import"]["message"]


def test_reading_and_writing_outside_are_blocked(client, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("hunter2-secret-material")
    report = post(client, source("read_secret", secret_path=str(secret))).json()
    assert "hunter2" not in json.dumps(report)
    assert f"blocked open('{secret}', 'r')" in by_name(report)["sandbox"]["message"]
    target = tmp_path / "pwned.txt"
    report = post(client, source("write_outside", outside_path=str(target))).json()
    assert not target.exists()
    assert f"blocked open('{target}', 'w')" in by_name(report)["sandbox"]["message"]


XSS = "<img src=x onerror=alert(1)>"


def test_markup_in_output_and_messages_comes_back_as_json_text(client):
    code = source("correct").replace(
        '    def __repr__(self):\n        return f"Value(data={self.data}, grad={self.grad})"',
        f"    def __repr__(self):\n        return {XSS!r}",
    )
    assert XSS in code
    code += f"\nprint({XSS!r})\nraise ValueError({XSS!r})\n"
    r = post(client, code)
    assert r.headers["content-type"] == "application/json"
    report = r.json()
    assert XSS in report["output"]["text"] and XSS in by_name(report)["import"]["message"]


# --------------------------------------------------------------------------------------------
# Refusals: 413, 400, 415.


def test_body_over_64_kib_is_413(client):
    r = post(client, "#" * MAX_BODY)
    assert r.status_code == 413 and r.json() == {"error": "the body is over 64 KiB"}

    def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(80):
            yield b" " * 1024

    r = client.post("/api/check", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"code": "x"', "malformed JSON: Expecting ',' delimiter at line 1 column 13"),
        (b"\xff\xfe", "malformed JSON: the body is not UTF-8"),
        (b'["code"]', 'the body must be a JSON object: {"code": "..."}'),
        (b'{"source": "x"}', 'missing "code": send {"code": "<your solution.py>"}'),
        (b'{"code": 5}', '"code" must be a string, not a number'),
        (b'{"code": null}', '"code" must be a string, not null'),
        (b'{"code": ["a"]}', '"code" must be a string, not an array'),
        (b"[" * 30000 + b"]" * 30000, "malformed JSON: nested too deeply"),
        (b"[" * 100000 + b"]" * 100000, None),
    ],
)
def test_bad_bodies_are_400_with_one_line(client, body, reason):
    r = client.post("/api/check", content=body, headers={"content-type": "application/json"})
    if len(body) > MAX_BODY:
        assert r.status_code == 413
        return
    assert r.status_code == 400 and r.json() == {"error": reason}
    assert "\n" not in reason


def test_body_must_be_json_content_type(client):
    r = client.post("/api/check", content=b'{"code": "x"}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    assert client.get("/api/check").status_code == 405


def test_loopback_server_rejects_other_host_names():
    app = create_app(workers=1, grade=lambda code, cancel: {}, allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"host": "attacker.example"}).status_code == 400


# --------------------------------------------------------------------------------------------
# The pool: bounded graders, bounded queue, 503 + Retry-After, cancellation.


class BlockingGrader:
    """Grades nothing until released; records how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = self.peak = self.cancelled = 0

    def __call__(self, code: str, cancel: threading.Event) -> dict[str, Any]:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            while not self.release.wait(0.01):
                if cancel.is_set():
                    self.cancelled += 1
                    raise RuntimeError("cancelled")
            return {"passed": True, "code": code}
        finally:
            with self.lock:
                self.running -= 1


def test_pool_bounds_running_and_waiting_and_refuses_the_rest():
    grader = BlockingGrader()

    async def scenario() -> None:
        pool = GraderPool(grader, workers=2, queue_size=3)
        tasks = [asyncio.ensure_future(pool.submit(str(i))) for i in range(5)]
        await asyncio.sleep(0.2)
        assert pool.stats()["running"] == 2 and pool.stats()["waiting"] == 3
        with pytest.raises(Busy) as busy:
            await pool.submit("6")
        assert busy.value.retry_after >= 1
        grader.release.set()
        results = await asyncio.gather(*tasks)
        assert [r["code"] for r in results] == ["0", "1", "2", "3", "4"]
        assert grader.peak == 2 and pool.stats()["completed"] == 5
        assert pool.stats()["refused"] == 1
        pool.close()

    asyncio.run(scenario())


def test_pool_cancel_stops_the_grader_and_frees_the_slot_only_when_it_ended():
    grader = BlockingGrader()

    async def scenario() -> None:
        pool = GraderPool(grader, workers=1, queue_size=1)
        running = asyncio.ensure_future(pool.submit("a"))
        waiting = asyncio.ensure_future(pool.submit("b"))
        await asyncio.sleep(0.1)
        waiting.cancel()  # leaves the queue
        running.cancel()  # sets the grader's cancel event
        await asyncio.gather(running, waiting, return_exceptions=True)
        for _ in range(100):
            if pool.stats()["running"] == 0:
                break
            await asyncio.sleep(0.01)
        assert grader.cancelled == 1 and pool.stats() | {"cancelled": 0} == pool.stats() | {
            "running": 0,
            "waiting": 0,
            "cancelled": 0,
        }
        grader.release.set()
        assert (await pool.submit("c"))["code"] == "c"  # the slot is free again
        pool.close()

    asyncio.run(scenario())


def test_full_pool_answers_503_with_retry_after():
    grader = BlockingGrader()
    app = create_app(workers=1, queue_size=1, grade=grader)
    with TestClient(app) as c:
        answers: list[Any] = []
        threads = [threading.Thread(target=lambda: answers.append(post(c, "x"))) for _ in range(2)]
        for t in threads:
            t.start()
        for _ in range(200):  # until one runs and one waits
            if c.get("/healthz").json()["waiting"] == 1:
                break
            time.sleep(0.01)
        r = post(c, "y")
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert "every grader is busy" in r.json()["error"]
        grader.release.set()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200, 200]


def _children_of_this_process() -> list[int]:
    """This process's children that are grader workers (running _worker.py)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    workers = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"_worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_disconnected_client_does_not_leave_a_grader_running():
    uvicorn = pytest.importorskip("uvicorn")
    app = create_app(workers=1, timeout=20.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        body = json.dumps({"code": source("infinite_loop")}).encode()
        conn = socket.create_connection(("127.0.0.1", port))
        conn.sendall(
            b"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        import http.client

        def health() -> dict[str, Any]:
            h = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            h.request("GET", "/healthz")
            return json.loads(h.getresponse().read())

        for _ in range(300):  # the worker is in its infinite loop
            if health()["running"] == 1 and _children_of_this_process():
                break
            time.sleep(0.02)
        assert health()["running"] == 1
        time.sleep(1.0)
        conn.close()  # the learner closed the tab
        start = time.monotonic()
        while time.monotonic() - start < 10 and (health()["running"] or health()["waiting"]):
            time.sleep(0.05)
        assert health()["running"] == 0 and health()["cancelled"] == 1
        assert time.monotonic() - start < 5  # not the 2 x 20 s of two timeouts
        time.sleep(0.2)
        assert _children_of_this_process() == []  # no sandboxed worker left
    finally:
        server.should_exit = True
        thread.join(10)


# --------------------------------------------------------------------------------------------
# The learner's graph: exported in the worker, validated and drawn by the server.


def _learner_value_class() -> type:
    # Our own planted solution, imported here only to exercise the exporter outside a worker.
    spec = importlib.util.spec_from_file_location("serve_correct", SOLUTIONS / "correct.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Value


def test_graph_export_of_the_lesson_example_and_its_drawing():
    exported = probe(_learner_value_class(), None)
    json.dumps(exported, allow_nan=False)  # JSON-safe as it is
    graph = graph_module.sanitize(exported)
    assert graph is not None
    text = graph_module.render_text(graph)
    assert "x = 3 (grad 3)" in text and "c = 10 (grad 1) = + of a, b" in text
    assert "a = 6 (grad 1) = * of 2, x" in text
    dot = graph_module.to_dot(graph)
    assert dot.count("shape=record") == 6 and dot.count("->") == 6 + 3
    svg = graph_module.render_svg(graph)
    if svg is None:
        pytest.skip("graphviz's dot is not installed")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert "data 3" in svg and "grad 3" in svg


def test_graph_export_caps_a_hostile_class():
    class Evil:
        def __init__(self, data, _children=(), _op=""):
            self.data, self.grad, self._op = data, 0.0, '"];<script>' * 100
            self.k = 0

        @property
        def _prev(self):  # an endless stream of fresh nodes
            while True:
                yield Evil(float("nan"))

        def __add__(self, other):
            return Evil(1e400)

        __mul__ = __add__

        def backward(self):
            self.grad = True

    g = probe(Evil, None)
    assert len(g["nodes"]) == 32 and g["truncated"] and len(json.dumps(g)) < 20000
    assert all(set(n["op"]) <= set('script"];<>') - set('"];<>') for n in g["nodes"])
    assert g["nodes"][0]["data"] == "inf" and g["nodes"][0]["grad"] is None  # True is no grad


def test_sanitize_rejects_or_cleans_what_a_worker_could_forge():
    assert graph_module.sanitize(None) is None
    assert graph_module.sanitize({"nodes": "x", "edges": []}) is None
    assert graph_module.sanitize({"nodes": [{"id": "0"}], "edges": []}) is None
    g = graph_module.sanitize(
        {
            "example": "<b>" * 100,
            "nodes": [
                {"id": 0, "label": "<script>", "op": '"] evil', "data": "1e3", "grad": [1]},
                *({"id": i, "label": "x", "op": "+", "data": 1, "grad": 1} for i in range(1, 99)),
            ],
            "edges": [[1, 0], [0, 1000], "x", [True, 0]],
            "truncated": False,
        }
    )
    assert g["nodes"][0] == {"id": 0, "label": "", "op": "?", "data": None, "grad": None}
    assert len(g["nodes"]) == graph_module.ACCEPT_NODES and g["truncated"]
    assert g["edges"] == [[1, 0]] and g["example"] == EXAMPLE  # the forged caption is dropped


def test_a_report_with_a_graph_gets_its_drawing():
    graph = probe(_learner_value_class(), None)

    def grade(code: str, cancel: threading.Event) -> dict[str, Any]:
        return {"passed": code == "ok", "checks": [], "graph": graph}

    with TestClient(create_app(workers=1, grade=grade)) as c:
        report = post(c, "ok").json()
        assert "x = 3 (grad 3)" in report["graph_text"]
        assert report["graph_svg"] is None or "<svg" in report["graph_svg"]
        failed = post(c, "not ok").json()  # no drawing unless every required check passes
        assert failed["graph"] is None and failed["graph_svg"] is None


# --------------------------------------------------------------------------------------------
# The command.


def test_serve_refuses_without_namespaces(monkeypatch, capsys):
    from chainrule.serve import cli, grading

    monkeypatch.setattr(grading, "namespaces_available", lambda: (False, "no bwrap here"))
    assert cli.serve_main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start: no bwrap here" in err and "--unsafe-no-namespaces" in err
    assert cli.serve_main(["--workers", "0"]) == 2


def _capture_app(monkeypatch) -> list[dict[str, Any]]:
    from chainrule.serve import app as app_module

    made: list[dict[str, Any]] = []
    real = app_module.create_app

    def create_app(**kwargs: Any) -> Any:
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(app_module, "create_app", create_app)
    return made


def test_serve_warns_on_a_public_host_and_prints_the_url(monkeypatch, capsys):
    uvicorn = pytest.importorskip("uvicorn")
    from chainrule.serve import cli, grading

    monkeypatch.setattr(grading, "namespaces_available", lambda: (False, "no bwrap here"))
    made = _capture_app(monkeypatch)
    ran = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: ran.append(sockets))
    argv = ["--host", "0.0.0.0", "--port", "0", "--unsafe-no-namespaces"]
    assert cli.serve_main(argv) == 0
    ran[0][0].close()
    out, err = capsys.readouterr()
    assert "anyone who can reach port 0 can run code in the sandbox" in err
    assert "WARNING: no namespaces (no bwrap here); serving anyway" in err
    assert out.startswith("chainrule serve: http://0.0.0.0:")
    assert made[0]["namespaces"] is False  # graded without, as the flag asked
    assert cli.serve_main(["--port", "0", "--unsafe-no-namespaces"]) == 0
    ran[1][0].close()
    assert "anyone who" not in capsys.readouterr().err


def test_serve_requires_namespaces_for_every_grading_where_they_work(monkeypatch, capsys):
    uvicorn = pytest.importorskip("uvicorn")
    from chainrule.serve import cli, grading

    monkeypatch.setattr(grading, "namespaces_available", lambda: (True, "bwrap works"))
    made = _capture_app(monkeypatch)
    ran = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: ran.append(sockets))
    assert cli.serve_main(["--port", "0"]) == 0
    ran[0][0].close()
    assert made[0]["namespaces"] is True
    assert "WARNING" not in capsys.readouterr().err


def test_namespaces_probe_is_the_graders():
    from chainrule.exercise.namespaces import bwrap_status
    from chainrule.serve.grading import namespaces_available

    ok, reason = namespaces_available()
    assert ok is (bwrap_status() == "on") and reason
    if not ok:
        assert reason == bwrap_status().removeprefix("off: ")


def test_namespaces_probe_without_bwrap(monkeypatch):
    from chainrule.exercise import namespaces
    from chainrule.serve import grading

    monkeypatch.setattr(namespaces.shutil, "which", lambda name: None)
    monkeypatch.setattr(namespaces, "_STATUS", None)  # forget the cached probe, restored after
    ok, reason = grading.namespaces_available()
    assert not ok and "bwrap not found" in reason


def test_required_namespaces_grade_nothing_without_them(monkeypatch):
    from chainrule.exercise import namespaces
    from chainrule.serve import grading

    monkeypatch.setattr(namespaces, "_STATUS", "off: bwrap not found (a test)")
    report = grading.grade_code(source("correct"), timeout=3.0, namespaces=True)
    assert report["passed"] is False and report["graph"] is None
    assert "namespaces were required" in report["checks"][0]["message"]


def test_graph_uses_chainrule_viz_when_it_draws_and_falls_back_when_it_fails(monkeypatch):
    from chainrule import viz

    graph = graph_module.sanitize(probe(_learner_value_class(), None))
    real = graph_module.render_svg(graph)
    if real is not None:  # the viz issue's drawing: micrograd's records, data and grad
        assert "<svg" in real and "grad 3" in real
    seen = []

    class Drawn:
        def svg(self) -> str:
            return "<svg>from viz</svg>"

    def draw(root, max_nodes=300):
        seen.append(sorted(n.label for n in root._prev))  # micrograd-style proxies
        return Drawn()

    monkeypatch.setattr(viz, "draw", draw)
    assert graph_module.render_svg(graph) == "<svg>from viz</svg>" and seen == [["a", "b"]]

    def broken(root, max_nodes=300):
        raise TypeError("draw() wants something else")

    monkeypatch.setattr(viz, "draw", broken)
    svg = graph_module.render_svg(graph)
    assert svg is None or "from viz" not in svg  # graphviz's dot, or nothing without it
