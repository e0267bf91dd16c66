"""Shape primitives: reshape, permute, expand, sum_to_shape, cat, indexing.

All are linear, so their JVP is the op applied to the tangent, and their VJPs only need the
input's shape: nothing is saved for backward. ``sum_to_shape`` is the one place where
broadcasting is undone; its VJP is ``expand`` and vice versa.
"""

from __future__ import annotations

from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops._primitive import Primitive, bind

reshape_p = Primitive("reshape", lambda x, shape: x.reshape(shape), linear=True, view=True)
reshape_p.defvjp(lambda g, out, x, shape: reshape(g, x.shape))  # move entries back

permute_p = Primitive("permute", lambda x, dims: x.transpose(dims), linear=True, view=True)
# the inverse permutation sends each axis of g back where it came from
permute_p.defvjp(lambda g, out, x, dims: permute(g, tuple(xp.argsort(dims).tolist())))

expand_p = Primitive(
    "expand", lambda x, shape: _backend.broadcast_to(x, shape), linear=True, view=True
)
expand_p.defvjp(lambda g, out, x, shape: sum_to_shape(g, x.shape))  # copies' grads add up


def _sum_to_shape_impl(x: Any, shape: tuple[int, ...]) -> Any:
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    out = x.sum(axis=axes, keepdims=True) if axes else x
    return out.reshape(shape) if lead else out


sum_to_shape_p = Primitive("sum_to_shape", _sum_to_shape_impl, linear=True)
sum_to_shape_p.defvjp(lambda g, out, x, shape: expand(g, x.shape))


def _getitem_impl(x: Any, index: Any) -> Any:
    return x[index]


getitem_p = Primitive("index", _getitem_impl, linear=True, view=True)
getitem_p.defvjp(lambda g, out, x, index: index_add(g, index, x.shape))


def _index_add_impl(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    out = xp.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        xp.add.at(out, index, g)  # repeated indices must add up, not overwrite
    else:
        out[index] = g
    return out


def _has_int_array(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, xp.ndarray) and i.dtype.kind in "iu" for i in items)


index_add_p = Primitive("index_add", _index_add_impl, linear=True)
index_add_p.defvjp(lambda g, out, x, index, shape: getitem(g, index))  # the adjoint gathers


def _index_put_impl(x: Any, v: Any, index: Any) -> Any:
    out = x.copy()
    out[index] = v
    return out


index_put_p = Primitive("index_put", _index_put_impl, linear=True, broadcasts=True)
# out = x with out[index] = v:  x's entries at index were overwritten (zero gradient),
# v's gradient is g at index (the engine sums it down if v was broadcast).
index_put_p.defvjp(
    lambda g, out, x, v, index: index_put(g, F.zeros_like(g[index]), index),
    lambda g, out, x, v, index: getitem(g, index),
)


def _cat_impl(*xs: Any, dim: int) -> Any:
    return xp.concatenate(xs, axis=dim)


cat_p = Primitive("cat", _cat_impl, linear=True)


def _cat_vjp(i: int) -> Any:
    def rule(g: Any, out: Any, *xs: Any, dim: int) -> Any:
        start = sum(x.shape[dim] for x in xs[:i])
        index = (slice(None),) * (dim % g.ndim) + (slice(start, start + xs[i].shape[dim]),)
        return getitem(g, index)

    return rule


class _CatRules(tuple):
    """Cat is n-ary: rule i slices the i-th block out of g, for any number of inputs."""

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        return _cat_vjp(i)


cat_p.vjps = _CatRules()


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return bind(reshape_p, (x,), {"shape": tuple(shape)})


def permute(x: Any, dims: tuple[int, ...]) -> Any:
    return bind(permute_p, (x,), {"dims": tuple(dims)})


def expand(x: Any, shape: tuple[int, ...]) -> Any:
    if tuple(shape) == x.shape:
        return x
    return bind(expand_p, (x,), {"shape": tuple(shape)})


def sum_to_shape(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``x.shape``."""
    if tuple(shape) == x.shape:
        return x
    return bind(sum_to_shape_p, (x,), {"shape": tuple(shape)})


def getitem(x: Any, index: Any) -> Any:
    return bind(getitem_p, (x,), {"index": index})


def index_add(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeats accumulate)."""
    return bind(index_add_p, (g,), {"index": index, "shape": tuple(shape)})


def index_put(x: Any, v: Any, index: Any) -> Any:
    """A copy of ``x`` with ``v`` written at ``index`` (``x[index] = v``, out of place)."""
    return bind(index_put_p, (x, v), {"index": index})


def cat(xs: Any, dim: int = 0) -> Any:
    return bind(cat_p, tuple(xs), {"dim": dim})
