"""Isolation inside the grader's worker process: rlimits, Landlock, seccomp and an audit hook.

The learner's ``solution.py`` is untrusted code. The parent process (``runner.py``) never
imports it; a separate ``python -I`` worker does, normally inside bubblewrap's namespaces
(:mod:`chainrule.exercise.namespaces`, the outermost layer), after stacking these layers:

1. **Process limits** (:func:`limit_resources`, called by the worker first thing): CPU
   seconds, address space (so a 20 GB allocation fails with ``MemoryError``), file size, open
   files, no core dumps.
2. **Landlock** (:func:`apply_landlock`), Linux >= 5.13, no root needed: the kernel itself
   refuses to open files outside the Python installation, chainrule and the working
   directory, refuses writes outside the working directory, TCP bind/connect (ABI >= 4) and
   signals to processes outside the sandbox (ABI >= 6).
3. **seccomp, an allow-list** (:func:`apply_seccomp`) through the system's libseccomp (the
   library that Docker, systemd and Chromium build their filters with), called with ctypes so
   that no compiled extension is needed: every syscall not on the list fails with ``EPERM``
   (programs, processes, sockets, file-metadata changes, SysV IPC, scheduling, ...), and
   ``clone``, ``kill``, ``fcntl``, ``ioctl`` and ``prlimit64`` are allowed only with harmless
   arguments. The attack syscalls (:data:`WATCHED_SYSCALLS`) can go to a user-notification
   listener instead, which the grader holds: it refuses them and reports them.
4. **An audit hook** (:func:`install_audit_hook`, PEP 578) installed before the learner's file
   is imported, for *messages*: unlike the kernel layers, it can say what was attempted and
   where (``sandbox: blocked open('/root/.ssh/id_rsa', 'r') at solution.py:12``).

The namespaces and layers 2 and 3 are the security boundary; the report says which were
active. The audit hook is not a boundary (CPython's docs say so, and a review switched it off
from plain Python): it lives in the same process as the code it watches. See README.md.

Everything here runs *inside the worker*, and nothing here is imported by the worker through
the ``chainrule`` package (the worker loads this file by path), so that importing it does not
pull in NumPy before the sandbox is up.
"""

from __future__ import annotations

import errno
import os
import resource
import stat
import sys
from collections.abc import Iterable

__all__ = [
    "apply_landlock",
    "apply_seccomp",
    "install_audit_hook",
    "limit_resources",
]

# Modules whose import the audit hook refuses: cffi calls foreign code without raising audit
# events; _posixsubprocess.fork_exec starts programs without one; the test and subinterpreter
# modules poke at interpreter internals. ctypes may be imported (NumPy imports it), but every
# ctypes operation that reaches a foreign function or raw memory raises an audit event, and
# the hook refuses those.
BLOCKED_MODULES = (
    "cffi",
    "_cffi_backend",
    "_posixsubprocess",
    "_xxsubinterpreters",
    "_testcapi",
    "_testinternalcapi",
    "_testmultiphase",
)


