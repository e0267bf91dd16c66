"""Run the checks on a learner's code in an isolated worker process, and build the report.

The grader's own process never imports the learner's code and trusts nothing that comes back
from the worker. The worker is::

    bwrap <namespaces, read-only mounts, a tmpfs> python -I -B -u _worker.py CMD RES HANG PPID

(see :mod:`chainrule.exercise.namespaces`), or, where bubblewrap cannot run, the same
``python`` command started directly in a fresh temporary directory, with the report saying
that isolation is reduced. In both cases:

- ``-I``: no PYTHON* variables, no user site-packages, no current directory on ``sys.path``;
  ``-u`` so that the learner's prints reach the parent even when the worker is killed;
- ``env``: only PATH and LANG; ``stdin=DEVNULL``; stdout and stderr go to one pipe read with
  a cap (``max_output``) and drained, so a print loop never blocks the worker nor fills memory;
- ``start_new_session=True`` and no ``preexec_fn`` (so starting workers is safe from many
  threads at once): the worker sets its own rlimits, parent-death signal, Landlock, seccomp
  and audit hook before it compiles the learner's code;
- three pipes: commands to the worker (CMD), JSON lines from it (RES), and faulthandler's
  stack dumps (HANG). Every message is size-capped (per message and in total for a grading)
  and parsed with a nesting limit; anything malformed or oversized fails the check that was
  running and the worker is replaced. The parent never opens a file the worker could touch.
- the worker's seccomp listener: the parent takes a copy (``pidfd_getfd``) before the
  learner's code runs and answers every watched syscall with EPERM, recording it as a sandbox
  event that the worker cannot forge or hide.

Each check gets a wall-clock timeout. When one hangs, the parent asks the worker for its stack
(SIGUSR1, answered by faulthandler on the HANG pipe), reports where it hung, kills the worker
and goes on with the remaining checks in a fresh worker; a worker that dies (a segfault,
``os._exit``, the CPU limit) fails its check the same way. After ``MAX_RESTARTS`` such checks
the rest are marked "not run", so an infinite loop in ``backward()`` costs two timeouts, not one
per check.

When every required check passes, the same worker is asked for one more probe, the lesson's
example built with the learner's class (``graph_export.probe``); its answer comes through the
same capped pipe, is validated again here and becomes the report's ``graph`` (a page draws it).

:func:`grade_source` grades a string (for a server): thread-safe, and cancellable with a
:class:`threading.Event` (the worker is killed within about 0.1 s of ``cancel.set()``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import re
import selectors
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.exercise import checks as checks_module
from chainrule.exercise import graph_export
from chainrule.exercise import sandbox as sandbox_module
from chainrule.exercise.namespaces import bwrap_argv, bwrap_status
from chainrule.exercise.report import CheckResult, Report, SandboxEvent, escape_text

__all__ = [
    "MAX_RESTARTS",
    "MAX_SOURCE_BYTES",
    "SolutionRejected",
    "check_file",
    "check_source",
    "grade_source",
]

# After this many checks that hung or killed their worker, the rest are marked "not run".
MAX_RESTARTS = 2
# What the parent accepts from the worker: one message (a JSON line), all messages of one
# grading, the nesting depth of a message, and the stack dump kept for a hung check.
_MAX_MESSAGE = 1 << 20
_MAX_TOTAL = 16 << 20
_MAX_DEPTH = 20
_MAX_HANG = 64 << 10
# A solution file larger than this is refused (the reference solution is 3 KiB).
MAX_SOURCE_BYTES = 1 << 20
_TMPFS_BYTES = 64 << 20  # the worker's writable tmpfs under namespaces
WORKER = Path(__file__).resolve().parent / "_worker.py"
# The directory that contains the chainrule package, for `from chainrule.scalar import Value`
# in a solution (and for the learner's imports of chainrule in general).
CHAINRULE_ROOT = str(Path(__file__).resolve().parents[2])
_STARTUP_SECONDS = 10.0  # Python's own start and the sandbox setup, before the first timeout
_REDUCED = (
    "ISOLATION IS REDUCED: no namespaces ({why}); the worker runs as the grader's user on the "
    "host's file system, process table and network, behind rlimits, Landlock and seccomp only"
)


class SolutionRejected(ValueError):
    """The solution path is not a regular file of a sensible size (a symlink, a device, ...)."""


class _Died(Exception):
    """The worker exited, was killed, or broke the protocol while the parent waited."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Cancelled(Exception):
    """The caller set the cancel event."""


