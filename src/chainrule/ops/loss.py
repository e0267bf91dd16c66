"""The fused softmax cross-entropy primitive.

Composed, cross-entropy is ``log_softmax`` then a gather then a mean: three nodes, a (N, C)
log-probability array kept alive for backward, and a scatter in the VJP. Fused, the forward is
one stable pass and the VJP is the textbook one line, ``(softmax(z) - q) * g``, with ``q`` the
(smoothed) one-hot target, and the logits are the only thing saved.

With class weights ``w``, label smoothing ``eps`` over ``C`` classes and a per-row scale
``s_i`` (0 for ignored rows, ``1/sum_i w[y_i]`` for the mean reduction, else 1), row i's loss is

    loss_i = -sum_c q_ic log_softmax(z)_ic,   q_ic = s_i ((1-eps) w[y_i] [c == y_i] + eps/C w_c)

which is PyTorch's ``(1 - eps) * nll + eps/C * smooth`` term by term, and

    d loss_i / d z_i = sum_c(q_ic) * softmax(z_i) - q_i.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops._primitive import Primitive, bind, wrap


def _coefficients(
    z_shape: tuple[int, int], target: Any, scale: Any, smoothing: float, weight: Any
) -> tuple[Any, Any | None]:
    """The pieces of q: the coefficient of the target class per row (``a``, shape (M,)) and
    the smoothing part (``b``, shape (M, C), or None without smoothing)."""
    m, c = z_shape
    if isinstance(scale, float):  # the same factor for every row
        scale = xp.full(m, scale)
    w_y = scale if weight is None else scale * weight[target]
    a = (1.0 - smoothing) * w_y  # (M,): q at the target class, without the smoothing part
    if not smoothing:
        return a, None
    w = xp.ones(c) if weight is None else weight
    b = (smoothing / c) * scale[:, None] * w[None, :]  # (M, C): the smoothing part of q
    return a, b


def _cross_entropy_impl(
    z: Any, target: Any, scale: Any, smoothing: float, weight: Any, reduce: bool, cache: dict
) -> Any:
    zmax = z.max(axis=1, keepdims=True)
    shifted = z - zmax  # shift by the max: no overflow
    if not smoothing and weight is None:
        # plain cross-entropy: loss_i = logsumexp(z_i) - z_i[y_i], without the (M, C) logp
        lse = xp.log(xp.exp(shifted).sum(axis=1))
        cache["lse"] = lse[:, None] + zmax  # the row log-normalisers, for the first-order VJP
        rows_loss = lse - shifted[xp.arange(z.shape[0]), target]
        if isinstance(scale, float):  # one factor for every row (the common case)
            return xp.asarray(rows_loss.sum() * scale if reduce else rows_loss * scale)
        if reduce:
            return xp.asarray(xp.dot(rows_loss, scale.astype(z.dtype, copy=False)))
        return (rows_loss * scale).astype(z.dtype, copy=False)
    logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    a, b = _coefficients(z.shape, target, scale, smoothing, weight)
    rows = xp.arange(z.shape[0])
    loss = -a * logp[rows, target]
    if b is not None:
        loss -= xp.sum(b * logp, axis=1)
    loss = loss.astype(z.dtype, copy=False)
    return loss.sum(dtype=z.dtype) if reduce else loss


def _dlogits(z: Any, target: Any, scale: Any, smoothing: float, weight: Any) -> Any:
    """d loss_i / d z as a Tensor: sum_c(q_ic) * softmax(z) - q, differentiable in z."""
    a, b = _coefficients(z.shape, target, scale, smoothing, weight)
    q = xp.zeros(z.shape, dtype=z.dtype)
    q[xp.arange(z.shape[0]), target] = a
    if b is not None:
        q += b
    row_sum = q.sum(axis=1, keepdims=True)  # 1 per (unignored, unweighted) row, before scaling
    return F.softmax(z, 1) * F.Tensor(row_sum) - F.Tensor(q)


def _vjp(g: Any, out: Any, z: Any, target: Any, scale: Any, smoothing: float, weight: Any,
         reduce: bool, cache: dict) -> Any:  # fmt: skip
    # VJP: (softmax(z) - q) * g, g a scalar (reduced) or one value per row
    if not (STATE.grad_enabled or STATE.levels) and not smoothing and weight is None:
        # First-order backward (nothing records this rule, no transform traces it): the
        # textbook gradient straight in NumPy, one array instead of five small ops.
        zd = z.data
        if isinstance(scale, float) and reduce and "lse" in cache:  # the common case
            p = xp.exp(zd - cache["lse"])  # softmax, from the forward's normalisers
            p -= target[:, None] == xp.arange(zd.shape[1])  # minus the one-hot targets
            p *= g.data * scale
            return wrap(p)
        p = xp.exp(zd - zd.max(axis=1, keepdims=True))
        if isinstance(scale, float):
            scale = xp.full(zd.shape[0], scale)
        p *= (scale / p.sum(axis=1, keepdims=True)[:, 0]).astype(zd.dtype)[:, None]
        p[xp.arange(zd.shape[0]), target] -= scale.astype(zd.dtype)
        return wrap(p * (g.data if reduce else g.data[:, None]))
    d = _dlogits(z, target, scale, smoothing, weight)
    return d * (g if reduce else F.unsqueeze(g, 1))


def _jvp(t: Any, out: Any, z: Any, target: Any, scale: Any, smoothing: float, weight: Any,
         reduce: bool, cache: dict) -> Any:  # fmt: skip
    # JVP: sum_c (softmax(z) - q)_c t_c per row, summed when reduced
    d = _dlogits(z, target, scale, smoothing, weight)
    return F.sum(d * t) if reduce else F.sum(d * t, 1)


cross_entropy_p = Primitive("nll_loss", _cross_entropy_impl, saves=(0,))
cross_entropy_p.defvjp(_vjp)
cross_entropy_p.defjvp(_jvp)


def cross_entropy_rows(
    z: Any, target: Any, scale: Any, smoothing: float, weight: Any, reduce: bool
) -> Any:
    """Bind the primitive: ``z`` (M, C) float logits, ``target`` (M,) int64 class indices (in
    range), ``scale`` (M,) float64 row factors (or one float for all rows), ``weight`` (C,)
    float64 or None."""
    params = {
        "target": target,
        "scale": scale,
        "smoothing": float(smoothing),
        "weight": weight,
        "reduce": reduce,
        "cache": {},  # filled by the forward: values the first-order VJP can reuse
    }
    return bind(cross_entropy_p, (z,), params)
