"""The grader's outermost layer: the worker in Linux namespaces, through bubblewrap (``bwrap``).

bubblewrap is the small, maintained tool Flatpak builds its sandboxes with (Debian package
``bubblewrap``). The worker runs as::

    bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-net --unshare-uts
          --unshare-cgroup-try --disable-userns --uid 65534 --gid 65534 --cap-drop ALL
          --die-with-parent --new-session
          --ro-bind /usr /usr (and /bin, /lib, ... as the host has them: links or binds)
          --ro-bind <the Python installation, the venv, chainrule's import root>
          --ro-bind-data FD <the solution's path>   (the bytes the grader read, read only)
          --proc /proc --dev /dev --size N --tmpfs /sandbox --chdir /sandbox
          python -I -B -u _worker.py ...

so the learner's code sees a file system holding only what it needs (read only), a small
tmpfs as its only writable place (it vanishes with the namespace: nothing to clean up on the
host), no network (a fresh, empty network namespace), no other process (a fresh pid namespace
with a fresh ``/proc``: bwrap's small init is pid 1, the worker pid 2, and killing the init
kills everything in the namespace; the worker is not made pid 1 itself because pid 1 ignores
the default action of signals it sends itself: a SIGSEGV or SIGXCPU would not end it), its own
SysV IPC namespace (segments die with it), uid 65534 (nobody) with no capabilities even when
the grader runs as root, and it is killed when the grader dies (``--die-with-parent``).

Where bwrap is missing or the kernel refuses user namespaces, :func:`bwrap_status` says why and
the grader falls back to the in-process layers (rlimits, Landlock, seccomp), with the report
saying plainly that isolation is reduced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable

__all__ = ["SANDBOX_DIR", "bwrap_argv", "bwrap_status", "mount_roots"]

SANDBOX_DIR = "/sandbox"  # the tmpfs, the worker's working directory inside the namespace
NOBODY = 65534
_LOCK = threading.Lock()
_STATUS: str | None = None


def mount_roots(chainrule_root: str) -> list[str]:
    """The host directories bound read-only into the namespace (resolved, outermost first).

    The Python installation (the venv and the interpreter it was made from), chainrule's
    import root, and the system's library and program directories that the interpreter and
    NumPy's extension modules link against. Nothing else of the host is visible.
    """
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, chainrule_root}
    # sys.executable may be a link out of the venv (to the interpreter it was made from).
    roots.add(os.path.dirname(os.path.realpath(sys.executable)))
    resolved = {os.path.realpath(p) for p in roots if p and os.path.isdir(p)}
    resolved.discard("/")  # never the whole host
    return sorted(resolved, key=lambda p: (p.count("/"), p))


def _system_dirs() -> list[str]:
    # /usr holds the dynamic loader, libc and the libraries extension modules need; the
    # top-level /bin, /lib, ... are links into it on a merged-/usr system, real dirs otherwise.
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf"):
        if os.path.isfile(f):
            args += ["--ro-bind", f, f]
    return args


def bwrap_argv(
    command: list[str],
    chainrule_root: str,
    tmpfs_bytes: int,
    status_fd: int,
    data_files: Iterable[tuple[int, str]] = (),
) -> list[str]:
    """The bwrap command line that runs ``command`` in the namespaces described above.

    Args:
        command: the program and its arguments (paths as on the host: they are bound at the
            same places).
        chainrule_root: the directory that contains the chainrule package.
        tmpfs_bytes: the size cap of the writable tmpfs at :data:`SANDBOX_DIR`.
        status_fd: bwrap writes ``{"child-pid": N}`` there (N: the namespace's init as the
            host sees it, for the grader's signals) and later the exit status.
        data_files: (descriptor, path) pairs: bwrap copies each descriptor's content to a
            read-only file at that path.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--uid",
        str(NOBODY),
        "--gid",
        str(NOBODY),
        "--hostname",
        "sandbox",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        *_system_dirs(),
    ]
    for root in mount_roots(chainrule_root):
        args += ["--ro-bind", root, root]
    for fd, path in data_files:
        args += ["--perms", "0444", "--ro-bind-data", str(fd), path]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "0700",
        "--size",
        str(tmpfs_bytes),
        "--tmpfs",
        SANDBOX_DIR,
        "--chdir",
        SANDBOX_DIR,
        "--json-status-fd",
        str(status_fd),
        "--",
        *command,
    ]
    return args


def bwrap_status(refresh: bool = False) -> str:
    """``"on"`` when bwrap can run the interpreter in the namespaces here, else ``"off: why"``.

    Found out once per process (a trial run of ``python -c pass`` under the same options,
    about 50 ms) and cached; thread-safe. ``CHAINRULE_GRADER_NAMESPACES=off`` in the grader's
    environment turns the layer off (to test the fallback, or where bwrap misbehaves).
    """
    global _STATUS
    with _LOCK:
        if _STATUS is None or refresh:
            _STATUS = _probe()
        return _STATUS


def _probe() -> str:
    if os.environ.get("CHAINRULE_GRADER_NAMESPACES") == "off":
        return "off: CHAINRULE_GRADER_NAMESPACES=off"
    if not sys.platform.startswith("linux"):
        return "off: not Linux"
    if shutil.which("bwrap") is None:
        return "off: bwrap not found (install the bubblewrap package)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r, w = os.pipe()
    try:
        argv = bwrap_argv(
            [sys.executable, "-I", "-S", "-c", "import os; assert os.getuid() == 65534"],
            root,
            1 << 20,
            w,
        )
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(w,),
                timeout=30,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            )
        except (OSError, subprocess.SubprocessError) as e:
            return f"off: bwrap did not run ({e})"
    finally:
        os.close(r)
        os.close(w)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = err[-1][:200] if err else f"exit status {proc.returncode}"
        return f"off: bwrap failed here ({why})"
    return "on"
