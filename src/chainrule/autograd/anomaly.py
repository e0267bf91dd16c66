"""Anomaly mode: find the operation whose backward produced NaN or inf.

While enabled, every recorded node keeps the stack of the user code that created it, and the
engine checks each gradient it computes. The first non-finite one raises an error naming the
backward function (e.g. ``LogBackward0``) and showing where its forward ran. Keeping stacks is
slow: use it to debug, not to train.
"""

from __future__ import annotations

from chainrule.autograd.grad_mode import STATE


class detect_anomaly:
    """Context manager: check every backward result for NaN/inf and name the op.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.0], requires_grad=True)
    >>> with cr.autograd.detect_anomaly():
    ...     y = (x.sqrt() * 0.0).sum()
    ...     try:
    ...         y.backward()
    ...     except RuntimeError as err:
    ...         print(str(err).split(".")[0])
    Function 'SqrtBackward0' returned nan values in its 0th output during backward
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.mode = check_nan

    def __enter__(self) -> None:
        self.prev = STATE.anomaly
        STATE.anomaly = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self.prev


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly mode on or off for the calling thread (as grad mode, it is per thread)."""
    STATE.anomaly = bool(mode)


def is_anomaly_enabled() -> bool:
    return STATE.anomaly
