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


def _matmul_dx(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dx (x @ y) contracted with g: g @ y^T, summed over broadcast batch dims. Reads y; of
    # x only the shape (x is saved only when y needs a gradient).
    if x.ndim == 2 and y.ndim == 2:
        return _mm(g, _mT(y))  # the common case, without the general reshaping
    # View 1-D operands as matrices, as matmul does: x (k,) -> (1, k), y (k,) -> (k, 1). y
    # first: g gets its trailing axis back before x's row axis goes in front of it (in the
    # other order a 1-D @ 1-D cotangent, 0-d, would have no axis -2 to unsqueeze at).
    x_shape = x.shape
    if y.ndim == 1:
        y = F.unsqueeze(y, -1)
        g = F.unsqueeze(g, -1)
    if x.ndim == 1:
        x_shape = (1, *x_shape)
        g = F.unsqueeze(g, -2)
    gx = _mm(g, _mT(y))
    if gx.shape != x_shape:
        gx = F.sum_to_shape(gx, x_shape)
    return F.reshape(gx, x.shape) if x.ndim == 1 else gx


def _matmul_dy(g: Any, out: Any, x: Any, y: Any) -> Any:
    # d/dy (x @ y) contracted with g: x^T @ g, summed over broadcast batch dims. Reads x; of
    # y only the shape (y is saved only when x needs a gradient).
    if x.ndim == 2 and y.ndim == 2:
        return _mm(_mT(x), g)
    y_shape = y.shape
    if y.ndim == 1:
        y_shape = (*y_shape, 1)
        g = F.unsqueeze(g, -1)
    if x.ndim == 1:
        x = F.unsqueeze(x, 0)
        g = F.unsqueeze(g, -2)
    gy = _mm(_mT(x), g)
    if gy.shape != y_shape:
        gy = F.sum_to_shape(gy, y_shape)
    return F.reshape(gy, y.shape) if y.ndim == 1 else gy


matmul_p = Primitive("mm", xp.matmul, saves=((1,), (0,)))  # d/dx reads y, d/dy reads x
matmul_p.defvjp(_matmul_dx, _matmul_dy)
matmul_p.defjvp(lambda t, out, x, y: _mm(t, y), lambda t, out, x, y: _mm(x, t))  # product rule
