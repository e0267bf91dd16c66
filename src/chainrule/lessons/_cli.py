"""``chainrule lesson [NAME] [--out DIR] [--quick]``: list the lessons or run one.

Exit codes: 0 when every claim of the lesson holds, 1 when one does not (it is printed with
✗ and its numbers, never hidden), 2 for a usage error such as an unknown lesson name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chainrule.lessons import names, run_lesson, summary


def mark(holds: bool) -> str:
    """✓ or ✗, or plain words when the terminal cannot print them."""
    symbol = "✓" if holds else "✗"
    try:
        symbol.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ok  " if holds else "FAIL"
    return symbol


def format_value(value: Any, limit: int = 8, text_limit: int = 120) -> str:
    """A short text form of a measured number, list or dict (floats to 4 significant digits,
    at most ``limit`` list items, text cut to its first line and ``text_limit`` characters;
    ``text_limit=0`` keeps text whole)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(format_value(v, limit, text_limit) for v in value[:limit])
        return f"[{shown}{', ...' if len(value) > limit else ''}]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {format_value(v, limit, text_limit)}" for k, v in value.items())
        return "{" + inner + "}"
    text = str(value)
    if not text_limit:
        return text
    first = text.splitlines()[0] if text else text
    return first if len(first) <= text_limit else first[: text_limit - 3] + "..."


def print_result(result: Any, out: Any = None) -> None:
    """Print a lesson's claims with ✓/✗, their numbers, and where its figures are."""
    out = out or sys.stdout
    print(f"lesson {result.lesson}:", file=out)
    for c in result.claims:
        print(f"  {mark(c.holds)} {c.claim}", file=out)
        for key, value in c.measured.items():
            if isinstance(value, str) and "\n" in value:  # an error message: all of it
                indented = value.rstrip().replace("\n", "\n        ")
                print(f"      {key}: {indented}", file=out)
            else:
                print(f"      {key}: {format_value(value)}", file=out)
    for name in result.figures:
        print(f"  figure: {result.out_dir / name}", file=out)
    print(f"  result: {result.out_dir / 'result.json'}", file=out)


def lesson_main(argv: list[str]) -> int:
    """Entry point of ``chainrule lesson``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="chainrule lesson",
        description="Run one of the lesson's experiments: it writes PNG figures and "
        "result.json, and checks each claim against what it measured. Without NAME, list "
        "the lessons.",
        epilog="exit status: 0 all claims hold, 1 a claim does not hold, 2 usage error",
    )
    parser.add_argument("name", nargs="?", help="the lesson to run (see the list)")
    parser.add_argument("--out", default=None, help="output folder (default: chainrule-out/NAME)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = parser.parse_args(argv)
    if args.name is None:
        print("lessons (run one with: chainrule lesson NAME [--out DIR] [--quick]):")
        for name in names():
            print(f"  {name:<19} {summary(name)}")
        return 0
    if args.name.replace("_", "-") not in names():
        print(
            f"chainrule lesson: unknown lesson {args.name!r}; choose from: {', '.join(names())}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out) if args.out else Path("chainrule-out") / args.name.replace("_", "-")
    try:
        result = run_lesson(args.name, out, quick=args.quick)
    except ImportError as err:  # matplotlib or scikit-learn (the digits) is not installed
        print(f"chainrule lesson: {err}", file=sys.stderr)
        return 1
    print_result(result)
    if not result.ok:
        failed = sum(not c.holds for c in result.claims)
        print(f"{failed} claim(s) did not hold", file=sys.stderr)
        return 1
    return 0
