"""The grader against the attacks that got through its first sandbox (issue 15).

Each attack is a planted solution in tests/exercise_solutions/ with its expected verdict. After
every test, no worker process and no new SysV shared-memory segment may be left (checked with
``ps`` and ``ipcs``), and the grader itself must have returned a report, never raised. The
tests run under bubblewrap where it works here and with the in-process layers otherwise; the
ones about namespaces themselves skip without bwrap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chainrule.exercise import check_file, check_source, grade_source
from chainrule.exercise import namespaces as namespaces_module
from chainrule.exercise.cli import check_main
from chainrule.exercise.namespaces import bwrap_status
from chainrule.exercise.report import Report, escape_text
from chainrule.exercise.runner import WORKER, parse_message, remove_tree

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
CORRECT = (SOLUTIONS / "correct.py").read_text()
HAVE_BWRAP = bwrap_status() == "on"
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason=f"bubblewrap: {bwrap_status()}")


def plant(name: str, tmp_path: Path, **subs: str) -> Path:
    """tmp_path/work/solution.py from a planted file, its __PLACEHOLDERS__ filled in and
    ``# __CORRECT_VALUE_CLASS__`` replaced by the correct solution."""
    text = (SOLUTIONS / f"{name}.py").read_text()
    text = text.replace("# __CORRECT_VALUE_CLASS__", CORRECT)
    for key, value in subs.items():
        text = text.replace(f"__{key.upper()}__", value)
    assert not re.search(r"__[A-Z]+_PATH__", text)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = work / "solution.py"
    path.write_text(text)
    return path


HAVE_PS = shutil.which("ps") is not None  # procps
HAVE_IPCS = shutil.which("ipcs") is not None  # util-linux


def _ps_workers() -> set[int]:
    """Processes running this tree's worker script (directly or under bwrap), from ``ps``."""
    if not HAVE_PS:
        return set()
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, timeout=30
    ).stdout
    return {int(line.split(None, 1)[0]) for line in out.splitlines() if str(WORKER) in line}


def _shm_ids() -> set[str]:
    if not HAVE_IPCS:
        return set()
    out = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, timeout=30).stdout
    return {line.split()[1] for line in out.splitlines() if re.match(r"0x[0-9a-f]+\s+\d+", line)}


@pytest.fixture(autouse=True)
def nothing_left_behind(tmp_path, monkeypatch):
    """No worker process, shared-memory segment or grader temp dir survives a test (the first
    two checked where ps and ipcs exist)."""
    temp = tmp_path / "grader-tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    workers, shm = _ps_workers(), _shm_ids()
    yield
    for _ in range(40):  # a killed process may take a moment to be reaped
        if not _ps_workers() - workers:
            break
        time.sleep(0.05)
    assert not _ps_workers() - workers, "a worker process was left running"
    assert not _shm_ids() - shm, "a SysV shared-memory segment was left behind"
    assert list(temp.iterdir()) == [], "a grader temporary directory was left behind"


def grade(name: str, tmp_path: Path, timeout: float = 10.0, **subs: str) -> Report:
    return check_file(plant(name, tmp_path, **subs), timeout=timeout)


def everything(report: Report) -> str:
    return report.format_text() + json.dumps(report.to_json())


# --------------------------------------------------------------------------------------------
# The audit hook is not the boundary.