def limit_resources(cpu_seconds: int, memory_bytes: int, fsize_bytes: int, nofile: int) -> None:
    """Lower this process's rlimits; the worker calls it before any of the learner's code.

    Only ever lowers a limit (a value above the current hard limit is clamped to it), so it
    works without privileges. RLIMIT_CPU's hard limit is 5 s above the soft one: SIGXCPU at the
    soft limit, SIGKILL at the hard one.
    """

    def lower(res: int, soft: int, hard: int) -> None:
        cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        resource.setrlimit(res, (min(soft, hard), hard))

    lower(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5)
    lower(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    lower(resource.RLIMIT_FSIZE, fsize_bytes, fsize_bytes)
    lower(resource.RLIMIT_NOFILE, nofile, nofile)
    lower(resource.RLIMIT_CORE, 0, 0)


def limit_processes() -> None:
    """RLIMIT_NPROC = 0: the fallback against fork when seccomp is unavailable.

    The limit counts every process of the user, threads included, and the kernel ignores it
    for root, so it is only a fallback: with seccomp active, fork is refused by the filter and
    threads (OpenBLAS, faulthandler) keep working.
    """
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


# ---------------------------------------------------------------------------------------------
# Landlock (include/uapi/linux/landlock.h). Syscall numbers are the same on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
# Rights that may be granted on a single file (the others only make sense on directories).
_FS_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_FS_READ = _FS_READ_FILE | _FS_READ_DIR


def _landlock_fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer (link/rename across directories)
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _libc():  # -> ctypes.CDLL; ctypes is imported here only, never at module level (see hook)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return ctypes, libc


def _single_threaded() -> bool:
    # landlock_restrict_self only restricts the calling thread, so it must run before any
    # other thread exists (OpenBLAS starts some when NumPy is imported).
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        import threading

        return threading.active_count() == 1


def apply_landlock(read_paths: Iterable[str], write_paths: Iterable[str]) -> str:
    """Restrict this process's file access with Landlock; return a one-line status.

    ``read_paths`` (files or directories, recursively) may be read, ``write_paths`` may be read
    and written. Everything else is refused by the kernel, whatever the process does next.
    Paths that do not exist are skipped. Returns ``"on (ABI n)"`` or ``"off: reason"``.
    """
    if not sys.platform.startswith("linux"):
        return "off: not Linux"
    if not _single_threaded():
        return "off: the worker already had several threads"
    try:
        ctypes, libc = _libc()
    except OSError as e:
        return f"off: libc not loadable ({e})"
    abi = libc.syscall(_SYS_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 0:
        return f"off: kernel without Landlock ({os.strerror(ctypes.get_errno())})"

    class RulesetAttr(ctypes.Structure):
        _fields_ = (
            ("handled_access_fs", ctypes.c_uint64),
            ("handled_access_net", ctypes.c_uint64),
            ("scoped", ctypes.c_uint64),
        )

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))

    fs = _landlock_fs_rights(abi)
    # ABI 4 handles TCP bind/connect; with no rule granting them, both are refused. ABI 6
    # scopes signals and abstract unix sockets to the sandbox: the learner cannot kill the
    # grader.
    attr = RulesetAttr(fs, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return f"off: landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        rules = [(p, _FS_READ) for p in read_paths] + [(p, fs) for p in write_paths]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path that does not exist grants nothing
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= _FS_FILE_RIGHTS
                rule = PathBeneath(access & fs, fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0) < 0:
                    err = os.strerror(ctypes.get_errno())
                    return f"off: landlock_add_rule({path!r}) failed ({err})"
            finally:
                os.close(fd)
        # Landlock (like seccomp) requires no_new_privs unless the caller has CAP_SYS_ADMIN:
        # a setuid program run later must not gain what the sandbox took away.
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) < 0:
            return f"off: landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return f"on (ABI {abi})"


# ---------------------------------------------------------------------------------------------
# seccomp through libseccomp (seccomp.h). Actions and comparison operators.
_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_FLTATR_CTL_TSYNC = 4
_SCMP_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000

_SCMP_CMP_EQ = 4

# The allow-list: every syscall not named here (or in the argument-checked rules of
# apply_seccomp) fails with EPERM. It is what CPython, its standard library and NumPy need to
# import modules, allocate memory, run threads, read and write files in the sandbox directory,
# sleep and print; it was collected by running the grader's worker under strace on the
# correct solution plus a file that imports NumPy and chainrule, starts a thread and writes a
# temporary file. What is deliberately absent: starting programs or processes (execve, fork,
# vfork, clone without CLONE_THREAD), sockets, every change of file metadata (chmod, chown,
# utime, xattrs: Landlock does not cover them, so a read-only descriptor on the Python
# installation could otherwise change its modes), links and symlinks, SysV IPC (its segments
# outlive the process), scheduling and priorities, mount and namespace calls, ptrace,
# io_uring, BPF, keyrings, and setting rlimits.
_ALLOWED_SYSCALLS = (
    # the kernel resumes an interrupted timed wait (after SIGSTOP/SIGCONT) through this one
    "restart_syscall",
    # files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "lseek", "open", "openat", "openat2", "close", "close_range",
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "ftruncate", "truncate", "fsync", "fdatasync", "dup", "dup2", "dup3", "pipe", "pipe2",
    "fadvise64", "flock", "sendfile", "copy_file_range",
    # memory
    "mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "mbind", "get_mempolicy",
    "mincore", "membarrier",
    # signals (sending them is argument-checked below)
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "sigaltstack", "pause", "alarm", "getitimer", "setitimer",
    # threads and synchronisation
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address",
    "rseq", "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "getpriority",
    # waiting and time
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "nanosleep", "clock_nanosleep",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "times", "getrusage",
    # identity and information
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
    "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "uname", "sysinfo",
    "getrandom", "getrlimit", "getcpu", "arch_prctl", "prctl", "capget",
    # ending
    "exit", "exit_group", "wait4", "waitid",
)  # fmt: skip

