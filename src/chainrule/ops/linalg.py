"""Matrix multiplication (1-D operands and batched, broadcast leading dims) and the dense layer.

``linear(x, w, b) = x @ w.T + b`` is the dense layer fused into one node (PyTorch's addmm):
d/dx = g @ w, d/dw = g^T x, d/db = sum(g) over the batch. Its weight gradient is one more
bilinear primitive, ``a^T b`` (``mm_tn``), so the family is closed under differentiation.

Every rule of the family is one node: matmul's VJPs for matrices are ``g @ y^T`` (the layer's
own ``addmm`` node) and ``x^T @ g`` (``mm_tn``), with no transposed view recorded; for a
vector operand they are one matmul (``y @ g``, ``g @ x``) or, for a dot product, one
multiply. So backward records no extra nodes, and forward-over-reverse (hvp) takes the JVP
of one node per rule. Matrix-matrix products of mid size run on one BLAS thread while the
machine is busy (``chainrule._threads.product``).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule._backend import xp
from chainrule._threads import ONE_THREAD_FROM, product
from chainrule.ops import elementwise as E
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind, public
from chainrule.ops.elementwise import _binary_operands
from chainrule.ops.shape import align, batch_rank, expand, reshape, sum_to_shape, unsqueeze


def _mT(a: Any) -> Any:
    """The last two dims swapped: a view, with no argument checking (rules know the shapes)."""
    nd = a.ndim
    return S.permute_to(a, (*range(nd - 2), nd - 1, nd - 2))


def _mm(a: Any, b: Any) -> Any:
    return bind(matmul_p, (a, b), {})


def _matmul_dx(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dx (x @ y) contracted with g: g @ y^T, summed over broadcast batch dims. Reads y; of
    # x only the shape (x is saved only when y needs a gradient).
    if x.ndim == 2 and y.ndim == 2:
        # the common case: g @ y^T as one node (the dense layer's x @ w^T), no transposed view
        return bind(linear_p, (g, y), {})
    if x.ndim == 1 and y.ndim == 2:  # (k,) @ (k, m): g (m,), and g @ y^T = y @ g, one node
        return _mm(y, g)
    if x.ndim == 1 and y.ndim == 1:  # a dot product: g is 0-d, d/dx = g y
        return g * y
    # View 1-D operands as matrices, as matmul does: x (k,) -> (1, k), y (k,) -> (k, 1). y
    # first: g gets its trailing axis back before x's row axis goes in front of it (in the
    # other order a 1-D @ 1-D cotangent, 0-d, would have no axis -2 to unsqueeze at).
    x_shape = x.shape
    if y.ndim == 1:
        y = unsqueeze(y, -1)
        g = unsqueeze(g, -1)
    if x.ndim == 1:
        x_shape = (1, *x_shape)
        g = unsqueeze(g, -2)
    gx = _mm(g, _mT(y))
    if gx.shape != x_shape:
        gx = sum_to_shape(gx, x_shape)
    return reshape(gx, x.shape) if x.ndim == 1 else gx


def _matmul_dy(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dy (x @ y) contracted with g: x^T @ g, summed over broadcast batch dims. Reads x; of
    # y only the shape (y is saved only when x needs a gradient).
    if x.ndim == 2 and y.ndim == 2:
        return bind(outer_mm_p, (x, g), {})  # x^T @ g as one node, no transposed view
    if x.ndim == 2 and y.ndim == 1:  # (n, k) @ (k,): g (n,), and x^T @ g = g @ x, one node
        return _mm(g, x)
    if x.ndim == 1 and y.ndim == 1:  # a dot product: g is 0-d, d/dy = g x
        return g * x
    y_shape = y.shape
    if y.ndim == 1:
        y_shape = (*y_shape, 1)
        g = unsqueeze(g, -1)
    if x.ndim == 1:
        x = unsqueeze(x, 0)
        g = unsqueeze(g, -2)
    gy = _mm(_mT(x), g)
    if gy.shape != y_shape:
        gy = sum_to_shape(gy, y_shape)
    return reshape(gy, y.shape) if y.ndim == 1 else gy


def _matmul_impl(x: Any, y: Any) -> Any:
    # BLAS threads by size (chainrule._threads), for matrix-matrix products only: a
    # matrix-vector product is memory-bound and gains from a second thread. x.size * m
    # multiply-adds (batch dims of y beyond x's not counted).
    if x.ndim < 2 or y.ndim < 2:
        return x @ y
    macs = x.size * y.shape[-1]
    return x @ y if macs < ONE_THREAD_FROM else product(xp.matmul, x, y, macs)


matmul_p = Primitive(
    "mm", _matmul_impl, multilinear=True, saves=((1,), (0,))
)  # d/dx reads y, d/dy reads x
matmul_p.defvjp(_matmul_dx, _matmul_dy)


def _matmul_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    x, y = values
    bx, by = batched
    x_vec, y_vec = batch_rank(x, bx) == 1, batch_rank(y, by) == 1
    # matmul treats 1-D operands specially; make them matrices so batch dims can broadcast
    if x_vec:
        x = S.reshape_to(x, (*x.shape[:-1], 1, x.shape[-1]))
    if y_vec:
        y = S.reshape_to(y, (*y.shape, 1))
    if bx and not by and y.ndim == 2:
        # (B, ..., n, k) @ (k, m): one (B*...*n, k) @ (k, m) product instead of B small ones
        lead = tuple(x.shape[:-1])
        out = bind(prim, (S.reshape_to(x, (math.prod(lead), x.shape[-1])), y), params)
        out = S.reshape_to(out, (*lead, y.shape[-1]))
    elif by and not bx and x.ndim == 2:
        # (n, k) @ (B, ..., k, m): fold the stack into the columns, (n, k) @ (k, B*...*m)
        nd = y.ndim
        cols = S.permute_to(y, (nd - 2, *range(nd - 2), nd - 1))  # (k, B, ..., m)
        flat = S.reshape_to(cols, (cols.shape[0], math.prod(cols.shape[1:])))
        out = bind(prim, (x, flat), params)  # (n, B*...*m)
        out = S.reshape_to(out, (x.shape[0], *cols.shape[1:]))  # (n, B, ..., m)
        out = S.permute_to(out, (*range(1, nd - 1), 0, nd - 1))  # (B, ..., n, m)
    elif x.shape[-1] == 1:
        # a contraction of length 1 is an outer product (per-example weight gradients of a
        # dense layer, g^T x for one row): broadcasting beats a stack of rank-1 matmuls
        rank = max(batch_rank(x, bx), batch_rank(y, by))
        x, y = align([x, y], [bx, by], rank)
        out = bind(E.mul_p, (x, y), {})
    else:
        rank = max(batch_rank(x, bx), batch_rank(y, by))
        x, y = align([x, y], [bx, by], rank)
        out = bind(prim, (x, y), params)
    if x_vec and y_vec:
        return S.reshape_to(out, out.shape[:-2])  # (..., 1, 1): a dot product per example
    if y_vec:
        return S.reshape_to(out, out.shape[:-1])
    if x_vec:
        return S.reshape_to(out, (*out.shape[:-2], out.shape[-1]))
    return out


matmul_p.batch = _matmul_batch


@public()
def matmul(x: Any, y: Any) -> Any:
    """Matrix product with NumPy's rules for 1-D and batched operands.

    d/dx (x @ y) = g @ y^T,  d/dy = x^T @ g  (batch dims broadcast and are summed back).
    """
    try:  # the common case, two matrices of one dtype that line up: straight to bind
        a, b = x.data, y.data
        if a.dtype is b.dtype and a.ndim == 2 == b.ndim and a.shape[1] == b.shape[0]:
            return bind(matmul_p, (x, y), {})
    except AttributeError:
        pass
    x, y = _binary_operands(x, y, "matmul")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least one dimension, got shapes {tuple(x.shape)} "
            f"and {tuple(y.shape)}; use * for scaling by a scalar"
        )
    k_x = x.shape[-1]
    k_y = y.shape[0] if y.ndim == 1 else y.shape[-2]
    if k_x != k_y:
        raise ValueError(
            f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} are not aligned: x has "
            f"{k_x} columns but y has {k_y} rows. Transpose an operand (x.T / x.mT) or reshape."
        )
    return bind(matmul_p, (x, y), {})


# --- the dense layer --------------------------------------------------------------------------
# linear(x, w, b) = x @ w.T + b is composed from matmul, transpose and add elsewhere; fused here
# it is one node instead of three, and keeps one activation per layer alive instead of two
# (the composition's add holds the matmul's output until backward).


def _linear_impl(x: Any, w: Any, *bias: Any) -> Any:
    macs = x.size * w.shape[0]  # (a 1-D x is a matrix-vector product: threads as set)
    if macs < ONE_THREAD_FROM or x.ndim < 2:
        out = x @ w.T
    else:
        out = product(xp.matmul, x, w.T, macs)
    if bias:
        out += bias[0]  # a fresh array: add in place
    return out


def _rows(a: Any, width: int) -> Any:
    """``a`` as a matrix of ``width`` columns: leading (batch) dims merged into rows."""
    return a if a.ndim == 2 else S.reshape_to(a, (math.prod(a.shape[:-1]), width))


def _linear_dw(g: Any, out: Any, x: Any, w: Any, *bias: Any) -> Any:
    # d/dw = g^T x, summed over every leading (batch) dim
    return bind(outer_mm_p, (_rows(g, w.shape[0]), _rows(x, w.shape[1])), {})


# a^T @ b as one node (no transposed view to record): the weight gradient of a dense layer.
# Bilinear:  d/da = b @ G^T,  d/db = a @ G  (G the cotangent of the (n, m) result).
def _mm_tn_impl(a: Any, b: Any) -> Any:
    macs = a.size * b.shape[-1]
    return a.T @ b if macs < ONE_THREAD_FROM else product(xp.matmul, a.T, b, macs)


outer_mm_p = Primitive("mm_tn", _mm_tn_impl, multilinear=True, saves=((1,), (0,)))
outer_mm_p.defvjp(
    lambda g, out, a, b: bind(linear_p, (b, g), {}),  # b @ G^T as one node
    lambda g, out, a, b: _mm(a, g),
)


def _linear_db(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    # d/db = g summed over every leading (batch) dim
    return bind(R.sum_p, (_rows(g, b.shape[0]),), {"dim": (0,), "keepdim": False})


# (Rules use the internal shape primitives: their arguments are known to be valid.)
linear_p = Primitive("addmm", _linear_impl, saves=((1,), (0,), ()))  # dx: w, dw: x
linear_p.defvjp(
    lambda g, out, x, w, *bias: _mm(g, w),  # d/dx = g @ w
    _linear_dw,
    _linear_db,
)
linear_p.defjvp(  # the layer itself on the tangent of x, and of w (multilinear), no bias
    lambda t, out, x, w, *bias: bind(linear_p, (t, w), {}),
    lambda t, out, x, w, *bias: bind(linear_p, (x, t), {}),
    lambda t, out, x, w, b: expand(t, (*x.shape[:-1], w.shape[0])),
)


def _linear_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    if not any(batched[1:]):  # a batch of inputs through shared weights: one bigger product
        return bind(prim, tuple(values), params)
    # per-example weights (vmap over models, or a stacked weight tangent): x @ w^T + b
    x, w = values[:2]
    bx, bw = batched[:2]
    out = _matmul_batch(level, matmul_p, [x, _mT(w)], [bx, bw], {})
    if len(values) == 3:
        b, bb = values[2], batched[2]
        rank = batch_rank(x, bx)
        out, b = align([out, b], [True, bb], rank)
        out = bind(E.add_p, (out, b), {})
    return out


def _mm_tn_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    a, b = values  # a^T b per example: the last two dims of a swapped, then a matmul
    return _matmul_batch(level, matmul_p, [_mT(a), b], batched, {})


linear_p.batch = _linear_batch
outer_mm_p.batch = _mm_tn_batch


def linear(x: Any, w: Any, b: Any = None) -> Any:
    """Bind ``linear_p`` (no checks; the public ``nn.functional.linear`` checks shapes)."""
    return bind(linear_p, (x, w) if b is None else (x, w, b), {})


# --- batching: the dense layer as the batched matmul it is, plus the bias --------------------


def _linear_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    x, w, *bias = values
    bx, bw, *bb = batched
    if not bw and (not bias or not bb[0]):
        return bind(prim, tuple(values), params)  # x's leading dims may be anything: + 1
    w_t = S.permute_to(w, (0, 2, 1) if bw else (1, 0))
    out = _matmul_batch(level, matmul_p, [x, w_t], [bx, bw], {})
    if bias:
        out = E.broadcast_batch(level, E.add_p, [out, bias[0]], [bx or bw, bb[0]], {})
    return out


def _outer_mm_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    a, b = values
    ba, bb = batched
    a_t = S.permute_to(a, (0, 2, 1) if ba else (1, 0))
    return _matmul_batch(level, matmul_p, [a_t, b], [ba, bb], {})


linear_p.batch = _linear_batch
outer_mm_p.batch = _outer_mm_batch
