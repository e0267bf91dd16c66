"""Tensor creation: ``tensor``, ``zeros``/``ones``/``full``/``eye``/``arange``/``linspace``,
random ``rand``/``randn``/``randint``/``randperm`` from a seedable ``Generator``, the
``*_like`` variants, and the zero-copy bridges ``from_numpy`` and ``from_dlpack``.

Every factory takes PyTorch's ``device=`` (checked: only the CPU exists in this build) and
the random ones ``generator=``.
"""

from __future__ import annotations

from typing import Any

from chainrule import _backend, _device
from chainrule._backend import xp
from chainrule._random import Generator, rng
from chainrule._random import manual_seed as manual_seed  # re-exported: cr.manual_seed
from chainrule.autograd.grad_mode import STATE
from chainrule.tensor import Tensor, _size


def _rng(generator: Generator | None = None) -> Any:
    """The NumPy stream to draw from (raises inside ``vmap(..., randomness="error")``)."""
    return rng(generator)


def _make(data: Any, dtype: Any, requires_grad: bool, device: Any = None) -> Tensor:
    if device is not None:
        _device.check(device)
    t = Tensor(data if dtype is None else data.astype(dtype, copy=False))
    if requires_grad:
        t.requires_grad_()
    return t


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become float32, Python ints int64, NumPy arrays keep their dtype.

    >>> tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    if device is not None:
        _device.check(device)
    if isinstance(data, Tensor):
        data = data.data
    elif isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in data):
        data = [v.data if isinstance(v, Tensor) else v for v in data]  # [t1, t2]: their values
    arr = _backend.as_array(data, None if dtype is None else xp.dtype(dtype))
    t = Tensor(arr.copy() if arr is data else arr)
    if requires_grad:
        t.requires_grad_()
    return t


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype``)."""
    data = xp.zeros(_size(size), dtype=dtype or _backend.default_float)
    return _make(data, None, requires_grad, device)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype``)."""
    data = xp.ones(_size(size), dtype=dtype or _backend.default_float)
    return _make(data, None, requires_grad, device)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (here: zeros, so that nothing stale leaks)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(
    size: Any,
    fill_value: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype follows the value, as in PyTorch)."""
    if dtype is None:
        dtype = _backend.as_array(fill_value).dtype
    return _make(xp.full(_size((size,)), fill_value, dtype=dtype), None, requires_grad, device)


def eye(
    n: int,
    m: int | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(xp.eye(n, m, dtype=dtype or _backend.default_float), None, requires_grad, device)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    device: Any = None,
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
    return _make(data, None, requires_grad, device)


def linspace(
    start: float,
    end: float,
    steps: int,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    data = xp.linspace(start, end, steps).astype(dtype or _backend.default_float)
    return _make(data, None, requires_grad, device)


def _draw(
    sample: Any,
    shape: tuple[int, ...],
    dtype: Any,
    requires_grad: bool,
    generator: Generator | None,
    device: Any,
) -> Tensor:
    """Samples of ``shape``; inside ``vmap(..., randomness="different")`` one independent draw
    per example, returned as a value batched at those vmap levels."""
    if device is not None:
        _device.check(device)
    levels = STATE.random_levels
    if not levels:
        return _make(sample(_rng(generator), shape).astype(dtype), None, requires_grad)
    sizes = tuple(level.size for level in levels)
    t: Any = _make(sample(_rng(generator), sizes + shape).astype(dtype), None, requires_grad)
    for level in levels:  # oldest first: its batch axis is the array's first
        t = level.wrap(t)
    return t


def rand(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples on [0, 1), from ``generator`` (else the default stream)."""
    dtype = dtype or _backend.default_float
    return _draw(lambda g, s: g.random(s), _size(size), dtype, requires_grad, generator, device)


def randn(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples, from ``generator`` (else the default stream)."""
    dtype = dtype or _backend.default_float
    return _draw(
        lambda g, s: g.standard_normal(s), _size(size), dtype, requires_grad, generator, device
    )


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Tensor:
    """Integers uniformly from [low, high) (``randint(high, size)`` starts at 0)."""
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint: expected randint(low, high, size) or randint(high, size)")
        low, high, size = 0, low, high
    data = _rng(generator).integers(low, high, _size((size,)), dtype=dtype or _backend.int64)
    return _make(data, None, False, device)


def randperm(
    n: int, *, generator: Generator | None = None, dtype: Any = None, device: Any = None
) -> Tensor:
    """A random permutation of 0 .. n-1 (int64)."""
    data = _rng(generator).permutation(int(n)).astype(dtype or _backend.int64)
    return _make(data, None, False, device)


def zeros_like(
    x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return _make(xp.zeros(x.shape, dtype=dtype or x.dtype), None, requires_grad, device)


def ones_like(
    x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return _make(xp.ones(x.shape, dtype=dtype or x.dtype), None, requires_grad, device)


def empty_like(
    x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return zeros_like(x, dtype, device, requires_grad)


def full_like(x: Tensor, fill_value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    return _make(xp.full(x.shape, fill_value, dtype=dtype or x.dtype), None, False, device)


def rand_like(
    x: Tensor, dtype: Any = None, device: Any = None, generator: Generator | None = None
) -> Tensor:
    return rand(*x.shape, generator=generator, dtype=dtype or x.dtype, device=device)


def randn_like(
    x: Tensor, dtype: Any = None, device: Any = None, generator: Generator | None = None
) -> Tensor:
    return randn(*x.shape, generator=generator, dtype=dtype or x.dtype, device=device)


def from_numpy(array: Any) -> Tensor:
    """A tensor that *shares* ``array``'s memory (no copy), as ``torch.from_numpy``: writes to
    either show in the other. The dtype is kept (float64 stays float64)."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy ndarray, got {type(array).__name__}")
    return Tensor(array)


def from_dlpack(x: Any) -> Tensor:
    """A tensor over another library's array by DLPack, without copying where the producer
    allows (NumPy, PyTorch and JAX CPU arrays, anything with ``__dlpack__``)."""
    if isinstance(x, Tensor):
        return x
    if not hasattr(x, "__dlpack__"):
        raise TypeError(
            f"from_dlpack: expected an object with __dlpack__ (a NumPy, PyTorch, JAX ... "
            f"array), got {type(x).__name__}"
        )
    device_type, _ = x.__dlpack_device__()
    if int(device_type) != 1:  # kDLCPU
        raise RuntimeError(
            f"from_dlpack: the array lives on DLPack device type {int(device_type)}, not the "
            "CPU; this build of chainrule has only the CPU. Move it to the CPU first."
        )
    return Tensor(xp.from_dlpack(x))
