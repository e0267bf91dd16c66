"""Max-pooling: a gather and its adjoint scatter, both linear primitives.

max_pool2d gathers each window's maximum. The argmax positions are found once, in the public
wrapper (``max_pool2d_indices``, like ``max(x, dim)``), and passed to two linear primitives: a
gather (the pool) and its adjoint, a scatter (its VJP). The positions are piecewise constant
in x, so x's derivative through them is zero, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.shape import reshape_to

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


# --- the primitives ------------------------------------------------------------------------------


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


def _pool_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    # a stack of B inputs (B, N, C, ...) is one pool over B*N images with the positions
    # repeated B times
    (v,) = values
    b = v.shape[0]
    index, in_shape = params["index"], params["in_shape"]
    flat = reshape_to(v, (b * v.shape[1], *v.shape[2:]))
    params = {
        "index": xp.concatenate([index] * b),
        "in_shape": (b * in_shape[0], *in_shape[1:]),
        "overlap": params["overlap"],
    }
    out = bind(prim, (flat,), params)
    return reshape_to(out, (b, out.shape[0] // b, *out.shape[1:]))


max_pool2d_p.batch = _pool_batch
max_pool2d_backward_p.batch = _pool_batch


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
