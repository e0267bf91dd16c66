"""The grader's worker: imports the learner's file inside the sandbox and runs the probes.

Started only by ``runner.py``, as ``python -I -B -u _worker.py CMD_FD RES_FD HANG_FD PPID``
(under bubblewrap, or directly with PPID the grader's pid), with a minimal environment, stdin
closed and a fresh directory (a tmpfs under bubblewrap) as its working directory. Before it
compiles the learner's code it sets its rlimits and (without bubblewrap) a parent-death
signal, then Landlock, seccomp and the audit hook. The protocol is JSON lines:

- parent -> worker on CMD_FD: one config object (the learner's source, its file name,
  chainrule's import root), then one ``{"check": name, "params": ...}`` per check, then EOF;
- worker -> parent on RES_FD: ``{"type": "ready", "layers": ...}`` once the sandbox is up,
  ``{"type": "loaded", ...}`` after importing the learner's file, one ``{"type": "result",
  ...}`` per check (and one for ``{"check": "graph"}``, the lesson's example built with the
  learner's class, asked for once every required check passed), and ``{"type": "event",
  ...}`` whenever the audit hook refuses something.

The learner's own prints go to stdout/stderr, a separate pipe the parent reads with a cap, so
they cannot corrupt the protocol by accident. The worker observes; the parent judges.

This file is run as a script, never imported by chainrule; importing it does nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_by_path(name: str, path: Path) -> types.ModuleType:
    # Load checks.py and sandbox.py without importing the chainrule package: its __init__
    # may import NumPy, whose threads would have to exist before Landlock is applied.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Channel:
    """JSON lines over two pipe descriptors."""

    def __init__(self, cmd_fd: int, res_fd: int) -> None:
        self.cmd_fd, self.res_fd, self.buf = cmd_fd, res_fd, b""

    def read(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            chunk = os.read(self.cmd_fd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.res_fd, data) :]


def _read_roots(chainrule_root: str) -> list[str]:
    """What the learner's code may read: the Python installation, chainrule, system libraries."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, chainrule_root}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    # Shared libraries that extension modules link against, and the loader's cache.
    roots.update(("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"))
    roots.update(("/etc/ld.so.cache", "/dev/urandom", "/dev/random"))
    return sorted(os.path.realpath(p) for p in roots if os.path.exists(p))


def _error_info(exc: BaseException, filename: str) -> dict[str, Any]:
    """The exception, with its traceback trimmed to the frames of the learner's file."""
    import traceback

    frames = [fr for fr in traceback.extract_tb(exc.__traceback__) if fr.filename == filename]
    try:
        message = str(exc)
    except Exception:
        message = "<str() of the exception failed>"
    try:
        tail = "".join(traceback.format_exception_only(type(exc), exc))
    except Exception:
        tail = f"{type(exc).__name__}: {message}\n"
    text = ""
    if frames:
        text = "Traceback (most recent call last; frames in your file only):\n"
        text += "".join(traceback.StackSummary.from_list(frames).format())
    text += tail
    if len(text) > 6000:  # a RecursionError's traceback, even collapsed, can be long
        text = text[:1500] + "\n    ...\n" + text[-4000:]
    return {
        "type": type(exc).__name__,
        "message": message[:1000],
        "traceback": text.rstrip("\n"),
        "frames": [[fr.lineno, fr.name] for fr in frames][-200:],
    }


def _describe_names(namespace: dict[str, Any]) -> list[str]:
    names = []
    for name, value in namespace.items():
        if name.startswith("__") or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type):
            kind = "class"
        elif isinstance(value, types.FunctionType):
            kind = "function"
        else:
            kind = type(value).__name__
        names.append(f"{name} ({kind})")
    return names


