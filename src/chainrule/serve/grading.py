"""The one place where ``chainrule serve`` calls the grader: every grading goes through here.

Today's grader grades a *file* (:func:`chainrule.exercise.runner.check_file`), so
:func:`grade_code` writes the submitted code to a private temporary directory (mode 0700, a
name chosen by :mod:`tempfile`, never by the request), grades it and removes it. The report
names the file ``solution.py``, as ``chainrule check solution.py`` would.

Cancellation. ``check_file`` has no cancel argument. What this module does instead: it runs in
a worker thread, and when the caller sets ``cancel``, it kills the sandboxed worker processes
that *this thread* started (Linux lists them in ``/proc/self/task/TID/children``). The runner
sees its worker die, starts a fresh one for the remaining checks (killed too) and, after
``MAX_RESTARTS`` such deaths, marks the rest "not run" and returns: the grading ends within
milliseconds, with no process left. Missing from today's API, and expected from the sandbox
issue's ``grade_source``: a cancel argument the runner checks between checks (no dead-worker
round trip, no reliance on /proc), and a Popen without ``preexec_fn`` (CPython documents
``preexec_fn`` as unsafe when other threads run; the rlimits would move into the sandbox
launcher).

:func:`namespaces_available` says whether bubblewrap can create user namespaces here, the
precondition the service requires (``--unsafe-no-namespaces`` overrides it).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["GradingCancelled", "grade_code", "namespaces_available"]

_FILENAME = "solution.py"  # the name the report shows, as in `chainrule check solution.py`


class GradingCancelled(Exception):
    """The caller set ``cancel`` before the grading finished; no report is produced."""


def grade_code(
    code: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Grade the ``Value`` class in ``code``; return the dict of ``chainrule check --json``.

    Blocking: call it from a worker thread. When ``cancel`` is set while it runs, the sandboxed
    workers are killed and :class:`GradingCancelled` is raised.

    Args:
        code: the learner's ``solution.py``, as text.
        timeout: wall-clock seconds per check, as ``chainrule check --timeout``.
        memory_mb: the worker's memory limit in MiB, as ``chainrule check --memory``.
        cancel: set it (from any thread) to stop the grading.
    """
    from chainrule.exercise.runner import check_file

    cancel = cancel or threading.Event()
    workdir = tempfile.mkdtemp(prefix="chainrule-serve-")  # mode 0700: private to this user
    path = os.path.join(workdir, _FILENAME)
    # The reaper kills this thread's children once cancel is set, until the grading returns.
    finished = threading.Event()
    reaper = threading.Thread(
        target=_reap_when_cancelled,
        args=(threading.get_native_id(), cancel, finished),
        name="chainrule-serve-reaper",
        daemon=True,
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(code)
        reaper.start()
        report = check_file(path, timeout=timeout, memory_mb=memory_mb).to_json()
    finally:
        finished.set()
        if reaper.is_alive():
            reaper.join()
        shutil.rmtree(workdir, ignore_errors=True)
    if cancel.is_set():
        raise GradingCancelled
    return _strip_dir(report, workdir + os.sep)


def _strip_dir(obj: Any, prefix: str) -> Any:
    """The report with the private directory's name removed (``/tmp/xyz/solution.py`` ->
    ``solution.py``): it is the server's business, and the learner's file is solution.py."""
    if isinstance(obj, str):
        return obj.replace(prefix, "")
    if isinstance(obj, list):
        return [_strip_dir(v, prefix) for v in obj]
    if isinstance(obj, dict):
        return {k: _strip_dir(v, prefix) for k, v in obj.items()}
    return obj


def _reap_when_cancelled(tid: int, cancel: threading.Event, finished: threading.Event) -> None:
    # Wake on cancel, or every half second to notice that the grading finished by itself.
    while not finished.is_set():
        if cancel.wait(0.5):
            break
    while not finished.is_set():
        _kill_children_of_thread(tid)
        finished.wait(0.02)


def _kill_children_of_thread(tid: int) -> None:
    """SIGKILL the processes that thread ``tid`` of this process started (its grader workers).

    A pid is signalled through a pidfd opened while the pid is still listed as this thread's
    child, so a pid the runner has meanwhile reaped (and the system reused) is never hit.
    """
    listing = Path(f"/proc/self/task/{tid}/children")
    try:
        pids = [int(p) for p in listing.read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # gone already; or no pidfds (Linux < 5.3)
            continue
        try:
            # Still our child after the pidfd was opened: the pidfd is that process.
            if str(pid) in listing.read_text().split():
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(pidfd)


@functools.cache
def namespaces_available() -> tuple[bool, str]:
    """Whether bubblewrap can create namespaces here: ``(ok, reason)``, probed once.

    Runs ``bwrap --unshare-all ... true`` (a read-only view of /, no network, no processes
    of the host) and caches the answer for the life of the process.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/"]
    cmd += ["--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bwrap did not run: {e}"
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return False, f"bwrap could not create namespaces: {err[-1] if err else done.returncode}"
    return True, "bwrap creates user, pid, network and mount namespaces"
