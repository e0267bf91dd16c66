"""Reductions: sum, amax/amin, logsumexp. ``mean``, ``var`` and ``std`` are compositions.

``dim`` is normalised by the public wrappers to a sorted tuple of non-negative axes (or
``None`` for all), so the rules can rebuild the kept-dims shape to broadcast ``g`` back.
"""

from __future__ import annotations

import math
import warnings
from collections import namedtuple
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind, public
from chainrule.ops.elementwise import _float_input, exp, maximum, minimum, sqrt, where
from chainrule.ops.shape import _dims, arg_extreme, reshape, squeeze, take_along_dim, to
from chainrule.tensor import Tensor, wrap


def kept_shape(shape: tuple[int, ...], dim: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the keepdim=True shape)."""
    if dim is None:
        return (1,) * len(shape)
    return tuple(1 if i in dim else n for i, n in enumerate(shape))


def _unreduce(g: Any, x: Any, dim: Any, keepdim: bool) -> Any:
    """Reshape a reduction's cotangent so it broadcasts against the input again."""
    if keepdim or dim is None:
        return g  # already broadcastable: kept dims, or a 0-d total
    return S.reshape_to(g, kept_shape(x.shape, dim))


sum_p = Primitive("sum", lambda x, dim, keepdim: _backend.reduce_sum(x, dim, keepdim), linear=True)
# d/dx_i sum(x) = 1: every input entry gets the cotangent of the sum it fell into
sum_p.defvjp(lambda g, out, x, dim, keepdim: S.expand_to(_unreduce(g, x, dim, keepdim), x.shape))


def _extreme_primitive(name: str, impl: Any) -> Primitive:
    prim = Primitive(
        name,
        lambda x, dim, keepdim: impl(x, axis=dim, keepdims=keepdim),
        saves=(0,),
        saves_out=True,
    )

    def share(x: Any, out: Any, dim: Any, keepdim: bool) -> Any:
        # d/dx_i max(x) = 1 at the maximum; ties share it evenly (as PyTorch's amax/amin)
        hit = (x == _unreduce(out, x, dim, keepdim)).to(x.dtype)
        return hit / sum(hit, dim, True)

    prim.defvjp(
        lambda g, out, x, dim, keepdim: _unreduce(g, x, dim, keepdim) * share(x, out, dim, keepdim)
    )
    prim.defjvp(lambda t, out, x, dim, keepdim: sum(t * share(x, out, dim, keepdim), dim, keepdim))
    return prim


amax_p = _extreme_primitive("amax", xp.amax)
amin_p = _extreme_primitive("amin", xp.amin)


