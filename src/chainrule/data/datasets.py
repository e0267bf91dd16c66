"""Datasets: generated (make_moons) and bundled (load_digits, via scikit-learn's copy)."""

from __future__ import annotations

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
