"""The lesson's experiments, run for real: one module per claim of the lesson.

Each module here has a literate docstring (what it shows and why) and
``run(out_dir, quick=False) -> Result``: it runs the experiment with chainrule's public API,
writes its PNG figures and ``result.json`` into ``out_dir``, and checks each claim against
what it measured. ``chainrule lesson NAME`` runs one; ``chainrule tour`` runs them all.

>>> names()[:3]
['chain-rule', 'gradient-descent', 'vanishing']
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from chainrule.lessons._common import Claim, Result

__all__ = [
    "Claim",
    "Result",
    "load",
    "names",
    "one_blas_thread",
    "require_matplotlib",
    "run_lesson",
    "summary",
]

# command name -> module name, in the order the lesson tells the story
_LESSONS = {
    "chain-rule": "chain_rule",
    "gradient-descent": "gradient_descent",
    "vanishing": "vanishing",
    "zero-grad": "zero_grad",
    "nan-hunt": "nan_hunt",
    "in-place": "in_place",
    "forward-vs-reverse": "forward_vs_reverse",
    "hvp": "hvp",
    "reparameterization": "reparameterization",
    "memory": "memory",
    "micrograd": "micrograd",
}


def names() -> list[str]:
    """The lessons' command names, in teaching order."""
    return list(_LESSONS)


def load(name: str) -> ModuleType:
    """The module of lesson ``name`` (hyphens or underscores); KeyError if there is none."""
    key = name.replace("_", "-")
    if key not in _LESSONS:
        raise KeyError(f"no lesson named {name!r}; the lessons are: {', '.join(_LESSONS)}")
    return importlib.import_module(f"chainrule.lessons.{_LESSONS[key]}")


def summary(name: str) -> str:
    """The first line of the lesson's docstring."""
    doc = load(name).__doc__ or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.replace("``", "")  # reST code marks read as noise in a terminal


def one_blas_thread() -> Any:
    """Limit NumPy's BLAS to one thread while lessons run: their matrices are small, and on a
    busy machine extra BLAS threads spin and make each product several times slower."""
    from chainrule._threads import limit_threads

    return limit_threads(1)


def require_matplotlib() -> None:
    """Raise ImportError with the install hint when matplotlib (the ``viz`` extra) is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(
            "the lessons draw their figures with matplotlib: pip install 'chainrule[viz,data]'"
        )


def run_lesson(name: str, out_dir: str | Path, quick: bool = False) -> Result:
    """Run lesson ``name`` into ``out_dir`` (created if needed) and return its Result."""
    require_matplotlib()
    module = load(name)
    with one_blas_thread():
        return module.run(out_dir, quick=quick)
