"""Hostile: writes a 200,000-deep JSON line to the grader's result pipe (the old parent died
of RecursionError)."""

import os
import sys

os.write(int(sys.argv[2]), b"[" * 200_000 + b"]" * 200_000 + b"\n")

# __CORRECT_VALUE_CLASS__
