"""Hostile: makes 3,000 nested directories in its working directory (the old grader's
recursive cleanup crashed on them and left them on disk). Each level is added at the top
(mkdir n; rename d -> n/d; rename n -> d), so every path it uses stays short."""

import os

made = 0
try:
    os.mkdir("d")
    with open("d/data", "w") as f:
        f.write("learner data")
    for _ in range(3000):
        os.mkdir("n")
        os.rename("d", "n/d")
        os.rename("n", "d")
        made += 1
except OSError as e:
    print("stopped:", type(e).__name__)
print("made", made)

# __CORRECT_VALUE_CLASS__