def _logsumexp_impl(x: Any, dim: Any, keepdim: bool) -> Any:
    # log sum e^x = m + log sum e^(x - m) with m = max x: no overflow at |x| = 1000
    m = xp.amax(x, axis=dim, keepdims=True, initial=-xp.inf)  # an empty slice: log 0 = -inf
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) slices: leave them to log/exp
    with xp.errstate(divide="ignore"):
        out = xp.log(xp.sum(xp.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else xp.squeeze(out, axis=dim)


logsumexp_p = Primitive("logsumexp", _logsumexp_impl, saves=(0,), saves_out=True)
# d/dx logsumexp(x) = softmax(x) = exp(x - logsumexp(x))
logsumexp_p.defvjp(
    lambda g, out, x, dim, keepdim: (
        _unreduce(g, x, dim, keepdim) * exp(x - _unreduce(out, x, dim, keepdim))
    )
)
logsumexp_p.defjvp(
    lambda t, out, x, dim, keepdim: sum(t * exp(x - _unreduce(out, x, dim, keepdim)), dim, keepdim)
)


def _reduce_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    # the per-example dims shift by one; "all dims" means every per-example dim, never the
    # batch axis
    (v,) = values
    dim = params["dim"]
    if dim is None:
        dim = tuple(range(v.ndim - 1))
    nd = (v.ndim - 1) or 1
    return bind(prim, (v,), {**params, "dim": tuple(d % nd + 1 for d in dim)})


for _p in (sum_p, amax_p, amin_p, logsumexp_p):
    _p.batch = _reduce_batch


# --- public functions -----------------------------------------------------------------------


@public()
def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the maximum (flattened when ``dim`` is None). Integer result: no gradient."""
    _check_arg_reduction(x, dim, "argmax")
    if x._level is not None:
        return arg_extreme(xp.argmax, x, dim, keepdim)
    return wrap(xp.argmax(x.data, axis=dim, keepdims=keepdim))


@public()
def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the minimum (flattened when ``dim`` is None). Integer result: no gradient."""
    _check_arg_reduction(x, dim, "argmin")
    if x._level is not None:
        return arg_extreme(xp.argmin, x, dim, keepdim)
    return wrap(xp.argmin(x.data, axis=dim, keepdims=keepdim))


def _check_arg_reduction(x: Any, dim: Any, op: str) -> None:
    """An index of nothing does not exist: PyTorch's IndexError, not NumPy's ValueError."""
    d = _dims(x, dim, op)
    if (x.numel() == 0 and d is None) or (d and x.shape[d[0]] == 0):
        raise IndexError(
            f"{op}: cannot take the {op} of an empty {'tensor' if d is None else 'dim'} "
            f"(shape {tuple(x.shape)}{'' if d is None else f', dim {dim}'})"
        )


@public()
def sum(x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    """Sum over ``dim`` (all dims when None).   d/dx_i sum(x) = 1."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if dtype is not None:
        x = to(x, dtype)
    elif x.data.dtype.kind in "bi":
        x = to(x, _backend.int64)
    return bind(sum_p, (x,), {"dim": _dims(x, dim, "sum"), "keepdim": keepdim})


def _count(x: Any, dims: tuple[int, ...] | None) -> int:
    shape = x.shape
    return math.prod(shape) if dims is None else math.prod(shape[d] for d in dims)


@public()
def mean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Mean over ``dim``.   d/dx_i mean(x) = 1/n."""
    if x.data.dtype.kind != "f":
        raise TypeError(
            f"mean: expected a floating point tensor, got {x.data.dtype}; use x.float().mean()"
        )
    dims = _dims(x, dim, "mean")
    n = _count(x, dims)
    return sum(x, dims, keepdim) * (1.0 / n if n else math.nan)  # empty: nan, as PyTorch


@public()
def var(
    x: Any, dim: Any = None, keepdim: bool = False, *, correction: float = 1, unbiased: Any = None
) -> Any:
    """Variance with Bessel's ``correction`` (1 by default, as PyTorch).

    var = sum((x - mean)**2) / (n - correction);  d/dx_i var = 2 (x_i - mean) / (n - correction).
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _dims(x, dim, "var")
    d = x - mean(x, dims, keepdim=True)
    dof = _count(x, dims) - correction
    if dof <= 0:
        # As PyTorch: warn, and divide by zero (nan or inf) rather than raise.
        warnings.warn(
            f"var: degrees of freedom is <= 0 (correction {correction} for {_count(x, dims)} "
            "entries per reduction)",
            UserWarning,
            stacklevel=2,
        )
        return sum(d * d, dims, keepdim) / 0.0
    return sum(d * d, dims, keepdim) * (1.0 / dof)


@public()
def std(
    x: Any, dim: Any = None, keepdim: bool = False, *, correction: float = 1, unbiased: Any = None
) -> Any:
    """Standard deviation: sqrt(var(x)).   d/dx_i std = (x_i - mean) / ((n - correction) std),
    and 0 where std is 0 (a constant slice), as PyTorch, rather than 0 * inf = nan."""
    v = var(x, dim, keepdim, correction=correction, unbiased=unbiased)
    zero = v == 0  # sqrt'(0) is inf: take sqrt of 1 there and put 0 back (a constant mask)
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme_with_nan(prim: Any, x: Any) -> Any:
    """max()/min() of all entries when some examples of a vmap stack hold a NaN: per example,
    the mean of its NaN entries (NaN, the gradient shared by them) if it has any, else the
    extreme of the others. The boolean index of the eager path has no batched form."""
    nan = x != x  # a constant mask, batched with x
    k = sum(nan.to(x.dtype))
    of_nans = sum(where(nan, x, 0.0)) / maximum(k, 1.0)
    fill = -xp.inf if prim is amax_p else xp.inf  # out of the way of the extreme
    rest = bind(prim, (where(nan, fill, x),), {"dim": None, "keepdim": False})
    return where(k > 0, of_nans, rest)


def _extreme(prim: Any, argfn: Any, x: Any, dim: Any, keepdim: bool, op: str) -> Any:
    if x.numel() == 0:
        raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
    if dim is None:
        if x.data.dtype.kind == "f" and xp.isnan(x.data).any():
            # PyTorch: the result is NaN and the gradient is shared by the NaN entries
            if x.data.ndim == x.ndim:
                return mean(x[wrap(xp.isnan(x.data))])
            return _extreme_with_nan(prim, x)  # under vmap: x.data is the whole stack
        return bind(prim, (x,), {"dim": None, "keepdim": False})
    if x.ndim == 0:  # a 0-d tensor is its own max along dim 0 (or -1), at index 0
        _dims(x, dim, op)
        return MaxResult(reshape(x, ()), wrap(xp.zeros((), dtype=_backend.int64)))
    (d,) = _dims(x, dim, op) or (0,)
    if x._level is not None:  # traced (vmap): indices as a batched value, values by amax
        idx = arg_extreme(argfn, x, d, keepdim)
        return MaxResult(bind(prim, (x,), {"dim": (d,), "keepdim": keepdim}), idx)
    # With a dim, PyTorch returns (values, indices) and the gradient goes to that index only.
    indices = xp.expand_dims(argfn(x.data, axis=d), d)
    values = take_along_dim(x, indices, d)
    idx = wrap(indices)
    if not keepdim:
        values = squeeze(values, d)
        idx = wrap(xp.squeeze(indices, d))
    return MaxResult(values, idx)


@public()
def max(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Largest entry; with ``dim``, ``(values, indices)`` like PyTorch.

    d/dx max = 1 at the maximum. Without ``dim`` ties share the gradient evenly; with ``dim``
    it goes to the returned index.
    """
    if isinstance(dim, Tensor):  # torch.max(x, y) is the elementwise maximum
        return maximum(x, dim)
    return _extreme(amax_p, xp.argmax, x, dim, keepdim, "max")


@public()
def min(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Smallest entry; with ``dim``, ``(values, indices)``.   d/dx min = 1 at the minimum."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _extreme(amin_p, xp.argmin, x, dim, keepdim, "min")


@public()
def amax(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Max over ``dim`` (several allowed); ties share the gradient evenly."""
    return bind(amax_p, (x,), {"dim": _dims(x, dim, "amax"), "keepdim": keepdim})


@public()
def amin(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Min over ``dim`` (several allowed); ties share the gradient evenly."""
    return bind(amin_p, (x,), {"dim": _dims(x, dim, "amin"), "keepdim": keepdim})


@public()
def logsumexp(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """log(sum(exp(x))) over ``dim``, stable at |x| = 1000.   d/dx = softmax(x)."""
    x = _float_input(x, "logsumexp")
    return bind(logsumexp_p, (x,), {"dim": _dims(x, dim, "logsumexp"), "keepdim": keepdim})


def _logical_reduce(fn: Any, x: Any, dim: Any, keepdim: bool, op: str) -> Any:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    dims = _dims(x, dim, op)
    if x._level is None:
        return wrap(fn(x.data, axis=dims, keepdims=keepdim))
    # traced (vmap): a value without derivative whose batching rule moves its one dim past
    # the batch axis; several dims are reduced one at a time, the last first, so that
    # dropping one does not renumber the others
    if not dims:
        return arg_extreme(fn, x, None, False)
    out = x
    for d in sorted(dims, reverse=True):
        out = arg_extreme(fn, out, d, keepdim)
    return out


@public()
def all(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """True where every entry (over ``dim``) is nonzero: a bool tensor (no gradient)."""
    return _logical_reduce(xp.all, x, dim, keepdim, "all")


@public()
def any(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """True where some entry (over ``dim``) is nonzero: a bool tensor (no gradient)."""
    return _logical_reduce(xp.any, x, dim, keepdim, "any")


@public()
def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    """The vector p-norm over ``dim`` (all entries when None): (sum |x|**p)**(1/p).

    ``p`` is a number, ``inf``/``-inf`` (max/min of |x|) or ``'fro'`` (the 2-norm of all
    entries). Composed from differentiable ops: d/dx ||x||_2 = x / ||x||_2,
    d/dx ||x||_1 = sign(x), d/dx ||x||_inf = sign(x) at the largest |x| (ties share).
    """
    x = _float_input(x, "norm")
    if dtype is not None:
        x = to(x, dtype)
    if p == "fro" or p == 2 or p is None:
        return sqrt(sum(x * x, dim, keepdim))
    if isinstance(p, str):
        raise ValueError(f"norm: p must be a number, inf or 'fro', got {p!r}")
    a = x.abs()
    if p == math.inf:
        return amax(a, dim, keepdim)
    if p == -math.inf:
        return amin(a, dim, keepdim)
    if p == 0:
        return sum(to(a != 0, x.dtype), dim, keepdim)
    if p == 1:
        return sum(a, dim, keepdim)
    return sum(a**p, dim, keepdim) ** (1.0 / p)


HistogramResult = namedtuple("HistogramResult", ["hist", "bin_edges"])


@public()
def histogram(
    x: Any, bins: Any = 100, *, range: Any = None, weight: Any = None, density: bool = False
) -> Any:
    """Counts of ``x``'s entries in ``bins`` equal bins over ``range`` (default: min to max),
    or over given edges: ``(hist, bin_edges)``, float like ``x`` (no gradient)."""
    if isinstance(bins, Tensor):
        bins = bins.data
    w = None if weight is None else weight.data
    hist, edges = xp.histogram(x.data, bins=bins, range=range, weights=w, density=density)
    return HistogramResult(wrap(hist.astype(x.dtype)), wrap(edges.astype(x.dtype)))


@public()
def histc(x: Any, bins: int = 100, min: float = 0, max: float = 0) -> Any:
    """Counts in ``bins`` equal bins over [min, max] (the data's range when both are 0);
    entries outside are ignored. Float like ``x`` (no gradient)."""
    lo, hi = float(min), float(max)
    if lo == hi == 0:
        lo, hi = float(x.data.min()), float(x.data.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1  # one value: PyTorch widens the range by 1 on each side
    hist, _ = xp.histogram(x.data, bins=int(bins), range=(lo, hi))
    return wrap(hist.astype(x.dtype))


SortResult = namedtuple("SortResult", ["values", "indices"])


def _order(x: Any, dim: int, descending: bool, stable: bool, op: str) -> Any:
    d = _dims(x, dim, op)
    d = 0 if not d else d[0]
    data = x.data
    if descending:
        # NumPy sorts ascending; sorting -x keeps equal entries in their original order
        # (stable), as ascending on x does. Booleans and unsigned ints are flipped by order.
        keys = ~data if data.dtype.kind == "b" else -data.astype(xp.float64)
    else:
        keys = data
    order = xp.argsort(keys, axis=d, kind="stable" if stable else None) if x.ndim else keys
    return d, (order if x.ndim else xp.zeros((), dtype=xp.int64))


def _order_fn(descending: bool, stable: bool, k: int | None = None) -> Any:
    """The argsort of ``_order`` as a function of (array, axis, keepdims), for
    ``arg_extreme`` on traced values (its batching rule moves ``axis`` past the batch axis);
    with ``k``, only the first ``k`` indices along ``axis``."""

    def order(a: Any, axis: int, keepdims: bool) -> Any:
        if descending:
            keys = ~a if a.dtype.kind == "b" else -a.astype(xp.float64)
        else:
            keys = a
        out = xp.argsort(keys, axis=axis, kind="stable" if stable else None).astype(xp.int64)
        return out if k is None else xp.take(out, xp.arange(k), axis=axis)

    return order


def _take_along_traced(x: Any, idx: Any, d: int) -> Any:
    """``take_along_dim(x, idx, d)`` for traced values: under vmap the indices are a batched
    value, which ``take_along_dim`` (indices as a parameter) cannot take. So x is flattened
    and gathered at linear indices with ``take`` (indices as an operand), whose batching and
    derivative rules handle per-example indices: d/dx = scatter g back to the picked entries.
    """
    shape = tuple(x.shape)
    strides = [math.prod(shape[a + 1 :]) for a in range(len(shape))]
    grid = xp.indices(tuple(idx.shape), dtype=xp.int64)
    base = xp.zeros(tuple(idx.shape), dtype=xp.int64)  # (``sum`` is this module's own)
    for a in range(len(shape)):
        if a != d:
            base += grid[a] * strides[a]
    stride = strides[d]
    linear = S.constant_op(lambda i, b: i * stride + b, idx, wrap(xp.asarray(base, xp.int64)))
    # in range by construction (sort's own indices): no value check (see ``take``)
    return S.take(reshape(x, (math.prod(shape),)), linear, checked=False)


@public()
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """Indices that sort ``x`` along ``dim`` (int64, no gradient)."""
    if x._level is not None and x.ndim:  # traced (vmap): a batched value without derivative
        d = _dims(x, dim, "argsort")
        return arg_extreme(_order_fn(descending, stable), x, d[0] if d else 0, False)
    _, order = _order(x, dim, descending, stable, "argsort")
    return wrap(xp.asarray(order, dtype=xp.int64))


@public()
def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` of ``x`` sorted along ``dim``. The values are gathered with
    ``take_along_dim``, so d/dx sends each value's gradient back to where it came from."""
    if x._level is not None and x.ndim:  # traced (vmap): see _take_along_traced
        d = _dims(x, dim, "sort")
        d = d[0] if d else 0
        idx = arg_extreme(_order_fn(descending, stable), x, d, False)
        return SortResult(_take_along_traced(x, idx, d), idx)
    d, order = _order(x, dim, descending, stable, "sort")
    idx = wrap(xp.asarray(order, dtype=xp.int64))
    if x.ndim == 0:
        return SortResult(x, idx)
    return SortResult(take_along_dim(x, idx, d), idx)


@public()
def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices; the gradient
    goes to the chosen entries (``take_along_dim``)."""
    d = _dims(x, dim, "topk")
    d = 0 if not d else d[0]
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension of size {n}")
    if x._level is not None and x.ndim:  # traced (vmap): see _take_along_traced
        idx = arg_extreme(_order_fn(largest, True, k), x, d, False)
        return SortResult(_take_along_traced(x, idx, d), idx)
    _, order = _order(x, d, largest, True, "topk")
    idx = wrap(xp.asarray(xp.take(order, xp.arange(k), axis=d), dtype=xp.int64))
    return SortResult(take_along_dim(x, idx, d), idx)
