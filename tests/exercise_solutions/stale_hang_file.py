"""Hostile: plants the old grader's stack-dump file as a symlink to /dev/zero (the old parent
read it at a timeout, gigabytes of zeros) and then hangs in backward()."""

import os

try:
    os.symlink("/dev/zero", ".chainrule-hang.txt")
except OSError:
    pass

# __CORRECT_VALUE_CLASS__


def _forever(self):
    while True:
        pass


Value.backward = _forever
