"""``chainrule.linalg``: PyTorch's ``torch.linalg`` names, with derivatives.

Solves, inverse, determinants, norms and the decompositions (Cholesky, QR, symmetric
eigendecomposition, SVD), each a primitive with its VJP and JVP rules in
``chainrule.ops.decomp`` (the adjoints are derived there), plus ``matmul``.

>>> import chainrule as cr
>>> A = cr.tensor([[4.0, 2.0], [2.0, 3.0]], dtype=cr.float64)
>>> L = cr.linalg.cholesky(A)
>>> (L @ L.T - A).abs().max().item() < 1e-12
True
"""

from chainrule.ops.decomp import (
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    matrix_norm,
    norm,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
    vector_norm,
)
from chainrule.ops.linalg import matmul

__all__ = [
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "matmul",
    "matrix_norm",
    "norm",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "svdvals",
    "vector_norm",
]