# fcntl commands the worker may use: duplicate, close-on-exec and status flags, record
# locks. Not F_SETOWN/F_SETSIG (they aim SIGIO, or any signal, at another process), not
# leases, notifications or pipe sizes.
_FCNTL_ALLOWED = (0, 1, 2, 3, 4, 5, 6, 7, 1030)  # F_DUPFD .. F_SETLKW, F_DUPFD_CLOEXEC
# ioctl requests: isatty (TCGETS), terminal size, FIONBIO/FIOCLEX/FIONCLEX, FIONREAD. Not
# TIOCSTI (typing into the grader's terminal) nor anything else.
_IOCTL_ALLOWED = (0x5401, 0x5413, 0x5421, 0x5451, 0x5450, 0x541B)


# Refused syscalls that the grader hears about when apply_seccomp(notify=True): the kernel
# suspends the caller and asks the listener (the grader's process, holding the notification
# descriptor), which answers EPERM and records the attempt. Reported from outside the worker,
# these events cannot be forged or hidden by the learner's code. They are the calls an attack
# makes; everything else not allowed fails with EPERM silently.
WATCHED_SYSCALLS = (
    "execve", "execveat", "fork", "vfork", "socket", "socketpair", "ptrace",
    "process_vm_readv", "process_vm_writev", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "fchown", "lchown", "fchownat", "utime", "utimes", "futimesat", "utimensat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "shmget", "shmat", "msgget",
    "semget", "setpriority", "sched_setaffinity", "sched_setscheduler", "sched_setparam",
    "sched_setattr", "setrlimit", "mount", "umount2", "unshare", "setns", "chroot",
    "pivot_root", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "io_uring_setup", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "memfd_create",
    "open_by_handle_at", "name_to_handle_at", "tkill",
)  # fmt: skip
_SCMP_ACT_NOTIFY = 0x7FC00000
_SCMP_CMP_NE = 1
# fcntl commands that aim signals at other processes; ioctl's TIOCSTI.
_FCNTL_WATCHED = (8, 10, 15)  # F_SETOWN, F_SETSIG, F_SETOWN_EX
_IOCTL_TIOCSTI = 0x5412
# The notification descriptor after apply_seccomp(notify=True), for the worker to hand over.
NOTIFY_FD = -1


