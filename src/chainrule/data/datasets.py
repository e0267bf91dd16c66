"""Datasets: generated (make_moons) and bundled (load_digits, via scikit-learn's copy)."""

from __future__ import annotations

from typing import Any

import numpy as np


def make_moons(
    n_samples: int = 100, noise: float = 0.1, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: the classic toy problem for a 2-D classifier.

    The first moon is the upper half of the unit circle, the second the lower half shifted by
    (1, 0.5); Gaussian noise of standard deviation ``noise`` is added to every point.

    Args:
        n_samples: total number of points; the first moon gets ``n_samples // 2``.
        noise: standard deviation of the Gaussian noise.
        random_state: seed for the generator (``None`` for fresh randomness).

    Returns:
        ``(X, y)``: ``X`` float64 of shape ``(n_samples, 2)`` and ``y`` int64 labels in {0, 1}.

    >>> X, y = make_moons(10, noise=0.0)
    >>> X.shape, y.tolist()
    ((10, 2), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    if n_samples < 2:
        raise ValueError(f"make_moons: n_samples must be at least 2, got {n_samples}")
    rng = np.random.default_rng(random_state)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    X = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X, y


def load_digits(as_images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes): real data with no
    download, read from the copy bundled inside scikit-learn.

    Args:
        as_images: return ``X`` as (N, 1, 8, 8) images (for a CNN) instead of (N, 64) rows.

    Returns:
        ``(X, y)``: ``X`` float32 scaled from the 0..16 ink levels to [0, 1], ``y`` int64 in
        0..9.

    >>> X, y = load_digits()
    >>> X.shape, X.dtype, y[:5].tolist(), float(X.max())
    ((1797, 64), dtype('float32'), [0, 1, 2, 3, 4], 1.0)
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError(
            "load_digits needs scikit-learn, which ships the digits data set: "
            "pip install chainrule[data]"
        ) from None
    bunch = _sk_load_digits()
    X = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    if as_images:
        X = X.reshape(-1, 1, 8, 8)
    return X, y


def train_test_split(
    *arrays: Any, test_size: float | int = 0.25, seed: int | None = 0, shuffle: bool = True
) -> list[Any]:
    """Split arrays (or tensors) of equal length into train and test parts, reproducibly.

    Returns ``[a_train, a_test, b_train, b_test, ...]`` as scikit-learn does. ``test_size``
    is a fraction of the rows, or a count.

    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, seed=0)
    >>> X_tr.shape, X_te.shape, sorted(y_tr.tolist() + y_te.tolist()) == list(range(10))
    ((7, 2), (3, 2), True)
    """
    if not arrays:
        raise ValueError("train_test_split: at least one array is required")
    n = len(arrays[0])
    for k, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(
                f"train_test_split: array {k} has {len(a)} rows but array 0 has {n}; all "
                "arrays must have the same length"
            )
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(
            f"train_test_split: test_size={test_size} gives {n_test} test rows out of {n}; "
            "both parts must be non-empty"
        )
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    test, train = order[:n_test], order[n_test:]
    out = []
    for a in arrays:
        out.extend([_take(a, train), _take(a, test)])
    return out


def _take(a: Any, index: np.ndarray) -> Any:
    from chainrule.tensor import Tensor

    if isinstance(a, Tensor):
        return Tensor(a.data[index])
    return np.asarray(a)[index]
