"""The exercise grader against planted learner solutions (tests/exercise_solutions/).

Each planted file must get its exact verdict: which checks fail, with which status, and the
key phrases of the message. Hostile files must be stopped *and* reported, and what they tried
must not have happened. Every test spawns a real sandboxed worker (about a second each).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainrule.exercise import CHECKS, check_file
from chainrule.exercise.cli import check_main, init_main
from chainrule.exercise.report import CheckResult, Report, SandboxEvent

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
REQUIRED = [c.name for c in CHECKS if c.required]
OPTIONAL_OPS = [c.name for c in CHECKS if c.name.startswith("op_")]


def plant(name: str, tmp_path: Path, **subs: str) -> Path:
    """Copy a planted solution to tmp_path/work/solution.py, filling in __PLACEHOLDERS__."""
    text = (SOLUTIONS / f"{name}.py").read_text()
    for key, value in subs.items():
        text = text.replace(f"__{key.upper()}__", value)
    assert "__" + "PATH__" not in text and "__PORT__" not in text
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = work / "solution.py"
    path.write_text(text)
    return path


def grade(name: str, tmp_path: Path, timeout: float = 10.0, **subs: str) -> Report:
    return check_file(plant(name, tmp_path, **subs), timeout=timeout)


def statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def failing(report: Report) -> set[str]:
    return {c.name for c in report.checks if c.required and c.status != "pass"}


# --------------------------------------------------------------------------------------------
# Correct solutions.


def test_correct_solution_passes_with_json_output(tmp_path, capsys):
    path = plant("correct", tmp_path)
    code = check_main([str(path), "--json", "--timeout", "10"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["passed"] is True and report["exit_code"] == 0
    by_name = {c["name"]: c for c in report["checks"]}
    assert all(by_name[name]["status"] == "pass" for name in ["import", *REQUIRED, "sandbox"])
    assert by_name["reflected_ops"]["status"] == "pass"
    # micrograd's Value has no - or /: optional checks say "not implemented" and don't count.
    assert by_name["op_div"]["status"] == "skip" and not by_name["op_div"]["required"]
    assert "not implemented" in by_name["op_div"]["message"]
    assert "chainrule.scalar.Value" in by_name["random_graphs"]["message"]
    assert report["sandbox"]["events"] == []
    assert set(report["sandbox"]["layers"]) >= {"landlock", "seccomp", "audit_hook"}


def test_chainrule_scalar_engine_passes_every_check(tmp_path):
    pytest.importorskip("chainrule.scalar")
    report = grade("chainrule_engine", tmp_path)
    assert report.exit_code == 0, report.format_text()
    # chainrule's engine implements every optional op too; importing chainrule (and NumPy,
    # which imports ctypes) inside the sandbox must not trip it.
    assert all(statuses(report)[name] == "pass" for name in OPTIONAL_OPS)
    assert report.events == []


# --------------------------------------------------------------------------------------------
# Planted bugs, each with its own verdict.


def test_assignment_instead_of_accumulation(tmp_path):
    report = grade("assign_grad", tmp_path)
    assert report.exit_code == 1
    acc = report.check("accumulation")
    assert acc.status == "fail"
    assert "x.grad is 1.0, expected 2.0" in acc.message
    assert "accumulated with += in _backward, not assigned with =" in acc.message
    # One-op gradients are still right: the bug only shows when a node is used twice.
    assert statuses(report)["grad_add"] == statuses(report)["grad_mul"] == "pass"


def test_lesson_example_message_for_assignment(tmp_path):
    # The lesson's DAG (a = x*2, b = x+1, c = a + b) gets the lesson's wording when only that
    # case is wrong: a solution that assigns with =, but special-cases x + x and x * x.
    text = (SOLUTIONS / "correct.py").read_text()
    for old, new in [
        (
            "            self.grad += out.grad\n            other.grad += out.grad",
            "            self.grad = out.grad * (2 if self is other else 1)\n"
            "            other.grad = self.grad",
        ),
        (
            "            self.grad += other.data * out.grad\n"
            "            other.grad += self.data * out.grad",
            "            self.grad = other.data * out.grad * (2 if self is other else 1)\n"
            "            other.grad = self.grad if self is other else self.data * out.grad",
        ),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "solution.py"
    path.write_text(text)
    acc = check_file(path, only=["accumulation"]).check("accumulation")
    assert acc.status == "fail"
    assert acc.message.startswith("x is used twice (a = x*2, b = x+1, c = a + b): x.grad is")
    assert "expected 3.0 (dc/dx = 2 through a + 1 through b)" in acc.message
    assert "+= in _backward, not assigned with =" in acc.message


def test_relu_passing_gradient_for_negative_inputs(tmp_path):
    report = grade("relu_negative", tmp_path)
    relu = report.check("grad_relu")
    assert relu.status == "fail"
    assert "at x = -2.0, after y.backward(): x.grad is 1.0, expected 0.0" in relu.message
    assert "d/dx relu(x) = 1 if x > 0 else 0" in relu.message
    assert "(out.data > 0)" in relu.message
    assert failing(report) <= {"grad_relu", "random_graphs", "mlp_training"}
    assert statuses(report)["accumulation"] == statuses(report)["topo_order"] == "pass"


def test_creation_order_backward(tmp_path):
    report = grade("creation_order", tmp_path)
    topo = report.check("topo_order")
    assert topo.status == "fail"
    assert "x.grad is 0.0, expected 26.0" in topo.message
    assert "reverse topological order" in topo.message
    # With nothing propagated past the first node, accumulation's message points at the order.
    assert "No gradient reached x at all" in report.check("accumulation").message
    assert report.exit_code == 1


def test_breadth_first_backward(tmp_path):
    report = grade("bfs_order", tmp_path)
    topo = report.check("topo_order")
    assert topo.status == "fail"
    assert "x.grad is 2.0, expected 26.0 (d/dx (2*3*4*x + 2*x) = 24 + 2, closed form)" in (
        topo.message
    )
    assert "Breadth-first order" in topo.message
    assert statuses(report)["accumulation"] == statuses(report)["deep_chain"] == "pass"


def test_recursive_topological_sort_fails_only_deep_chain(tmp_path):
    report = grade("recursive_topo", tmp_path)
    assert failing(report) == {"deep_chain"}
    deep = report.check("deep_chain")
    assert deep.status == "fail"
    assert deep.message.startswith(
        "RecursionError at depth 5000: your topological sort is recursive"
    )
    assert "build_topo() in your file calls itself" in deep.message
    assert "explicit stack" in deep.message
    assert "[Previous line repeated" in deep.details  # the trimmed, collapsed traceback
    assert report.exit_code == 1


def test_missing_reflected_ops_is_optional(tmp_path):
    report = grade("no_reflected", tmp_path)
    assert report.exit_code == 0, report.format_text()
    reflected = report.check("reflected_ops")
    assert (reflected.status, reflected.required) == ("skip", False)
    assert "not implemented" in reflected.message
    assert "1 + v raised TypeError" in reflected.message and "__radd__" in reflected.message


def test_crash_is_a_failed_check_with_the_learners_traceback(tmp_path):
    report = grade("crash_in_backward", tmp_path)
    mul = report.check("grad_mul")
    assert mul.status == "fail"
    assert mul.message.startswith("your code raised ZeroDivisionError: float division by zero")
    assert 'solution.py", line' in mul.details and "in _backward" in mul.details
    assert "checks.py" not in mul.details and "_worker.py" not in mul.details
    assert statuses(report)["grad_add"] == "pass"  # the grader went on


def test_infinite_loop_times_out_names_the_line_and_stops(tmp_path):
    start = time.monotonic()
    report = grade("infinite_loop", tmp_path, timeout=2.0)
    elapsed = time.monotonic() - start
    got = statuses(report)
    assert got["construction"] == got["forward_relu"] == "pass"  # before any backward()
    for name in ("grad_add", "grad_mul"):
        check = report.check(name)
        assert check.status == "timeout"
        assert "did not finish within 2 s, stopped in backward() at" in check.message
        assert re.search(r"solution\.py:\d+", check.message)
    assert got["grad_relu"] == "not_run" and got["mlp_training"] == "not_run"
    assert "2 checks timed out or crashed" in report.check("grad_relu").message
    assert report.exit_code == 1
    assert elapsed < 15


def test_syntax_error_reported_with_line_and_message(tmp_path):
    report = grade("syntax_error", tmp_path)
    imp = report.check("import")
    assert imp.status == "fail"
    assert re.match(r"SyntaxError at .*solution\.py:6:\d+: invalid syntax", imp.message)
    assert "self.data = data +" in imp.details and "^" in imp.details
    assert all(
        s == "not_run" for n, s in statuses(report).items() if n not in {"import", "sandbox"}
    )
    assert report.check("sandbox").status == "pass"  # the grader's own re-read is not an attempt


def test_no_value_class_lists_the_names_found(tmp_path):
    report = grade("no_value", tmp_path)
    imp = report.check("import")
    assert imp.status == "fail"
    assert "no class named Value" in imp.message
    assert "Node (class), helper (function), LEARNING_RATE (float)" in imp.message


# --------------------------------------------------------------------------------------------
# Hostile solutions: stopped, reported, and without effect.


def test_write_outside_the_sandbox_is_blocked_and_reported(tmp_path):
    target = tmp_path / "outside" / "pwned.txt"
    target.parent.mkdir()
    report = grade("write_outside", tmp_path, outside_path=str(target))
    assert not target.exists()
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail"
    assert f"blocked open('{target}', 'w') at " in sandbox.message
    assert re.search(r"solution\.py:\d+ \(during grad_add", sandbox.message)
    # The learner caught the PermissionError; every other check still passed, yet exit is 1.
    assert failing(report) == {"sandbox"} and report.exit_code == 1


def test_socket_is_blocked_and_nothing_connects(tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        report = grade("open_socket", tmp_path, port=str(port))
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert report.check("import").status == "fail"
    assert "sandbox: blocked socket.socket(AF_INET, SOCK_STREAM) at" in (
        report.check("import").message
    )
    assert report.check("sandbox").status == "fail"


def test_reading_a_private_key_is_blocked_and_no_secret_leaks(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("-----BEGIN FAKE KEY----- hunter2-secret-material")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CHAINRULE_TEST_API_TOKEN", "tok-should-not-leak")
    report = grade("read_secret", tmp_path, secret_path=str(key))
    everything = report.format_text() + json.dumps(report.to_json())
    assert "hunter2" not in everything
    assert "tok-should-not-leak" not in everything and "CHAINRULE_TEST_API_TOKEN" not in everything
    assert "'HOME'" not in report.output  # HOME is not passed to the worker
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail"
    assert f"sandbox: blocked open('{key}', 'r') at " in sandbox.message
    assert "(during import)" in sandbox.message
    assert "'PATH'" in report.output and "'LANG'" in report.output  # the minimal environment


def test_os_system_is_blocked_and_does_not_run(tmp_path):
    marker = tmp_path / "marker"
    report = grade("os_system", tmp_path, marker_path=str(marker))
    assert not marker.exists()
    imp = report.check("import")
    assert imp.status == "fail"
    assert f"sandbox: blocked os.system('touch {marker}') at " in imp.message
    assert report.check("sandbox").status == "fail"


def test_fork_and_subprocess_are_blocked(tmp_path):
    marker = tmp_path / "marker"
    report = grade("fork_bomb", tmp_path, marker_path=str(marker))
    assert not marker.exists()
    message = report.check("sandbox").message
    assert "blocked os.fork()" in message
    assert f"blocked subprocess.Popen(['touch', '{marker}'])" in message
    assert "times in all" in message  # one line per attempt site, with a count


def test_ctypes_escape_is_blocked(tmp_path):
    marker = tmp_path / "marker"
    report = grade("ctypes_escape", tmp_path, marker_path=str(marker))
    assert not marker.exists()
    assert "blocked ctypes.dlsym(<object>, 'system')" in report.check("sandbox").message


def test_twenty_gigabytes_exceed_the_memory_limit(tmp_path):
    report = grade("memory_hog", tmp_path)
    imp = report.check("import")
    assert imp.status == "fail"
    assert "MemoryError" in imp.message
    assert "more memory than the sandbox allows (1024 MiB)" in imp.message


def test_kernel_layers_block_without_the_audit_hook(tmp_path):
    """Landlock and seccomp alone (no audit hook) stop reads, writes, fork and sockets."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    inside = tmp_path / "inside"
    inside.mkdir()
    script = f"""
import importlib.util, os, socket, sys
spec = importlib.util.spec_from_file_location("sb", {str(_sandbox_path())!r})
sb = importlib.util.module_from_spec(spec); spec.loader.exec_module(sb)
ro = [sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/lib", "/lib", "/etc/ld.so.cache"]
print("landlock", sb.apply_landlock(ro, [{str(inside)!r}]))
print("seccomp", sb.apply_seccomp())
for name, fn in [("read", lambda: open({str(secret)!r}).read()),
                 ("write", lambda: open({str(tmp_path / "out.txt")!r}, "w")),
                 ("fork", os.fork), ("socket", socket.socket)]:
    try:
        fn(); print(name, "ALLOWED")
    except OSError as e:
        print(name, "blocked", e.errno)
open({str(inside / "ok.txt")!r}, "w").write("ok")
"""
    out = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60
    ).stdout
    if "landlock on" not in out or "seccomp on" not in out:
        pytest.skip(f"kernel layers unavailable here: {out.splitlines()[:2]}")
    assert "read blocked" in out and "write blocked" in out
    assert "fork blocked" in out and "socket blocked" in out
    assert (inside / "ok.txt").read_text() == "ok"
    assert not (tmp_path / "out.txt").exists()


