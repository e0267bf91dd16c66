"""What every lesson shares: claims, the result record, and figure saving.

A lesson measures something and then *checks* a claim against the measurement. Each claim is
kept with the numbers it was checked on, so a reader (and the tests) can see why it holds or
why it does not. ``result.json`` is the same record on disk:
``{"lesson": NAME, "claims": [{"claim": ..., "holds": ..., "measured": {...}}], "figures": [...]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Claim:
    """One sentence the lesson asserts, whether the measurement bears it out, and the numbers."""

    claim: str
    holds: bool
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What ``run`` returns: the lesson's name, its checked claims and the files it wrote."""

    lesson: str
    out_dir: Path
    claims: list[Claim] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # file names inside out_dir

    @property
    def ok(self) -> bool:
        """True when every claim holds (the command then exits 0)."""
        return all(c.holds for c in self.claims)

    def claim(self, text: str, holds: bool, **measured: Any) -> Claim:
        """Record a claim and the numbers it was checked against."""
        c = Claim(text, bool(holds), {k: _plain(v) for k, v in measured.items()})
        self.claims.append(c)
        return c

    def to_json(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson,
            "claims": [
                {"claim": c.claim, "holds": c.holds, "measured": c.measured} for c in self.claims
            ],
            "figures": list(self.figures),
        }

    def save_figure(self, fig: Any, name: str) -> Path:
        """Write a matplotlib Figure as ``name`` (PNG) in out_dir and list it."""
        path = self.out_dir / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        self.figures.append(name)
        return path

    def write(self) -> Path:
        """Write result.json and return its path."""
        path = self.out_dir / "result.json"
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        return path


def start(lesson: str, out_dir: str | Path) -> Result:
    """Create out_dir and an empty Result for ``lesson``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return Result(lesson, out)


def figure(width: float = 8.0, height: float = 4.5, **kwargs: Any) -> Any:
    """A matplotlib Figure that draws with Agg, without pyplot (so no global state, no GUI,
    safe in a headless process). ``constrained_layout`` keeps titles and labels apart."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def _plain(value: Any) -> Any:
    """A JSON-safe copy: NumPy scalars and arrays to Python numbers and lists, NaN/inf to
    strings (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)
