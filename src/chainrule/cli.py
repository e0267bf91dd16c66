"""The ``chainrule`` command: ``tour``, ``check FILE`` and ``exercise init [DIR]``."""

from __future__ import annotations

import argparse
import sys


def _tour(argv: list[str]) -> int:
    from chainrule.tour import main as tour_main

    return tour_main(argv)


def _check(argv: list[str]) -> int:
    from chainrule.exercise.cli import check_main

    return check_main(argv)


def _lesson(argv: list[str]) -> int:
    from chainrule.lessons._cli import lesson_main

    return lesson_main(argv)


def _exercise(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chainrule exercise")
    parser.add_argument("action", choices=["init"], help="write a starter solution.py")
    _, rest = parser.parse_known_args(argv)
    from chainrule.exercise.cli import init_main

    return init_main(rest)


def _graph(argv: list[str]) -> int:
    from chainrule.viz.expr import main as graph_main

    return graph_main(argv)


def _serve(argv: list[str]) -> int:
    from chainrule.serve.cli import serve_main

    return serve_main(argv)


COMMANDS = {
    "tour": (_tour, "train networks, run every lesson, write chainrule-out/index.html"),
    "lesson": (_lesson, "run one of the lesson's experiments: chainrule lesson [NAME]"),
    "check": (_check, "grade your own Value class: chainrule check solution.py"),
    "exercise": (_exercise, "start the exercise: chainrule exercise init [DIR]"),
    "graph": (_graph, 'draw an expression and its gradients: chainrule graph "x*y" x=2 y=3'),
    "serve": (_serve, "the exercise as a local web page: chainrule serve [--port 8000]"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: chainrule COMMAND [ARGS]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nchainrule: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    command, _ = COMMANDS[argv[0]]
    return command(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
