"""Run every benchmark in one process (``make bench``); numbers go to RESULTS.md by hand."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import THREADS, limit_threads, machine

MODULES = [
    "scalar",
    "overhead",
    "mlp_step",
    "eager_step",
    "jacobian",
    "hvp",
    "vmap",
    "compile",
    "train_digits",
    "memory",
]

if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    for name in sys.argv[1:] or MODULES:
        if not (Path(__file__).parent / f"{name}.py").exists():
            continue
        print(f"\n===== {name} =====")
        module = importlib.import_module(name)
        sys.argv = [f"{name}.py"]  # each benchmark parses its own (default) arguments
        module.main()
