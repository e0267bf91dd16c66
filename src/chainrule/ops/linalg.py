"""Matrix multiplication, including 1-D operands and batched (broadcast) leading dims."""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind


def _mT(a: Any) -> Any:
    """The last two dims swapped: a view, with no argument checking (rules know the shapes)."""
    nd = a.ndim
    return S.permute(a, (*range(nd - 2), nd - 1, nd - 2))


def _mm(a: Any, b: Any) -> Any:
    return bind(matmul_p, (a, b), {})


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
    if x.ndim == 2 and y.ndim == 2:
        return _mm(g, _mT(y))  # the common case, without the general reshaping
    g2, x2, y2 = _as_matrices(g, x, y)
    gx = _mm(g2, _mT(y2))
    if gx.ndim != x2.ndim or gx.shape != x2.shape:
        gx = F.sum_to_shape(gx, x2.shape)
    return F.reshape(gx, x.shape) if x.ndim == 1 else gx


def _matmul_dy(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dy (x @ y) contracted with g: x^T @ g, summed over broadcast batch dims
    if x.ndim == 2 and y.ndim == 2:
        return _mm(_mT(x), g)
    g2, x2, y2 = _as_matrices(g, x, y)
    gy = _mm(_mT(x2), g2)
    if gy.shape != y2.shape:
        gy = F.sum_to_shape(gy, y2.shape)
    return F.reshape(gy, y.shape) if y.ndim == 1 else gy


matmul_p = Primitive("mm", xp.matmul, saves=(0, 1))
matmul_p.defvjp(_matmul_dx, _matmul_dy)
matmul_p.defjvp(lambda t, out, x, y: _mm(t, y), lambda t, out, x, y: _mm(x, t))  # product rule
