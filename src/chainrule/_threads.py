"""How many threads NumPy's BLAS (and any OpenMP runtime it loaded) may use:
``set_num_threads`` / ``get_num_threads``, PyTorch's names, through threadpoolctl.

Matrix products (``@``, ``linear``, ``conv2d``) run in the BLAS that NumPy ships (OpenBLAS),
which starts as many threads as the machine has cores. For the small matrices of a digits
MLP a product takes microseconds, less than it takes to wake a second thread; and when
another process keeps the cores busy, the BLAS threads spin waiting for each other. One
thread is then much faster (a 2-core machine shared with one busy process: 56 steps/s with
the default threads, about 1,400 with one). Large products gain from more threads.

threadpoolctl is imported only when one of these functions is called, so ``import
chainrule`` still imports NumPy alone.
"""

from __future__ import annotations

import contextlib
import os as _os
import threading as _threading
import time as _time
from collections.abc import Iterator
from typing import Any

__all__ = ["get_num_threads", "limit_threads", "set_num_threads"]


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError(
            "chainrule's set_num_threads/get_num_threads need threadpoolctl "
            "(pip install threadpoolctl; it is a dependency of chainrule)"
        ) from None
    return threadpoolctl


def _check(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected a positive int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n}")
    return n


def set_num_threads(n: int) -> None:
    """Let NumPy's BLAS (and OpenMP) use at most ``n`` threads from now on, in this process.

    >>> import chainrule as cr
    >>> before = cr.get_num_threads()
    >>> cr.set_num_threads(1)
    >>> cr.get_num_threads()
    1
    >>> cr.set_num_threads(before)
    """
    _threadpoolctl().threadpool_limits(limits=_check(n))


def get_num_threads() -> int:
    """The most threads any BLAS (or OpenMP runtime) loaded in this process may use; 1 if
    none is loaded."""
    info = _threadpoolctl().threadpool_info()
    return max((int(lib["num_threads"]) for lib in info), default=1)


@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Within the block, at most ``n`` BLAS/OpenMP threads; on leaving, each library gets
    back the count it had. ``None`` changes nothing (and neither does a missing
    threadpoolctl, so that optional speed-ups never stop a program)."""
    if n is None:
        yield
        return
    _check(n)
    try:
        threadpoolctl = _threadpoolctl()
    except ImportError:
        yield
        return
    with threadpoolctl.threadpool_limits(limits=n):
        yield


# --- one BLAS thread for mid-sized products on a busy machine ------------------------------
# OpenBLAS itself runs a matrix-matrix product of fewer than 2**18 multiply-adds on one
# thread, and splits larger ones across every thread it may use. What the split is worth
# depends on whether the other cores are free. Measured on a 2-vCPU VM (float32, 25th
# percentiles, one thread vs two): with the other core idle, two threads were 1.4-1.7x faster
# from 2**20 multiply-adds up (64x784 @ 784x128: 136 us vs 81 us); with other processes
# keeping the cores busy, the threads spin waiting for a core and two were 2-3x *slower*
# (the same product: 390 us vs 870 us, and a whole MLP step went from 0.9 to 30 ms). So
# chainrule's matrix-matrix products (matmul, linear, mm_tn) of 2**18 to 2**23
# multiply-adds run on one thread while the machine is busy (the 1-minute load average
# leaves less than one core free besides this process), and on the threads the user set
# otherwise. The count is put back right after each product, so NumPy code outside chainrule
# keeps whatever the user set. Matrix-vector products are left alone (memory-bound: a second
# thread doubled a 1000x1000 one even under load). Only OpenBLAS built on pthreads (NumPy's
# wheels) is driven this way; with another BLAS nothing changes. Setting ONE_THREAD_BELOW to
# ONE_THREAD_FROM turns it off.

ONE_THREAD_FROM, ONE_THREAD_BELOW = 1 << 18, 1 << 23  # multiply-adds
_MAIN_THREAD = _threading.main_thread().ident

_blas: Any = None  # (get, set) of NumPy's OpenBLAS thread count, False where unavailable
_busy = [0.0, False]  # when the load was last read (monotonic seconds), and whether busy


def _find_blas() -> Any:
    global _blas
    _blas = False
    try:
        controller = _threadpoolctl().ThreadpoolController()
        for lib in controller.lib_controllers:
            if lib.internal_api == "openblas" and lib.threading_layer == "pthreads":
                get = lib._get_symbol("openblas_get_num_threads")
                put = lib._get_symbol("openblas_set_num_threads")
                if get is not None and put is not None:
                    _blas = (get, put)
                    break
    except Exception:  # an optional speed-up: never stop a product over it
        _blas = False
    return _blas


def machine_busy() -> bool:
    """Whether the cores are busy: the 1-minute load average (this process included) leaves
    less than one core free for a second BLAS thread. Read at most once a second."""
    now = _time.monotonic()
    if now - _busy[0] > 1.0:
        _busy[0] = now
        try:
            _busy[1] = _os.getloadavg()[0] + 1.0 > (_os.cpu_count() or 1)
        except (AttributeError, OSError):  # no load average on this platform
            _busy[1] = False
    return _busy[1]


def product(fn: Any, a: Any, b: Any, macs: int) -> Any:
    """``fn(a, b)``, a matrix product of ``macs`` multiply-adds, on one BLAS thread when it is
    mid-sized and the machine busy (see above); otherwise as the BLAS is set."""
    if not ONE_THREAD_FROM <= macs < ONE_THREAD_BELOW or not machine_busy():
        return fn(a, b)
    blas = _blas if _blas is not None else _find_blas()
    # OpenBLAS's count is process-wide: only the main thread changes it (as threadpoolctl
    # lets one controlling thread do), so that two threads never race to set and restore it
    if not blas or _threading.get_ident() != _MAIN_THREAD:
        return fn(a, b)
    get, put = blas
    n = get()
    if n <= 1:
        return fn(a, b)
    put(1)
    try:
        return fn(a, b)
    finally:
        put(n)