_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def parse_message(line: bytes) -> dict[str, Any]:
    """One JSON object from the worker, or :class:`_Died` when it is not a sane one.

    Nesting is measured before ``json.loads`` sees the line (strings skipped), so a
    200,000-deep line is refused without recursion.
    """
    if len(line) > _MAX_MESSAGE:
        raise _Died(f"the worker sent a message over {_MAX_MESSAGE >> 20} MiB (not the grader's)")
    depth = deepest = 0
    for m in _BRACKETS.finditer(line):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > _MAX_DEPTH:
                    raise _Died("the worker sent a message nested too deeply (not the grader's)")
        elif tok in (b"]", b"}"):
            depth -= 1
    try:
        message = json.loads(line)
    except (ValueError, RecursionError, MemoryError):
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        shown = escape_text(line[:80].decode("utf-8", "replace"))
        raise _Died(
            f"the worker sent a malformed message ({shown!s}...): something wrote to the "
            "grader's result pipe"
        )
    return message


class _Worker:
    """One worker process (under bwrap, or directly) and its pipes."""

    def __init__(
        self,
        limits: dict[str, Any],
        sink: _Sink,
        *,
        namespaces: bool,
        workdir: str | None,
        source: bytes,
        source_path: str | None,
    ) -> None:
        self.sink = sink
        self.namespaces = namespaces
        fds: list[int] = []  # the child's ends, closed here once it started
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        hang_r, hang_w = os.pipe()
        fds += [cmd_r, res_w, hang_w]
        self.cmd_w, self.res_r, self.hang_r = cmd_w, res_r, hang_r
        self.status_r = -1
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        ppid = 0 if namespaces else os.getpid()  # the worker sets PDEATHSIG without bwrap
        command = [
            sys.executable,
            "-I",
            "-B",
            "-u",
            str(WORKER),
            str(cmd_r),
            str(res_w),
            str(hang_w),
            str(ppid),
        ]
        try:
            if namespaces:
                status_r, status_w = os.pipe()
                fds.append(status_w)
                self.status_r = status_r
                data_files = []
                if source_path is not None:
                    # The bytes the grader read (and graded), not the path: a file swapped
                    # after the check started is not what the worker sees.
                    mfd = os.memfd_create("solution", os.MFD_CLOEXEC)
                    fds.append(mfd)
                    view = memoryview(source)
                    while view:
                        view = view[os.write(mfd, view) :]
                    os.lseek(mfd, 0, os.SEEK_SET)
                    data_files.append((mfd, source_path))
                argv = bwrap_argv(
                    command, CHAINRULE_ROOT, _TMPFS_BYTES, status_w, data_files=data_files
                )
                cwd = "/"
            else:
                argv, cwd = command, workdir
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                pass_fds=tuple(fds),
                start_new_session=True,
            )
        except BaseException:
            for fd in (cmd_w, res_r, hang_r, self.status_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        assert self.proc.stdout is not None
        self.out_fd = self.proc.stdout.fileno()
        for fd in (self.cmd_w, self.res_r, self.out_fd, self.hang_r):
            os.set_blocking(fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.res_r, selectors.EVENT_READ, "res")
        self.sel.register(self.out_fd, selectors.EVENT_READ, "out")
        self.sel.register(self.hang_r, selectors.EVENT_READ, "hang")
        self.buf = bytearray()
        self.hang = b""
        self.notify_fd = -1
        # Who gets SIGUSR1 (the worker) and SIGKILL (the worker, or the namespace's init,
        # whose death ends everything in the namespace).
        self.init_pid = 0
        self.worker_pid = 0 if namespaces else self.proc.pid
        if namespaces:
            try:
                self.init_pid = self._child_pid(time.monotonic() + _STARTUP_SECONDS)
            except BaseException:
                self.kill()  # bwrap started: never leave it behind
                raise

    def _child_pid(self, deadline: float) -> int:
        # bwrap's first status document names the namespace's init as the host sees it.
        data = b""
        while b"\n" not in data and len(data) < 4096:
            if self.sink.cancel is not None and self.sink.cancel.is_set():
                raise _Cancelled
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Died("bwrap did not start the worker in time")
            ready = selectors.DefaultSelector()
            try:
                ready.register(self.status_r, selectors.EVENT_READ)
                if not ready.select(min(left, 0.1)):
                    continue
            finally:
                ready.close()
            chunk = os.read(self.status_r, 4096)
            if not chunk:
                raise _Died(self.death_reason())
            data += chunk
        try:
            pid = json.loads(data.split(b"\n", 1)[0])["child-pid"]
        except (ValueError, KeyError, TypeError):
            pid = None
        if type(pid) is not int or pid <= 1:
            raise _Died("bwrap's status could not be read")
        return pid

    def adopt_notifier(self, fd: object) -> str:
        """Take a copy of the worker's seccomp listener (``pidfd_getfd``); say how it went.

        Called once, after "ready" and before the learner's code runs, so ``fd`` is the
        worker's word while it is still the grader's code.
        """
        if type(fd) is not int or fd < 0:
            return "refusals not watched (no listener)"
        pid = self.worker_pid or _only_child(self.init_pid)
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError) as e:
            return f"refusals not watched (pidfd_open: {e})"
        try:
            nfd = _pidfd_getfd(pidfd, fd)
        except OSError as e:
            return f"refusals not watched (pidfd_getfd: {e.strerror})"
        finally:
            os.close(pidfd)
        os.set_blocking(nfd, False)
        self.notify_fd = nfd
        self.sel.register(nfd, selectors.EVENT_READ, "notify")
        return "refusals reported by the grader"

    def _answer_notification(self) -> None:
        # One refused call: read it, answer EPERM, record it as an event. Every field comes
        # from the kernel; nothing the learner's code wrote is involved.
        buf = bytearray(_NOTIF_SIZE)
        try:
            fcntl.ioctl(self.notify_fd, _NOTIF_RECV, buf, True)
        except OSError:
            return  # not ready after all, or the caller died meanwhile
        nid, _pid, _flags, nr, _arch, _ip, *args = struct.unpack_from("<QIIiIQ6Q", buf)
        with contextlib.suppress(OSError):  # the caller may have died meanwhile
            resp = bytearray(struct.pack("<QqiI", nid, 0, -errno.EPERM, 0))
            fcntl.ioctl(self.notify_fd, _NOTIF_SEND, resp, True)
        self.sink.event(_describe_syscall(nr, args) + " (refused by seccomp)", "")

    def _check_cancel(self) -> None:
        if self.sink.cancel is not None and self.sink.cancel.is_set():
            raise _Cancelled

    def send(self, message: dict[str, Any], deadline: float) -> None:
        """Write one JSON line to the worker, reading its output meanwhile (no deadlock)."""
        data = (json.dumps(message) + "\n").encode()
        self.sel.register(self.cmd_w, selectors.EVENT_WRITE, "cmd")
        try:
            while data:
                self._check_cancel()
                if time.monotonic() > deadline:
                    raise TimeoutError
                for key, _ in self.sel.select(timeout=0.1):
                    if key.data == "cmd":
                        try:
                            data = data[os.write(self.cmd_w, data) :]
                        except BlockingIOError:
                            pass
                        except BrokenPipeError:
                            raise _Died(self.death_reason()) from None
                    else:
                        self._read(key.data)
        finally:
            self.sel.unregister(self.cmd_w)

    def receive(self, deadline: float, expect: str) -> dict[str, Any]:
        """The next message of type ``expect``; events go to the sink on the way.

        A message of another type, or a malformed one, is a protocol error (:class:`_Died`):
        only the learner's code writing to the result pipe can produce it.
        """
        while True:
            while (cut := self.buf.find(b"\n")) >= 0:
                line = bytes(self.buf[:cut])
                del self.buf[: cut + 1]
                message = parse_message(line)
                kind = message["type"]
                if kind == "event":
                    what, where = message.get("what"), message.get("where")
                    if not isinstance(what, str) or not isinstance(where, str):
                        raise _Died("the worker sent a malformed event")
                    self.sink.event(what[:500], where[:500])
                    continue
                if kind != expect:
                    raise _Died(
                        f"the worker sent a {escape_text(kind[:40])!r} message where the "
                        f"grader expected {expect!r}: something wrote to the grader's pipe"
                    )
                return message
            self._check_cancel()
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError
            for key, _ in self.sel.select(timeout=min(timeout, 0.1)):
                self._read(key.data)

    def _read(self, which: str) -> None:
        if which == "notify":
            self._answer_notification()
            return
        fd = {"res": self.res_r, "out": self.out_fd, "hang": self.hang_r}[which]
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
            self.sink.message_bytes += len(chunk)
            if self.sink.message_bytes > _MAX_TOTAL:
                raise _Died(
                    f"the worker sent over {_MAX_TOTAL >> 20} MiB of messages (not the grader's)"
                )
            self.buf += chunk
            if len(self.buf) - (self.buf.rfind(b"\n") + 1) > _MAX_MESSAGE:
                raise _Died(
                    f"the worker sent a message over {_MAX_MESSAGE >> 20} MiB (not the grader's)"
                )
        elif which == "hang":
            if len(self.hang) < _MAX_HANG:
                self.hang += chunk[: _MAX_HANG - len(self.hang)]
        else:
            self.sink.output(chunk)

    def death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its result pipe but kept running"
        if self.namespaces and 128 < code < 128 + 65:
            code = -(code - 128)  # bwrap reports a child killed by signal N as 128 + N
        return _describe_exit(code)

    def stack_dump(self, filename: str) -> str:
        """Ask faulthandler for the worker's stack; return where it is in the learner's file."""
        self.hang = b""  # whatever was there before is not this dump
        pid = self.worker_pid or _only_child(self.init_pid)
        if pid <= 1:
            return ""
        try:
            os.kill(pid, signal.SIGUSR1)
        except OSError:
            return ""
        end = time.monotonic() + 1.0  # faulthandler answers within milliseconds
        with contextlib.suppress(Exception):
            while time.monotonic() < end and b"most recent call first" not in self.hang:
                for key, _ in self.sel.select(timeout=0.05):
                    if key.data != "res":  # a dying worker must not end the wait early
                        self._read(key.data)
            settle = time.monotonic() + 0.1  # let it finish writing the stack
            while time.monotonic() < settle:
                for key, _ in self.sel.select(timeout=0.05):
                    if key.data == "hang":
                        self._read("hang")
        text = self.hang.decode("utf-8", "replace")
        pattern = re.compile(r'File "(.*)", line (\d+) in (\S+)')
        for m in pattern.finditer(text):  # innermost frame first
            if m.group(1) == filename:
                return escape_text(f"{m.group(3)[:100]}() at {filename}:{m.group(2)}")
        return ""

    def drain(self) -> None:
        """Read what the learner's code printed and the parent has not read yet."""
        try:
            while self.out_fd in {key.fd for key, _ in self.sel.select(timeout=0.05)}:
                before = self.sink.total
                self._read("out")
                if self.sink.total == before:
                    break
        except (_Died, OSError, ValueError, KeyError):
            pass

    def kill(self) -> None:
        """Kill the worker (and bwrap) and close the pipes; never raises."""
        target = self.init_pid or self.worker_pid
        if target > 1 and self.proc.poll() is None:  # bwrap (or the worker) not yet reaped
            with contextlib.suppress(OSError):  # already gone
                os.kill(target, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.sel.close()
        for fd in (self.cmd_w, self.res_r, self.hang_r, self.status_r, self.notify_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError):
            self.proc.stdout.close()


# seccomp user notifications (linux/seccomp.h): struct seccomp_notif is 80 bytes (id, pid,
# flags, then seccomp_data: nr, arch, instruction pointer, six arguments); the response is
# 24 bytes (id, val, error, flags). The ioctl numbers are _IOWR('!', 0 / 1, those structs).
_NOTIF_SIZE = 80
_NOTIF_RECV = 0xC0502100
_NOTIF_SEND = 0xC0182101
_SYS_PIDFD_GETFD = 438  # the same number on every architecture
_SYSCALL_NAMES: dict[int, str] = {}
_NAMES_LOCK = threading.Lock()


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    """A copy, in this process, of descriptor ``fd`` of the process behind ``pidfd``."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    new = libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
    if new < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    os.set_inheritable(new, False)
    return new


def _describe_syscall(nr: int, args: list[int]) -> str:
    with _NAMES_LOCK:
        if not _SYSCALL_NAMES:
            try:
                import ctypes

                lib = ctypes.CDLL("libseccomp.so.2")
                lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
                names = (*sandbox_module.WATCHED_SYSCALLS, "clone", "kill", "tgkill", "fcntl")
                names += ("ioctl", "prlimit64", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
                for name in names:
                    n = lib.seccomp_syscall_resolve_name(name.encode())
                    if n >= 0:
                        _SYSCALL_NAMES[n] = name
            except OSError:
                _SYSCALL_NAMES[-1] = "?"
    name = _SYSCALL_NAMES.get(nr, f"syscall {nr}")
    if name == "fcntl":
        cmd = {8: "F_SETOWN", 10: "F_SETSIG", 15: "F_SETOWN_EX"}.get(args[1], str(args[1]))
        return f"fcntl({cmd})"
    if name == "ioctl":
        return "ioctl(TIOCSTI)" if args[1] & 0xFFFFFFFF == 0x5412 else "ioctl"
    if name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        return f"{name}() of another process"
    return f"{name}()"


def _only_child(pid: int) -> int:
    """The child of ``pid`` (the worker, child of the namespace's init), from the host's /proc.

    Not a file of the worker's: /proc of the grader's own pid namespace.
    """
    if pid <= 1:
        return 0
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            first = f.read(64).split()
        return int(first[0]) if first else 0
    except (OSError, ValueError):
        pass
    # Kernels without CONFIG_PROC_CHILDREN: the process whose parent is ``pid``.
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read(1024).rsplit(b")", 1)[1].split()
            if int(fields[1]) == pid:
                return int(entry)
        except (OSError, ValueError, IndexError):
            continue
    return 0


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
    """Collects sandbox events (tagged with the current phase), the learner's output, the
    byte count of the worker's messages, and the caller's cancel event."""

    def __init__(self, max_output: int, cancel: threading.Event | None = None) -> None:
        self.events: list[SandboxEvent] = []
        self._seen: dict[tuple[str, str], SandboxEvent] = {}
        self.phase = "import"
        self.max_output = max_output
        self.out = bytearray()
        self.total = 0
        self.message_bytes = 0
        self.cancel = cancel

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
    if not isinstance(err, dict):
        err = {}
    if kind == "syntax":
        line, col = err.get("line"), err.get("offset")
        where = f"{filename}:{line}" + (f":{col}" if col else "") if line else filename
        details = ""
        if isinstance(err.get("text"), str) and err["text"]:
            text = err["text"]
            stripped = text.lstrip()
            col_n = col if type(col) is int else 1
            caret = " " * max(0, min(col_n - 1 - (len(text) - len(stripped)), 200)) + "^"
            details = f"    {stripped}\n    {caret}"
        msg = f"{err.get('type', 'SyntaxError')} at {where}: {err.get('message', '')}"
        return CheckResult("import", True, "fail", msg, details)
    if kind == "no_value":
        names = message.get("names") or []
        found = ", ".join(str(n) for n in names[:50]) if isinstance(names, list) else "?"
        found = found or "none"
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


def read_solution(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the solution at ``path``, read without following a final symlink.

    Raises :class:`SolutionRejected` for a symlink, anything but a regular file (a FIFO, a
    device, a directory), a file with other hard links (it could be someone else's file
    linked into the learner's directory) or one over :data:`MAX_SOURCE_BYTES`.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(name, flags)
    except OSError as e:
        if os.path.islink(name):
            raise SolutionRejected(f"{name} is a symbolic link; give the file itself") from e
        raise SolutionRejected(f"cannot open {name}: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SolutionRejected(f"{name} is not a regular file")
        if st.st_nlink != 1:
            raise SolutionRejected(f"{name} has {st.st_nlink} hard links; give a plain copy")
        if st.st_size > MAX_SOURCE_BYTES:
            raise SolutionRejected(f"{name} is over {MAX_SOURCE_BYTES >> 10} KiB")
        chunks, size = [], 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_SOURCE_BYTES:
            raise SolutionRejected(f"{name} is over {MAX_SOURCE_BYTES >> 10} KiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def check_file(
    path: str | os.PathLike[str],
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_output: int = 64 * 1024,
    seed: int = 0,
    only: Sequence[str] | None = None,
    namespaces: bool | None = None,
) -> Report:
    """Grade the ``Value`` class in the file at ``path``; never raises for the learner's faults.

    Args:
        path: the learner's ``solution.py`` (a regular file, not a symlink: see
            :func:`read_solution`, whose :class:`SolutionRejected` this raises).
        timeout: wall-clock seconds allowed for each check (and for importing the file).
        memory_mb: the worker's address-space limit (RLIMIT_AS), in MiB.
        max_output: how many bytes of the learner's prints are kept.
        seed: seeds the random graphs and the MLP's initial weights.
        only: run only these checks (by name); all of them by default.
        namespaces: require bubblewrap (True: where it cannot run, nothing runs and the
            report's import check says why), do without (False: reduced isolation, said in
            the report), or use it where it works (None, the default).

    Returns:
        A :class:`~chainrule.exercise.report.Report`; ``report.exit_code`` is 0 only when every
        required check passed.
    """
    filename = os.fspath(path)
    data = read_solution(filename)
    return _grade(
        data,
        filename,
        os.path.realpath(filename),
        timeout=timeout,
        memory_mb=memory_mb,
        max_output=max_output,
        seed=seed,
        only=only,
        namespaces=namespaces,
        cancel=None,
    )


def check_source(
    source: str,
    *,
    filename: str = "solution.py",
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_output: int = 64 * 1024,
    seed: int = 0,
    only: Sequence[str] | None = None,
    namespaces: bool | None = None,
    cancel: threading.Event | None = None,
) -> Report:
    """Grade the ``Value`` class in ``source`` (a solution's text); see :func:`check_file`.

    ``filename`` only names the code in messages and tracebacks; no file is read or written
    on the host. Safe to call from many threads at once. When ``cancel`` is set, the worker
    is killed within about 0.1 s and the report comes back with ``cancelled`` true and the
    checks not yet done marked "not run".
    """
    data = source.encode("utf-8", "surrogatepass")
    if len(data) > MAX_SOURCE_BYTES:
        report = Report(filename, [])
        report.checks = [
            CheckResult("import", True, "fail", f"the code is over {MAX_SOURCE_BYTES >> 10} KiB")
        ]
        return report
    return _grade(
        data,
        filename,
        None,
        timeout=timeout,
        memory_mb=memory_mb,
        max_output=max_output,
        seed=seed,
        only=only,
        namespaces=namespaces,
        cancel=cancel,
    )


def grade_source(
    code: str,
    timeout: float = 10.0,
    *,
    cancel: threading.Event | None = None,
    memory_mb: int = 1024,
    namespaces: bool | None = None,
) -> dict[str, Any]:
    """Grade ``code`` and return the dict ``chainrule check --json`` prints.

    For a server: thread-safe; ``cancel`` (a :class:`threading.Event`) stops the grading
    and kills the worker when set (a client that disconnected), and the dict then has
    ``"cancelled": true``. ``namespaces=True`` insists on bubblewrap: without it the dict
    says so in ``sandbox.isolation`` and the grading does not run.
    """
    return check_source(
        code, timeout=timeout, memory_mb=memory_mb, namespaces=namespaces, cancel=cancel
    ).to_json()


def _grade(
    data: bytes,
    filename: str,
    source_path: str | None,
    *,
    timeout: float,
    memory_mb: int,
    max_output: int,
    seed: int,
    only: Sequence[str] | None,
    namespaces: bool | None,
    cancel: threading.Event | None,
) -> Report:
    source = data.decode("utf-8", errors="replace")
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
    ns_status = bwrap_status() if namespaces is not False else "off: not requested"
    use_ns = ns_status == "on"
    if namespaces and not use_ns:  # required, and not available: run nothing
        msg = f"not graded: namespaces were required and are {ns_status}"
        return Report(
            filename,
            [CheckResult("import", True, "crash", msg)],
            layers={"namespaces": _namespaces_layer(ns_status)},
            limits=limits,
        )
    stem = Path(filename).stem
    config = {
        "source": source,
        "filename": filename,
        "source_path": source_path,
        "module_name": stem if stem.isidentifier() else "solution",
        "chainrule_root": CHAINRULE_ROOT,
        "limits": {
            "cpu_seconds": limits["cpu_seconds"],
            "memory_bytes": memory_mb << 20,
            "fsize_bytes": limits["fsize_mb"] << 20,
            "nofile": 64,
        },
    }
    sink = _Sink(max_output, cancel)
    results: dict[str, CheckResult] = {}
    layers: dict[str, str] = {}
    import_result: CheckResult | None = None
    pending = list(selected)
    restarts = 0
    cancelled = False
    graph: dict[str, Any] | None = None
    workdir = None if use_ns else tempfile.mkdtemp(prefix="chainrule-check-")
    try:
        while pending:
            try:
                worker = _Worker(
                    limits,
                    sink,
                    namespaces=use_ns,
                    workdir=workdir,
                    source=data,
                    source_path=source_path,
                )
            except _Cancelled:
                cancelled = True
                break
            except (OSError, _Died) as e:  # no process could be started at all
                why = e.reason if isinstance(e, _Died) else str(e)
                import_result = CheckResult("import", True, "crash", f"no worker: {why}")
                break
            try:
                sink.phase = "import"
                start = time.monotonic()
                try:
                    worker.send(config, start + _STARTUP_SECONDS)
                    ready = worker.receive(start + _STARTUP_SECONDS, "ready")
                    got = ready.get("layers")
                    if isinstance(got, dict):
                        layers = {str(k)[:40]: str(v)[:200] for k, v in list(got.items())[:10]}
                    watch = worker.adopt_notifier(ready.get("notify_fd"))
                    if layers.get("seccomp", "").startswith("on"):
                        layers["seccomp"] += f"; {watch}"
                    worker.send({"go": True}, start + _STARTUP_SECONDS)
                    loaded = worker.receive(time.monotonic() + timeout, "loaded")
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
                if loaded.get("ok") is not True:
                    try:
                        import_result = _load_failure(loaded, filename, memory_mb)
                    except Exception as e:  # a forged, malformed load message
                        msg = f"importing {filename} failed: unreadable report ({e!r})"
                        import_result = CheckResult("import", True, "crash", msg[:300])
                    break
                if import_result is None:
                    import_result = CheckResult(
                        "import", True, "pass", f"imported {filename} and found class Value"
                    )
                restart = _run_pending(worker, pending, params, results, filename, limits)
                if restart is None and _all_pass(selected, results) and not sink.events:
                    # The same worker, the same capped pipe: one more probe, then the kill.
                    graph = _export_graph(worker, timeout)
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
            except _Cancelled:
                cancelled = True
                break
            finally:
                worker.drain()
                worker.kill()
    finally:
        if workdir is not None:
            remove_tree(workdir)

    layers = {"namespaces": _namespaces_layer(ns_status), **layers}
    if cancelled:
        for c in selected:
            if c.name not in results:
                results[c.name] = CheckResult(
                    c.name, c.required, "not_run", "not run: the grading was cancelled"
                )
        if import_result is None:
            import_result = CheckResult("import", True, "not_run", "cancelled")
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
    report = Report(
        file=filename,
        checks=ordered,
        events=sink.events,
        layers=layers,
        limits=limits,
        output=bytes(sink.out).decode("utf-8", errors="replace"),
        output_bytes=sink.total,
        output_truncated=sink.total > len(sink.out),
        cancelled=cancelled,
    )
    if report.passed and not cancelled:  # the graph is the reward for a complete class
        report.graph = graph
    return report


def _all_pass(selected: list[checks_module.Check], results: dict[str, CheckResult]) -> bool:
    return all(results[c.name].status == "pass" for c in selected if c.required)


def _export_graph(worker: _Worker, timeout: float) -> dict[str, Any] | None:
    """The lesson's example built with the learner's class (``graph_export.probe``), or None.

    Asked of the worker that has just passed every check, like one more check: the answer
    comes through the same size- and depth-capped pipe, and is validated here
    (:func:`graph_export.validate`) before the report carries it. A hang, a crash or anything
    malformed costs the picture, never the verdict. A refused operation during the export is
    a sandbox event like any other (and fails the sandbox check).
    """
    worker.sink.phase = "graph"
    deadline = time.monotonic() + timeout
    try:
        worker.send({"check": "graph", "params": None}, deadline)
        message = worker.receive(deadline, "result")
    except (TimeoutError, _Died):
        return None
    if message.get("check") != "graph" or "obs" not in message:
        return None
    try:
        return graph_export.validate(message["obs"])
    except Exception:  # validate never raises on JSON input; a bug here must not cost the verdict
        return None


def _namespaces_layer(status: str) -> str:
    if status == "on":
        return "on (bwrap: user, pid, ipc, net, uts, mount; uid 65534, no capabilities)"
    return _REDUCED.format(why=status.removeprefix("off: "))


def remove_tree(root: str) -> None:
    """Remove the directory ``root`` and everything under it; never raises, never recurses.

    Each subdirectory's entries are moved up into ``root`` (renamed, with fresh names) and
    the emptied subdirectory removed, so depth costs neither recursion nor long paths: 3,000
    nested directories are as easy as one. Only descriptors are used below ``root``; symlinks
    are removed, never followed.
    """
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    counter = 0
    try:
        for _ in range(1_000_000):  # a bound on the work, whatever happens
            with os.scandir(top) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            if not entries:
                break
            progress = False
            for name, is_dir in entries:
                try:
                    if not is_dir:
                        os.unlink(name, dir_fd=top)
                        progress = True
                        continue
                    with contextlib.suppress(OSError):
                        os.chmod(name, 0o700, dir_fd=top, follow_symlinks=False)
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                    try:
                        with os.scandir(sub) as it:
                            children = [e.name for e in it]
                        for child in children:
                            counter += 1
                            os.rename(child, f".rm{counter}", src_dir_fd=sub, dst_dir_fd=top)
                    finally:
                        os.close(sub)
                    os.rmdir(name, dir_fd=top)
                    progress = True
                except OSError:
                    continue
            if not progress:
                break
    except OSError:
        pass
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(root)


def _run_pending(
    worker: _Worker,
    pending: list[checks_module.Check],
    params: dict[str, Any],
    results: dict[str, CheckResult],
    filename: str,
    limits: dict[str, Any],
) -> str | None:
    """Run checks until done (None) or until the worker must be replaced ("timeout"/"crash")."""
    timeout = limits["timeout_s"]
    while pending:
        check = pending.pop(0)
        worker.sink.phase = check.name
        start = time.monotonic()
        try:
            worker.send({"check": check.name, "params": params[check.name]}, start + timeout)
            message = worker.receive(start + timeout, "result")
            if message.get("check") != check.name:
                raise _Died(
                    "the worker answered for another check: something wrote to the grader's pipe"
                )
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
