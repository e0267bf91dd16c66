"""Sampling ops: ``multinomial``, ``bernoulli``, ``normal``. None is differentiable (a sample
is a constant to autograd, as in PyTorch); each draws from ``generator=`` when given, else
from the default stream (``chainrule.manual_seed``)."""

from __future__ import annotations

from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule._random import Generator, rng
from chainrule.ops._primitive import public
from chainrule.tensor import Tensor, wrap


@public()
def multinomial(
    x: Any, num_samples: int, replacement: bool = False, *, generator: Generator | None = None
) -> Any:
    """Draw ``num_samples`` category indices per row, with probabilities proportional to the
    row of ``x`` (non-negative weights, not necessarily normalised). int64, shape
    ``(num_samples,)`` for a vector, ``(rows, num_samples)`` for a matrix.

    Without ``replacement`` a category is drawn at most once per row, as in PyTorch.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {x.shape}")
    w = x.data.astype(_backend.float64)
    rows = w.reshape(1, -1) if x.ndim == 1 else w
    n_cat = rows.shape[1]
    if n_cat == 0:
        raise RuntimeError("multinomial: the distribution has no categories")
    if not xp.all(xp.isfinite(rows)) or xp.any(rows < 0):
        raise RuntimeError("multinomial: probability tensor contains inf, nan or element < 0")
    totals = rows.sum(axis=1)
    if xp.any(totals <= 0):
        raise RuntimeError("multinomial: invalid distribution (sum of probabilities <= 0)")
    num_samples = int(num_samples)
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and num_samples > n_cat:
        raise RuntimeError(
            f"multinomial: cannot sample n_sample > prob_dist.size(-1) ({num_samples} > "
            f"{n_cat}) samples without replacement"
        )
    stream = rng(generator)
    out = xp.empty((rows.shape[0], num_samples), dtype=_backend.int64)
    for r, (row, total) in enumerate(zip(rows, totals)):
        p = row / total
        if replacement:
            # inverse-CDF sampling: the first category whose cumulative weight exceeds u
            cdf = xp.cumsum(p)
            u = stream.random(num_samples) * cdf[-1]
            out[r] = xp.minimum(xp.searchsorted(cdf, u, side="right"), n_cat - 1)
        else:
            out[r] = stream.choice(n_cat, size=num_samples, replace=False, p=p)
    return wrap(out[0] if x.ndim == 1 else out)


@public()
def bernoulli(x: Any, p: Any = None, *, generator: Generator | None = None) -> Any:
    """1 with probability ``x`` (or ``p``), else 0, elementwise; the dtype of ``x``."""
    prob = x.data if p is None else xp.broadcast_to(xp.asarray(p, dtype=x.data.dtype), x.shape)
    draws = rng(generator).random(x.shape) < prob
    return wrap(draws.astype(x.data.dtype))


@public(method=False)
def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
) -> Any:
    """Samples of N(mean, std**2): tensor ``mean``/``std`` broadcast, or numbers with ``size``."""
    m = mean.data if isinstance(mean, Tensor) else mean
    s = std.data if isinstance(std, Tensor) else std
    shape = tuple(size) if size is not None else xp.broadcast_shapes(xp.shape(m), xp.shape(s))
    draws = rng(generator).normal(m, s, shape)
    if dtype is None:
        tensors = [t.data.dtype for t in (mean, std) if isinstance(t, Tensor)]
        dtype = tensors[0] if tensors else _backend.default_float
    return wrap(xp.asarray(draws, dtype=dtype))