def main(argv: list[str]) -> int:
    cmd_fd, res_fd, hang_fd, ppid = (int(a) for a in argv[1:5])
    chan = _Channel(cmd_fd, res_fd)
    config = chan.read()
    if config is None:
        return 1
    here = Path(__file__).resolve().parent
    sandbox = _load_by_path("_chainrule_exercise_sandbox", here / "sandbox.py")
    lim = config["limits"]
    sandbox.limit_resources(
        lim["cpu_seconds"], lim["memory_bytes"], lim["fsize_bytes"], lim["nofile"]
    )
    if ppid:
        # Without bubblewrap's --die-with-parent: die when the grader dies, however it dies
        # (and not at all if it is already gone).
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
        if os.getppid() != ppid:
            return 1
    # NumPy (if the learner imports it) must not start a thread pool: threads cost address
    # space under RLIMIT_AS and nothing here needs them.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.pop("PWD", None)  # set by bwrap's --chdir; the learner sees PATH and LANG only
    chainrule_root = config["chainrule_root"]
    if chainrule_root not in sys.path:
        sys.path.insert(0, chainrule_root)  # so that `from chainrule.scalar import Value` works
    checks = _load_by_path("_chainrule_exercise_checks", here / "checks.py")
    # The page's drawing of the lesson's example (standard library only, like checks.py).
    graph_export = _load_by_path("_chainrule_exercise_graph", here / "graph_export.py")

    # Everything the worker itself needs later is imported now, before the hook watches.
    import faulthandler
    import linecache
    import signal
    import subprocess
    import tempfile
    import traceback

    del traceback  # loaded now, used by _error_info: no imports needed once the hook is up

    workdir = os.getcwd()
    tempfile.tempdir = workdir  # the learner's temporary files go to the sandbox directory
    # The stack goes to its own pipe when the parent asks (SIGUSR1): the parent never reads a
    # file the learner's code could replace.
    faulthandler.register(signal.SIGUSR1, file=hang_fd, all_threads=True)

    # subprocess stays importable (a learner's `import subprocess` is harmless), but its
    # _posixsubprocess.fork_exec starts programs without an audit event: take it away.
    sys.modules.pop("_posixsubprocess", None)
    if hasattr(subprocess, "_posixsubprocess"):
        del subprocess._posixsubprocess

    filename = config["filename"]
    # The learner's file itself is one of the grader's inputs: CPython's parser re-reads it to
    # quote the line of a SyntaxError.
    read_roots = _read_roots(chainrule_root)
    if config["source_path"]:
        read_roots.append(config["source_path"])
    write_roots = [workdir, "/dev/null"]
    layers = {
        "landlock": sandbox.apply_landlock(read_roots, write_roots),
        "seccomp": sandbox.apply_seccomp(notify=True),
    }
    if not layers["seccomp"].startswith("on"):
        # no user notification here (an old kernel or libseccomp): keep the allow-list, lose
        # only the kernel-reported events (a failed attempt installs no filter, so retry)
        layers["seccomp"] = sandbox.apply_seccomp()
    if not layers["seccomp"].startswith("on"):
        try:
            sandbox.limit_processes()
            layers["nproc"] = "RLIMIT_NPROC = 0 (fallback against fork)"
        except (OSError, ValueError) as e:
            layers["nproc"] = f"off: {e}"
    sandbox.forget_ctypes()
    sandbox.install_audit_hook(filename, read_roots, write_roots, res_fd)
    layers["audit_hook"] = "on (messages only)"
    chan.send({"type": "ready", "layers": layers, "notify_fd": sandbox.NOTIFY_FD})
    # The grader takes its copy of the seccomp listener, then says go; the worker's own copy
    # is closed before the learner's code exists (with it, that code could answer its own
    # refused calls with "go ahead").
    if chan.read() is None:
        return 1
    if sandbox.NOTIFY_FD >= 0:
        os.close(sandbox.NOTIFY_FD)

    # Import the learner's file as a module. The parent sent the source, so the worker never
    # needs to read it; linecache gets it too, for tracebacks.
    source = config["source"]
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as e:
        chan.send(
            {
                "type": "loaded",
                "ok": False,
                "kind": "syntax",
                "error": {
                    "type": type(e).__name__,
                    "message": e.msg,
                    "line": e.lineno,
                    "offset": e.offset,
                    "text": (e.text or "").rstrip("\n"),
                },
            }
        )
        return 0
    except (ValueError, MemoryError, RecursionError) as e:  # NUL bytes, absurd nesting
        chan.send({"type": "loaded", "ok": False, "kind": "syntax", "error": _error_info(e, "")})
        return 0
    module = types.ModuleType(config["module_name"])
    module.__file__ = filename
    sys.modules[config["module_name"]] = module
    try:
        exec(code, module.__dict__)
    except BaseException as e:  # the learner's top level may raise anything, even SystemExit
        info = _error_info(e, filename)
        chan.send({"type": "loaded", "ok": False, "kind": "exception", "error": info})
        return 0
    value_class = module.__dict__.get("Value")
    if not isinstance(value_class, type):
        found = "missing" if value_class is None else type(value_class).__name__
        names = _describe_names(module.__dict__)
        chan.send(
            {"type": "loaded", "ok": False, "kind": "no_value", "found": found, "names": names}
        )
        return 0
    chan.send({"type": "loaded", "ok": True})

    probes = {check.name: check.probe for check in checks.CHECKS}
    # Not a check: asked for only after every required check passed, answered like one (a
    # "result" message through the same capped pipe, judged by nobody, validated by the
    # parent).
    probes["graph"] = graph_export.probe
    while True:
        request = chan.read()
        if request is None:
            return 0
        name = request["check"]
        try:
            obs = probes[name](value_class, request["params"])
            message = {"type": "result", "check": name, "obs": obs}
        except BaseException as e:  # a failed check, never a dead worker
            message = {"type": "result", "check": name, "error": _error_info(e, filename)}
        chan.send(message)


if __name__ == "__main__":
    # -I leaves neither the script's directory nor the current one on sys.path.
    sys.exit(main(sys.argv))
