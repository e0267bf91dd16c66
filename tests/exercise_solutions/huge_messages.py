"""Hostile: sends 100 sandbox events of 4 MiB each on the result pipe (the old parent spent
69 s and 1.5 GB on them)."""

import os
import sys

fd = int(sys.argv[2])
line = b'{"type": "event", "what": "' + b"x" * (4 << 20) + b'", "where": ""}\n'
for _ in range(100):
    os.write(fd, line)

# __CORRECT_VALUE_CLASS__
