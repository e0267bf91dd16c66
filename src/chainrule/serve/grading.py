"""The one place where ``chainrule serve`` calls the grader: every grading goes through here.

:func:`grade_code` is :func:`chainrule.exercise.grade_source` (a string in, the dict of
``chainrule check --json`` out; no file is written on the host) with the pool's cancel event
wired through: the grader kills its sandboxed worker within about 0.1 s of ``cancel.set()``.
It must be called from the thread that waits for the result (the pool's grader thread does):
without bubblewrap the worker's parent-death signal is tied to the thread that started it.

:func:`namespaces_available` says whether the grader's namespace layer works here (the
grader's own probe, :func:`chainrule.exercise.namespaces.bwrap_status`), the precondition
``chainrule serve`` requires unless given ``--unsafe-no-namespaces``.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["GradingCancelled", "grade_code", "namespaces_available"]


class GradingCancelled(Exception):
    """The caller set ``cancel`` before the grading finished; no report is produced."""


def grade_code(
    code: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    cancel: threading.Event | None = None,
    namespaces: bool | None = None,
) -> dict[str, Any]:
    """Grade the ``Value`` class in ``code``; return the dict of ``chainrule check --json``.

    Blocking: call it from the thread that waits for the answer. When ``cancel`` is set while
    it runs, the worker is killed and :class:`GradingCancelled` is raised.

    Args:
        code: the learner's ``solution.py``, as text (the report calls it ``solution.py``).
        timeout: wall-clock seconds per check, as ``chainrule check --timeout``.
        memory_mb: the worker's memory limit in MiB, as ``chainrule check --memory``.
        cancel: set it (from any thread) to stop the grading.
        namespaces: True insists on bubblewrap (without it nothing runs and the report's
            import check says why), False does without, None uses it where it works.
    """
    from chainrule.exercise import grade_source

    report = grade_source(code, timeout, cancel=cancel, memory_mb=memory_mb, namespaces=namespaces)
    if report.get("cancelled") or (cancel is not None and cancel.is_set()):
        raise GradingCancelled
    return report


def namespaces_available() -> tuple[bool, str]:
    """Whether the grader can run its worker in namespaces here: ``(ok, reason)``.

    The grader's own, cached probe (a trial run of the interpreter under the same bwrap
    options the worker gets), so the service refuses exactly when the grader would fall back.
    """
    from chainrule.exercise.namespaces import bwrap_status

    status = bwrap_status()
    if status == "on":
        return True, "bwrap runs the worker in user, pid, ipc, network and mount namespaces"
    return False, status.removeprefix("off: ")
