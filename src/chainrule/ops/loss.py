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

The VJP is itself a primitive, ``cross_entropy_backward(g, z)`` = ``(sum_c(q) softmax(z) - q) g``
computed in one NumPy pass (the conv family's pattern). It is linear in ``g``, and its own
rules are written in ops, so gradients of gradients, forward-over-reverse and Jacobians work
without a fast path that reads grad mode or transform state, and without a cache passed from
forward to backward.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.nn import softmax, softmax_backward
from chainrule.ops.reduce import sum
from chainrule.ops.shape import align, expand_to, reshape_to, unsqueeze
from chainrule.tensor import Tensor


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
    z: Any, target: Any, scale: Any, smoothing: float, weight: Any, reduce: bool
) -> Any:
    zmax = z.max(axis=1, keepdims=True)
    shifted = z - zmax  # shift by the max: no overflow
    if not smoothing and weight is None:
        # plain cross-entropy: loss_i = logsumexp(z_i) - z_i[y_i], without the (M, C) logp
        lse = xp.log(xp.exp(shifted).sum(axis=1))
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
    return softmax(z, 1) * Tensor(row_sum) - Tensor(q)


def _per_row(g: Any, reduce: bool) -> Any:
    """The loss's cotangent as a factor for each row of z: a scalar, or (M,) as (M, 1)."""
    return g if reduce else unsqueeze(g, -1)


def _backward_impl(
    g: Any, z: Any, target: Any, scale: Any, smoothing: float, weight: Any, reduce: bool
) -> Any:
    # (sum_c(q) softmax(z) - q) * g in one pass over (M, C)
    p = xp.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)  # softmax(z)
    m = z.shape[0]
    if not smoothing and weight is None and isinstance(scale, float):
        p *= scale  # one factor for every row (the mean's 1/M): no (M,) array of it
        p[xp.arange(m), target] -= scale
    elif not smoothing and weight is None:  # q = scale at the target: sum_c(q) = scale
        s = scale
        p *= s.astype(z.dtype, copy=False)[:, None]
        p[xp.arange(m), target] -= s.astype(z.dtype, copy=False)
    else:
        a, b = _coefficients(z.shape, target, scale, smoothing, weight)
        q = xp.zeros(z.shape, dtype=z.dtype)
        q[xp.arange(m), target] = a
        if b is not None:
            q += b
        p *= q.sum(axis=1, keepdims=True)
        p -= q
    p *= g if reduce else g[:, None]
    return p


cross_entropy_p = Primitive("nll_loss", _cross_entropy_impl, saves=(0,))
# VJP: d * g with d = sum_c(q) softmax(z) - q (one primitive); JVP: sum_c d_c t_c per row
cross_entropy_p.defvjp(
    lambda g, out, z, target, scale, smoothing, weight, reduce: cross_entropy_backward(
        g, z, target, scale, smoothing, weight, reduce
    )
)
cross_entropy_p.defjvp(
    lambda t, out, z, target, scale, smoothing, weight, reduce: sum(
        _dlogits(z, target, scale, smoothing, weight) * t, None if reduce else 1
    )
)

# gz = backward(g, z) = d(z) * g.  Linear in g: its adjoint sums h * d per row (or in total).
# In z it is g times the softmax's derivative, scaled by sum_c(q):
#   <h, d gz / dz . t> = <softmax VJP of (h * g * sum_c(q)) , t>
# which is what differentiating the composed form _dlogits(z) * g gives, so the rules below
# are that form's derivatives, written in ops (differentiable again).
cross_entropy_backward_p = Primitive(
    "nll_loss_backward",
    _backward_impl,
    saves=((1,), (0, 1)),  # d/dg reads z; d/dz reads g, z
)
cross_entropy_backward_p.defvjp(
    lambda h, out, g, z, target, scale, smoothing, weight, reduce: sum(
        h * _dlogits(z, target, scale, smoothing, weight), None if reduce else 1
    ),
    lambda h, out, g, z, target, scale, smoothing, weight, reduce: _softmax_vjp(
        h * _per_row(g, reduce), z, target, scale, smoothing, weight
    ),
)
cross_entropy_backward_p.defjvp(
    lambda t, out, g, z, target, scale, smoothing, weight, reduce: (
        _dlogits(z, target, scale, smoothing, weight) * _per_row(t, reduce)
    ),
    lambda t, out, g, z, target, scale, smoothing, weight, reduce: (
        _softmax_vjp(t, z, target, scale, smoothing, weight) * _per_row(g, reduce)
    ),
)


def _softmax_vjp(u: Any, z: Any, target: Any, scale: Any, smoothing: float, weight: Any) -> Any:
    """sum_c(q) * (VJP of softmax along dim 1 at z, applied to u): s * (u - sum(u * s)) * r.
    (Symmetric: the softmax Jacobian is, so this is also its JVP.)"""
    a, b = _coefficients(z.shape, target, scale, smoothing, weight)
    q = xp.zeros(z.shape, dtype=z.dtype)
    q[xp.arange(z.shape[0]), target] = a
    if b is not None:
        q += b
    return softmax_backward(u, softmax(z, 1), -1) * Tensor(q.sum(axis=1, keepdims=True))


def _tiled(params: dict, b: int) -> dict:
    """The row parameters repeated for ``b`` stacked examples of the same rows (vmap of a
    loss over logits with one shared target): the stack is then one (b*M, C) call."""
    scale = params["scale"]
    return {
        **params,
        "target": xp.tile(params["target"], b),
        "scale": scale if isinstance(scale, float) else xp.tile(scale, b),
        "reduce": False,
    }


def _forward_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (z,) = values  # (B, M, C): per-example logits, the same targets for every example
    b, m, c = z.shape
    rows = bind(prim, (reshape_to(z, (b * m, c)),), _tiled(params, b))
    rows = reshape_to(rows, (b, m))
    return sum(rows, 1) if params["reduce"] else rows


def _backward_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    g, z = values
    if batched[1]:  # batched logits (vmap over examples): one (B*M, C) call, g per row
        b, m, c = z.shape
        if params["reduce"]:  # one g per example (or one for all): repeated over its rows
            g = unsqueeze(g, -1) if batched[0] else g
        g_rows = reshape_to(expand_to(g, (b, m)), (b * m,))
        out = bind(prim, (g_rows, reshape_to(z, (b * m, c))), _tiled(params, b))
        return reshape_to(out, (b, m, c))
    # only g (a cotangent of jacrev) is stacked: d(z) times each stacked g
    d = _dlogits(z, **{k: params[k] for k in ("target", "scale", "smoothing", "weight")})
    g_rows = g if params["reduce"] else unsqueeze(g, -1)
    (g_rows,) = align([g_rows], [True], 2)
    return d * g_rows


cross_entropy_backward_p.batch = _backward_batch
cross_entropy_p.batch = _forward_batch


def cross_entropy_backward(
    g: Any, z: Any, target: Any, scale: Any, smoothing: float, weight: Any, reduce: bool
) -> Any:
    params = {
        "target": target,
        "scale": scale,
        "smoothing": smoothing,
        "weight": weight,
        "reduce": reduce,
    }
    return bind(cross_entropy_backward_p, (g, z), params)


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
    }
    return bind(cross_entropy_p, (z,), params)
