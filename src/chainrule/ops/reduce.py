"""Reductions: sum, amax/amin, logsumexp. ``mean``, ``var`` and ``std`` are compositions.

``dim`` is normalised by the public wrappers to a sorted tuple of non-negative axes (or
``None`` for all), so the rules can rebuild the kept-dims shape to broadcast ``g`` back.
"""

from __future__ import annotations

from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive


def kept_shape(shape: tuple[int, ...], dim: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the keepdim=True shape)."""
    if dim is None:
        return (1,) * len(shape)
    return tuple(1 if i in dim else n for i, n in enumerate(shape))


def _unreduce(g: Any, x: Any, dim: Any, keepdim: bool) -> Any:
    """Reshape a reduction's cotangent so it broadcasts against the input again."""
    if keepdim or dim is None:
        return g  # already broadcastable: kept dims, or a 0-d total
    return S.reshape(g, kept_shape(x.shape, dim))


sum_p = Primitive("sum", lambda x, dim, keepdim: _backend.reduce_sum(x, dim, keepdim), linear=True)
# d/dx_i sum(x) = 1: every input entry gets the cotangent of the sum it fell into
sum_p.defvjp(lambda g, out, x, dim, keepdim: S.expand(_unreduce(g, x, dim, keepdim), x.shape))


def _extreme(name: str, impl: Any) -> Primitive:
    prim = Primitive(
        name,
        lambda x, dim, keepdim: impl(x, axis=dim, keepdims=keepdim),
        saves=(0,),
        saves_out=True,
    )

    def share(x: Any, out: Any, dim: Any, keepdim: bool) -> Any:
        # d/dx_i max(x) = 1 at the maximum; ties share it evenly (as PyTorch's amax/amin)
        hit = (x == _unreduce(out, x, dim, keepdim)).to(x.dtype)
        return hit / F.sum(hit, dim, True)

    prim.defvjp(
        lambda g, out, x, dim, keepdim: _unreduce(g, x, dim, keepdim) * share(x, out, dim, keepdim)
    )
    prim.defjvp(
        lambda t, out, x, dim, keepdim: F.sum(t * share(x, out, dim, keepdim), dim, keepdim)
    )
    return prim


amax_p = _extreme("amax", xp.amax)
amin_p = _extreme("amin", xp.amin)


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
        _unreduce(g, x, dim, keepdim) * F.exp(x - _unreduce(out, x, dim, keepdim))
    )
)
logsumexp_p.defjvp(
    lambda t, out, x, dim, keepdim: F.sum(
        t * F.exp(x - _unreduce(out, x, dim, keepdim)), dim, keepdim
    )
)
