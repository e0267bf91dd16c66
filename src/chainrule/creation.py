"""Tensor creation: ``tensor``, ``zeros``/``ones``/``full``/``eye``/``arange``/``linspace``,
random ``rand``/``randn`` from a seedable generator, and the ``*_like`` variants."""

from __future__ import annotations

from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.tensor import Tensor

_generator: list[Any] = [xp.random.default_rng()]


def manual_seed(seed: int) -> None:
    """Seed chainrule's random generator (``rand``, ``randn``, dropout, init)."""
    _generator[0] = xp.random.default_rng(seed)


def _rng() -> Any:
    if STATE.no_random:  # inside vmap(..., randomness="error")
        raise RuntimeError(
            "vmap: called a random function (rand, randn, dropout...) inside vmap with "
            "randomness='error'. Pass randomness='same' to share one draw across the batch, "
            "or draw the random values outside vmap and pass them in as a batched argument."
        )
    return _generator[0]


def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(data: Any, dtype: Any, requires_grad: bool) -> Tensor:
    t = Tensor(data if dtype is None else data.astype(dtype, copy=False))
    if requires_grad:
        t.requires_grad_()
    return t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become float32, Python ints int64, NumPy arrays keep their dtype.

    >>> tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = _backend.as_array(data, None if dtype is None else xp.dtype(dtype))
    t = Tensor(arr.copy() if arr is data else arr)
    if requires_grad:
        t.requires_grad_()
    return t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype``)."""
    return _make(xp.zeros(_shape(size), dtype=dtype or _backend.default_float), None, requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype``)."""
    return _make(xp.ones(_shape(size), dtype=dtype or _backend.default_float), None, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype follows the value, as in PyTorch)."""
    if dtype is None:
        dtype = _backend.as_array(fill_value).dtype
    return _make(xp.full(_shape((size,)), fill_value, dtype=dtype), None, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(xp.eye(n, m, dtype=dtype or _backend.default_float), None, requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 for integer arguments."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    ints = all(isinstance(v, int) for v in (start, end, step))
    data = xp.arange(start, end, step, dtype=dtype or (_backend.int64 if ints else None))
    if dtype is None and not ints:
        data = data.astype(_backend.default_float)
    return _make(data, None, requires_grad)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    data = xp.linspace(start, end, steps).astype(dtype or _backend.default_float)
    return _make(data, None, requires_grad)


def _draw(sample: Any, shape: tuple[int, ...], dtype: Any, requires_grad: bool) -> Tensor:
    """Samples of ``shape``; inside ``vmap(..., randomness="different")`` one independent draw
    per example, returned as a value batched at those vmap levels."""
    levels = STATE.random_levels
    if not levels:
        return _make(sample(_rng(), shape).astype(dtype), None, requires_grad)
    sizes = tuple(level.size for level in levels)
    t: Any = Tensor(sample(_rng(), sizes + shape).astype(dtype))
    for level in levels:  # oldest first: its batch axis is the array's first
        t = level.wrap(t)
    return t


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    dtype = dtype or _backend.default_float
    return _draw(lambda g, s: g.random(s), _shape(size), dtype, requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dtype = dtype or _backend.default_float
    return _draw(lambda g, s: g.standard_normal(s), _shape(size), dtype, requires_grad)


def randint(low: int, high: int, size: Any, dtype: Any = None) -> Tensor:
    """Integers uniformly from [low, high)."""
    return Tensor(_rng().integers(low, high, _shape((size,)), dtype=dtype or _backend.int64))


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(xp.zeros(x.shape, dtype=dtype or x.dtype), None, requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(xp.ones(x.shape, dtype=dtype or x.dtype), None, requires_grad)


def full_like(x: Tensor, fill_value: Any, dtype: Any = None) -> Tensor:
    return _make(xp.full(x.shape, fill_value, dtype=dtype or x.dtype), None, False)


def rand_like(x: Tensor, dtype: Any = None) -> Tensor:
    return rand(*x.shape, dtype=dtype or x.dtype)


def randn_like(x: Tensor, dtype: Any = None) -> Tensor:
    return randn(*x.shape, dtype=dtype or x.dtype)
