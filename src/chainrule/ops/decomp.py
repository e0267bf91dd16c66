"""Linear algebra: solves, inverse, determinants and the decompositions, with their adjoints.

Every primitive works on stacks of matrices (leading batch dims, as ``numpy.linalg``), and its
rules are written in chainrule ops (matmul, the solves below, elementwise masks), so higher
orders come free. Notation: ``A`` the input, ``G`` the cotangent of the output, ``dA`` a
tangent, ``X^T`` the transpose of the last two dims, ``sym(X) = (X + X^T) / 2``.

- ``solve``:            X = A^{-1} B.     gB = A^{-T} G,  gA = -gB X^T;   dX = A^{-1}(dB - dA X)
- ``solve_triangular``: the same with A triangular (its other triangle is ignored: gA is
  masked to the triangle).
- ``inv``:              Y = A^{-1}.       gA = -Y^T G Y^T;               dY = -Y dA Y
- ``det``:              d = det A.        gA = g d A^{-T};               dd = d tr(A^{-1} dA)
- ``slogdet``:          l = log|det A|.   gA = g A^{-T};                 dl = tr(A^{-1} dA)
- ``cholesky``:         A = L L^T.        gA = sym(L^{-T} Phi(L^T G) L^{-1});
                                          dL = L Phi(L^{-1} sym(dA) L^{-T}),
  with ``Phi`` the lower triangle with its diagonal halved (Murray, 2016).
- ``eigh``:             A = Q diag(w) Q^T (symmetric A, lower triangle read).
                        gA = sym(Q (diag(gw) + F o (Q^T gQ)) Q^T);
                        dw = diag(Q^T dA Q),  dQ = Q (F o (Q^T dA Q)),
  with ``F_ij = 1 / (w_j - w_i)`` off the diagonal and 0 on it.
- ``qr`` (reduced, m >= n): A = Q R.  With ``C = Q^T dA R^{-1}`` and ``W = tril(C, -1)``:
  dR = (C - W + W^T) R,  dQ = dA R^{-1} - Q (C - W + W^T);
  gA = (gQ + Q copyltu(M)) R^{-T},  M = R gR^T - gQ^T Q,  copyltu(M) = tril(M) + tril(M,-1)^T.
- ``svd`` (reduced): A = U diag(s) V^T, k = min(m, n). With ``P = U^T dA V``,
  ``F_ij = 1 / (s_j^2 - s_i^2)``: ds = diag(P), dU = U (F o (P S + S P^T)) + (I - U U^T) dA V
  S^{-1}, dV = V (F o (S P + P^T S)) + (I - V V^T) dA^T U S^{-1}; the VJP is the adjoint of
  that map (Townsend, 2016).

Decompositions with several outputs are one primitive per output (each recomputes the
factorisation; the VJP of the pair is the sum of the two, since it is linear in the
cotangents). Eigenvector and singular-vector derivatives divide by eigenvalue (singular-value)
gaps: they are undefined for repeated values, and a ``RuntimeWarning`` says so, as the
gradients are then inf or nan.
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import no_grad
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind, public
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.elementwise import where
from chainrule.ops.linalg import _mm
from chainrule.ops.reduce import amax, amin, sum
from chainrule.ops.shape import align, batch_rank, stack_all
from chainrule.tensor import Tensor, wrap

# --- helpers (compositions, differentiable) ---------------------------------------------------


def _T(a: Any) -> Any:
    """The last two dims swapped."""
    nd = a.ndim
    return S.permute_to(a, (*range(nd - 2), nd - 1, nd - 2))


def _const(a: Any) -> Tensor:
    return wrap(xp.asarray(a))


def _tril(a: Any, k: int = 0) -> Any:
    n, m = a.shape[-2:]
    return a * _const(xp.tri(n, m, k, dtype=a.dtype))


def _triu(a: Any, k: int = 0) -> Any:
    n, m = a.shape[-2:]
    return a * _const(1 - xp.tri(n, m, k - 1, dtype=a.dtype))


def _eye(n: int, dtype: Any) -> Tensor:
    return _const(xp.eye(n, dtype=dtype))


def _diag_embed(v: Any) -> Any:
    """(..., n) -> (..., n, n) with v on the diagonal."""
    n = v.shape[-1]
    return S.unsqueeze(v, -1) * _eye(n, v.dtype)


def _diagonal(a: Any) -> Any:
    """(..., n, n) -> (..., n): the diagonal."""
    return sum(a * _eye(a.shape[-1], a.dtype), -1)


def _sym(a: Any) -> Any:
    return (a + _T(a)) * 0.5


def _phi(a: Any) -> Any:
    """The lower triangle with the diagonal halved."""
    n = a.shape[-1]
    mask = xp.tril(xp.ones((n, n), dtype=a.dtype)) - 0.5 * xp.eye(n, dtype=a.dtype)
    return a * _const(mask)


def _sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    return S.sum_to_shape(x, shape) if tuple(x.shape) != tuple(shape) else x


def _gap_inverse(w: Any, op: str) -> Any:
    """``F_ij = 1 / (w_j - w_i)`` for i != j, 0 on the diagonal (w: (..., n), a Tensor)."""
    n = w.shape[-1]
    diff = S.unsqueeze(w, -2) - S.unsqueeze(w, -1)  # (..., i, j): w_j - w_i
    off = ~xp.eye(n, dtype=bool)
    d = diff.data
    # only a concrete array has values to warn about: inside a program trace (cr.compile) the
    # array is a placeholder subclass, and the inf/nan shows in the results instead
    concrete = type(d) is xp.ndarray and d.size
    tiny = xp.finfo(d.dtype).eps ** 0.5 * max(1.0, float(xp.abs(d).max())) if concrete else 0.0
    if concrete and n > 1 and bool((xp.abs(d)[..., off] <= tiny).any()):
        warnings.warn(
            f"{op}: the input has repeated (or nearly repeated) values, where the derivative "
            "of the eigen/singular vectors is not defined; the result has inf or nan",
            RuntimeWarning,
            stacklevel=4,
        )
    safe = where(_const(off), diff, 1.0)
    with xp.errstate(divide="ignore", invalid="ignore"):
        return where(_const(off), 1.0 / safe, 0.0)


def _batch_direct(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    """numpy.linalg broadcasts over leading dims: the batch axis is one more of them."""
    if len(values) > 1:  # the solves: both operands with the batch axis, ranks aligned
        rank = max(batch_rank(v, b) for v, b in zip(values, batched))
        values = align(stack_all(level, values, batched), [True] * len(values), rank)
    return bind(prim, tuple(values), params)


# --- solve and solve_triangular ---------------------------------------------------------------


def _solve_impl(a: Any, b: Any) -> Any:
    return xp.linalg.solve(a, b)


solve_p = Primitive("linalg_solve", _solve_impl, saves=((0,), (0,)), saves_out=(True, False))


def _solve(a: Any, b: Any) -> Any:
    return bind(solve_p, (a, b), {})


def _solve_db(g: Any, out: Any, a: Any, b: Any) -> Any:
    return _sum_to(_solve(_T(a), g), b.shape)  # gB = A^{-T} G


def _solve_da(g: Any, out: Any, a: Any, b: Any) -> Any:
    gb = _solve(_T(a), g)
    return _sum_to(-_mm(gb, _T(out)), a.shape)  # gA = -gB X^T


solve_p.declare_saves(((0,), (0,)), (True, False))
solve_p.defvjp(_solve_da, _solve_db)
solve_p.defjvp(
    lambda t, out, a, b: -_solve(a, _mm(t, out)),  # dX = -A^{-1} dA X
    lambda t, out, a, b: _solve(a, t),  # dX = A^{-1} dB
)
solve_p.batch = _batch_direct


def _tri_solve_impl(a: Any, b: Any, upper: bool, unitriangular: bool) -> Any:
    t = xp.triu(a) if upper else xp.tril(a)
    if unitriangular:
        n = a.shape[-1]
        t = t * (1 - xp.eye(n, dtype=a.dtype)) + xp.eye(n, dtype=a.dtype)
    return xp.linalg.solve(t, b)


tri_solve_p = Primitive("linalg_solve_triangular", _tri_solve_impl, saves=((0,), (0,)))
tri_solve_p.declare_saves(((0,), (0,)), (True, False))


def _tri_solve(a: Any, b: Any, upper: bool, unitriangular: bool = False) -> Any:
    return bind(tri_solve_p, (a, b), {"upper": upper, "unitriangular": unitriangular})


def _tri_part(x: Any, upper: bool, unitriangular: bool) -> Any:
    """The part of a square matrix that a triangular solve reads."""
    if unitriangular:
        return _triu(x, 1) if upper else _tril(x, -1)
    return _triu(x) if upper else _tril(x)


def _tri_db(g: Any, out: Any, a: Any, b: Any, upper: bool, unitriangular: bool) -> Any:
    return _sum_to(_tri_solve(_T(a), g, not upper, unitriangular), b.shape)


def _tri_da(g: Any, out: Any, a: Any, b: Any, upper: bool, unitriangular: bool) -> Any:
    gb = _tri_solve(_T(a), g, not upper, unitriangular)
    return _sum_to(_tri_part(-_mm(gb, _T(out)), upper, unitriangular), a.shape)


tri_solve_p.defvjp(_tri_da, _tri_db)
tri_solve_p.defjvp(
    lambda t, out, a, b, upper, unitriangular: (
        -_tri_solve(a, _mm(_tri_part(t, upper, unitriangular), out), upper, unitriangular)
    ),
    lambda t, out, a, b, upper, unitriangular: _tri_solve(a, t, upper, unitriangular),
)
tri_solve_p.batch = _batch_direct


# --- inv, det, slogdet ------------------------------------------------------------------------

inv_p = Primitive("linalg_inv", lambda a: xp.linalg.inv(a), saves_out=True)
inv_p.defvjp(lambda g, out, a: -_mm(_T(out), _mm(g, _T(out))))  # gA = -Y^T G Y^T
inv_p.defjvp(lambda t, out, a: -_mm(out, _mm(t, out)))  # dY = -Y dA Y
inv_p.batch = _batch_direct


def _inv(a: Any) -> Any:
    return bind(inv_p, (a,), {})


det_p = Primitive("linalg_det", lambda a: xp.asarray(xp.linalg.det(a)), saves=(0,), saves_out=True)
# d det A = det A * tr(A^{-1} dA): gA = g det(A) A^{-T} (A must be invertible)
det_p.defvjp(lambda g, out, a: S.unsqueeze(S.unsqueeze(g * out, -1), -1) * _T(_inv(a)))
det_p.defjvp(lambda t, out, a: out * sum(_T(_inv(a)) * t, (-2, -1)))
det_p.batch = _batch_direct

logabsdet_p = Primitive("linalg_slogdet", lambda a: xp.asarray(xp.linalg.slogdet(a)[1]), saves=(0,))
# d log|det A| = tr(A^{-1} dA): gA = g A^{-T}
logabsdet_p.defvjp(lambda g, out, a: S.unsqueeze(S.unsqueeze(g, -1), -1) * _T(_inv(a)))
logabsdet_p.defjvp(lambda t, out, a: sum(_T(_inv(a)) * t, (-2, -1)))
logabsdet_p.batch = _batch_direct

# slogdet's sign as an op (no derivative: it is piecewise constant), so that a program trace
# (cr.compile) records it instead of freezing the traced input's sign into the program
slogdet_sign_p = Primitive("linalg_slogdet_sign", lambda a: xp.asarray(xp.linalg.slogdet(a)[0]))
slogdet_sign_p.defvjp(None)
slogdet_sign_p.defjvp(None)
slogdet_sign_p.batch = _batch_direct


# --- cholesky ---------------------------------------------------------------------------------

cholesky_p = Primitive("linalg_cholesky", lambda a: xp.linalg.cholesky(a), saves_out=True)


def _cholesky_vjp(g: Any, out: Any, a: Any) -> Any:
    # gA = sym(L^{-T} Phi(L^T G) L^{-1}); two triangular solves instead of inverses
    p = _phi(_mm(_T(out), g))
    s = _tri_solve(_T(out), p, upper=True)  # L^{-T} P
    s = _T(_tri_solve(_T(out), _T(s), upper=True))  # (L^{-T} s^T)^T = s L^{-1}
    return _sym(s)


def _cholesky_jvp(t: Any, out: Any, a: Any) -> Any:
    # dL = L Phi(L^{-1} sym(dA) L^{-T})
    x = _tri_solve(out, _sym(t), upper=False)  # L^{-1} dA
    x = _T(_tri_solve(out, _T(x), upper=False))  # L^{-1} dA L^{-T}
    return _mm(out, _phi(x))


cholesky_p.defvjp(_cholesky_vjp)
cholesky_p.defjvp(_cholesky_jvp)
cholesky_p.batch = _batch_direct


# --- eigh -------------------------------------------------------------------------------------

eigvalsh_p = Primitive("linalg_eigvalsh", lambda a: xp.linalg.eigh(a)[0], saves=(0,))
eigh_vectors_p = Primitive(
    "linalg_eigh", lambda a: xp.linalg.eigh(a)[1], saves=(0,), saves_out=True
)


def _eigvalsh_vjp(g: Any, out: Any, a: Any) -> Any:
    q = bind(eigh_vectors_p, (a,), {})
    return _sym(_mm(q * S.unsqueeze(g, -2), _T(q)))  # Q diag(gw) Q^T


def _eigvalsh_jvp(t: Any, out: Any, a: Any) -> Any:
    q = bind(eigh_vectors_p, (a,), {})
    return _diagonal(_mm(_T(q), _mm(_sym(t), q)))  # diag(Q^T dA Q)


def _eigh_vectors_vjp(g: Any, out: Any, a: Any) -> Any:
    w = bind(eigvalsh_p, (a,), {})
    f = _gap_inverse(w, "eigh")
    return _sym(_mm(out, _mm(f * _mm(_T(out), g), _T(out))))  # Q (F o Q^T gQ) Q^T


def _eigh_vectors_jvp(t: Any, out: Any, a: Any) -> Any:
    w = bind(eigvalsh_p, (a,), {})
    f = _gap_inverse(w, "eigh")
    return _mm(out, f * _mm(_T(out), _mm(_sym(t), out)))  # Q (F o Q^T dA Q)


eigvalsh_p.defvjp(_eigvalsh_vjp)
eigvalsh_p.defjvp(_eigvalsh_jvp)
eigh_vectors_p.defvjp(_eigh_vectors_vjp)
eigh_vectors_p.defjvp(_eigh_vectors_jvp)
eigvalsh_p.batch = eigh_vectors_p.batch = _batch_direct


# --- qr ---------------------------------------------------------------------------------------

qr_q_p = Primitive(
    "linalg_qr_q", lambda a: xp.linalg.qr(a, mode="reduced")[0], saves=(0,), saves_out=True
)
qr_r_p = Primitive(
    "linalg_qr_r", lambda a: xp.linalg.qr(a, mode="reduced")[1], saves=(0,), saves_out=True
)


def _right_solve_upper(x: Any, r: Any) -> Any:
    """``x R^{-1}`` for upper-triangular R: (R^{-T} x^T)^T."""
    return _T(_tri_solve(_T(r), _T(x), upper=False))


def _copyltu(m: Any) -> Any:
    return _tril(m) + _T(_tril(m, -1))


def _qr_vjp(gq: Any, gr: Any, q: Any, r: Any) -> Any:
    # gA = (gQ + Q copyltu(M)) R^{-T},  M = R gR^T - gQ^T Q   (m >= n)
    m = None
    if gr is not None:
        m = _mm(r, _T(gr))
    if gq is not None:
        m2 = -_mm(_T(gq), q)
        m = m2 if m is None else m + m2
    b = _mm(q, _copyltu(m))
    if gq is not None:
        b = b + gq
    return _T(_tri_solve(r, _T(b), upper=True))  # b R^{-T} = (R^{-1} b^T)^T


def _qr_check(a: Any) -> None:
    if a.shape[-2] < a.shape[-1]:
        raise NotImplementedError(
            f"qr: derivatives are implemented for tall or square inputs (m >= n), got shape "
            f"{tuple(a.shape)}"
        )


def _qr_tangents(t: Any, q: Any, r: Any) -> tuple[Any, Any]:
    c = _mm(_T(q), _right_solve_upper(t, r))  # Q^T dA R^{-1}
    w = _tril(c, -1)
    u = c - w + _T(w)  # C minus its skew part Q^T dQ: the upper-triangular dR R^{-1}
    dr = _mm(u, r)
    dq = _right_solve_upper(t, r) - _mm(q, u)
    return dq, dr


def _qr_q_vjp(g: Any, out: Any, a: Any) -> Any:
    _qr_check(a)
    return _qr_vjp(g, None, out, bind(qr_r_p, (a,), {}))


def _qr_r_vjp(g: Any, out: Any, a: Any) -> Any:
    _qr_check(a)
    return _qr_vjp(None, g, bind(qr_q_p, (a,), {}), out)


qr_q_p.defvjp(_qr_q_vjp)
qr_r_p.defvjp(_qr_r_vjp)
qr_q_p.defjvp(lambda t, out, a: _qr_tangents(t, out, bind(qr_r_p, (a,), {}))[0])
qr_r_p.defjvp(lambda t, out, a: _qr_tangents(t, bind(qr_q_p, (a,), {}), out)[1])
qr_q_p.batch = qr_r_p.batch = _batch_direct


# --- svd --------------------------------------------------------------------------------------


def _svd(a: Any) -> tuple[Any, Any, Any]:
    return xp.linalg.svd(a, full_matrices=False)


svd_u_p = Primitive("linalg_svd_u", lambda a: _svd(a)[0], saves=(0,))
svdvals_p = Primitive("linalg_svdvals", lambda a: _svd(a)[1], saves=(0,))
svd_vh_p = Primitive("linalg_svd_vh", lambda a: _svd(a)[2], saves=(0,))


def _svd_parts(a: Any) -> tuple[Any, Any, Any]:
    return bind(svd_u_p, (a,), {}), bind(svdvals_p, (a,), {}), bind(svd_vh_p, (a,), {})


def _svd_vjp(gu: Any, gs: Any, gvh: Any, a: Any) -> Any:
    u, s, vh = _svd_parts(a)
    m, n = a.shape[-2:]
    k = s.shape[-1]
    v = _T(vh)
    inner = None
    if gs is not None:
        inner = _diag_embed(gs)
    if gu is not None or gvh is not None:
        s2 = s * s
        f = _gap_inverse(s2, "svd")  # 1 / (s_j^2 - s_i^2)
        row, col = S.unsqueeze(s, -2), S.unsqueeze(s, -1)  # s_j along rows, s_i down columns
        if gu is not None:
            uhgu = _mm(_T(u), gu)
            term = f * (uhgu - _T(uhgu)) * row  # skew(U^T gU) / E * s_j
            inner = term if inner is None else inner + term
        if gvh is not None:
            gv = _T(gvh)
            vhgv = _mm(vh, gv)
            term = col * (f * (vhgv - _T(vhgv)))  # s_i * skew(V^T gV) / E
            inner = term if inner is None else inner + term
    ga = _mm(u, _mm(inner, vh))
    if gu is not None and m > k:  # the part of gU outside span(U): (I - U U^T) gU S^{-1} V^T
        ga = ga + _mm((gu - _mm(u, _mm(_T(u), gu))) / S.unsqueeze(s, -2), vh)
    if gvh is not None and n > k:  # U S^{-1} gV^T (I - V V^T)
        gv = _T(gvh)
        ga = ga + _mm(u, _T((gv - _mm(v, _mm(vh, gv))) / S.unsqueeze(s, -2)))
    return ga


def _svd_tangents(t: Any, a: Any) -> tuple[Any, Any, Any]:
    u, s, vh = _svd_parts(a)
    m, n = a.shape[-2:]
    k = s.shape[-1]
    v = _T(vh)
    p = _mm(_T(u), _mm(t, v))  # U^T dA V
    ds = _diagonal(p)
    f = _gap_inverse(s * s, "svd")
    row, col = S.unsqueeze(s, -2), S.unsqueeze(s, -1)
    pt = _T(p)
    du = _mm(u, f * (p * row + col * pt))  # U (F o (P S + S P^T))
    dv = _mm(v, f * (col * p + pt * row))  # V (F o (S P + P^T S))
    if m > k:
        du = du + (_mm(t, v) - _mm(u, _mm(_T(u), _mm(t, v)))) / row
    if n > k:
        tu = _mm(_T(t), u)
        dv = dv + (tu - _mm(v, _mm(vh, tu))) / row
    return du, ds, _T(dv)


svd_u_p.defvjp(lambda g, out, a: _svd_vjp(g, None, None, a))
svdvals_p.defvjp(lambda g, out, a: _svd_vjp(None, g, None, a))
svd_vh_p.defvjp(lambda g, out, a: _svd_vjp(None, None, g, a))
svd_u_p.defjvp(lambda t, out, a: _svd_tangents(t, a)[0])
svdvals_p.defjvp(
    lambda t, out, a: _diagonal(
        _mm(_T(bind(svd_u_p, (a,), {})), _mm(t, _T(bind(svd_vh_p, (a,), {}))))
    )
)
svd_vh_p.defjvp(lambda t, out, a: _svd_tangents(t, a)[2])
svd_u_p.batch = svdvals_p.batch = svd_vh_p.batch = _batch_direct


# --- vector 2-norm ----------------------------------------------------------------------------


def _norm2_impl(x: Any, dim: tuple[int, ...], keepdim: bool) -> Any:
    return xp.asarray(xp.sqrt(xp.sum(x * x, axis=dim, keepdims=keepdim)))


norm2_p = Primitive("linalg_vector_norm", _norm2_impl, saves=(0,), saves_out=True)


def _unreduce(v: Any, x: Any, dim: tuple[int, ...], keepdim: bool) -> Any:
    if not keepdim:
        for d in sorted(d % x.ndim for d in dim):
            v = S.unsqueeze(v, d)
    return v


def _norm2_vjp(g: Any, out: Any, x: Any, dim: tuple[int, ...], keepdim: bool) -> Any:
    # d/dx ||x|| = x / ||x||, and 0 at x = 0 (the subgradient PyTorch picks)
    n = _unreduce(out, x, dim, keepdim)
    return _unreduce(g, x, dim, keepdim) * (x / where(n == 0, 1.0, n))


def _norm2_jvp(t: Any, out: Any, x: Any, dim: tuple[int, ...], keepdim: bool) -> Any:
    n = _unreduce(out, x, dim, keepdim)
    return sum(x * t / where(n == 0, 1.0, n), dim, keepdim)


norm2_p.defvjp(_norm2_vjp)
norm2_p.defjvp(_norm2_jvp)


def _norm2_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    dim = tuple((d % (v.ndim - 1)) + 1 for d in params["dim"])
    return bind(prim, (v,), {**params, "dim": dim})


norm2_p.batch = _norm2_batch


# --- public functions (chainrule.linalg) ------------------------------------------------------


def _tensor(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        return Tensor(x)
    except TypeError:
        raise TypeError(f"linalg.{op}: expected a Tensor, got {type(x).__name__}") from None


def _float(x: Any, op: str) -> Tensor:
    x = _tensor(x, op)
    if x.dtype.kind != "f":
        x = S.to(x, _backend.default_float if x.dtype.kind in "biu" else x.dtype)
    return x


def _square(x: Any, op: str) -> Tensor:
    x = _float(x, op)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"linalg.{op}: expected a square matrix or a stack of them (..., n, n), got shape "
            f"{tuple(x.shape)}"
        )
    return x


def _matrix(x: Any, op: str) -> Tensor:
    x = _float(x, op)
    if x.ndim < 2:
        raise ValueError(
            f"linalg.{op}: expected a matrix or a stack of them (..., m, n), got shape "
            f"{tuple(x.shape)}"
        )
    return x


def _same_dtype(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.dtype != b.dtype:
        dtype = xp.promote_types(a.dtype, b.dtype)
        a, b = S.to(a, dtype), S.to(b, dtype)
    return a, b


def _linalg_error(op: str, err: Exception) -> Exception:
    """LAPACK's failures (NumPy's LinAlgError, wrapped by ``eager`` as a ValueError) as
    PyTorch raises them: a RuntimeError naming the function."""
    text = str(err)
    if "positive definite" in text:
        return RuntimeError(
            f"linalg.{op}: the input is not positive definite ({text}); add a multiple of "
            "the identity or check that it is symmetric"
        )
    if "ingular" in text:
        return RuntimeError(f"linalg.{op}: the input is singular (not invertible): {text}")
    return err


@public(method=False, toplevel=False)
def solve(A: Any, B: Any) -> Any:
    """The solution X of ``A X = B`` (B a matrix (..., n, k) or a vector (n,)).

    gB = A^{-T} G,  gA = -gB X^T.
    """
    A = _square(A, "solve")
    B = _float(B, "solve")
    A, B = _same_dtype(A, B)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if vector:
        B = S.unsqueeze(B, -1)
    if B.shape[-2] != A.shape[-1]:
        raise ValueError(
            f"linalg.solve: A has shape {tuple(A.shape)} but B has shape {tuple(B.shape)}: "
            "B needs as many rows as A"
        )
    try:
        x = bind(solve_p, (A, B), {})
    except ValueError as err:  # (LinAlgError is one)
        raise _linalg_error("solve", err) from None
    return S.squeeze(x, -1) if vector else x


@public(method=False, toplevel=False)
def solve_triangular(
    A: Any, B: Any, *, upper: bool, left: bool = True, unitriangular: bool = False
) -> Any:
    """The solution X of ``A X = B`` for triangular A (``left=False``: ``X A = B``).

    Only A's ``upper`` (or lower) triangle is read. gB = A^{-T} G, gA = tri(-gB X^T).
    """
    A = _square(A, "solve_triangular")
    B = _matrix(B, "solve_triangular")
    A, B = _same_dtype(A, B)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return _T(solve_triangular(_T(A), _T(B), upper=not upper, unitriangular=unitriangular))
    if B.shape[-2] != A.shape[-1]:
        raise ValueError(
            f"linalg.solve_triangular: A has shape {tuple(A.shape)} but B has shape "
            f"{tuple(B.shape)}: B needs as many rows as A"
        )
    try:
        return _tri_solve(A, B, bool(upper), bool(unitriangular))
    except ValueError as err:  # (LinAlgError is one)
        raise _linalg_error("solve_triangular", err) from None


@public(method=False, toplevel=False)
def inv(A: Any) -> Any:
    """The inverse ``A^{-1}``.   gA = -A^{-T} G A^{-T}."""
    A = _square(A, "inv")
    try:
        return _inv(A)
    except ValueError as err:  # (LinAlgError is one)
        raise _linalg_error("inv", err) from None


@public(method=False, toplevel=False)
def det(A: Any) -> Any:
    """The determinant.   d/dA det(A) = det(A) A^{-T}."""
    return bind(det_p, (_square(A, "det"),), {})


@public(method=False, toplevel=False)
def slogdet(A: Any) -> tuple[Any, Any]:
    """``(sign, log|det A|)``.   d/dA log|det A| = A^{-T}; the sign has no gradient."""
    A = _square(A, "slogdet")
    with no_grad():  # the sign is piecewise constant: no gradient, so not on the tape
        sign = bind(slogdet_sign_p, (A,), {})
    return sign, bind(logabsdet_p, (A,), {})


@public(method=False, toplevel=False)
def cholesky(A: Any, *, upper: bool = False) -> Any:
    """L lower triangular with ``A = L L^T`` (A symmetric positive definite; its lower
    triangle is read). ``upper=True`` gives ``L^T``.

    gA = sym(L^{-T} Phi(L^T G) L^{-1}), Phi: lower triangle with the diagonal halved.
    """
    A = _square(A, "cholesky")
    try:
        out = bind(cholesky_p, (A,), {})
    except ValueError as err:  # (LinAlgError is one)
        raise _linalg_error("cholesky", err) from None
    return _T(out) if upper else out


@public(method=False, toplevel=False)
def eigh(A: Any) -> tuple[Any, Any]:
    """``(w, Q)``: ascending eigenvalues and orthonormal eigenvectors of symmetric A (its
    lower triangle is read). Eigenvector derivatives need distinct eigenvalues (a warning
    says when they are not).

    gA = sym(Q (diag(gw) + F o (Q^T gQ)) Q^T),  F_ij = 1 / (w_j - w_i).
    """
    A = _square(A, "eigh")
    return bind(eigvalsh_p, (A,), {}), bind(eigh_vectors_p, (A,), {})


@public(method=False, toplevel=False)
def eigvalsh(A: Any) -> Any:
    """Ascending eigenvalues of symmetric A.   gA = Q diag(gw) Q^T."""
    return bind(eigvalsh_p, (_square(A, "eigvalsh"),), {})


@public(method=False, toplevel=False)
def qr(A: Any, mode: str = "reduced") -> tuple[Any, Any]:
    """``(Q, R)`` with ``A = Q R``, Q with orthonormal columns and R upper triangular
    (reduced mode). Derivatives for m >= n:  gA = (gQ + Q copyltu(M)) R^{-T},
    M = R gR^T - gQ^T Q."""
    if mode != "reduced":
        raise ValueError(f"linalg.qr: only mode='reduced' is supported, got {mode!r}")
    A = _matrix(A, "qr")
    return bind(qr_q_p, (A,), {}), bind(qr_r_p, (A,), {})


@public(method=False, toplevel=False)
def svd(A: Any, full_matrices: bool = False) -> tuple[Any, Any, Any]:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh`` (reduced: ``full_matrices=False`` only).

    Derivatives of U and Vh need distinct, nonzero singular values (a warning says when
    they are not); those of S alone are always defined: gA = U diag(gS) Vh.
    """
    if full_matrices:
        raise ValueError(
            "linalg.svd: only full_matrices=False is supported (the extra columns of a full "
            "U or V are not unique, so they have no derivative)"
        )
    A = _matrix(A, "svd")
    return _svd_parts(A)


