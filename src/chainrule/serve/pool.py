"""A bounded pool of graders with a bounded queue, for an asyncio server.

At most ``workers`` gradings run at once, each in its own thread (the grading itself runs in a
sandboxed process started by that thread); at most ``queue_size`` more wait for a slot. A
submission beyond that is refused at once with :class:`Busy`, so the server answers "retry
later" (503) instead of letting a backlog grow without bound. A submission is thus always
graded or refused, never dropped.

Cancelling the coroutine of :meth:`GraderPool.submit` (the client went away) removes a waiting
submission from the queue, or sets the running grading's cancel event; the slot is released
only when the grading's thread has really finished, so ``workers`` bounds the running graders
even while cancelled ones wind down.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Busy", "GraderPool"]

Grader = Callable[[str, threading.Event], dict[str, Any]]


class Busy(Exception):
    """Every grader is busy and the queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


class GraderPool:
    """Runs ``grade(code, cancel)`` in at most ``workers`` threads, with ``queue_size`` waiting.

    Create it inside the event loop that will call :meth:`submit` (the server's lifespan).
    """

    def __init__(self, grade: Grader, workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(
                f"workers must be >= 1 and queue_size >= 0, got {workers}, {queue_size}"
            )
        self.grade = grade
        self.workers = workers
        self.queue_size = queue_size
        self._slots = asyncio.Semaphore(workers)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="chainrule-grader")
        self.admitted = 0  # running + waiting
        self.running = 0
        self.completed = 0
        self.refused = 0
        self.cancelled = 0
        self._mean_seconds = 1.0  # a running mean of one grading's duration, for Retry-After

    def stats(self) -> dict[str, int]:
        """Counts for /healthz."""
        return {
            "workers": self.workers,
            "queue_size": self.queue_size,
            "running": self.running,
            "waiting": self.admitted - self.running,
            "completed": self.completed,
            "refused": self.refused,
            "cancelled": self.cancelled,
        }

    def retry_after(self) -> int:
        # When the queue drains at `workers` gradings per mean duration, a slot frees up in
        # about (waiting / workers + 1) mean durations.
        waiting = self.admitted - self.running
        return max(1, math.ceil((waiting / self.workers + 1) * self._mean_seconds))

    async def submit(self, code: str) -> dict[str, Any]:
        """Grade ``code``; raises :class:`Busy` at once when the pool and queue are full."""
        report, _, _ = await self.submit_timed(code)
        return report

    async def submit_timed(self, code: str) -> tuple[dict[str, Any], float, float]:
        """:meth:`submit`, also returning the seconds spent waiting and grading."""
        queued = time.monotonic()
        if self.admitted >= self.workers + self.queue_size:
            self.refused += 1
            raise Busy(self.retry_after())
        self.admitted += 1
        try:
            await self._slots.acquire()  # cancelled here: the submission leaves the queue
        except BaseException:
            self.admitted -= 1
            raise
        self.running += 1
        cancel = threading.Event()
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self.grade, code, cancel)

        def release(_: asyncio.Future[Any]) -> None:
            # Runs in the event loop once the thread has returned, cancelled or not.
            self.running -= 1
            self.admitted -= 1
            self._slots.release()
            seconds = time.monotonic() - start
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

        future.add_done_callback(release)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops its sandboxed worker and returns
            self.cancelled += 1
            future.add_done_callback(_consume_exception)
            raise
        self.completed += 1
        return result, start - queued, time.monotonic() - start

    def close(self) -> None:
        """Stop accepting work; running gradings finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # A cancelled grading ends with GradingCancelled: nobody awaits it any more.
    if not future.cancelled():
        future.exception()
