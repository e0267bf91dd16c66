"""The ported scripts (``tests/ported``): PyTorch-style programs run twice, as written
(``import torch``) and with the imports rewritten to chainrule, and their printed outputs
compared line by line.

Comparison: ``torch.``/``chainrule.`` prefixes are dropped (``torch.float32`` prints as
``float32``), a ``Size([2, 3])`` reads as ``(2, 3)``, and numbers are compared with a
relative tolerance (float32 sums in a different order drift in the last digits over a
training run). Lines starting with ``~`` print draws from a random stream, which are not
PyTorch's (chainrule's streams are NumPy's PCG64), and are only checked to exist.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "ported"
SCRIPTS = sorted(
    p.name for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "conftest.py"
)
SRC = str(Path(__file__).resolve().parent.parent / "src")

# import lines, PyTorch -> chainrule (the rewrite a user makes by hand)
_REWRITES = [
    (re.compile(r"^(\s*)import torch\.(\S+) as (\w+)", re.M), r"\1import chainrule.\2 as \3"),
    (re.compile(r"^(\s*)import torch\b", re.M), r"\1import chainrule as torch"),
    (re.compile(r"^(\s*)from torch\.(\S+) import", re.M), r"\1from chainrule.\2 import"),
    (re.compile(r"^(\s*)from torch import", re.M), r"\1from chainrule import"),
]


def rewrite(source: str) -> str:
    """The script with its torch imports pointing at chainrule."""
    for pattern, repl in _REWRITES:
        source = pattern.sub(repl, source)
    return source


def test_rewrite() -> None:
    src = "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\n"
    assert rewrite(src) == (
        "import chainrule as torch\nimport chainrule.nn as nn\n"
        "from chainrule.utils.data import DataLoader\n"
    )


def _run(path: Path, source: str, tmp: Path) -> str:
    script = tmp / path.name
    script.write_text(source)
    (tmp / "_names.py").write_text((HERE / "_names.py").read_text())
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp, timeout=600
    )
    assert proc.returncode == 0, (
        f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


@functools.cache
def chainrule_output(name: str, tmp: str) -> str:
    return _run(HERE / name, rewrite((HERE / name).read_text()), Path(tmp))


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def normalize(line: str) -> str:
    line = re.sub(r"\b(?:torch|chainrule)\.", "", line)
    line = re.sub(r"Size\(\[([^\]]*)\]\)", r"(\1)", line)
    return re.sub(r",\)", ")", line)  # (5,) and Size([5]) -> (5)


def compare(got: str, want: str, rtol: float = 2e-3, atol: float = 1e-4) -> list[str]:
    """Differences between two outputs (empty when they agree)."""
    a, b = got.splitlines(), want.splitlines()
    if len(a) != len(b):
        return [f"{len(a)} lines vs {len(b)}"]
    problems = []
    for k, (x, y) in enumerate(zip(a, b)):
        if x.startswith("~") and y.startswith("~"):
            continue
        x, y = normalize(x), normalize(y)
        if _NUMBER.sub("#", x) != _NUMBER.sub("#", y):
            problems.append(f"line {k + 1}: {x!r} vs {y!r}")
            continue
        for u, v in zip(_NUMBER.findall(x), _NUMBER.findall(y)):
            if abs(float(u) - float(v)) > atol + rtol * abs(float(v)):
                problems.append(f"line {k + 1}: {u} vs {v} in {y!r}")
                break
    return problems


def test_compare() -> None:
    assert compare("x torch.Size([2, 3]) 1.0001", "x (2, 3) 1.0") == []
    assert compare("a 1.0", "a 2.0") != []
    assert compare("~ 1", "~ 2") == []
    assert compare("tensor (5,)", "tensor Size([5])") == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_runs_with_chainrule(name: str, tmp_path_factory) -> None:
    out = chainrule_output(name, str(tmp_path_factory.mktemp(name[:-3])))
    assert out.strip()


@pytest.mark.torch
@pytest.mark.parametrize("name", SCRIPTS)
def test_matches_torch(name: str, tmp_path_factory) -> None:
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp(name[:-3] + "_torch")
    want = _run(HERE / name, (HERE / name).read_text(), tmp)
    got = chainrule_output(name, str(tmp_path_factory.mktemp(name[:-3])))
    problems = compare(got, want)
    assert not problems, "\n".join(problems[:20])
