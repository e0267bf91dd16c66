"""Grad mode: whether new operations are recorded on the tape.

The flags live on one module-level object (``STATE``) that ``bind`` reads on every operation,
so switching one costs one attribute write and reading it one attribute load. ``STATE`` is
thread-local, as PyTorch's grad mode and anomaly mode are: ``backward`` (which turns recording
off while rules run) or a ``no_grad`` block in one thread never changes what another thread
records, and each thread has its own stack of transform levels. A new thread starts from the
class defaults below (grad mode on, anomaly mode off, no levels).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Fn = TypeVar("Fn", bound=Callable[..., Any])


class _State(threading.local):
    """Per-thread switches read on the hot path of every op (class attributes: the defaults
    every thread starts from)."""

    grad_enabled: bool = True  # record operations on tensors that require grad
    anomaly: bool = False  # keep forward stacks and check backward results for NaN/inf
    levels: int = 0  # number of live function-transform levels (chainrule.func)
    no_random: int = 0  # live vmaps with randomness="error": random functions raise
    random_levels: tuple = ()  # live vmap levels with randomness="different", oldest first


STATE = _State()


class _GradModeContext:
    mode: bool

    def __enter__(self) -> None:
        self.prev = STATE.grad_enabled
        STATE.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self.prev

    def __call__(self, fn: Fn) -> Fn:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = STATE.grad_enabled
            STATE.grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.grad_enabled = prev

        return wrapper  # type: ignore[return-value]


class set_grad_enabled(_GradModeContext):
    """Context manager (and decorator) that turns recording on or off.

    Like PyTorch's, calling it as a plain function also sets the mode.

    >>> import chainrule as cr
    >>> x = cr.ones(2, requires_grad=True)
    >>> with cr.set_grad_enabled(False):
    ...     (x * 2).requires_grad
    False
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = STATE.grad_enabled
        STATE.grad_enabled = self.mode

    def __enter__(self) -> None:
        STATE.grad_enabled = self.mode  # self.prev was taken in __init__, before the switch

    def __call__(self, fn: Fn) -> Fn:
        # Used as a decorator, __init__ must not leave the mode switched (PyTorch undoes it).
        STATE.grad_enabled = self.prev
        return super().__call__(fn)


class no_grad(_GradModeContext):
    """Context manager or decorator: operations inside are not recorded (inference, updates).

    >>> import chainrule as cr
    >>> w = cr.ones(3, requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad, y.grad_fn is None
    (False, True)
    """

    mode = False


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode``: here the same as ``no_grad`` (``mode=False``: a no-op).
    PyTorch also forbids using its results in autograd later; chainrule does not need to."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = not mode


class enable_grad(_GradModeContext):
    """Context manager or decorator: re-enable recording inside a ``no_grad`` block."""

    mode = True


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded."""
    return STATE.grad_enabled