def test_hook_switched_off_the_kernel_layers_still_hold(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-secret")
    outside, marker = tmp_path / "outside.txt", tmp_path / "marker"
    report = grade(
        "hook_switched_off",
        tmp_path,
        secret_path=str(secret),
        outside_path=str(outside),
        marker_path=str(marker),
    )
    assert "hunter2" not in everything(report)
    assert not outside.exists() and not marker.exists()
    assert "ALLOWED" not in report.output
    for attempt in ("read secret refused", "write outside refused", "system refused"):
        assert attempt in report.output
    # The first attempt, before the hook was touched, is reported and fails the check.
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "blocked open('/etc/shadow', 'r')" in sandbox.message


def test_blocked_module_under_another_name_is_refused(tmp_path):
    marker = tmp_path / "marker"
    report = grade("subinterpreter_alias", tmp_path, marker_path=str(marker))
    assert not marker.exists()
    assert "refused PermissionError" in report.output
    message = report.check("sandbox").message
    assert "blocked import 'alias._xxsubinterpreters' from" in message


def test_metadata_changes_through_read_only_descriptors_are_refused(tmp_path):
    before = os.stat(os.__file__)
    report = grade("metadata_by_fd", tmp_path)
    after = os.stat(os.__file__)
    assert (before.st_mode, before.st_mtime_ns, before.st_uid) == (
        after.st_mode,
        after.st_mtime_ns,
        after.st_uid,
    )
    assert "ALLOWED" not in report.output
    assert report.output.count("refused") == 8
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "blocked os.chmod(fd " in sandbox.message


# --------------------------------------------------------------------------------------------
# A parent that trusts nothing from the worker.


def test_stale_hang_file_symlink_is_never_read(tmp_path):
    start = time.monotonic()
    report = grade("stale_hang_file", tmp_path, timeout=2.0)
    elapsed = time.monotonic() - start
    grad_add = report.check("grad_add")
    assert grad_add.status == "timeout"
    assert re.search(r"stopped in _forever\(\) at .*solution\.py:\d+", grad_add.message)
    assert report.check("grad_relu").status == "not_run"
    assert elapsed < 30  # two 2 s timeouts, not gigabytes of /dev/zero


def test_deeply_nested_json_on_the_result_pipe_fails_the_check(tmp_path):
    report = grade("deep_json", tmp_path)
    imp = report.check("import")
    assert imp.status == "crash"
    assert "nested too deeply" in imp.message
    assert report.exit_code == 1


def test_huge_messages_on_the_result_pipe_are_cut_short(tmp_path):
    start = time.monotonic()
    report = grade("huge_messages", tmp_path)
    assert report.check("import").status == "crash"
    assert "over 1 MiB" in report.check("import").message
    assert time.monotonic() - start < 30


def test_half_a_line_before_a_blocked_attempt_does_not_hide_it(tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN FAKE KEY----- hunter2")
    report = grade("partial_line", tmp_path, secret_path=str(secret))
    assert "hunter2" not in everything(report)
    assert report.exit_code == 1
    broken = [c for c in report.checks if c.status == "crash"]
    assert broken and "malformed message" in broken[0].message


@pytest.mark.parametrize("namespaces", [False, pytest.param(True, marks=needs_bwrap)])
def test_deep_directories_are_cleaned_up(tmp_path, namespaces):
    path = plant("deep_directories", tmp_path)
    report = check_file(path, namespaces=namespaces, only=["construction"])
    assert "made 3000" in report.output
    assert report.exit_code == 0  # the fixture checks that no directory was left


def test_remove_tree_handles_depth_links_and_modes(tmp_path):
    root = tmp_path / "victim"
    keep = tmp_path / "keep.txt"
    keep.write_text("keep")
    d = root
    d.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(1500):  # deeper than the recursion limit, longer than PATH_MAX (4096)
        os.mkdir("ddd", dir_fd=fd)
        nxt = os.open("ddd", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.symlink(str(tmp_path), "up", dir_fd=fd)
    os.close(fd)
    (root / "link-to-keep").symlink_to(keep)
    (root / "locked").mkdir(mode=0o000)
    remove_tree(str(root))
    assert not root.exists() and keep.read_text() == "keep"
    remove_tree(str(tmp_path / "does-not-exist"))  # never raises


def test_parse_message_refuses_what_the_worker_must_not_send():
    assert parse_message(b'{"type": "ready", "layers": {}}')["type"] == "ready"
    for bad in (b"[" * 200_000, b'{"type": 1}', b"[1, 2]", b"\xff\xfe", b"{" + b" " * (2 << 20)):
        with pytest.raises(Exception) as info:
            parse_message(bad)
        assert type(info.value).__name__ == "_Died"


# --------------------------------------------------------------------------------------------
# What the learner's code prints, and what the grader reads.


def test_terminal_escapes_are_shown_escaped(tmp_path, capsys):
    path = plant("terminal_escapes", tmp_path)
    assert check_main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J\\x1b[H" in out and "\\u202e" in out
    assert escape_text("a\tb\x07\x9b\n") == "a\\x09b\\x07\\x9b\n"


def test_symlinked_solution_is_refused_and_not_read(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2 = 'do not print me'\n")
    link = tmp_path / "solution.py"
    link.symlink_to(secret)
    assert check_main([str(link)]) == 2
    captured = capsys.readouterr()
    assert "symbolic link" in captured.err
    assert "hunter2" not in captured.out + captured.err
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    assert check_main([str(fifo)]) == 2  # refused at once, not a read that blocks
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_PS, reason="ps (procps) is needed to see the worker")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_worker_dies_with_the_grader(tmp_path, signum):
    path = plant("stale_hang_file", tmp_path)  # hangs in backward()
    # TMPDIR: without namespaces, a SIGKILLed grader leaves its temporary directory there.
    env = {**os.environ, "PYTHONPATH": str(Path(WORKER).parents[2]), "TMPDIR": str(tmp_path)}
    before = _ps_workers()
    grader = subprocess.Popen(
        [sys.executable, "-m", "chainrule.exercise.cli", "check", str(path), "--timeout", "60"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ps_workers() - before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ps_workers() - before, "the worker never started"
        time.sleep(1.0)  # in backward() by now
        grader.send_signal(signum)
        grader.wait(timeout=20)
    finally:
        grader.kill()
        grader.wait()
    # The fixture checks that no worker is left.
    if signum != signal.SIGKILL:
        assert grader.returncode == 128 + signum


# --------------------------------------------------------------------------------------------
# Namespaces, fallback, and grading strings for a server.


@needs_bwrap
def test_namespaces_hide_the_host(tmp_path):
    probe = (
        "import os\n"
        "print('uid', os.getuid(), 'pid', os.getpid())\n"
        "print('procs', [p for p in (1, 2, 3) if os.path.exists(f'/proc/{p}')])\n"
        "print('seen', [p for p in ('/home', '/root/.ssh', '/etc/passwd', '/sandbox')\n"
        "               if os.path.exists(p)])\n"
        "print('host', os.uname().nodename)\n"
    )
    report = check_source(probe + CORRECT, only=["construction"])
    assert report.isolation == "namespaces"
    assert "uid 65534 pid 2" in report.output
    assert "procs [1, 2]" in report.output  # bwrap's init and the worker, alone
    assert "seen ['/sandbox']" in report.output  # none of the host's files
    assert "host sandbox" in report.output


def test_without_namespaces_the_report_says_isolation_is_reduced(tmp_path, monkeypatch):
    report = check_source(CORRECT, only=["construction"], namespaces=False)
    assert report.exit_code == 0 and report.isolation == "reduced"
    assert "ISOLATION IS REDUCED" in report.format_text()
    assert report.to_json()["sandbox"]["isolation"] == "reduced"
    # Where bwrap is missing: the same fallback by default; nothing runs when it is required.
    monkeypatch.delenv("CHAINRULE_GRADER_NAMESPACES", raising=False)
    monkeypatch.setattr(namespaces_module, "_STATUS", None)
    monkeypatch.setattr(namespaces_module.shutil, "which", lambda name: None)
    assert (
        namespaces_module.bwrap_status() == "off: bwrap not found (install the bubblewrap package)"
    )
    assert check_source(CORRECT, only=["construction"]).isolation == "reduced"
    refused = grade_source(CORRECT, namespaces=True)
    assert (
        refused["passed"] is False and "namespaces were required" in refused["checks"][0]["message"]
    )
    monkeypatch.setattr(namespaces_module, "_STATUS", None)  # probe again after the test


def test_kernel_layers_block_without_the_audit_hook(tmp_path):
    """Landlock and the seccomp allow-list alone (no hook, no namespaces) refuse metadata
    changes, SysV IPC, scheduling, F_SETOWN/F_SETSIG and TIOCSTI, and keep threads working."""
    sandbox = Path(WORKER).with_name("sandbox.py")
    victim = tmp_path / "victim.txt"
    victim.write_text("v")
    before = victim.stat()
    script = f"""
import ctypes, fcntl, importlib.util, os, sys, termios, threading
spec = importlib.util.spec_from_file_location("sb", {str(sandbox)!r})
sb = importlib.util.module_from_spec(spec); spec.loader.exec_module(sb)
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open({str(victim)!r}, os.O_RDONLY)
r, w = os.pipe()
print("seccomp", sb.apply_seccomp())
def attempt(name, fn):
    try:
        rc = fn()
        ok = not (isinstance(rc, int) and rc < 0)
        print(name, "ALLOWED" if ok else "refused", ctypes.get_errno())
    except OSError as e:
        print(name, "refused", e.errno)
attempt("fchmod", lambda: os.chmod(fd, 0o600))
attempt("futimens", lambda: os.utime(fd, (0, 0)))
attempt("fchown", lambda: os.chown(fd, os.getuid(), os.getgid()))
attempt("fsetxattr", lambda: os.setxattr(fd, "user.x", b"1"))
attempt("shmget", lambda: libc.shmget(0, 1 << 20, 0o1600))
attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19))
attempt("sched_setaffinity", lambda: os.sched_setaffinity(0, {{0}}))
attempt("sched_fifo", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
attempt("f_setown", lambda: fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid()))
attempt("f_setsig", lambda: fcntl.fcntl(r, 10, 9))
attempt("tiocsti", lambda: fcntl.ioctl(r, termios.TIOCSTI, b"x"))
attempt("fork", os.fork)
t = threading.Thread(target=lambda: print("thread ran")); t.start(); t.join()
print("flags", fcntl.fcntl(r, fcntl.F_GETFL) >= 0)
"""
    out = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60
    ).stdout
    if "seccomp on" not in out:
        pytest.skip(f"seccomp unavailable here: {out.splitlines()[:1]}")
    assert "ALLOWED" not in out, out
    assert len(re.findall(r"refused 1\b", out)) == 12, out  # EPERM, from the filter
    assert "thread ran" in out and "flags True" in out
    after = victim.stat()
    assert (before.st_mode, before.st_mtime_ns) == (after.st_mode, after.st_mtime_ns)
    assert not os.listxattr(victim)


def test_grade_source_from_many_threads_all_pass():
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda _: grade_source(CORRECT, timeout=60), range(32)))
    assert all(r["passed"] for r in results), [r["checks"] for r in results if not r["passed"]]
    assert all(r["cancelled"] is False for r in results)
    assert {r["sandbox"]["isolation"] for r in results} == {
        "namespaces" if HAVE_BWRAP else "reduced"
    }


def test_grade_source_can_be_cancelled():
    looping = (
        CORRECT + "\n\ndef _spin(self):\n    while True:\n        pass\n\nValue.backward = _spin\n"
    )
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    start = time.monotonic()
    try:
        result = grade_source(looping, timeout=60, cancel=cancel)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 20  # not 60 s per check
    assert result["cancelled"] is True and result["passed"] is False
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses["grad_add"] == "not_run"
    assert json.loads(json.dumps(result)) == result


def test_a_worker_that_signals_itself_dies_and_is_replaced(tmp_path):
    report = check_file(
        plant("self_signal", tmp_path), only=["construction", "grad_add", "grad_mul", "grad_relu"]
    )
    got = {c.name: c.status for c in report.checks}
    assert got["construction"] == "pass"
    assert got["grad_add"] == got["grad_mul"] == "crash"
    assert "the worker died with SIGSEGV" in report.check("grad_add").message
    assert got["grad_relu"] == "not_run"


def test_scheduling_ipc_and_signal_tricks_are_refused(tmp_path):
    report = grade("scheduling_ipc_signals", tmp_path)
    if not report.layers.get("seccomp", "").startswith("on"):
        pytest.skip(f"these calls are refused by seccomp alone: {report.layers.get('seccomp')}")
    assert "ALLOWED" not in report.output
    for what in ("setpriority", "sched_setaffinity", "sched_fifo", "f_setown", "f_setsig"):
        assert f"{what} refused PermissionError" in report.output
    assert "tiocsti refused" in report.output and "shmget refused" in report.output
    # The plain-Python calls raise no audit event: the seccomp filter hands them to the
    # grader, which refuses them and reports them (the learner's code cannot forge or hide
    # these). The ctypes call is seen by the hook. The fixture checks no segment was left.
    details = report.check("sandbox").details
    if "refusals reported by the grader" in report.layers.get("seccomp", ""):
        for what in (
            "setpriority()",
            "sched_setaffinity()",
            "sched_setscheduler()",
            "fcntl(F_SETOWN)",
            "fcntl(F_SETSIG)",
            "ioctl(TIOCSTI)",
        ):
            assert f"sandbox: blocked {what} (refused by seccomp) (during import)" in details
    assert "blocked ctypes.dlsym(<object>, 'shmget')" in details
    assert report.exit_code == 1


def test_kernel_reported_refusals_survive_a_corrupted_pipe(tmp_path):
    """Half a JSON line on the result pipe, then a call only the kernel sees: the grader hears
    about it from the seccomp listener, not from the worker."""
    code = (
        "import os, sys\n"
        'os.write(int(sys.argv[2]), b\'{"type": "event", "what": \')\n'
        "try:\n"
        "    os.setpriority(os.PRIO_PROCESS, 0, 5)\n"
        "except OSError:\n"
        "    pass\n"
    )
    report = check_source(code + CORRECT)
    if "refusals reported by the grader" not in report.layers.get("seccomp", ""):
        pytest.skip(f"no seccomp listener here: {report.layers.get('seccomp')}")
    assert report.exit_code == 1
    assert "blocked setpriority() (refused by seccomp)" in report.check("sandbox").message
