"""Type promotion follows PyTorch (``torch.result_type``), checked against torch over every
pair of dtypes, for dimensioned tensors, 0-d tensors and Python numbers on either side."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5]


def _cr(dtype: str, ndim: int) -> cr.Tensor:
    shape = (2,) * ndim
    return cr.tensor(np.ones(shape, dtype=dtype))


def test_no_torch_float32_with_int64_stays_float32() -> None:
    x = cr.ones(3)
    i = cr.tensor([1, 2, 3])
    assert (x * i).dtype == cr.float32
    assert (i + 0.5).dtype == cr.float32  # a Python float does not widen to float64
    assert (cr.tensor([1, 2, 3], dtype=cr.float16) + i).dtype == cr.float16
    assert (x + cr.tensor(2.0, dtype=cr.float64)).dtype == cr.float32  # 0-d: no widening
    assert (i * cr.tensor(2.5, dtype=cr.float64)).dtype == cr.float64  # higher category
    assert cr.nn.functional.mse_loss(x, i).dtype == cr.float32


@pytest.mark.torch
@pytest.mark.parametrize("nd_a,nd_b", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_tensor_tensor_promotion_matches_torch(nd_a: int, nd_b: int) -> None:
    torch = pytest.importorskip("torch")
    mismatches = []
    for a, b in itertools.product(DTYPES, DTYPES):
        ta = torch.ones((2,) * nd_a, dtype=getattr(torch, a))
        tb = torch.ones((2,) * nd_b, dtype=getattr(torch, b))
        want = str(torch.result_type(ta, tb)).removeprefix("torch.")
        for op in ("add", "mul", "maximum"):
            got = str(getattr(cr, op)(_cr(a, nd_a), _cr(b, nd_b)).dtype)
            if op == "add" and a == b == "bool":
                continue  # torch adds bools as logical or; both give bool
            if got != want:
                mismatches.append((op, a, b, got, want))
    assert not mismatches, mismatches


@pytest.mark.torch
@pytest.mark.parametrize("ndim", [0, 1])
def test_tensor_scalar_promotion_matches_torch(ndim: int) -> None:
    torch = pytest.importorskip("torch")
    mismatches = []
    for a, s in itertools.product(DTYPES, SCALARS):
        ta = torch.ones((2,) * ndim, dtype=getattr(torch, a))
        for left in (True, False):
            want = str((ta * s if left else s * ta).dtype).removeprefix("torch.")
            x = _cr(a, ndim)
            got = str((x * s if left else s * x).dtype)
            if got != want:
                mismatches.append((a, s, left, got, want))
    assert not mismatches, mismatches


@pytest.mark.torch
def test_division_and_comparison_dtypes_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for a, b in itertools.product(DTYPES[1:], DTYPES[1:]):
        ta, tb = torch.ones(2, dtype=getattr(torch, a)), torch.ones(2, dtype=getattr(torch, b))
        want = str((ta / tb).dtype).removeprefix("torch.")
        assert str((_cr(a, 1) / _cr(b, 1)).dtype) == want, (a, b)
        assert (_cr(a, 1) < _cr(b, 1)).dtype == cr.bool


def test_no_torch_promotion_under_vmap_matches_eager() -> None:
    # A per-example 0-d float64 tensor meets a float32 vector: eagerly (as in PyTorch) the 0-d
    # operand does not widen it. Under vmap its array has a batch axis, but promotion must
    # still see the per-example ndim, so vmap gives the eager dtype.
    x = cr.randn(4, 3)
    s64 = cr.randn(4, dtype=cr.float64)
    i = cr.tensor([1, 2, 3, 4])
    for f, b in ((lambda a, c: a * c, s64), (lambda a, c: a + c, i)):
        batched = cr.func.vmap(f)(x, b)
        assert batched.dtype == f(x[0], b[0]).dtype == cr.float32
        np.testing.assert_allclose(batched.data[1], f(x[1], b[1]).data, rtol=1e-6)
    g = cr.func.vmap(cr.func.grad(lambda a: (a * cr.tensor(2.0, dtype=cr.float64)).sum()))(x)
    assert g.dtype == cr.float32
