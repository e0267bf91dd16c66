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
