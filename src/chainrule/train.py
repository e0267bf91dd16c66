"""Reusable training loops: the digits MLP and CNN that ``chainrule tour``, ``examples/`` and
``benchmarks/`` run, plus the ``fit``/``evaluate`` helpers they are built from.

Everything is seeded (the split, the initial weights, the batch order), so a run is
reproducible on a given machine.

>>> result = train_digits_mlp(epochs=1, progress=False)
>>> sorted(k for k in result if k != "model")
['epoch_losses', 'epochs', 'parameters', 'seconds', 'test_accuracy', 'train_accuracy']
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from chainrule._backend import xp
from chainrule._threads import limit_threads
from chainrule.autograd.grad_mode import no_grad
from chainrule.creation import manual_seed
from chainrule.data.datasets import load_digits, train_test_split
from chainrule.data.loader import DataLoader
from chainrule.nn import functional as F
from chainrule.nn.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from chainrule.nn.module import Module
from chainrule.optim.adam import Adam
from chainrule.optim.lr_scheduler import CosineAnnealingLR
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor

__all__ = [
    "digits_cnn",
    "digits_mlp",
    "evaluate",
    "fit",
    "train_digits_cnn",
    "train_digits_mlp",
]


def evaluate(model: Module, X: Any, y: Any, batch_size: int = 512) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``(X, y)``, in eval mode, no graph."""
    was_training = model.training
    model.eval()
    correct, total_loss = 0, 0.0
    X, y = xp.asarray(X), xp.asarray(y)
    with no_grad():
        for start in range(0, len(X), batch_size):
            xb, yb = Tensor(X[start : start + batch_size]), Tensor(y[start : start + batch_size])
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.data.argmax(axis=1) == yb.data).sum())
    model.train(was_training)
    return correct / len(X), total_loss / len(X)


def fit(
    model: Module,
    optimizer: Optimizer,
    loader: Iterable[Any],
    epochs: int,
    scheduler: Any = None,
    progress: bool = True,
    desc: str = "train",
    validation: tuple[Any, Any] | None = None,
) -> list[float]:
    """Train with cross-entropy for ``epochs`` passes over ``loader``; return the mean
    training loss of each epoch. The bar (if ``progress``) shows loss and validation
    accuracy after each epoch."""
    model.train()
    epoch_losses = []
    epochs_iter: Iterable[int] = range(epochs)
    bar = _epoch_bar(epochs, desc) if progress else None
    if bar is not None:
        epochs_iter = bar
    for _ in epochs_iter:
        total, count = 0.0, 0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        if scheduler is not None:
            scheduler.step()
        epoch_losses.append(total / count)
        if bar is not None:
            info = {"loss": f"{epoch_losses[-1]:.4g}"}
            if validation is not None:
                info["val_acc"] = f"{evaluate(model, *validation)[0]:.4g}"
                model.train()
            bar.set_postfix(info)
    return epoch_losses


def _epoch_bar(epochs: int, desc: str) -> Any:
    """A tqdm bar over the epochs on stderr, or None without tqdm (the ``cli`` extra):
    training itself never needs it."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(range(epochs), desc=desc, file=sys.stderr, dynamic_ncols=True)


def digits_mlp(hidden: tuple[int, ...] = (256, 128), dropout: float = 0.2) -> Sequential:
    """64 pixels -> hidden ReLU layers (each followed by dropout) -> 10 classes."""
    layers: list[Module] = []
    width = 64
    for h in hidden:
        layers += [Linear(width, h), ReLU()] + ([Dropout(dropout)] if dropout else [])
        width = h
    return Sequential(*layers, Linear(width, 10))


def digits_cnn(channels: tuple[int, int] = (16, 32)) -> Sequential:
    """(1, 8, 8) -> conv 3x3 pad 1, ReLU, max-pool 2 -> (c1, 4, 4) -> conv 3x3 pad 1, ReLU,
    max-pool 2 -> (c2, 2, 2) -> linear -> 10 classes."""
    c1, c2 = channels
    return Sequential(
        Conv2d(1, c1, 3, padding=1),
        ReLU(),
        MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(c2 * 4, 10),
    )


def blas_threads(n: int | None) -> Any:
    """Context manager limiting NumPy's BLAS to ``n`` threads (no-op for None, or without
    threadpoolctl); ``cr.set_num_threads`` sets the same limit for the whole process. A
    digits-sized matmul takes microseconds, less than waking a second BLAS thread, and on a
    busy 2-core machine the threads' spinning makes it many times slower (measured: 5x), so
    training uses one unless told otherwise."""
    return limit_threads(n)


def _train_digits(
    model_fn: Any,
    images: bool,
    epochs: int,
    seed: int,
    progress: bool,
    batch_size: int,
    lr: float,
    desc: str,
    threads: int | None,
) -> dict[str, Any]:
    with blas_threads(threads):
        return _train_digits_body(model_fn, images, epochs, seed, progress, batch_size, lr, desc)


def _train_digits_body(
    model_fn: Any,
    images: bool,
    epochs: int,
    seed: int,
    progress: bool,
    batch_size: int,
    lr: float,
    desc: str,
) -> dict[str, Any]:
    X, y = load_digits(as_images=images)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=seed)
    manual_seed(seed)
    model = model_fn()
    optimizer = Adam(model.parameters(), lr=lr)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    loader = DataLoader((X_train, y_train), batch_size=batch_size, shuffle=True, seed=seed)
    start = time.perf_counter()
    losses = fit(model, optimizer, loader, epochs, scheduler, progress, desc, (X_test, y_test))
    seconds = time.perf_counter() - start
    return {
        "test_accuracy": evaluate(model, X_test, y_test)[0],
        "train_accuracy": evaluate(model, X_train, y_train)[0],
        "seconds": seconds,
        "epoch_losses": losses,
        "epochs": epochs,
        "parameters": sum(p.numel() for p in model.parameters()),
        "model": model,
    }


def train_digits_mlp(
    epochs: int = 40,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 32,
    lr: float = 2e-3,
    hidden: tuple[int, ...] = (256, 128),
    dropout: float = 0.2,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Train an MLP (64-256-128-10, ReLU, dropout 0.2) on scikit-learn's digits (80/20
    split): Adam with a cosine schedule. Test accuracy over seeds 0..4: 97.5% to 98.6%.

    Returns a dict with ``test_accuracy``, ``train_accuracy``, ``seconds`` (training time),
    ``epoch_losses``, ``epochs``, ``parameters`` and the trained ``model``. ``threads``
    limits NumPy's BLAS threads while training (None: leave them as they are).
    """
    return _train_digits(
        lambda: digits_mlp(hidden, dropout),
        False,
        epochs,
        seed,
        progress,
        batch_size,
        lr,
        "digits MLP",
        threads,
    )


def train_digits_cnn(
    epochs: int = 40,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 32,
    lr: float = 3e-3,
    channels: tuple[int, int] = (16, 32),
    threads: int | None = 1,
) -> dict[str, Any]:
    """Train a small CNN on the digits as (1, 8, 8) images (80/20 split): two conv-ReLU-pool
    blocks and a linear classifier, Adam with a cosine schedule. Test accuracy over seeds
    0..4: 98.1% to 99.2%. Returns the same dict as ``train_digits_mlp``."""
    return _train_digits(
        lambda: digits_cnn(channels),
        True,
        epochs,
        seed,
        progress,
        batch_size,
        lr,
        "digits CNN",
        threads,
    )
