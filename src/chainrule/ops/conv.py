"""Convolution primitives, with their VJPs and JVPs side by side.

conv2d is bilinear in (x, w). Its two VJPs are themselves bilinear maps, so they are
primitives too, and the three close under differentiation (each one's VJP is one of the
others), which is what makes second order work:

- ``conv2d(x, w)``                   y[n,o,p] = sum_{c,k} x[n,c,p*s+k-pad] w[o,c,k]
- ``conv2d_input_grad(g, w)``        the transposed convolution (col2im): the VJP wrt x
- ``conv2d_weight_grad(x, g)``       the correlation of x with g: the VJP wrt w

All three use im2col: a strided *view* of every receptive field (NumPy stride tricks, no
copy), one copy into a (positions, kh*kw*C) matrix, and one big matmul on BLAS.

Max-pooling lives in ``pool.py``, the dense layer in ``linalg.py``.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.shape import loop_batch

_as_strided = xp.lib.stride_tricks.as_strided


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


# --- batching: a stack of examples through shared weights is one bigger convolution ---------


def _merge(v: Any) -> Any:
    """(B, N, ...) -> (B*N, ...): the batch axis folded into the examples' own batch dim."""
    return S.reshape_to(v, (v.shape[0] * v.shape[1], *v.shape[2:]))


def _conv2d_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    x, w = values
    if batched[1] or x.ndim != 5:  # per-example weights: one convolution per example
        return loop_batch(level, prim, values, batched, params)
    out = bind(prim, (_merge(x), w), params)
    return S.reshape_to(out, (x.shape[0], x.shape[1], *out.shape[1:]))


def _input_grad_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    g, w = values
    if batched[1] or g.ndim != 5:
        return loop_batch(level, prim, values, batched, params)
    b, n = g.shape[:2]
    x_shape = params["x_shape"]
    out = bind(prim, (_merge(g), w), {**params, "x_shape": (b * n, *x_shape[1:])})
    return S.reshape_to(out, (b, n, *out.shape[1:]))


conv2d_p.batch = _conv2d_batch
conv2d_input_grad_p.batch = _input_grad_batch
# the weight gradient sums over the examples of one batch: per-example ones (vmap over both
# operands) cannot share one call, so that rule is the loop
conv2d_weight_grad_p.batch = loop_batch