def apply_seccomp(notify: bool = False) -> str:
    """Install the worker's seccomp filter; return ``"on ..."`` or ``"off: reason"``.

    With ``notify``, the calls in :data:`WATCHED_SYSCALLS` (and forks, signals to other
    processes, F_SETOWN/F_SETSIG, TIOCSTI, raising limits) go to a user-notification listener
    whose descriptor is left in :data:`NOTIFY_FD`: the grader takes a copy of it
    (``pidfd_getfd``) and answers each with EPERM, and the worker must close its own before any
    untrusted code runs (whoever holds it could let calls through).

    Uses libseccomp.so.2 through ctypes (the PyPI package ``pyseccomp`` does the same; calling
    the library directly avoids a dependency). The default action is EPERM (an allow-list):
    refused calls return it instead of killing the process, so the learner's code sees an
    ordinary ``PermissionError``. Threads stay allowed
    (``clone`` with CLONE_THREAD); ``clone3`` returns ENOSYS so that glibc falls back to
    ``clone``, whose flags a filter can inspect.
    """
    if not sys.platform.startswith("linux"):
        return "off: not Linux"
    try:
        ctypes, libc = _libc()
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return "off: libseccomp.so.2 not found (install libseccomp2)"

    class ArgCmp(ctypes.Structure):
        _fields_ = (
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("datum_a", ctypes.c_uint64),
            ("datum_b", ctypes.c_uint64),
        )

    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_rule_add_array.argtypes = (
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCmp),
    )
    lib.seccomp_attr_set.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)
    lib.seccomp_load.argtypes = (ctypes.c_void_p,)
    lib.seccomp_release.argtypes = (ctypes.c_void_p,)
    lib.seccomp_notify_fd.argtypes = (ctypes.c_void_p,)

    def errno_action(code: int) -> int:
        return 0x00050000 | (code & 0xFFFF)  # SCMP_ACT_ERRNO(code)

    ctx = lib.seccomp_init(errno_action(errno.EPERM))  # default: deny
    if not ctx:
        return "off: seccomp_init failed"
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_TSYNC, 1)  # also filter existing threads
        me = os.getpid()

        def rule(name: str, action: int, *cmps: tuple[int, int, int]) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                return  # syscall unknown on this architecture
            arr = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(a, op, x, y) for a, op, x, y in cmps])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
            if rc < 0:
                raise OSError(-rc, f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}")

        for name in _ALLOWED_SYSCALLS:
            rule(name, _SCMP_ACT_ALLOW)
        # clone with CLONE_THREAD is a thread (allowed); without, a fork (refused).
        rule("clone", _SCMP_ACT_ALLOW, (0, _SCMP_CMP_MASKED_EQ, _CLONE_THREAD, _CLONE_THREAD))
        # clone3 passes its flags in memory a filter cannot read: ENOSYS makes glibc fall
        # back to clone.
        rule("clone3", errno_action(errno.ENOSYS))
        # prlimit64(pid, res, new, old): reading limits (new == NULL) only.
        rule("prlimit64", _SCMP_ACT_ALLOW, (2, _SCMP_CMP_EQ, 0, 0))
        # Signals only to this process (glibc's raise/abort use tgkill on itself).
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            rule(name, _SCMP_ACT_ALLOW, (0, _SCMP_CMP_EQ, me, 0))
        for cmd in _FCNTL_ALLOWED:
            rule("fcntl", _SCMP_ACT_ALLOW, (1, _SCMP_CMP_EQ, cmd, 0))
        for req in _IOCTL_ALLOWED:  # the request is an unsigned int: compare 32 bits
            rule("ioctl", _SCMP_ACT_ALLOW, (1, _SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, req))
        if notify:
            for name in WATCHED_SYSCALLS:
                rule(name, _SCMP_ACT_NOTIFY)
            rule("clone", _SCMP_ACT_NOTIFY, (0, _SCMP_CMP_MASKED_EQ, _CLONE_THREAD, 0))
            rule("prlimit64", _SCMP_ACT_NOTIFY, (2, _SCMP_CMP_NE, 0, 0))
            for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
                rule(name, _SCMP_ACT_NOTIFY, (0, _SCMP_CMP_NE, me, 0))
            for cmd in _FCNTL_WATCHED:
                rule("fcntl", _SCMP_ACT_NOTIFY, (1, _SCMP_CMP_EQ, cmd, 0))
            rule("ioctl", _SCMP_ACT_NOTIFY, (1, _SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, _IOCTL_TIOCSTI))
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            return f"off: seccomp_load failed ({os.strerror(-rc)})"
        if notify:
            global NOTIFY_FD
            NOTIFY_FD = lib.seccomp_notify_fd(ctx)
            if NOTIFY_FD < 0:
                return "on (allow-list; refusals not watched: no notification descriptor)"
    except OSError as e:
        return f"off: {e}"
    finally:
        lib.seccomp_release(ctx)
    return "on (allow-list)"


def forget_ctypes() -> None:
    """Drop ctypes from ``sys.modules`` so that the learner's ``import ctypes`` is a real import
    (which raises the audit event the hook refuses) rather than a cache hit."""
    for name in list(sys.modules):
        if name == "ctypes" or name.startswith(("ctypes.", "_ctypes")):
            del sys.modules[name]


