"""Hostile: writes half a JSON line to the result pipe before each blocked attempt, so that
the hook's event line is glued to it (the old parent dropped both: "no blocked operations,
PASS" for a file that tried to read a private key)."""

import os
import sys

SECRET = "__SECRET_PATH__"


def _sneak():
    os.write(int(sys.argv[2]), b'{"type": "event", "what": ')
    try:
        open(SECRET).read()
    except OSError:
        pass


# __CORRECT_VALUE_CLASS__

_backward_of = Value.backward


def _backward(self):
    _sneak()
    _backward_of(self)


Value.backward = _backward
