"""Gradient utilities: clipping by global norm or by value, and flattening parameters."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from chainrule._backend import xp
from chainrule.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _params(parameters: Any) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = ||(||g_1||, ..., ||g_k||)||  (the norm of all gradients as one vector);
    every g is multiplied by min(1, max_norm / (total + 1e-6)), as PyTorch does.

    Returns:
        The total norm before clipping, as a 0-d tensor.

    >>> import chainrule as cr
    >>> w = cr.ones(4, requires_grad=True)
    >>> (w * 3.0).sum().backward()          # grad = [3, 3, 3, 3], norm 6
    >>> clip_grad_norm_([w], max_norm=1.0)
    tensor(6.)
    >>> round(float((w.grad ** 2).sum() ** 0.5), 4)
    1.0
    """
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(xp.asarray(0.0, dtype=xp.float32))
    dtype = grads[0].data.dtype
    if math.isinf(norm_type):
        norms = [xp.max(xp.abs(g.data)) if g.data.size else 0.0 for g in grads]
        total = xp.max(xp.asarray(norms, dtype=dtype))
    else:
        norms = [xp.sum(xp.abs(g.data) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = xp.sum(xp.asarray(norms, dtype=dtype) ** norm_type) ** (1.0 / norm_type)
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not xp.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total)}, so they cannot be clipped. Set error_if_nonfinite=False to skip "
            "this check."
        )
    coef = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    if coef < 1.0:  # PyTorch multiplies by the clamped coefficient; by 1 it is a no-op
        for g in grads:
            g.data *= g.data.dtype.type(coef)
            g._bump()
    return Tensor(total)


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    for p in _params(parameters):
        if p.grad is not None:
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
            p.grad._bump()


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one (detached) vector."""
    return Tensor(xp.concatenate([p.data.reshape(-1) for p in parameters]))


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place."""
    start = 0
    for p in parameters:
        n = p.data.size
        p.data[...] = vec.data[start : start + n].reshape(p.shape)
        p._bump()
        start += n
