"""The grader's report: one verdict per check, as readable text or as JSON.

>>> r = Report("solution.py", [CheckResult("import", True, "pass", "found class Value")])
>>> r.passed, r.exit_code
(True, 0)
>>> print(r.format_text(color=False).splitlines()[1])
  PASS     import             found class Value
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckResult", "Report", "SandboxEvent", "escape_text"]

# Statuses a check can end with. Only "pass" satisfies a required check.
STATUSES = ("pass", "fail", "skip", "timeout", "crash", "not_run")
_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "skip": "SKIP",
    "timeout": "TIMEOUT",
    "crash": "CRASH",
    "not_run": "NOT RUN",
}
_COLORS = {
    "pass": "\033[32m",
    "fail": "\033[31m",
    "skip": "\033[33m",
    "timeout": "\033[31m",
    "crash": "\033[31m",
    "not_run": "\033[2m",
}
_RESET, _BOLD, _DIM = "\033[0m", "\033[1m", "\033[2m"
_WIDTH = 100


@dataclass
class CheckResult:
    """The verdict of one check: ``status`` is one of STATUSES; ``details`` extra lines."""

    name: str
    required: bool
    status: str
    message: str
    details: str = ""
    seconds: float = 0.0


@dataclass
class SandboxEvent:
    """One operation the sandbox refused: what, where in the learner's file, during which check."""

    what: str
    where: str
    during: str
    count: int = 1  # identical attempts (same operation, same line) are reported once

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        again = f", {self.count} times in all" if self.count > 1 else ""
        return f"blocked {self.what}{at} (during {self.during}{again})"


@dataclass
class Report:
    """Everything ``chainrule check`` found out about one solution file."""

    file: str
    checks: list[CheckResult]
    events: list[SandboxEvent] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    output_bytes: int = 0
    output_truncated: bool = False
    cancelled: bool = False
    # The lesson's example drawn from the learner's class (graph_export.validate's dict), only
    # on a passing report.
    graph: dict[str, Any] | None = None

    @property
    def isolation(self) -> str:
        """``"namespaces"`` when the worker ran under bubblewrap, else ``"reduced"``."""
        return "namespaces" if self.layers.get("namespaces", "").startswith("on") else "reduced"

    @property
    def passed(self) -> bool:
        """True when every required check passed (optional checks never count)."""
        return all(c.status == "pass" for c in self.checks if c.required)

    @property
    def exit_code(self) -> int:
        """0 when every required check passed, 1 otherwise."""
        return 0 if self.passed else 1

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become strings)."""
        required = [c for c in self.checks if c.required]
        return _finite(
            {
                "file": self.file,
                "passed": self.passed,
                "exit_code": self.exit_code,
                "summary": {
                    "required": len(required),
                    "required_passed": sum(c.status == "pass" for c in required),
                    "optional": len(self.checks) - len(required),
                    "optional_passed": sum(
                        c.status == "pass" for c in self.checks if not c.required
                    ),
                },
                "checks": [asdict(c) for c in self.checks],
                "cancelled": self.cancelled,
                "sandbox": {
                    "isolation": self.isolation,
                    "layers": self.layers,
                    "events": [asdict(e) for e in self.events],
                },
                "limits": self.limits,
                "graph": self.graph,
                "output": {
                    "text": self.output,
                    "bytes": self.output_bytes,
                    "truncated": self.output_truncated,
                },
            }
        )

    def format_text(self, color: bool = False) -> str:
        """The human-readable report; ANSI colours only when ``color`` is true.

        Everything that can come from the learner's code (messages quoting it, tracebacks,
        its prints, file names) has its control characters escaped: a print of terminal
        escapes cannot draw a fake "PASS" screen.
        """

        def paint(text: str, code: str) -> str:
            text = escape_text(text)
            return f"{code}{text}{_RESET}" if color else text

        lines = [paint(f"chainrule check {self.file}", _BOLD)]
        if self.isolation == "reduced" and self.layers:
            lines.append(paint("warning: " + self.layers.get("namespaces", ""), _BOLD))
        indent = " " * 30
        for c in self.checks:
            label = paint(f"{_LABELS.get(c.status, c.status.upper()):<8}", _COLORS[c.status])
            opt = "" if c.required else "(optional) "
            body = textwrap.wrap(escape_text(opt + c.message), _WIDTH - len(indent)) or [""]
            lines.append(f"  {label} {c.name:<18} {body[0]}")
            lines.extend(indent + rest for rest in body[1:])
            if c.details and c.status != "pass":
                for detail in c.details.splitlines()[:40]:
                    lines.append(indent + paint(detail, _DIM))
        layer_text = ", ".join(f"{k} {v}" for k, v in self.layers.items())
        if layer_text:
            lines.append(paint(f"sandbox: {layer_text}", _DIM))
        if self.output_bytes:
            cut = " (cut at the output limit)" if self.output_truncated else ""
            lines.append(f"your code printed {self.output_bytes} bytes{cut}; the first lines:")
            lines.extend("  | " + escape_text(ln) for ln in self.output.splitlines()[:10])
        required = [c for c in self.checks if c.required]
        ok = sum(c.status == "pass" for c in required)
        optional = [c for c in self.checks if not c.required]
        opt_ok = sum(c.status == "pass" for c in optional)
        verdict = paint("PASS", _COLORS["pass"]) if self.passed else paint("FAIL", _COLORS["fail"])
        lines.append(
            f"result: {verdict} - {ok} of {len(required)} required checks passed"
            f" ({opt_ok} of {len(optional)} optional)"
        )
        return "\n".join(lines)


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def escape_text(text: str) -> str:
    r"""``text`` with control characters (but newline) shown as escapes, never interpreted.

    C0 and C1 controls (ESC starts every terminal sequence), zero-width and bidirectional
    marks (which could reorder what a reader sees) become ``\xNN`` or ``\uNNNN``.

    >>> escape_text("ok\x1b[2J\u202e")
    'ok\\x1b[2J\\u202e'
    """
    return _CONTROL.sub(_escape_one, text)


def _escape_one(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
