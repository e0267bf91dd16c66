"""Matrix multiplication, including 1-D operands and batched (broadcast) leading dims."""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops._primitive import Primitive


def _as_matrices(g: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
    """View 1-D operands as matrices, as matmul does: x (k,) -> (1, k), y (k,) -> (k, 1)."""
    # y first: g gets its trailing axis back before x's row axis goes in front of it. In the
    # other order a 1-D @ 1-D cotangent (0-d) would have no axis -2 to unsqueeze at.
    if y.ndim == 1:
        y = F.unsqueeze(y, -1)
        g = F.unsqueeze(g, -1)
    if x.ndim == 1:
        x = F.unsqueeze(x, 0)
        g = F.unsqueeze(g, -2)
    return g, x, y


def _matmul_dx(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dx (x @ y) contracted with g: g @ y^T, summed over broadcast batch dims
    g2, x2, y2 = _as_matrices(g, x, y)
    gx = g2 @ y2.mT
    if gx.ndim != x2.ndim or gx.shape != x2.shape:
        gx = F.sum_to_shape(gx, x2.shape)
    return F.reshape(gx, x.shape) if x.ndim == 1 else gx


def _matmul_dy(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dy (x @ y) contracted with g: x^T @ g, summed over broadcast batch dims
    g2, x2, y2 = _as_matrices(g, x, y)
    gy = x2.mT @ g2
    if gy.shape != y2.shape:
        gy = F.sum_to_shape(gy, y2.shape)
    return F.reshape(gy, y.shape) if y.ndim == 1 else gy


matmul_p = Primitive("mm", xp.matmul, saves=(0, 1))
matmul_p.defvjp(_matmul_dx, _matmul_dy)
matmul_p.defjvp(lambda t, out, x, y: t @ y, lambda t, out, x, y: x @ t)  # product rule