@public(method=False, toplevel=False)
def svdvals(A: Any) -> Any:
    """Singular values, descending.   gA = U diag(gS) Vh."""
    return bind(svdvals_p, (_matrix(A, "svdvals"),), {})


def _dims(x: Tensor, dim: Any) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -x.ndim <= d < max(x.ndim, 1):
            raise IndexError(f"linalg: dim {d} is out of range for shape {tuple(x.shape)}")
    return tuple(d % max(x.ndim, 1) for d in dims)


@public(method=False, toplevel=False)
def vector_norm(x: Any, ord: float = 2, dim: Any = None, keepdim: bool = False) -> Any:
    """``(sum |x|^ord)^(1/ord)`` over ``dim`` (all dims by default); ``ord`` inf/-inf: max/min
    of |x|, 0: the number of nonzeros.   d/dx ||x||_2 = x / ||x||_2 (0 at x = 0)."""
    x = _float(x, "vector_norm")
    dims = _dims(x, dim)
    if ord == 2:
        if x.ndim == 0:
            return _abs(x)
        return bind(norm2_p, (x,), {"dim": dims, "keepdim": keepdim})
    if ord == float("inf"):
        return amax(_abs(x), dims, keepdim)
    if ord == float("-inf"):
        return amin(_abs(x), dims, keepdim)
    if ord == 0:
        return S.to(sum(S.to(x != 0, x.dtype), dims, keepdim), x.dtype)
    if ord == 1:
        return sum(_abs(x), dims, keepdim)
    return sum(_abs(x) ** float(ord), dims, keepdim) ** (1.0 / float(ord))


