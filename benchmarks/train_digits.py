"""Seconds per training epoch on scikit-learn's digits: chainrule vs PyTorch eager on the CPU.

The same architectures as ``chainrule.train`` (MLP 64-256-128-10 with dropout 0.2; CNN
conv 1->16 3x3, pool, conv 16->32 3x3, pool, linear), the same 80/20 split, batch size 32,
Adam, cross-entropy, shuffled batches drawn from in-memory arrays. One warm-up epoch, then
the median (and min) of the timed epochs, the two libraries' epochs alternating. Both get
the same number of BLAS/intra-op threads: NumPy's BLAS through threadpoolctl and
``torch.set_num_threads`` (``--threads``, default 1: these matrices are too small for a
second thread to pay for itself).

    python benchmarks/train_digits.py [--epochs 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import machine, peer

BATCH = 32


def _data(images: bool) -> tuple[np.ndarray, ...]:
    from chainrule.data import load_digits, train_test_split

    X, y = load_digits(as_images=images)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, seed=0)
    return X_train, y_train


def chainrule_trainer(kind: str) -> Callable[[], None]:
    """A function that trains the chainrule model for one epoch."""
    import chainrule.nn.functional as F
    from chainrule.creation import manual_seed
    from chainrule.data import DataLoader
    from chainrule.optim import Adam
    from chainrule.train import digits_cnn, digits_mlp

    X, y = _data(kind == "cnn")
    manual_seed(0)
    model = digits_cnn() if kind == "cnn" else digits_mlp()
    opt = Adam(model.parameters(), lr=1e-3)
    loader = DataLoader((X, y), batch_size=BATCH, shuffle=True, seed=0)

    def epoch() -> None:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def torch_trainer(torch: Any, kind: str) -> Callable[[], None]:
    """A function that trains the same model in PyTorch for one epoch."""
    nn = torch.nn
    X, y = _data(kind == "cnn")
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(0)
    if kind == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128, 10),
        )
    else:
        model = nn.Sequential(
            nn.Linear(64, 256),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(256, 128),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(128, 10),
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch() -> None:
        order = torch.randperm(len(X))
        for s in range(0, len(X), BATCH):
            idx = order[s : s + BATCH]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def seconds(epoch: Callable[[], None]) -> float:
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv if argv is not None else [])
    from chainrule.train import blas_threads

    torch = peer("torch")
    print(machine())
    print(f"threads: NumPy BLAS {args.threads} (threadpoolctl), torch {args.threads}")
    if torch is not None:
        torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}")
    print("  median (min) ms per epoch; the two libraries' epochs alternate, so that load from")
    print("  other processes hits both alike")
    for kind in ("mlp", "cnn"):
        ours_epoch = chainrule_trainer(kind)
        theirs_epoch = torch_trainer(torch, kind) if torch is not None else None
        ours, theirs = [], []
        with blas_threads(args.threads):
            for k in range(args.epochs + 1):  # epoch 0 warms up
                t = seconds(ours_epoch)
                if k:
                    ours.append(t)
                if theirs_epoch is not None:
                    t = seconds(theirs_epoch)
                    if k:
                        theirs.append(t)
        line = f"  {kind.upper()}: chainrule {_ms(ours)}"
        if theirs:
            ratio = statistics.median(ours) / statistics.median(theirs)
            best = min(ours) / min(theirs)
            line += f"   torch {_ms(theirs)}   ratio {ratio:5.2f}x (min: {best:.2f}x)"
        print(line)


def _ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1e3:7.1f} ({min(times) * 1e3:6.1f})"


if __name__ == "__main__":
    main(sys.argv[1:])
