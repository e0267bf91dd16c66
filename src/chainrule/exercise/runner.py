"""Run the checks on a learner's file in a sandboxed worker process, and build the report.

The grader's own process never imports the learner's code. It starts ``_worker.py`` with::

    python -I -B -u _worker.py CMD_FD RES_FD

- ``-I``: no PYTHON* environment variables, no user site-packages, neither the current nor
  the script's directory on ``sys.path`` (chainrule's import root is passed explicitly);
  ``-u`` so that the learner's prints reach the parent even when the worker is killed;
- ``env``: only PATH and LANG, so no token, key or password of the grader's environment
  reaches the learner's code;
- ``cwd``: a fresh temporary directory, the only place the learner's code may write;
- ``stdin=DEVNULL``; stdout and stderr go to a pipe read with a cap (``max_output``);
- ``start_new_session=True``: the worker leads its own process group, killed as a whole at the
  end with ``os.killpg``;
- ``preexec_fn``: CPU, address-space, file-size, open-file and core-dump limits
  (:func:`chainrule.exercise.sandbox.limit_resources`); the worker then adds Landlock, seccomp
  and an audit hook before it imports the learner's file.

Each check gets a wall-clock timeout. When one hangs, the parent asks the worker for its stack
(SIGUSR1, answered by faulthandler), reports where it hung, kills the process group and goes on
with the remaining checks in a fresh worker; a worker that dies (a segfault, ``os._exit``, the
CPU limit) fails its check the same way. After ``MAX_RESTARTS`` such checks the rest are marked
"not run", so an infinite loop in ``backward()`` costs two timeouts, not one per check.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.exercise import checks as checks_module
from chainrule.exercise.report import CheckResult, Report, SandboxEvent
from chainrule.exercise.sandbox import make_preexec

__all__ = ["MAX_RESTARTS", "check_file"]

# After this many checks that hung or killed their worker, the rest are marked "not run".
MAX_RESTARTS = 2
# A result line longer than this is not the worker's (the learner wrote to its descriptor).
_MAX_LINE = 8 << 20
WORKER = Path(__file__).resolve().parent / "_worker.py"
# The directory that contains the chainrule package, for `from chainrule.scalar import Value`
# in a solution (and for the learner's imports of chainrule in general).
CHAINRULE_ROOT = str(Path(__file__).resolve().parents[2])
_STARTUP_SECONDS = 10.0  # Python's own start and the sandbox setup, before the first timeout


class _Died(Exception):
    """The worker exited (or was killed) while the parent waited for a message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    """One sandboxed worker process and its three pipes."""

    def __init__(self, workdir: str, limits: dict[str, Any]) -> None:
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        preexec = make_preexec(
            limits["cpu_seconds"], limits["memory_mb"] << 20, limits["fsize_mb"] << 20, 64
        )
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-u", str(WORKER), str(cmd_r), str(res_w)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                pass_fds=(cmd_r, res_w),
                start_new_session=True,
                preexec_fn=preexec,  # limits between fork and exec
            )
        finally:
            os.close(cmd_r)
            os.close(res_w)
        assert self.proc.stdout is not None
        self.cmd_w, self.res_r, self.out_fd = cmd_w, res_r, self.proc.stdout.fileno()
        for fd in (self.cmd_w, self.res_r, self.out_fd):
            os.set_blocking(fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.res_r, selectors.EVENT_READ, "res")
        self.sel.register(self.out_fd, selectors.EVENT_READ, "out")
        self.buf = b""
        self.pending_out = b""
        self.workdir = workdir

    def send(self, message: dict[str, Any], sink: _Sink, deadline: float) -> None:
        """Write one JSON line to the worker, reading its output meanwhile (no deadlock)."""
        data = (json.dumps(message) + "\n").encode()
        self.sel.register(self.cmd_w, selectors.EVENT_WRITE, "cmd")
        try:
            while data:
                if time.monotonic() > deadline:
                    raise TimeoutError
                for key, _ in self.sel.select(timeout=0.1):
                    if key.data == "cmd":
                        try:
                            data = data[os.write(self.cmd_w, data) :]
                        except BrokenPipeError:
                            raise _Died(self.death_reason()) from None
                    else:
                        self._read(key.data, sink)
        finally:
            self.sel.unregister(self.cmd_w)

    def receive(self, sink: _Sink, deadline: float) -> dict[str, Any]:
        """The next ready/loaded/result message; events go to ``sink`` on the way."""
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours: the learner wrote to the wrong descriptor
                if not isinstance(message, dict):
                    continue
                if message.get("type") == "event":
                    sink.event(str(message.get("what", "?")), str(message.get("where", "")))
                    continue
                return message
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError
            for key, _ in self.sel.select(timeout=min(timeout, 0.5)):
                self._read(key.data, sink)

    def _read(self, which: str, sink: _Sink) -> None:
        fd = self.res_r if which == "res" else self.out_fd
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self.sel.unregister(fd)
            if which == "res":
                raise _Died(self.death_reason())
            return
        if which == "res":
            self.buf += chunk
            if len(self.buf) > _MAX_LINE and b"\n" not in self.buf:
                raise _Died("the worker sent a result line over 8 MiB (not the grader's)")
        else:
            sink.output(chunk)

    def death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its result pipe but kept running"
        return _describe_exit(code)

    def stack_dump(self, filename: str) -> str:
        """Ask faulthandler for the worker's stack; return where it is in the learner's file."""
        try:
            os.kill(self.proc.pid, signal.SIGUSR1)
        except OSError:
            return ""
        path = os.path.join(self.workdir, ".chainrule-hang.txt")
        pattern = re.compile(r'File "(.*)", line (\d+) in (\S+)')
        text = ""
        for _ in range(40):  # faulthandler answers within milliseconds; give it 1 s at most
            time.sleep(0.025)
            try:
                text = Path(path).read_text(errors="replace")
            except OSError:
                return ""
            if "most recent call first" in text:
                time.sleep(0.05)  # let it finish writing the stack
                text = Path(path).read_text(errors="replace")
                break
        for m in pattern.finditer(text):  # innermost frame first
            if m.group(1) == filename:
                return f"{m.group(3)}() at {filename}:{m.group(2)}"
        return ""

    def drain(self, sink: _Sink) -> None:
        """Read what the learner's code printed and the parent has not read yet."""
        try:
            while self.out_fd in {key.fd for key, _ in self.sel.select(timeout=0.05)}:
                before = sink.total
                self._read("out", sink)
                if sink.total == before:
                    break
        except (_Died, OSError, ValueError, KeyError):
            pass

    def kill(self) -> None:
        """Kill the worker's whole process group and close the pipes."""
        with contextlib.suppress(OSError):  # already gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.sel.close()
        for fd in (self.cmd_w, self.res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"the worker exited with status {code} (did your code call os._exit or exit?)"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    reasons = {
        "SIGXCPU": "it used up the CPU-time limit",
        "SIGKILL": "it was killed (the hard CPU-time limit, or the system ran out of memory)",
        "SIGSEGV": "a segmentation fault (deep recursion after raising sys.setrecursionlimit "
        "overflows the C stack)",
        "SIGXFSZ": "it wrote a file larger than the file-size limit",
        "SIGABRT": "it aborted",
    }
    return f"the worker died with {name}: {reasons.get(name, 'killed by a signal')}"


class _Sink:
    """Collects sandbox events (tagged with the current phase) and the learner's output."""

    def __init__(self, max_output: int) -> None:
        self.events: list[SandboxEvent] = []
        self._seen: dict[tuple[str, str], SandboxEvent] = {}
        self.phase = "import"
        self.max_output = max_output
        self.out = bytearray()
        self.total = 0

    def event(self, what: str, where: str) -> None:
        # The same attempt from the same line (once per check, or once per fresh worker that
        # re-imports the file) is one event with a count; distinct events are capped, since a
        # loop can make thousands.
        key = (what, where)
        if key in self._seen:
            self._seen[key].count += 1
        elif len(self.events) < 100:
            self._seen[key] = SandboxEvent(what, where, self.phase)
            self.events.append(self._seen[key])

    def output(self, chunk: bytes) -> None:
        # Keep the first max_output bytes; count (and drop) the rest, still draining the pipe
        # so the worker never blocks on a full pipe.
        self.total += len(chunk)
        room = self.max_output - len(self.out)
        if room > 0:
            self.out += chunk[:room]


def _load_failure(message: dict[str, Any], filename: str, memory_mb: int) -> CheckResult:
    kind, err = message.get("kind"), message.get("error") or {}
    if kind == "syntax":
        line, col = err.get("line"), err.get("offset")
        where = f"{filename}:{line}" + (f":{col}" if col else "") if line else filename
        details = ""
        if err.get("text"):
            text = err["text"]
            stripped = text.lstrip()
            caret = " " * max(0, (col or 1) - 1 - (len(text) - len(stripped))) + "^"
            details = f"    {stripped}\n    {caret}"
        msg = f"{err.get('type', 'SyntaxError')} at {where}: {err.get('message', '')}"
        return CheckResult("import", True, "fail", msg, details)
    if kind == "no_value":
        names = message.get("names") or []
        found = ", ".join(names) if names else "none"
        if message.get("found") == "missing":
            msg = f"no class named Value in {filename}; top-level names found: {found}."
            msg += " Define `class Value:` at the top level of the file (the name matters)."
        else:
            msg = f"Value in {filename} is a {message.get('found')}, not a class;"
            msg += f" top-level names found: {found}."
        return CheckResult("import", True, "fail", msg)
    verdict = checks_module.describe_error(err, memory_mb)
    msg = f"importing {filename} failed: {verdict.message}"
    return CheckResult("import", True, "fail", msg, verdict.details)


def check_file(
    path: str | os.PathLike[str],
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_output: int = 64 * 1024,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> Report:
    """Grade the ``Value`` class in the file at ``path``; never raises for the learner's faults.

    Args:
        path: the learner's ``solution.py``.
        timeout: wall-clock seconds allowed for each check (and for importing the file).
        memory_mb: the worker's address-space limit (RLIMIT_AS), in MiB.
        max_output: how many bytes of the learner's prints are kept.
        seed: seeds the random graphs and the MLP's initial weights.
        only: run only these checks (by name); all of them by default.

    Returns:
        A :class:`~chainrule.exercise.report.Report`; ``report.exit_code`` is 0 only when every
        required check passed.
    """
    filename = os.fspath(path)
    source = Path(filename).read_bytes().decode("utf-8", errors="replace")
    selected = [c for c in checks_module.CHECKS if only is None or c.name in only]
    rng = random.Random(seed)
    params = {c.name: c.make_params(rng) for c in selected}
    limits = {
        "timeout_s": timeout,
        "memory_mb": memory_mb,
        # A backstop under the wall-clock timeouts: every check at its limit, plus start-up.
        "cpu_seconds": int(timeout * (len(selected) + 2) + _STARTUP_SECONDS),
        "fsize_mb": 16,
        "max_output_bytes": max_output,
    }
    stem = Path(filename).stem
    config = {
        "source": source,
        "filename": filename,
        "source_path": os.path.realpath(filename),
        "module_name": stem if stem.isidentifier() else "solution",
        "chainrule_root": CHAINRULE_ROOT,
    }
    sink = _Sink(max_output)
    results: dict[str, CheckResult] = {}
    layers: dict[str, str] = {}
    import_result: CheckResult | None = None
    pending = list(selected)
    restarts = 0
    workdir = tempfile.mkdtemp(prefix="chainrule-check-")
    try:
        while pending:
            try:
                worker = _Worker(workdir, limits)
            except OSError as e:  # no process could be started at all
                import_result = CheckResult("import", True, "crash", f"no worker: {e}")
                break
            try:
                sink.phase = "import"
                start = time.monotonic()
                try:
                    worker.send(config, sink, start + _STARTUP_SECONDS)
                    ready = worker.receive(sink, start + _STARTUP_SECONDS)
                    layers = ready.get("layers", {})
                    loaded = worker.receive(sink, time.monotonic() + timeout)
                except TimeoutError:
                    where = worker.stack_dump(filename)
                    at = f" (it was running {where})" if where else ""
                    msg = (
                        f"importing {filename} did not finish within {timeout:g} s{at}: an "
                        "infinite loop at the top level of the file?"
                    )
                    import_result = CheckResult("import", True, "timeout", msg)
                    break
                except _Died as e:
                    msg = f"importing {filename} failed: {e.reason}"
                    import_result = CheckResult("import", True, "crash", msg)
                    break
                if not loaded.get("ok"):
                    import_result = _load_failure(loaded, filename, memory_mb)
                    break
                if import_result is None:
                    import_result = CheckResult(
                        "import", True, "pass", f"imported {filename} and found class Value"
                    )
                restart = _run_pending(worker, pending, params, results, sink, filename, limits)
                if restart is not None:  # a timeout or a crash: next round, fresh worker
                    restarts += 1
                    if restarts >= MAX_RESTARTS and pending:
                        for c in pending:
                            results[c.name] = CheckResult(
                                c.name,
                                c.required,
                                "not_run",
                                f"not run: {MAX_RESTARTS} checks timed out or crashed, so the "
                                "grader stopped (see above)",
                            )
                        pending = []
                else:
                    break
            finally:
                worker.drain(sink)
                worker.kill()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if import_result is None:  # the first worker could not even start
        import_result = CheckResult("import", True, "crash", "the worker did not start")
    ordered = [import_result]
    for c in selected:
        ordered.append(
            results.get(c.name)
            or CheckResult(
                c.name, c.required, "not_run", f"not run: {filename} could not be imported"
            )
        )
    ordered.append(_sandbox_result(sink.events))
    return Report(
        file=filename,
        checks=ordered,
        events=sink.events,
        layers=layers,
        limits=limits,
        output=bytes(sink.out).decode("utf-8", errors="replace"),
        output_bytes=sink.total,
        output_truncated=sink.total > len(sink.out),
    )


def _run_pending(
    worker: _Worker,
    pending: list[checks_module.Check],
    params: dict[str, Any],
    results: dict[str, CheckResult],
    sink: _Sink,
    filename: str,
    limits: dict[str, Any],
) -> str | None:
    """Run checks until done (None) or until the worker must be replaced ("timeout"/"crash")."""
    timeout = limits["timeout_s"]
    while pending:
        check = pending.pop(0)
        sink.phase = check.name
        start = time.monotonic()
        try:
            worker.send({"check": check.name, "params": params[check.name]}, sink, start + timeout)
            message = worker.receive(sink, start + timeout)
        except TimeoutError:
            where = worker.stack_dump(filename)
            at = f", stopped in {where}" if where else ""
            msg = (
                f"did not finish within {timeout:g} s{at}: an infinite loop? (a while loop "
                "whose condition never changes, or a graph walk that revisits nodes)"
            )
            results[check.name] = CheckResult(
                check.name, check.required, "timeout", msg, seconds=time.monotonic() - start
            )
            return "timeout"
        except _Died as e:
            results[check.name] = CheckResult(
                check.name,
                check.required,
                "crash",
                e.reason,
                seconds=time.monotonic() - start,
            )
            return "crash"
        results[check.name] = _judge(check, message, params[check.name], limits)
        results[check.name].seconds = time.monotonic() - start
    return None


def _judge(
    check: checks_module.Check, message: dict[str, Any], params: Any, limits: dict[str, Any]
) -> CheckResult:
    try:
        if "error" in message:
            err = message["error"]
            if check.on_error is not None and err.get("type") != "MemoryError":
                verdict = check.on_error(err, params)
            else:
                verdict = checks_module.describe_error(
                    err, limits["memory_mb"], optional=not check.required
                )
        else:
            verdict = check.judge(message["obs"], params)
    except Exception as e:  # malformed observations: report, never crash the grader
        verdict = checks_module.Verdict(
            "fail", f"the grader could not judge this check ({type(e).__name__}: {e})"
        )
    return CheckResult(check.name, check.required, verdict.status, verdict.message, verdict.details)


def _sandbox_result(events: list[SandboxEvent]) -> CheckResult:
    if not events:
        return CheckResult("sandbox", True, "pass", "no blocked operations")
    shown = "; ".join(str(e) for e in events[:5])
    more = f" (and {len(events) - 5} more)" if len(events) > 5 else ""
    n = sum(e.count for e in events)
    msg = (
        f"your code tried {n} operation(s) the grader does not allow: "
        f"sandbox: {shown}{more}. A solution needs no files, programs or network."
    )
    details = "\n".join(f"sandbox: {e}" for e in events)
    return CheckResult("sandbox", True, "fail", msg, details)