@public(method=False, toplevel=False)
def matrix_norm(x: Any, ord: Any = "fro", dim: tuple[int, int] = (-2, -1), keepdim: bool = False):
    """Matrix norms over the two ``dim``: 'fro', 'nuc' (sum of singular values), 2 / -2
    (largest / smallest singular value), 1 / -1 (max / min column abs-sum), inf / -inf
    (max / min row abs-sum). Composed of differentiable ops."""
    x = _matrix(x, "matrix_norm")
    d0, d1 = (d % x.ndim for d in dim)
    if d0 == d1:
        raise ValueError(f"linalg.matrix_norm: dim must name two different dims, got {dim}")
    if ord == "fro":
        return vector_norm(x, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        moved = S.permute_to(x, (*[i for i in range(x.ndim) if i not in (d0, d1)], d0, d1))
        s = svdvals(moved)
        if ord == "nuc":
            r = sum(s, -1)
        else:
            r = amax(s, -1) if ord == 2 else amin(s, -1)
        if keepdim:
            for d in sorted((d0, d1)):
                r = S.unsqueeze(r, d)
        return r
    if ord in (1, -1, float("inf"), float("-inf")):
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)  # sum down columns for 1
        sums = sum(_abs(x), inner, True)
        r = amax(sums, outer, True) if ord in (1, float("inf")) else amin(sums, outer, True)
        return r if keepdim else S.squeeze(S.squeeze(r, max(d0, d1)), min(d0, d1))
    raise ValueError(f"linalg.matrix_norm: unsupported ord {ord!r}")


@public(method=False, toplevel=False)
def norm(x: Any, ord: Any = None, dim: Any = None, keepdim: bool = False) -> Any:
    """``torch.linalg.norm``: a vector norm for one ``dim`` (or a 1-D input), a matrix norm
    for two (or a 2-D input with ``ord`` given); with neither, the 2-norm of all entries."""
    x = _float(x, "norm")
    if dim is None and ord is None:
        return vector_norm(x, 2, None, keepdim)
    if dim is None:
        if x.ndim == 1:
            return vector_norm(x, ord, None, keepdim)
        if x.ndim == 2:
            return matrix_norm(x, ord, (-2, -1), keepdim)
        raise ValueError(
            f"linalg.norm: with ord given, the input must be 1-D or 2-D or dim given, got "
            f"shape {tuple(x.shape)}"
        )
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) == 1:
        return vector_norm(x, 2 if ord is None else ord, dims, keepdim)
    if len(dims) == 2:
        return matrix_norm(x, "fro" if ord is None else ord, dims, keepdim)
    raise ValueError(f"linalg.norm: dim must be one or two dims, got {dim}")
