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
from chainrule.ops.elementwise import _float_input, exp, maximum, minimum, sqrt
from chainrule.ops.shape import _dims, squeeze, take_along_dim, to
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
    m = xp.amax(x, axis=dim, keepdims=True)
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
    return bind(prim, (v,), {**params, "dim": tuple(d + 1 for d in dim)})


sum_p.batch = _reduce_batch  # the one reduction that cotangents and tangents pass through


# --- public functions -----------------------------------------------------------------------


@public()
def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the maximum (flattened when ``dim`` is None). Integer result: no gradient."""
    return wrap(xp.argmax(x.data, axis=dim, keepdims=keepdim))


@public()
def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the minimum (flattened when ``dim`` is None). Integer result: no gradient."""
    return wrap(xp.argmin(x.data, axis=dim, keepdims=keepdim))


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
    """Standard deviation: sqrt(var(x)).   d/dx_i std = (x_i - mean) / ((n - correction) std)."""
    return sqrt(var(x, dim, keepdim, correction=correction, unbiased=unbiased))


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme(prim: Any, argfn: Any, x: Any, dim: Any, keepdim: bool, op: str) -> Any:
    if x.numel() == 0:
        raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
    if dim is None:
        return bind(prim, (x,), {"dim": None, "keepdim": False})
    (d,) = _dims(x, dim, op) or (0,)
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
    return wrap(fn(x.data, axis=_dims(x, dim, op), keepdims=keepdim))


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


@public()
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """Indices that sort ``x`` along ``dim`` (int64, no gradient)."""
    _, order = _order(x, dim, descending, stable, "argsort")
    return wrap(xp.asarray(order, dtype=xp.int64))


@public()
def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` of ``x`` sorted along ``dim``. The values are gathered with
    ``take_along_dim``, so d/dx sends each value's gradient back to where it came from."""
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
    _, order = _order(x, d, largest, True, "topk")
    idx = wrap(xp.asarray(xp.take(order, xp.arange(k), axis=d), dtype=xp.int64))
    return SortResult(take_along_dim(x, idx, d), idx)