def _sandbox_path() -> Path:
    spec = importlib.util.find_spec("chainrule.exercise.sandbox")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


# --------------------------------------------------------------------------------------------
# Output, CLI and starter.


def test_output_is_capped(tmp_path):
    text = 'print("x" * 1_000_000)\n' + (SOLUTIONS / "correct.py").read_text()
    path = tmp_path / "solution.py"
    path.write_text(text)
    report = check_file(path, max_output=1000, only=["construction"])
    assert report.output_truncated and len(report.output) == 1000
    assert report.output_bytes > 1_000_000
    assert report.exit_code == 0


def test_text_report_has_no_colour_when_not_a_tty(tmp_path, capsys):
    path = plant("assign_grad", tmp_path)
    assert check_main([str(path), "--timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert "\033[" not in out
    assert re.search(r"FAIL\s+accumulation\s+x is used twice in one op", out)
    assert "result: FAIL" in out


def test_check_main_missing_file(tmp_path, capsys):
    assert check_main([str(tmp_path / "nope.py")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_init_writes_starter_and_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "ex"
    assert init_main([str(target)]) == 0
    solution = target / "solution.py"
    assert solution.exists() and (target / "README.md").exists()
    starter = solution.read_text()
    for name in ("class Value", "self.grad", "_prev", "_op", "_backward", "def backward"):
        assert name in starter
    assert "+=" not in starter  # the skeleton gives no answers
    solution.write_text("# my work\n")
    assert init_main([str(target)]) == 1
    assert "--force" in capsys.readouterr().err
    assert solution.read_text() == "# my work\n"
    assert init_main([str(target), "--force"]) == 0
    assert solution.read_text() == starter


def test_starter_is_graded_as_not_implemented(tmp_path):
    init_main([str(tmp_path)])
    report = check_file(tmp_path / "solution.py", only=["construction", "forward_add"])
    assert statuses(report)["construction"] == "pass"
    add = report.check("forward_add")
    assert add.status == "fail" and "not implemented yet" in add.message
    assert report.exit_code == 1


def test_report_exit_code_ignores_optional_checks():
    checks = [
        CheckResult("import", True, "pass", "ok"),
        CheckResult("reflected_ops", False, "fail", "wrong"),
    ]
    report = Report("s.py", checks, events=[SandboxEvent("open('/x', 'r')", "s.py:3", "import")])
    assert report.exit_code == 0
    coloured = report.format_text(color=True)
    assert "\033[32m" in coloured and "\033[31m" in coloured
    assert json.loads(json.dumps(report.to_json()))["sandbox"]["events"][0]["where"] == "s.py:3"


def test_worker_does_not_see_the_parent_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-pass")
    text = "import os\nprint(sorted(os.environ))\n" + (SOLUTIONS / "correct.py").read_text()
    path = tmp_path / "solution.py"
    path.write_text(text)
    report = check_file(path, only=["construction"])
    names = set(re.findall(r"'([A-Z_]+)'", report.output))
    assert names <= {
        "PATH",
        "LANG",
        "LC_CTYPE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    }
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in report.output
