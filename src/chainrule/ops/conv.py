"""Convolution, max-pooling and dense-layer primitives, with their VJPs and JVPs side by side.

conv2d is bilinear in (x, w). Its two VJPs are themselves bilinear maps, so they are
primitives too, and the three close under differentiation (each one's VJP is one of the
others), which is what makes second order work:

- ``conv2d(x, w)``                   y[n,o,p] = sum_{c,k} x[n,c,p*s+k-pad] w[o,c,k]
- ``conv2d_input_grad(g, w)``        the transposed convolution (col2im): the VJP wrt x
- ``conv2d_weight_grad(x, g)``       the correlation of x with g: the VJP wrt w

All three use im2col: a strided *view* of every receptive field (NumPy stride tricks, no
copy), one copy into a (positions, kh*kw*C) matrix, and one big matmul on BLAS.

max_pool2d gathers each window's maximum. The argmax positions are found once, in the public
wrapper (like ``max(x, dim)``), and passed to two linear primitives: a gather (the pool) and
its adjoint, a scatter (its VJP). The positions are piecewise constant in x, so x's
derivative through them is zero, as in PyTorch.

``linear(x, w, b) = x @ w.T + b`` is the dense layer fused into one node (PyTorch's addmm):
d/dx = g @ w, d/dw = g^T x, d/db = sum(g) over the batch.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.linalg import _mm

_as_strided = xp.lib.stride_tricks.as_strided


def _pad(x: Any, ph: int, pw: int, value: float = 0.0) -> Any:
    """``x`` (N, C, H, W) with ``ph`` rows and ``pw`` columns of ``value`` on each side."""
    if not (ph or pw):
        return x
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def _windows(x: Any, kh: int, kw: int, stride: tuple[int, int]) -> Any:
    """Every (kh, kw) receptive field of the (already padded) NCHW ``x``: a read-only view of
    shape (N, C, Ho, Wo, kh, kw) (used by max-pooling)."""
    n, c, h, w = x.shape
    sh, sw = stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    s_n, s_c, s_h, s_w = x.strides
    return _as_strided(
        x, (n, c, ho, wo, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h, s_w), writeable=False
    )


def _im2col(x: Any, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
    """The (N*Ho*Wo, kh*kw*C) matrix of receptive fields, and (N, Ho, Wo).

    The padded input is copied once to channels-last (N, H, W, C); in that layout a receptive
    field's (kw, C) part is contiguous, so the strided window view copies into the matrix in
    runs of kw*C floats, several times faster than from NCHW at C = 16. Columns are ordered
    (kh, kw, C), so the weight is used as w.transpose(0, 2, 3, 1).
    """
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, padding
    hp, wp = h + 2 * ph, w + 2 * pw
    xt = (xp.zeros if ph or pw else xp.empty)((n, hp, wp, c), dtype=x.dtype)
    xt[:, ph : ph + h, pw : pw + w, :] = x.transpose(0, 2, 3, 1)
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    s_n, s_h, s_w, s_c = xt.strides
    win = _as_strided(xt, (n, ho, wo, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c))
    return win.reshape(n * ho * wo, kh * kw * c), (n, ho, wo)


def _weight_matrix(w: Any) -> Any:
    o, c, kh, kw = w.shape
    return w.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)  # columns (kh, kw, C) as _im2col


def _conv2d_impl(x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
    o, c, kh, kw = w.shape
    cols, (n, ho, wo) = _im2col(x, kh, kw, stride, padding)
    out = cols @ _weight_matrix(w).T  # (N*Ho*Wo, O): the one big matmul
    # NCHW for the caller; contiguous, so that later elementwise ops run at full speed
    return xp.ascontiguousarray(out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))


def _conv2d_weight_grad_impl(
    x: Any, g: Any, w_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    o, c, kh, kw = w_shape
    cols, (n, ho, wo) = _im2col(x, kh, kw, stride, padding)
    g2 = g.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    gw = (g2.T @ cols).reshape(o, kh, kw, c)  # sum over batch and positions of g * window
    return xp.ascontiguousarray(gw.transpose(0, 3, 1, 2))


def _conv2d_input_grad_impl(
    g: Any, w: Any, x_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = g.shape[2:]
    g2 = g.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    cols = (g2 @ _weight_matrix(w)).reshape(n, ho, wo, kh, kw, c)
    gx = xp.zeros((n, h + 2 * ph, wd + 2 * pw, c), dtype=g.dtype)  # channels-last, as cols
    # col2im: each kernel tap (i, j) adds its column back at its strided offset; kh*kw adds
    for i in range(kh):
        for j in range(kw):
            gx[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :] += cols[:, :, :, i, j, :]
    return xp.ascontiguousarray(gx[:, ph : ph + h, pw : pw + wd, :].transpose(0, 3, 1, 2))


# bilinear: each input's VJP reads the other input only
conv2d_p = Primitive("convolution", _conv2d_impl, saves=((1,), (0,)))
conv2d_input_grad_p = Primitive("conv2d_input_grad", _conv2d_input_grad_impl, saves=((1,), (0,)))
conv2d_weight_grad_p = Primitive("conv2d_weight_grad", _conv2d_weight_grad_impl, saves=((1,), (0,)))

# y = conv2d(x, w) is bilinear:  VJP  x: conv2d_input_grad(g, w),  w: conv2d_weight_grad(x, g)
#                                JVP  conv2d(t, w) + conv2d(x, t_w)
conv2d_p.defvjp(
    lambda g, out, x, w, stride, padding: conv2d_input_grad(g, w, x.shape, stride, padding),
    lambda g, out, x, w, stride, padding: conv2d_weight_grad(x, g, w.shape, stride, padding),
)
conv2d_p.defjvp(
    lambda t, out, x, w, stride, padding: conv2d(t, w, stride, padding),
    lambda t, out, x, w, stride, padding: conv2d(x, t, stride, padding),
)
# gx = conv2d_input_grad(g, w) is the adjoint of x -> conv2d(x, w): <h, gx> = <conv2d(h, w), g>,
# so  VJP  g: conv2d(h, w),  w: conv2d_weight_grad(h, g)
conv2d_input_grad_p.defvjp(
    lambda h, out, g, w, x_shape, stride, padding: conv2d(h, w, stride, padding),
    lambda h, out, g, w, x_shape, stride, padding: conv2d_weight_grad(
        h, g, w.shape, stride, padding
    ),
)
conv2d_input_grad_p.defjvp(
    lambda t, out, g, w, x_shape, stride, padding: conv2d_input_grad(
        t, w, x_shape, stride, padding
    ),
    lambda t, out, g, w, x_shape, stride, padding: conv2d_input_grad(
        g, t, x_shape, stride, padding
    ),
)
# gw = conv2d_weight_grad(x, g): <H, gw> = <conv2d(x, H), g>,
# so  VJP  x: conv2d_input_grad(g, H),  g: conv2d(x, H)
conv2d_weight_grad_p.defvjp(
    lambda h, out, x, g, w_shape, stride, padding: conv2d_input_grad(
        g, h, x.shape, stride, padding
    ),
    lambda h, out, x, g, w_shape, stride, padding: conv2d(x, h, stride, padding),
)
conv2d_weight_grad_p.defjvp(
    lambda t, out, x, g, w_shape, stride, padding: conv2d_weight_grad(
        t, g, w_shape, stride, padding
    ),
    lambda t, out, x, g, w_shape, stride, padding: conv2d_weight_grad(
        x, t, w_shape, stride, padding
    ),
)


def conv2d(x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
    """Bind ``conv2d_p`` (no checks; the public ``nn.functional.conv2d`` checks shapes)."""
    return bind(conv2d_p, (x, w), {"stride": stride, "padding": padding})


def conv2d_input_grad(
    g: Any, w: Any, x_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    """The transposed convolution of ``g`` with ``w``, cropped to ``x_shape``."""
    params = {"x_shape": tuple(x_shape), "stride": stride, "padding": padding}
    return bind(conv2d_input_grad_p, (g, w), params)


def conv2d_weight_grad(
    x: Any, g: Any, w_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    """sum over batch and positions of ``g`` times each receptive field of ``x``."""
    params = {"w_shape": tuple(w_shape), "stride": stride, "padding": padding}
    return bind(conv2d_weight_grad_p, (x, g), params)


# --- the dense layer --------------------------------------------------------------------------
# linear(x, w, b) = x @ w.T + b is composed from matmul, transpose and add elsewhere; fused here
# it is one node instead of three, and keeps one activation per layer alive instead of two
# (the composition's add holds the matmul's output until backward).


def _linear_impl(x: Any, w: Any, *bias: Any) -> Any:
    out = x @ w.T
    if bias:
        out += bias[0]  # a fresh array: add in place
    return out


def _rows(a: Any, width: int) -> Any:
    """``a`` as a matrix of ``width`` columns: leading (batch) dims merged into rows."""
    return a if a.ndim == 2 else S.reshape(a, (math.prod(a.shape[:-1]), width))


def _linear_dw(g: Any, out: Any, x: Any, w: Any, *bias: Any) -> Any:
    # d/dw = g^T x, summed over every leading (batch) dim
    return bind(outer_mm_p, (_rows(g, w.shape[0]), _rows(x, w.shape[1])), {})


# a^T @ b as one node (no transposed view to record): the weight gradient of a dense layer.
# Bilinear:  d/da = b @ G^T,  d/db = a @ G  (G the cotangent of the (n, m) result).
outer_mm_p = Primitive("mm_tn", lambda a, b: a.T @ b, saves=((1,), (0,)))
outer_mm_p.defvjp(lambda g, out, a, b: _mm(b, S.permute(g, (1, 0))), lambda g, out, a, b: _mm(a, g))
outer_mm_p.defjvp(
    lambda t, out, a, b: bind(outer_mm_p, (t, b), {}),
    lambda t, out, a, b: bind(outer_mm_p, (a, t), {}),
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
linear_p.defjvp(
    lambda t, out, x, w, *bias: _mm(t, S.permute(w, (1, 0))),
    lambda t, out, x, w, *bias: _mm(x, S.permute(t, (1, 0))),
    lambda t, out, x, w, b: F.expand(t, (*x.shape[:-1], w.shape[0])),
)


def linear(x: Any, w: Any, b: Any = None) -> Any:
    """Bind ``linear_p`` (no checks; the public ``nn.functional.linear`` checks shapes)."""
    return bind(linear_p, (x, w) if b is None else (x, w, b), {})


# --- max pooling ------------------------------------------------------------------------------


def _gather_impl(x: Any, index: Any, in_shape: tuple[int, ...], overlap: bool) -> Any:
    n, c = x.shape[:2]
    flat = xp.take_along_axis(x.reshape(n, c, -1), index.reshape(n, c, -1), axis=2)
    return flat.reshape(index.shape)


def _scatter_impl(g: Any, index: Any, in_shape: tuple[int, ...], overlap: bool) -> Any:
    n, c = in_shape[:2]
    out = xp.zeros((n, c, in_shape[2] * in_shape[3]), dtype=g.dtype)
    idx, vals = index.reshape(n, c, -1), g.reshape(n, c, -1)
    if overlap:  # windows overlap: one input can be the max of several, so add, not write
        xp.add.at(out, (xp.arange(n)[:, None, None], xp.arange(c)[None, :, None], idx), vals)
    else:
        xp.put_along_axis(out, idx, vals, axis=2)
    return out.reshape(in_shape)


# out = x gathered at the argmax of each window (linear in x for fixed positions);
# VJP: g scattered back to those positions (ties went to the first max, as PyTorch).
max_pool2d_p = Primitive("max_pool2d_with_indices", _gather_impl, linear=True)
max_pool2d_p.defvjp(
    lambda g, out, x, index, in_shape, overlap: pool_scatter(g, index, in_shape, overlap)
)
max_pool2d_p.defjvp(
    lambda t, out, x, index, in_shape, overlap: pool_gather(t, index, in_shape, overlap)
)
# the scatter is linear in g; its adjoint is the gather again
max_pool2d_backward_p = Primitive("max_pool2d_backward", _scatter_impl, linear=True)
max_pool2d_backward_p.defvjp(
    lambda h, out, g, index, in_shape, overlap: pool_gather(h, index, in_shape, overlap)
)
max_pool2d_backward_p.defjvp(
    lambda t, out, g, index, in_shape, overlap: pool_scatter(t, index, in_shape, overlap)
)


def pool_gather(x: Any, index: Any, in_shape: tuple[int, ...], overlap: bool) -> Any:
    params = {"index": index, "in_shape": tuple(in_shape), "overlap": overlap}
    return bind(max_pool2d_p, (x,), params)


def pool_scatter(g: Any, index: Any, in_shape: tuple[int, ...], overlap: bool) -> Any:
    params = {"index": index, "in_shape": tuple(in_shape), "overlap": overlap}
    return bind(max_pool2d_backward_p, (g,), params)


def max_pool2d_indices(
    x: Any, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    """For each output position, the flat index (into an H*W plane of the unpadded ``x``
    array) of its window's maximum: the first one on ties, and the first NaN, as PyTorch."""
    kh, kw = kernel
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    xpad = _pad(x, ph, pw, -xp.inf)  # padding never wins the max (PyTorch pads with -inf)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    # One strided view per kernel tap (4 for 2x2): whole-array passes, instead of an argmax
    # over a copied (..., kh*kw) array whose tiny last axis makes NumPy slow.
    taps = [
        xpad[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] for i in range(kh) for j in range(kw)
    ]
    best = taps[0].copy()
    for v in taps[1:]:
        xp.maximum(best, v, out=best)  # propagates NaN, as PyTorch's max-pool does
    # one reduction tells whether any max is NaN (then NaN taps must count as hits)
    nan = xp.isnan(best) if xp.isnan(xp.add.reduce(best, axis=None)) else None
    arg = xp.zeros(best.shape, dtype=xp.int64)
    hit = xp.empty(best.shape, dtype=bool)
    for k in range(len(taps) - 1, -1, -1):  # backwards, so the first tap that hits wins
        xp.equal(taps[k], best, out=hit)
        if nan is not None:
            hit |= xp.isnan(taps[k]) & nan
        xp.putmask(arg, hit, k)
    # window origin in the unpadded plane, plus the tap's offset
    origin = (xp.arange(ho) * sh - ph)[:, None] * w + (xp.arange(wo) * sw - pw)
    offsets = xp.array([i * w + j for i in range(kh) for j in range(kw)])
    index = origin + offsets[arg]
    if ph or pw:  # an all -inf window at the border could point into the padding: clip it
        xp.clip(index, 0, h * w - 1, out=index)
    return index
