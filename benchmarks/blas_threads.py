"""Training steps per second of the digits MLP (batch 32, Adam) at 1 BLAS thread and at the
default count, alternating, to show what ``cr.set_num_threads`` is for.

    python benchmarks/blas_threads.py [--seconds 3]

On a 2-core machine shared with other busy processes (measured under load) the default
two threads gave 11-18 steps/s and one thread 870-990 steps/s: the second BLAS thread spins
waiting for a core, and these 32x64 @ 64x256 products are too small to gain from it anyway.
"""

from __future__ import annotations

import argparse
import time

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.data import load_digits, train_test_split
from chainrule.train import digits_mlp


def steps_per_second(threads: int, seconds: float) -> float:
    X, y = load_digits()
    X, _, y, _ = train_test_split(X, y, test_size=0.2, seed=0)
    cr.set_num_threads(threads)
    cr.manual_seed(0)
    model = digits_mlp()
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = cr.tensor(X[:32]), cr.tensor(y[:32])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        steps += 1
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    default = cr.get_num_threads()
    for n in (1, default, 1, default):
        print(f"threads={n}: {steps_per_second(n, args.seconds):,.0f} steps/s")
    cr.set_num_threads(default)


if __name__ == "__main__":
    main()
