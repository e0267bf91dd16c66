"""The array namespace ``xp`` and the dtype policy.

Primitives never import numpy directly: they use ``xp`` from here, so that a CuPy backend can
be swapped in by changing this one module. The dtype policy follows PyTorch: Python floats
become float32 (the default float dtype), integer data stays int64, and mixing float32 with
float64 promotes to float64 unless one side is a 0-d tensor (a "scalar"), which never
upcasts a dimensioned tensor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

xp = numpy

float32 = xp.dtype("float32")
float64 = xp.dtype("float64")
float16 = xp.dtype("float16")
int64 = xp.dtype("int64")
int32 = xp.dtype("int32")
int16 = xp.dtype("int16")
int8 = xp.dtype("int8")
uint8 = xp.dtype("uint8")
bool_ = xp.dtype("bool")

default_float = float32


def set_default_dtype(dtype: object) -> None:
    """The dtype Python floats become (float32 unless changed; PyTorch's
    ``set_default_dtype``): float16, float32 or float64. Process-wide, as in PyTorch."""
    global default_float
    d = xp.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported, got {d}")
    default_float = d


def get_default_dtype() -> numpy.dtype:
    return default_float


#: dtype kinds ordered like PyTorch's categories: bool < integer < floating.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def is_float(dtype: numpy.dtype) -> bool:
    """True for floating dtypes, the only ones that can carry gradients."""
    return dtype.kind == "f"


def promote_types(a: numpy.dtype, b: numpy.dtype) -> numpy.dtype:
    """PyTorch's ``promote_types``: across categories (bool < integer < floating) the higher
    category's dtype wins as it is (``int64`` with ``float32`` is ``float32``, ``int64`` with
    ``float16`` is ``float16``; NumPy would give ``float64``); within a category the wider one
    (where NumPy agrees: ``uint8`` with ``int8`` is ``int16``)."""
    if a == b:
        return a
    ca, cb = _CATEGORY.get(a.kind, 2), _CATEGORY.get(b.kind, 2)
    if ca != cb:
        return a if ca > cb else b
    return xp.promote_types(a, b)


def result_dtype(a: Any, b: Any) -> numpy.dtype:
    """The dtype of a binary op on ``a`` and ``b``, by PyTorch's promotion rules
    (``torch.result_type``).

    Operands rank by priority: dimensioned tensors, then 0-d tensors, then Python numbers
    (which ``_scalar_operand`` has already made 0-d arrays of the tensor's dtype, or of the
    default float dtype for a float meeting an integer tensor). Operands of one priority
    combine by ``promote_types``. A lower-priority operand changes the result only when its
    category is higher, and then its own dtype is taken: ``x32 * tensor(2.0, dtype=float64)``
    stays float32, ``int_tensor * tensor(2.5, dtype=float64)`` is float64, ``int_tensor *
    2.5`` is float32. ``a`` and ``b`` are arrays or tensors (anything with ``dtype`` and
    ``ndim``).
    """
    da, db = a.dtype, b.dtype
    if da == db:
        return da
    a_dim, b_dim = a.ndim > 0, b.ndim > 0
    if a_dim == b_dim:
        return promote_types(da, db)
    ca, cb = _CATEGORY.get(da.kind, 2), _CATEGORY.get(db.kind, 2)
    dim_dtype, dim_cat, scal_dtype, scal_cat = (da, ca, db, cb) if a_dim else (db, cb, da, ca)
    if scal_cat <= dim_cat:
        return dim_dtype
    return scal_dtype


def as_array(value: object, dtype: numpy.dtype | None = None) -> numpy.ndarray:
    """Convert Python data to a backend array with PyTorch's defaults (floats -> float32)."""
    if isinstance(value, xp.ndarray):
        return value if dtype is None else value.astype(dtype, copy=False)
    if isinstance(value, xp.generic):
        return xp.asarray(value, dtype=dtype)
    arr = xp.asarray(value, dtype=dtype)
    if dtype is None and arr.dtype == float64:
        arr = arr.astype(default_float)  # Python floats mean the default dtype, as in PyTorch
    return arr


def broadcast_to(x: numpy.ndarray, shape: tuple[int, ...]) -> numpy.ndarray:
    """``x`` broadcast to ``shape``: a read-only view, except that one value spread over a
    small shape is materialised with ``full`` (NumPy's ``broadcast_to`` costs microseconds of
    Python per call, which dominates backward on small tensors; the copy is cheaper there).
    """
    if x.size == 1 and math.prod(shape) <= 4096:
        return full(shape, x.reshape(()), x.dtype)
    return xp.broadcast_to(x, shape)


def reduce_sum(x: numpy.ndarray, axis: object, keepdims: bool) -> numpy.ndarray:
    """``x.sum(axis, keepdims=...)`` by the ufunc directly (the method adds a Python frame)."""
    return xp.add.reduce(x, axis=axis, keepdims=keepdims)


def full(shape: tuple[int, ...], value: object, dtype: numpy.dtype) -> numpy.ndarray:
    """``xp.full`` without its Python-level overhead (empty + fill is ~3x faster when small)."""
    out = xp.empty(shape, dtype)
    out.fill(value)
    return out


def erf(x: numpy.ndarray) -> numpy.ndarray:
    """The error function, elementwise, to float64 accuracy (NumPy has none of its own).

    For |x| < 3 it sums ``erf(x) = 2/sqrt(pi) * exp(-x**2) * sum_n (2x**2)**n x / (2n+1)!!``,
    a series of positive terms (no cancellation). Beyond, ``erfc`` is evaluated by its
    continued fraction, which converges quickly there.
    """
    x = xp.asarray(x)
    a = xp.abs(x).astype(float64)
    out = xp.empty_like(a)
    small = a < 3.0
    s = a[small]
    if s.size:
        term = s.copy()
        total = s.copy()
        x2 = 2.0 * s * s
        for n in range(1, 90):  # worst case a = 3: terms shrink below 1e-17 of the sum by n ~ 80
            term = term * x2 / (2 * n + 1)
            total += term
        out[small] = 2.0 / xp.sqrt(xp.pi) * xp.exp(-s * s) * total
    big = ~small
    b = a[big]
    if b.size:
        # erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...))))),
        # evaluated bottom-up with a fixed depth that is ample for x >= 3.
        frac = xp.zeros_like(b)
        for k in range(60, 0, -1):
            frac = (k / 2.0) / (b + frac)
        erfc = xp.exp(-b * b) / xp.sqrt(xp.pi) / (b + frac)
        out[big] = 1.0 - erfc
    return (xp.sign(x) * out).astype(x.dtype if x.dtype.kind == "f" else float64)
