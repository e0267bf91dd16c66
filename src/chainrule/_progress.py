"""A dependency-free progress bar for the command line (tqdm is optional, not required)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    """Wrap an iterable and redraw one status line on stderr: ``desc [####....] 12/40 info``.

    ``set(**info)`` attaches values (loss, accuracy) shown at the end of the line. Drawing is
    throttled to 10 Hz so that a fast loop is not slowed by terminal writes.
    """

    def __init__(self, iterable: Iterable[T], total: int | None = None, desc: str = "") -> None:
        self.iterable = iterable
        self.total = total if total is not None else len(iterable)  # type: ignore[arg-type]
        self.desc = desc
        self.info: dict[str, str] = {}
        self.count = 0
        self._last = 0.0
        self._start = time.perf_counter()
        self._stream = sys.stderr

    def set(self, **info: float | str) -> None:
        self.info = {k: f"{v:.4g}" if isinstance(v, float) else str(v) for k, v in info.items()}

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        width = 24
        filled = int(width * self.count / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        info = " ".join(f"{k}={v}" for k, v in self.info.items())
        elapsed = now - self._start
        line = f"\r{self.desc} [{bar}] {self.count}/{self.total} {elapsed:5.1f}s {info}"
        self._stream.write(line)
        self._stream.flush()

    def __iter__(self) -> Iterator[T]:
        for item in self.iterable:
            yield item
            self.count += 1
            self._draw()
        self._draw(force=True)
        self._stream.write("\n")
