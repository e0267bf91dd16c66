"""Fused neural-network primitives, kept fused for numerical stability and speed.

softmax and log_softmax could be composed from exp, sum and logsumexp; fused, they are stable
at |x| = 1000 and their rules are one line each.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops._primitive import Primitive


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
softmax_p.defvjp(lambda g, out, x, dim: out * (g - F.sum(g * out, dim, True)))
softmax_p.defjvp(lambda t, out, x, dim: out * (t - F.sum(t * out, dim, True)))

log_softmax_p = Primitive("log_softmax", _log_softmax_impl, saves_out=True)
# d log_softmax = dx - softmax * sum(dx):  VJP g - exp(out) * sum(g),  JVP t - sum(exp(out) t)
log_softmax_p.defvjp(lambda g, out, x, dim: g - F.exp(out) * F.sum(g, dim, True))
log_softmax_p.defjvp(lambda t, out, x, dim: t - F.sum(F.exp(out) * t, dim, True))
