"""The exercise: ``chainrule check solution.py`` grades a learner's own ``Value`` class.

The learner's file runs in a sandboxed worker process (see ``README.md`` beside this file for
exactly what the sandbox prevents and what it does not); the grader's process judges what the
worker observed and reports, per check, what was computed, what was expected and how the
expectation was derived. :func:`grade_source` grades a string and returns the dict that
``chainrule check --json`` prints (thread-safe, cancellable: for a server).

>>> from chainrule.exercise import CHECKS
>>> sum(c.required for c in CHECKS) >= 10
True
"""

from chainrule.exercise.checks import CHECKS, Check, Verdict
from chainrule.exercise.report import CheckResult, Report, SandboxEvent
from chainrule.exercise.runner import SolutionRejected, check_file, check_source, grade_source
from chainrule.exercise.starter import init_exercise

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "Report",
    "SandboxEvent",
    "SolutionRejected",
    "Verdict",
    "check_file",
    "check_source",
    "grade_source",
    "init_exercise",
]
