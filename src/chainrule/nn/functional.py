"""``chainrule.nn.functional``: the stateless functions that layers are made of.

Activations are the tensor ops themselves: the ones their family files mark
``@public(functional=True)`` are re-exported here (``chainrule.ops.api.FUNCTIONAL``). Losses,
dropout, layer norm and embedding are compositions of ops, except ``cross_entropy`` with
class-index targets, which is one fused primitive (``chainrule.ops.loss``: stable, and its VJP
is ``(softmax(z) - one_hot(y)) * g / N``). ``linear``, ``conv2d`` and ``max_pool2d`` bind the
primitives of ``chainrule.ops.linalg``, ``.conv`` and ``.pool`` after checking shapes, so errors
name what was passed.

>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> logits = cr.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
>>> loss = F.cross_entropy(logits, cr.tensor([0]))
>>> round(loss.item(), 4)
0.1698
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.ops import api as ops
from chainrule.ops import conv, linalg, pool
from chainrule.ops.api import FUNCTIONAL
from chainrule.ops.loss import cross_entropy_rows
from chainrule.ops.shape import batch_traced, take
from chainrule.tensor import Tensor

globals().update(FUNCTIONAL)  # relu, sigmoid, softmax, ...: declared with their primitives
__all__ = sorted(
    [
        *FUNCTIONAL,
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "conv2d",
        "cross_entropy",
        "dropout",
        "embedding",
        "l1_loss",
        "layer_norm",
        "linear",
        "max_pool2d",
        "mse_loss",
        "nll_loss",
        "one_hot",
    ]
)

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _float(x: Any) -> Tensor:
    x = _tensor(x)
    return x if x.data.dtype.kind == "f" else ops.to(x, _backend.default_float)


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _pair(value: Any, name: str, op: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


# --- layers ---------------------------------------------------------------------------------


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weight.T + bias, over any leading dims of x (weight: (out, in), bias: (out,)).

    d/dx = g @ weight,  d/dweight = g^T x (summed over leading dims),  d/dbias = sum(g).

    >>> import chainrule as cr
    >>> linear(cr.ones(2, 3), cr.ones(4, 3), cr.zeros(4)).shape
    (2, 4)
    """
    x, weight = _float(x), _tensor(weight)
    if x.shape[-1:] != weight.shape[1:2] or weight.ndim != 2:
        raise ValueError(
            f"linear: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} "
            f"features but the weight of shape {tuple(weight.shape)} expects "
            f"{weight.shape[1] if weight.ndim == 2 else '?'} (weight is (out_features, "
            "in_features))"
        )
    if bias is not None:
        bias = _tensor(bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"linear: bias of shape {tuple(bias.shape)} does not match the weight's "
                f"{weight.shape[0]} output features"
            )
    dtype = x.data.dtype
    if weight.data.dtype is dtype and (bias is None or bias.data.dtype is dtype):
        return linalg.linear(x, weight, bias)  # the common case: one dtype throughout
    for t in (weight, bias):  # promote as matmul would (float32 with float64 -> float64)
        if t is not None and t.data.dtype != dtype:
            dtype = xp.promote_types(dtype, t.data.dtype)
    args = [
        t if t is None or t.data.dtype == dtype else ops.to(t, dtype) for t in (x, weight, bias)
    ]
    return linalg.linear(*args)


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each entry with probability ``p`` and scale the rest by 1/(1-p) (training only).

    d/dx = mask / (1 - p): the same mask, drawn from chainrule's seeded generator.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    x = _float(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    from chainrule.creation import _rng, rand

    if STATE.levels:
        from chainrule.func.program import active

        program = active()
        if program is not None:  # cr.compile: a mask op, drawn afresh on every call
            if STATE.random_levels:
                from chainrule.func.program import TraceError

                raise TraceError(
                    "cr.compile: dropout inside vmap(randomness='different') cannot be traced "
                    "yet; apply vmap outside the compiled function or use randomness='same'"
                )
            return x * program.random_mask(tuple(x.shape), p, x.dtype)
    if STATE.random_levels:  # vmap(randomness="different"): a mask per example
        scale = 1.0 / (1.0 - p)
        return x * ((rand(*x.shape, dtype=x.dtype) >= p).to(x.dtype) * scale)
    keep = _rng().random(x.shape) >= p
    mask = keep.astype(x.data.dtype) * x.data.dtype.type(1.0 / (1.0 - p))
    return x * Tensor(mask)