# ---------------------------------------------------------------------------------------------
# The audit hook.

_SOCKET_FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
_SOCKET_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW"}


def install_audit_hook(
    learner_file: str,
    read_roots: Iterable[str],
    write_roots: Iterable[str],
    report_fd: int,
) -> None:
    """Install the grader's audit hook (it cannot be removed for the life of the process).

    Args:
        learner_file: the file name the learner's code was compiled with; the hook names the
            innermost frame of that file as the place of an attempt.
        read_roots: directories and files that may be read (resolved, absolute).
        write_roots: directories and files that may also be written.
        report_fd: every refused attempt is written there at once, as one JSON line
            ``{"type": "event", "what": ..., "where": ...}``, before the hook raises
            ``PermissionError``: a learner who catches the error cannot hide the attempt.

    Why it is written the way it is: the learner's code can rebind any module attribute (a
    ``builtins.len``, ``posixpath.realpath``, this module's globals) but not a closure variable
    it has no reference to, nor the behaviour of a C function. So every name the hook calls is
    bound once, here, to a C function or a builtin type; the hook calls no Python-level library
    code on the path that decides, and any exception inside it refuses the operation.
    """
    import json.encoder

    # --- everything the hook uses, bound now -------------------------------------------------
    _str, _bytes, _int, _float, _bool, _tuple, _list = str, bytes, int, float, bool, tuple, list
    _type, _len, _repr, _NoneType = type, len, repr, type(None)
    _enumerate = enumerate
    _PermissionError, _Exception = PermissionError, Exception
    _lstat, _readlink, _getcwd, _write = os.lstat, os.readlink, os.getcwd, os.write
    _S_ISLNK = stat.S_ISLNK
    _getframe = sys._getframe
    _encode = json.encoder.c_encode_basestring_ascii or json.encoder.py_encode_basestring_ascii
    _O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    _families, _types = dict(_SOCKET_FAMILIES), dict(_SOCKET_TYPES)

    def _exact_roots(paths: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
        paths = [os.path.realpath(p) for p in paths]
        return frozenset(paths), tuple(p.rstrip("/") + "/" for p in paths)

    read_exact, read_prefix = _exact_roots([*read_roots, *write_roots])
    write_exact, write_prefix = _exact_roots(write_roots)
    learner = learner_file
    blocked_modules = tuple(BLOCKED_MODULES)
    blocked_module_prefixes = tuple(m + "." for m in BLOCKED_MODULES)

    # Events allowed without a look (the frequent ones first: they fire on every attribute
    # read of a frame or code object, including the hook's own).
    fast_ok = frozenset(
        (
            "object.__getattr__",
            "sys._getframe",
            "compile",
            "exec",
            "marshal.loads",
            "builtins.id",
            "object.__delattr__",
            "os.putenv",
            "os.unsetenv",
            "code.__new__",
            "function.__new__",
            "sys._current_frames",
            "cpython._PySys_ClearAuditHooks",
        )
    )
    # Events refused whatever their arguments.
    denied = frozenset(
        (
            "os.system",
            "os.exec",
            "os.spawn",
            "os.posix_spawn",
            "os.fork",
            "os.forkpty",
            "subprocess.Popen",
            "pty.spawn",
            "os.kill",
            "os.killpg",
            "signal.pthread_kill",
            "resource.setrlimit",
            "resource.prlimit",
            "gc.get_objects",
            "gc.get_referrers",
            "gc.get_referents",
            "sys.settrace",
            "sys.setprofile",
            "sys._setprofileallthreads",
            "sys._settraceallthreads",
            "sys.addaudithook",
            "sys.remote_exec",
            "os.chdir",
            "os.fchdir",
            "os.chroot",
            "sqlite3.connect",
            "sqlite3.connect/handle",
            "sqlite3.enable_load_extension",
            "syslog.openlog",
            "syslog.syslog",
            "webbrowser.open",
            "urllib.Request",
            "ftplib.connect",
            "smtplib.connect",
            "http.client.connect",
            "os.mknod",
            "os.mkfifo",
        )
    )
    denied_prefixes = ("socket.", "ctypes.", "_posixsubprocess.", "msvcrt.", "winreg.")
    # Native code may only be loaded from the installation, never from the writable sandbox
    # directory (a .so written there would run outside every Python-level check).
    # Events that change the file system: (positions of paths that must be writable,
    # positions of dir_fd arguments, which must be unset (-1) because a path relative to a
    # directory descriptor means something the hook cannot see).
    write_events = {
        "os.remove": ((0,), (1,)),
        "os.rmdir": ((0,), (1,)),
        "os.mkdir": ((0,), (2,)),
        "os.rename": ((0, 1), (2, 3)),
        "os.link": ((0, 1), (2, 3)),
        "os.symlink": ((1,), (2,)),
        "os.truncate": ((0,), ()),
        "os.chmod": ((0,), (2,)),
        "os.chown": ((0,), (3,)),
        "os.utime": ((0,), (3,)),
        "os.chflags": ((0,), ()),
        "os.lchflags": ((0,), ()),
        "os.setxattr": ((0,), ()),
        "os.removexattr": ((0,), ()),
        "shutil.chown": ((0,), ()),
    }
    read_events = {"os.listdir": 0, "os.scandir": 0, "os.getxattr": 0, "os.listxattr": 0}

    def safe_repr(x: object, depth: int = 0) -> str:
        # repr only of built-in types: the learner's __repr__ must not run inside the hook.
        t = _type(x)
        if t is _str or t is _bytes or t is _int or t is _float or t is _bool or t is _NoneType:
            r = _repr(x)
            return r if _len(r) <= 120 else r[:117] + "..."
        if (t is _tuple or t is _list) and depth < 2:
            parts = []
            for i, item in _enumerate(x):
                if i == 6:
                    parts.append("...")
                    break
                parts.append(safe_repr(item, depth + 1))
            inner = ", ".join(parts)
            return "[" + inner + "]" if t is _list else "(" + inner + ")"
        return "<object>"

    def where() -> str:
        # The innermost frame of the learner's file, as "solution.py:12".
        f = _getframe(1)
        while f is not None:
            code = f.f_code
            if code.co_filename == learner:
                return learner + ":" + _str(f.f_lineno)
            f = f.f_back
        return ""

    def refuse(what: str) -> None:
        loc = ""
        try:
            loc = where()
            line = '{"type": "event", "what": ' + _encode(what) + ', "where": '
            _write(report_fd, (line + _encode(loc) + "}\n").encode())
        finally:
            suffix = " at " + loc if loc else ""
            raise _PermissionError("sandbox: blocked " + what + suffix)

    def resolve(path: object) -> str:
        # An absolute path with every symlink followed (posixpath.realpath, rebuilt from C
        # calls). Anything other than an exact str/bytes is refused: a str subclass or a
        # PathLike could answer differently when the real open converts it again.
        t = _type(path)
        if t is _bytes:
            path = path.decode("utf-8", "surrogateescape")
        elif t is not _str:
            raise _PermissionError("sandbox: only str and bytes paths are allowed")
        if "\x00" in path:
            raise _PermissionError("sandbox: NUL in path")
        if not path.startswith("/"):
            path = _getcwd() + "/" + path
        pending = path.split("/")
        pending.reverse()
        resolved = ""
        links = 0
        while pending:
            name = pending.pop()
            if name == "" or name == ".":
                continue
            if name == "..":
                resolved = resolved[: resolved.rfind("/")] if resolved else ""
                continue
            candidate = resolved + "/" + name
            try:
                st = _lstat(candidate)
            except _Exception:
                resolved = candidate  # does not exist (yet): keep it as written
                continue
            if _S_ISLNK(st.st_mode):
                links += 1
                if links > 40:
                    raise _PermissionError("sandbox: too many symbolic links")
                target = _readlink(candidate)
                if target.startswith("/"):
                    resolved = ""
                more = target.split("/")
                more.reverse()
                pending.extend(more)
                continue
            resolved = candidate
        return resolved or "/"

    def readable(p: str) -> bool:
        return p in read_exact or p.startswith(read_prefix)

    def writable(p: str) -> bool:
        return p in write_exact or p.startswith(write_prefix)

    def native_ok(path: object) -> bool:
        try:
            p = resolve(path)
        except _Exception:
            return False
        return readable(p) and not writable(p)

    def hook(event: str, args: tuple) -> None:
        if event in fast_ok:
            return
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if _type(path) is _int:
                return  # an already-open descriptor
            if _type(mode) is _str:
                writing = "w" in mode or "a" in mode or "x" in mode or "+" in mode
            else:
                writing = _type(flags) is _int and (flags & _O_WRITE) != 0
            try:
                p = resolve(path)
            except _Exception:
                refuse("open(" + safe_repr(path) + ") with a path that is not a plain str")
            if not (writable(p) if writing else readable(p)):
                m = mode if _type(mode) is _str else ("w" if writing else "r")
                refuse("open(" + safe_repr(path) + ", " + _repr(m) + ")")
            return
        if event == "import":
            name = args[0]
            if _type(name) is _str and (
                name in blocked_modules or name.startswith(blocked_module_prefixes)
            ):
                refuse("import " + name)
            # The second "import" event of an extension module carries its file name: a
            # blocked module loaded under another name ("alias._xxsubinterpreters") is still
            # that file.
            if _len(args) > 1 and args[1] is not None:
                if not native_ok(args[1]):
                    refuse("import " + safe_repr(name) + " from " + safe_repr(args[1]))
                f = args[1]
                if _type(f) is _str and f.rsplit("/", 1)[-1].split(".", 1)[0] in blocked_modules:
                    refuse("import " + safe_repr(name) + " from " + safe_repr(f))
            return
        if event == "ctypes.dlopen":
            # ctypes' own import opens the main program (dlopen(None)); finding a symbol in it
            # (ctypes.dlsym) and calling one (ctypes.call_function) are refused below.
            if args[0] is None or native_ok(args[0]):
                return
            refuse("ctypes.dlopen(" + safe_repr(args[0]) + ")")
        if event in denied or event.startswith(denied_prefixes):
            if event == "socket.__new__" and _len(args) >= 3:
                fam = _families.get(args[1], safe_repr(args[1]))
                typ = _types.get(args[2], safe_repr(args[2]))
                refuse("socket.socket(" + fam + ", " + typ + ")")
            if event == "os.system" and _len(args) == 1 and _type(args[0]) is _bytes:
                refuse("os.system(" + safe_repr(args[0].decode("utf-8", "replace")) + ")")
            if event == "subprocess.Popen" and _len(args) >= 2:
                refuse("subprocess.Popen(" + safe_repr(args[1]) + ")")
            shown = []
            for a in args[:3]:
                shown.append(safe_repr(a))
            refuse(event + "(" + ", ".join(shown) + ")")
        if event == "object.__setattr__":
            if _len(args) >= 2 and _type(args[1]) is _str and args[1] == "__code__":
                refuse("replacing a function's __code__")
            return
        spec = write_events.get(event)
        if spec is not None:
            paths, dir_fds = spec
            for i in dir_fds:
                if i < _len(args) and args[i] != -1 and args[i] is not None:
                    refuse(event + "(" + safe_repr(args[0]) + ", dir_fd=...)")
            for i in paths:
                target = args[i]
                if _type(target) is _int:
                    if event == "os.truncate":
                        continue  # ftruncate of a file the code opened for writing
                    # chmod/chown/utime/xattrs through a descriptor: seccomp refuses them
                    # anyway; say so (a solution has no reason to change a file's metadata).
                    refuse(event + "(fd " + _str(target) + ")")
                try:
                    ok = writable(resolve(target))
                except _Exception:
                    ok = False
                if not ok:
                    refuse(event + "(" + safe_repr(target) + ")")
            return
        pos = read_events.get(event)
        if pos is not None:
            target = args[pos]
            if target is None:
                target = "."
            if _type(target) is _int:
                return
            try:
                ok = readable(resolve(target))
            except _Exception:
                ok = False
            if not ok:
                refuse(event + "(" + safe_repr(target) + ")")

    sys.addaudithook(hook)
