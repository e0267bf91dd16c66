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
import threading as _threading
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


# --- one BLAS thread for mid-sized products, chosen per product -----------------------------
# OpenBLAS itself runs a matrix-matrix product of fewer than 2**18 multiply-adds on one
# thread, and splits larger ones across every thread it may use. Between 2**18 and 2**23 (a
# 64x784 @ 784x128 layer) the split gains little on an idle 2-core machine and loses a lot on
# a busy one, where the threads spin waiting for a core (measured on this 2-vCPU VM under
# other engineers' load: 64x784 @ 784x128 took 390 us on one thread and 870 us on two in a
# busy spell, 136 and 117 us in a quieter one). So chainrule's matrix-matrix products
# (matmul, linear, mm_tn) of that size run on one thread; the count is put back right after,
# so NumPy code outside chainrule, and larger products, keep whatever the user set.
# Matrix-vector products are left alone: they are memory-bound, and a second thread doubled
# the speed of a 1000x1000 one here. Only OpenBLAS built on pthreads (NumPy's wheels) is
# driven this way; with another BLAS nothing changes. Set ONE_THREAD_BELOW to
# ONE_THREAD_FROM to turn it off.

ONE_THREAD_FROM, ONE_THREAD_BELOW = 1 << 18, 1 << 23  # multiply-adds
_MAIN_THREAD = _threading.main_thread().ident

_blas: Any = None  # (get, set) of NumPy's OpenBLAS thread count, False where unavailable


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


def product(fn: Any, a: Any, b: Any, macs: int) -> Any:
    """``fn(a, b)``, a matrix product of ``macs`` multiply-adds, on one BLAS thread when it is
    mid-sized (see above); otherwise as the BLAS is set."""
    if not ONE_THREAD_FROM <= macs < ONE_THREAD_BELOW:
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
