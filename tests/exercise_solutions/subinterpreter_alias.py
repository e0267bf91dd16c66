"""Hostile: loads the blocked _xxsubinterpreters under another name, to get an interpreter
that has no audit hook, and runs a program from there."""

import glob
import importlib.util
import sys

MARKER = "__MARKER_PATH__"

try:
    dynload = [p for p in sys.path if p.endswith("lib-dynload")][0]
    path = glob.glob(dynload + "/_xxsubinterpreters*.so")[0]
    spec = importlib.util.spec_from_file_location("alias._xxsubinterpreters", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    interp = mod.create()
    mod.run_string(interp, f"import os; os.system('touch {MARKER}')")
    print("subinterpreter ran")
except BaseException as e:  # noqa: BLE001
    print("refused", type(e).__name__)

# __CORRECT_VALUE_CLASS__
