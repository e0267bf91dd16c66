"""Fused neural-network primitives, kept fused for numerical stability and speed.

softmax and log_softmax could be composed from exp, sum and logsumexp; fused, they are stable
at |x| = 1000 and their rules are one line each.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops._primitive import Primitive, bind, public
from chainrule.ops.elementwise import _float_input, exp
from chainrule.ops.reduce import sum
from chainrule.ops.shape import _one_dim, broadcast_batch, reshape_to


def _softmax_impl(x: Any, dim: int) -> Any:
    # shift by the max: no overflow (initial=-inf: an empty dim gives an empty result)
    e = xp.exp(x - x.max(axis=dim, keepdims=True, initial=-xp.inf))
    e /= e.sum(axis=dim, keepdims=True)
    return e


def _log_softmax_impl(x: Any, dim: int) -> Any:
    shifted = x - x.max(axis=dim, keepdims=True, initial=-xp.inf)  # empty dim: empty result
    with xp.errstate(divide="ignore"):  # log 0 of an empty dim's sum: broadcast to nothing
        return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


softmax_p = Primitive("softmax", _softmax_impl, saves_out=True)
# d softmax = out * (dx - sum(dx * out)):  VJP  out * (g - sum(g * out)),  JVP the same with t
# (the Jacobian diag(y) - y y^T is symmetric), one fused node each: softmax_backward below.
softmax_p.defvjp(lambda g, out, x, dim: softmax_backward(g, out, _from_end(x, dim)))
softmax_p.defjvp(lambda t, out, x, dim: softmax_backward(t, out, _from_end(x, dim)))


def _from_end(x: Any, dim: int) -> int | None:
    # dim counted from the end, so a batch axis stacked in front leaves it alone; None for a
    # 0-d softmax, whose one-element "sum" is the entry itself (elementwise under batching)
    return None if x.ndim == 0 else dim - x.ndim


def _sum_along(v: Any, dim: int | None) -> Any:
    return v if dim is None else sum(v, dim, True)


def _softmax_backward_impl(g: Any, y: Any, dim: int) -> Any:
    gy = g * y
    if dim is None:  # a 0-d softmax (constant 1): the sum runs over the one element
        return gy - y * gy
    return gy - y * gy.sum(axis=dim, keepdims=True)  # y (g - sum(g y)), one pass fewer


# b(g, y) = y (g - sum(g y)) along dim (negative: a stacked g's leading axis leaves it alone).
# Linear in g with a symmetric Jacobian, so its VJP and JVP in g are b again. In y:
#   JVP  t (g - sum(g y)) - y sum(g t);   VJP  h (g - sum(g y)) - g sum(h y).
softmax_backward_p = Primitive(
    "softmax_backward", _softmax_backward_impl, broadcasts=True, saves=((1,), (0, 1))
)
softmax_backward_p.defvjp(
    lambda h, out, g, y, dim: softmax_backward(h, y, dim),
    lambda h, out, g, y, dim: h * (g - _sum_along(g * y, dim)) - g * _sum_along(h * y, dim),
)
softmax_backward_p.defjvp(
    lambda t, out, g, y, dim: softmax_backward(t, y, dim),
    lambda t, out, g, y, dim: t * (g - _sum_along(g * y, dim)) - y * _sum_along(g * t, dim),
)
softmax_backward_p.batch = broadcast_batch


def softmax_backward(g: Any, y: Any, dim: int) -> Any:
    """``y * (g - sum(g * y, dim))``: the VJP of ``y = softmax(x, dim)``, one node (``dim``
    counted from the end; None for a 0-d softmax)."""
    return bind(softmax_backward_p, (g, y), {"dim": dim})


log_softmax_p = Primitive("log_softmax", _log_softmax_impl, saves_out=True)
# d log_softmax = dx - softmax * sum(dx):  VJP g - exp(out) * sum(g),  JVP t - sum(exp(out) t)
log_softmax_p.defvjp(lambda g, out, x, dim: g - exp(out) * sum(g, dim, True))
log_softmax_p.defjvp(lambda t, out, x, dim: t - sum(exp(out) * t, dim, True))


def _softmax_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values  # the per-example dim moves one to the right of the batch axis
    if v.ndim == 1:  # 0-d examples: over a 1-element dim, as the 0-d op does
        out = bind(prim, (reshape_to(v, (v.shape[0], 1)),), {"dim": 1})
        return reshape_to(out, v.shape)
    return bind(prim, (v,), {"dim": params["dim"] % (v.ndim - 1) + 1})


softmax_p.batch = log_softmax_p.batch = _softmax_batch


# --- public functions -----------------------------------------------------------------------


@public(functional=True)
def softmax(x: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, stable.   VJP: out * (g - sum(g * out))."""
    x = _float_input(x, "softmax")
    return bind(softmax_p, (x,), {"dim": _one_dim(x, dim, "softmax")})


@public(functional=True)
def log_softmax(x: Any, dim: int = -1) -> Any:
    """x - logsumexp(x) along ``dim``, stable.   VJP: g - softmax(x) * sum(g)."""
    x = _float_input(x, "log_softmax")
    return bind(log_softmax_p, (x,), {"dim": _one_dim(x, dim, "log_softmax")})