def layer_norm(
    x: Any,
    normalized_shape: Any,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last ``len(normalized_shape)``
    dims (biased variance, as PyTorch). Composed from ops, so it differentiates to any order.
    """
    x = _float(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must match the last dims of the input, "
            f"which has shape {tuple(x.shape)}"
        )
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - ops.mean(x, dims, keepdim=True)
    var = ops.mean(centered * centered, dims, keepdim=True)
    out = centered / ops.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices`` (output: indices.shape + (dim,)).

    d/dweight: g added back into the picked rows (repeats accumulate); none for padding_idx.
    """
    if batch_traced(indices) and padding_idx is None:  # per-example ids (vmap): an operand
        return take(weight, indices)
    idx = _tensor(indices).data
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers (int64), got {idx.dtype} of shape "
            f"{tuple(idx.shape)}"
        )
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # -1 is not the last row (PyTorch)
        raise IndexError(
            f"embedding: index {int(idx.max() if idx.max() >= n else idx.min())} is out of "
            f"range for {n} embeddings (valid: 0 to {n - 1})"
        )
    out = weight[idx]
    if padding_idx is not None:  # those rows are constants: no gradient reaches the weight
        mask = Tensor(xp.expand_dims(idx == padding_idx % n, -1))
        out = ops.where(mask, Tensor(weight.data[idx]), out)
    return out


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (O, C, kh, kw), plus bias.

    out[n,o,i,j] = sum_{c,a,b} x_pad[n, c, i*s + a, j*s + b] w[o,c,a,b] + bias[o];
    d/dx = the transposed convolution of g with w,  d/dw = sum_{n,i,j} g * window.
    ``padding`` may be an int, a pair, 'valid' or 'same' (stride 1, odd kernel). A 3-D
    input is treated as one unbatched image (C, H, W).
    """
    x, weight = _float(x), _tensor(weight)
    if _pair(dilation, "dilation", "conv2d") != (1, 1) or groups != 1:
        raise NotImplementedError("conv2d: dilation and groups other than 1 are not supported")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape "
            f"{tuple(weight.shape)}"
        )
    unbatched = x.ndim == 3
    if unbatched:
        x = ops.unsqueeze(x, 0)
    if x.ndim != 4:
        raise ValueError(
            f"conv2d: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    o, c, kh, kw = weight.shape
    if x.shape[1] != c:
        raise ValueError(
            f"conv2d: input of shape {tuple(x.shape)} has {x.shape[1]} channels, but the "
            f"weight of shape {tuple(weight.shape)} expects {c} input channels"
        )
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if _pair(stride, "stride", "conv2d") != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                raise ValueError("conv2d: padding='same' needs stride 1 and an odd kernel size")
            padding = ((kh - 1) // 2, (kw - 1) // 2)
        else:
            raise ValueError(
                f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
            )
    st, pad = _pair(stride, "stride", "conv2d"), _pair(padding, "padding", "conv2d")
    if min(st) < 1 or min(pad) < 0:
        raise ValueError(f"conv2d: stride must be >= 1 and padding >= 0, got {st} and {pad}")
    h, w = x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]
    if h < kh or w < kw:
        raise ValueError(
            f"conv2d: kernel size ({kh}, {kw}) is larger than the padded input ({h}, {w}) "
            f"(input shape {tuple(x.shape)}, padding {pad})"
        )
    if x.data.dtype != weight.data.dtype:
        dtype = xp.promote_types(x.data.dtype, weight.data.dtype)
        x, weight = ops.to(x, dtype), ops.to(weight, dtype)
    out = conv.conv2d(x, weight, st, pad)
    if bias is not None:
        out = out + ops.reshape(bias, (1, o, 1, 1))
    return ops.squeeze(out, 0) if unbatched else out


def max_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Maximum over each (kh, kw) window of ``x`` (N, C, H, W), padded with -inf.

    d/dx = g routed to the position of each window's maximum (the first one on ties, as
    PyTorch); overlapping windows add up.
    """
    x = _float(x)
    if _pair(dilation, "dilation", "max_pool2d") != (1, 1) or ceil_mode or return_indices:
        raise NotImplementedError(
            "max_pool2d: dilation, ceil_mode and return_indices are not supported"
        )
    unbatched = x.ndim == 3
    if unbatched:
        x = ops.unsqueeze(x, 0)
    if x.ndim != 4:
        raise ValueError(
            f"max_pool2d: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    k = _pair(kernel_size, "kernel_size", "max_pool2d")
    st = k if stride is None or stride == [] else _pair(stride, "stride", "max_pool2d")
    pad = _pair(padding, "padding", "max_pool2d")
    if pad[0] > k[0] // 2 or pad[1] > k[1] // 2:
        raise ValueError(f"max_pool2d: padding {pad} should be at most half of the kernel size {k}")
    if x.shape[2] + 2 * pad[0] < k[0] or x.shape[3] + 2 * pad[1] < k[1]:
        raise ValueError(
            f"max_pool2d: kernel size {k} is larger than the padded input of shape "
            f"{tuple(x.shape)} with padding {pad}"
        )
    if batch_traced(x):
        out = _max_pool2d_batched(x, k, st, pad)
        return ops.squeeze(out, 0) if unbatched else out
    index = pool.max_pool2d_indices(x.data, k, st, pad)
    overlap = st[0] < k[0] or st[1] < k[1]
    out = pool.pool_gather(x, index, x.shape, overlap)
    return ops.squeeze(out, 0) if unbatched else out


def _max_pool2d_batched(x: Tensor, k: Any, st: Any, pad: Any) -> Tensor:
    """max_pool2d of an (N, C, H, W) example that vmap batches: each example's window argmax
    differs, so the positions become an index *operand* batched like ``x`` (``take_rows`` on
    the flattened example; its VJP scatters, adding where windows overlap)."""
    n, c, h, w = x.shape
    data = x.data  # (batch axes of every vmap level, oldest first, ..., N, C, H, W)
    lead = data.shape[:-4]
    index = pool.max_pool2d_indices(data.reshape(-1, c, h, w), k, st, pad)  # in one H*W plane
    planes = xp.arange(index.shape[0] * c).reshape(index.shape[0], c) % (n * c)
    flat = (index + (planes * (h * w))[:, :, None, None]).reshape(*lead, n, c, *index.shape[2:])
    levels = []  # the batch levels in x's chain, newest first
    t = x
    while t._level is not None:
        if hasattr(t._level, "size"):
            levels.append(t._level)
        t = t.primal
    idx: Any = Tensor(flat)
    for level in reversed(levels):  # the oldest level's axis is the array's first
        idx = level.wrap(idx)
    return take(ops.reshape(x, (-1,)), idx)


# --- losses ---------------------------------------------------------------------------------


def _class_rows(z: Tensor, target: Tensor, op: str) -> tuple[Tensor, Any, int]:
    """Logits as (M, C) rows with the class dim last, and integer targets as (M,)."""
    if z.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    n_classes = z.shape[1] if z.ndim >= 2 else z.shape[0]
    expected = () if z.ndim == 1 else (z.shape[0], *z.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{op}: input of shape {tuple(z.shape)} ({n_classes} classes along dim "
            f"{1 if z.ndim >= 2 else 0}) needs class-index targets of shape {expected}, got "
            f"target of shape {tuple(target.shape)}"
            + (
                "; for one-hot or probability targets pass a float tensor of the input's shape"
                if op == "cross_entropy"
                else ""
            )
        )
    if z.ndim == 1:
        rows = ops.reshape(z, (1, n_classes))
    elif z.ndim == 2:
        rows = z
    else:  # (N, C, d1, ...) -> (N*d1*..., C)
        rows = ops.reshape(ops.permute(z, (0, *range(2, z.ndim), 1)), (-1, n_classes))
    return rows, target.data.reshape(-1), n_classes


def _check_targets(y: Any, valid: Any, n_classes: int, ignore_index: int, op: str) -> None:
    bad = y[valid & ((y < 0) | (y >= n_classes))]
    if bad.size:
        raise IndexError(
            f"{op}: target {int(bad[0])} is out of bounds for {n_classes} classes (valid: 0 "
            f"to {n_classes - 1}, or ignore_index={ignore_index})"
        )


def _class_weight(weight: Any, n_classes: int, op: str) -> Any:
    if weight is None:
        return None
    w = xp.asarray(_tensor(weight).data, dtype=xp.float64)
    if w.shape != (n_classes,):
        raise ValueError(
            f"{op}: weight must have one entry per class, shape ({n_classes},), got "
            f"{tuple(w.shape)}"
        )
    return w


def _row_scale(y: Any, valid: Any, w: Any, reduction: str) -> Any:
    """Per-row factors (class weights not included): 0 for ignored rows, and for 'mean'
    1 / (the number of other rows, or the sum of their class weights)."""
    scale = valid.astype(xp.float64)
    if reduction == "mean":
        total = scale.sum() if w is None else (scale * w[xp.where(valid, y, 0)]).sum()
        # all rows ignored: 0/0 = nan, as PyTorch
        scale = scale / total if total else xp.full_like(scale, xp.nan)
    return scale


def _cross_entropy_traced_target(
    z: Tensor, y: Tensor, weight: Any, ignore_index: int, reduction: str, smoothing: float
) -> Tensor:
    """Cross-entropy with class-index targets that are batched by ``vmap`` (their values
    differ per example, so they cannot be the fused primitive's index parameter): the same
    loss from the one-hot targets, built with batched comparisons."""
    if weight is not None or bool((y.data == ignore_index).any()):
        raise NotImplementedError(
            "cross_entropy under vmap with batched class-index targets supports neither class "
            "weights nor ignore_index rows; pass one-hot float targets instead"
        )
    c_dim = 0 if z.ndim == 1 else 1
    shape = [1] * z.ndim
    shape[c_dim] = z.shape[c_dim]
    classes = Tensor(xp.arange(z.shape[c_dim]).reshape(shape))
    one_hot = (ops.unsqueeze(y, c_dim) == classes).to(z.dtype)
    return _cross_entropy_probs(z, one_hot, None, reduction, smoothing)


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy between logits ``input`` (N, C) (or (C,), or (N, C, d1, ...)) and
    class-index ``target`` (N,) (int64), or class probabilities of the input's shape (float).

    loss_i = -sum_c q_ic log_softmax(input)_ic with q the one-hot target smoothed by
    ``label_smoothing`` (q = (1 - eps) one_hot + eps / C);
    d/dinput = (softmax(input) - q) * g / N for the mean (one fused, stable primitive).
    Rows whose target is ``ignore_index`` count for nothing, and 'mean' divides by the
    number of the others (by the sum of their class ``weight`` when given), as PyTorch.

    >>> import chainrule as cr
    >>> z = cr.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    >>> cross_entropy(z, cr.tensor([2, 0])).backward()
    >>> z.grad
    tensor([[ 0.0450,  0.1224, -0.1674],
            [-0.4550,  0.1224,  0.3326]])
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    z, y = _float(input), _tensor(target)
    kind = y.data.dtype.kind
    if kind == "f":
        return _cross_entropy_probs(z, y, weight, reduction, label_smoothing)
    if kind not in "iu":
        raise TypeError(
            f"cross_entropy: target must hold class indices (int64) of shape "
            f"{(z.shape[0], *z.shape[2:]) if z.ndim >= 2 else ()} or class probabilities "
            f"(float) of shape {tuple(z.shape)}, got a {y.data.dtype} tensor of shape "
            f"{tuple(y.shape)}"
        )
    if batch_traced(y):  # class indices batched by vmap: as one-hot probabilities
        return _cross_entropy_traced_target(z, y, weight, ignore_index, reduction, label_smoothing)
    yd = y.data
    if (
        z.ndim == 2
        and yd.shape == z.shape[:1]
        and weight is None
        and reduction != "none"
        and yd.size
        and xp.minimum.reduce(yd) >= 0  # no ignored row (ignore_index is out of range) ...
        and xp.maximum.reduce(yd) < z.shape[1]  # ... and every target a valid class
        and (ignore_index < 0 or ignore_index >= z.shape[1])
    ):
        # The common case, without the per-row masks: every row counts the same.
        scale = 1.0 / yd.shape[0] if reduction == "mean" else 1.0  # the same for every row
        return cross_entropy_rows(z, yd.astype(xp.int64, copy=False), scale, label_smoothing,
                                  None, True)  # fmt: skip
    rows, yr, n_classes = _class_rows(z, y, "cross_entropy")
    valid = yr != ignore_index
    _check_targets(yr, valid, n_classes, ignore_index, "cross_entropy")
    w = _class_weight(weight, n_classes, "cross_entropy")
    scale = _row_scale(yr, valid, w, reduction)
    y_safe = xp.where(valid, yr, 0).astype(xp.int64, copy=False)
    out = cross_entropy_rows(rows, y_safe, scale, label_smoothing, w, reduction != "none")
    if reduction == "mean" and not yr.size:
        out = out * math.nan  # the mean of no rows is 0/0, as PyTorch
    return ops.reshape(out, y.shape) if reduction == "none" else out


def _cross_entropy_probs(
    z: Tensor, p: Tensor, weight: Any, reduction: str, smoothing: float
) -> Tensor:
    """Probability targets (PyTorch semantics): composed from the fused log_softmax; also
    differentiable in the targets."""
    if tuple(p.shape) != tuple(z.shape):
        raise ValueError(
            f"cross_entropy: probability targets must have the input's shape "
            f"{tuple(z.shape)}, got {tuple(p.shape)}"
        )
    dim = 1 if z.ndim >= 2 else 0
    n_classes = z.shape[dim]
    if smoothing:
        p = p * (1.0 - smoothing) + smoothing / n_classes
    terms = ops.log_softmax(z, dim) * p
    w = _class_weight(weight, n_classes, "cross_entropy")
    if w is not None:
        shape = [1] * z.ndim
        shape[dim] = n_classes
        terms = terms * Tensor(w.reshape(shape).astype(z.data.dtype))
    return _reduce(-ops.sum(terms, dim), reduction)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class-index ``target`` under log-probabilities ``input``.

    loss_i = -w[y_i] input[i, y_i];  'mean' divides by sum_i w[y_i] over unignored rows.
    d/dinput[i, y_i] = -w[y_i] g (times the mean's factor), 0 elsewhere.
    """
    _check_reduction(reduction, "nll_loss")
    logp, y = _float(input), _tensor(target)
    if y.data.dtype.kind not in "iu":
        raise TypeError(
            f"nll_loss: target must hold class indices (int64), got a {y.data.dtype} tensor of "
            f"shape {tuple(y.shape)}"
        )
    rows, yr, n_classes = _class_rows(logp, y, "nll_loss")
    valid = yr != ignore_index
    _check_targets(yr, valid, n_classes, ignore_index, "nll_loss")
    w = _class_weight(weight, n_classes, "nll_loss")
    coef = -_row_scale(yr, valid, w, reduction)
    y_safe = xp.where(valid, yr, 0)
    if w is not None:
        coef = coef * w[y_safe]
    picked = rows[xp.arange(rows.shape[0]), y_safe] * Tensor(coef.astype(logp.data.dtype))
    if reduction == "mean" and not yr.size:
        return ops.sum(picked) * math.nan  # the mean of no rows is 0/0, as PyTorch
    return ops.reshape(picked, y.shape) if reduction == "none" else ops.sum(picked)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(input - target)**2, averaged (or summed).   d/dinput = 2 (input - target) / N."""
    _check_reduction(reduction, "mse_loss")
    d = _float(input) - target
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """|input - target|, averaged (or summed).   d/dinput = sign(input - target) / N."""
    _check_reduction(reduction, "l1_loss")
    return _reduce(ops.abs(_float(input) - target), reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """-[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] for logits x, computed stably as
    (1 - y) x + (1 + (p - 1) y) softplus(-x)  (p = ``pos_weight``, 1 by default).

    d/dx = sigmoid(x) - y  (for p = 1), finite for |x| = 1000.
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x, y = _float(input), _float(target)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(
            f"binary_cross_entropy_with_logits: target of shape {tuple(y.shape)} must have the "
            f"input's shape {tuple(x.shape)}"
        )
    # softplus(-x) = log(1 + e^-x) = -log sigmoid(x); an infinite threshold keeps it smooth
    log_weight = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * y
    loss = (1.0 - y) * x + log_weight * ops.softplus(-x, threshold=math.inf)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p; logs clamped at -100 (PyTorch).

    d/dp = (p - y) / max(p (1 - p), 1e-12): PyTorch clamps the denominator, so p = 0 or 1
    gets a large but finite gradient, not nan. Prefer ``binary_cross_entropy_with_logits``
    (stable).
    """
    _check_reduction(reduction, "binary_cross_entropy")
    p, y = _float(input), _float(target)
    if tuple(p.shape) != tuple(y.shape):
        raise ValueError(
            f"binary_cross_entropy: target of shape {tuple(y.shape)} must have the input's "
            f"shape {tuple(p.shape)}"
        )
    pd = p.data
    if pd.size and not ((pd >= 0) & (pd <= 1)).all():
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1")
    eps = 9.999999960041972e-13  # PyTorch's 1e-12, a float32 constant in its backward
    edge = pd * (1.0 - pd) < eps  # where PyTorch's backward clamps p (1 - p)
    if edge.any():
        # There the loss is its value (constant in p: the clamped logs) plus a zero,
        # (p - p0) (p0 - y) / eps, whose derivative is PyTorch's clamped one; elsewhere
        # the plain formula, fed p = 1/2 at the edge so no inf * 0 leaks through where.
        with xp.errstate(divide="ignore"):
            c1 = Tensor(xp.maximum(xp.log(pd), -100.0))
            c2 = Tensor(xp.maximum(xp.log(1.0 - pd), -100.0))
        p0 = Tensor(pd)
        at_edge = -(y * c1 + (1.0 - y) * c2) + (p - p0) * ((p0 - y) / eps)
        mask = Tensor(edge)
        p = ops.where(mask, 0.5, p)
    log_p = ops.clamp(ops.log(p), min=-100.0)
    log_1mp = ops.clamp(ops.log(1.0 - p), min=-100.0)
    loss = -(y * log_p + (1.0 - y) * log_1mp)
    if edge.any():
        loss = ops.where(mask, at_edge, loss)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding of integer class indices (a new last dim of ``num_classes``).

    >>> import chainrule as cr
    >>> one_hot(cr.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    y = _tensor(tensor).data
    if y.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices, got {y.dtype}")
    if num_classes < 0:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes})")
    return Tensor((y[..., None] == xp.arange(num_classes)).astype(xp.int64))
