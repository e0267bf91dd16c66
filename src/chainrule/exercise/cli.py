"""Command-line entry points: ``chainrule check FILE`` and ``chainrule exercise init [DIR]``.

``chainrule.cli`` calls :func:`check_main` and :func:`init_main` with the arguments that follow
the sub-command; each parses its own arguments and returns the exit code. For development:
``python -m chainrule.exercise.cli check solution.py`` or ``... init DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["check_main", "init_main"]


def check_main(argv: list[str]) -> int:
    """``chainrule check FILE [--json] [--timeout S] [--memory MIB]``; returns the exit code.

    0 when every required check passed, 1 when one did not, 2 for a usage error (including a
    file that does not exist).
    """
    parser = argparse.ArgumentParser(
        prog="chainrule check",
        description="Grade your own Value class (run in a sandboxed process).",
    )
    parser.add_argument("file", help="your solution, e.g. solution.py")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds per check (10)"
    )
    parser.add_argument(
        "--memory", type=int, default=1024, metavar="MIB", help="memory limit in MiB (1024)"
    )
    args = parser.parse_args(argv)
    if not os.path.lexists(args.file):
        print(f"chainrule check: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.timeout <= 0 or args.memory < 64:
        print("chainrule check: --timeout must be > 0 and --memory >= 64", file=sys.stderr)
        return 2
    from chainrule.exercise.runner import SolutionRejected, check_file

    try:
        with _exit_on_termination():
            report = check_file(args.file, timeout=args.timeout, memory_mb=args.memory)
    except SolutionRejected as e:
        print(f"chainrule check: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(report.format_text(color=color))
    return report.exit_code


@contextlib.contextmanager
def _exit_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP end the grader through its ``finally`` blocks (which kill the worker
    and remove a temporary directory) instead of killing it outright. Only in the main
    thread, where Python can install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def init_main(argv: list[str]) -> int:
    """``chainrule exercise init [DIR] [--force]``: write a starter solution.py and README.md."""
    parser = argparse.ArgumentParser(
        prog="chainrule exercise init",
        description="Write a starter solution.py and a README of the task.",
    )
    parser.add_argument("dir", nargs="?", default=".", help="where to write (default: here)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing solution.py")
    args = parser.parse_args(argv)
    from chainrule.exercise.starter import ExistsError, init_exercise

    try:
        written = init_exercise(args.dir, force=args.force)
    except ExistsError as e:
        print(f"chainrule exercise init: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    solution = os.path.join(args.dir, "solution.py")
    print(f"next: fill in the methods, then run  chainrule check {solution}")
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check_main(argv[1:])
    if argv[:1] == ["init"]:
        return init_main(argv[1:])
    print("usage: python -m chainrule.exercise.cli {check FILE | init [DIR]} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
