"""Hostile: renices the grader, pins and real-time-schedules itself, aims SIGIO/SIGKILL at the
grader through F_SETOWN/F_SETSIG, types into a terminal (TIOCSTI) and makes a 1.2 GiB SysV
shared-memory segment that would outlive it. All plain Python except the segment (ctypes)."""

import fcntl
import os
import termios


def _attempt(what, fn):
    try:
        fn()
        print(what, "ALLOWED")
    except Exception as e:  # noqa: BLE001
        print(what, "refused", type(e).__name__)


def _shmget():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.shmget(0, 1200 << 20, 0o1600) < 0:  # IPC_PRIVATE, IPC_CREAT | 0600
        raise OSError(ctypes.get_errno(), "shmget")


r, w = os.pipe()
_attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19))
_attempt("sched_setaffinity", lambda: os.sched_setaffinity(0, {0}))
_attempt("sched_fifo", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
_attempt("f_setown", lambda: fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid()))
_attempt("f_setsig", lambda: fcntl.fcntl(r, 10, 9))  # F_SETSIG = 10, SIGKILL
_attempt("tiocsti", lambda: fcntl.ioctl(1, termios.TIOCSTI, b"x"))
_attempt("shmget", _shmget)

# __CORRECT_VALUE_CLASS__
