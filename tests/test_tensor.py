"""The Tensor API: creation and dtypes, PyTorch's promotion rules, seeding, metadata and
conversions, history (detach, is_leaf, grad_fn names), repr, NumPy interop and numerical
stability at |x| = 1000."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

F32, F64, I64 = np.dtype("float32"), np.dtype("float64"), np.dtype("int64")


# --- creation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([1.0, 2.0], F32),  # Python floats -> float32
        (1.5, F32),
        ([1, 2.5], F32),
        ([1, 2], I64),  # Python ints -> int64
        (3, I64),
        ([True, False], np.dtype(bool)),
        (np.array([1.0, 2.0]), F64),  # NumPy arrays keep their dtype
        (np.array([1, 2], dtype=np.int32), np.dtype("int32")),
        (np.array([1.0], dtype=np.float32), F32),
        (np.float64(1.5), F64),  # so do NumPy scalars (as torch.tensor)
        ([[1.0, 2.0], [3.0, 4.0]], F32),
    ],
)
def test_tensor_dtype_from_data(data: object, dtype: np.dtype) -> None:
    assert cr.tensor(data).dtype == dtype


def test_tensor_copies_numpy_data_and_keeps_float64() -> None:
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    assert t.dtype == F64
    a[0] = 99.0
    assert t.data[0] == 1.0  # a copy, as torch.tensor
    assert cr.tensor(a, dtype=cr.float32).dtype == F32
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == F64


def test_tensor_of_tensor_and_requires_grad() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    y = cr.tensor(x)
    assert not y.requires_grad and not np.shares_memory(x.data, y.data)


@pytest.mark.parametrize(
    ("make", "shape", "dtype", "values"),
    [
        (lambda: cr.zeros(2, 3), (2, 3), F32, 0.0),
        (lambda: cr.zeros((2, 3)), (2, 3), F32, 0.0),
        (lambda: cr.ones([4]), (4,), F32, 1.0),
        (lambda: cr.ones(2, dtype=cr.float64), (2,), F64, 1.0),
        (lambda: cr.zeros(2, dtype=cr.int64), (2,), I64, 0),
        (lambda: cr.full((2, 2), 7.0), (2, 2), F32, 7.0),
        (lambda: cr.full((2,), 3), (2,), I64, 3),
        (lambda: cr.zeros(()), (), F32, 0.0),
        (lambda: cr.zeros_like(cr.ones(2, dtype=cr.float64)), (2,), F64, 0.0),
        (lambda: cr.ones_like(cr.zeros(3, 1)), (3, 1), F32, 1.0),
        (lambda: cr.full_like(cr.zeros(2), 5), (2,), F32, 5.0),
    ],
)
def test_constant_creation(make: object, shape: tuple, dtype: np.dtype, values: float) -> None:
    t = make()  # type: ignore[operator]
    assert t.shape == shape and t.dtype == dtype
    assert np.all(t.data == values)


def test_eye_arange_linspace() -> None:
    np.testing.assert_array_equal(cr.eye(2).data, np.eye(2))
    assert cr.eye(2, 3).shape == (2, 3) and cr.eye(2).dtype == F32
    a = cr.arange(5)
    assert a.dtype == I64 and a.tolist() == [0, 1, 2, 3, 4]
    assert cr.arange(1, 7, 2).tolist() == [1, 3, 5]
    b = cr.arange(1, 2, 0.25)
    assert b.dtype == F32 and b.tolist() == [1.0, 1.25, 1.5, 1.75]
    assert cr.arange(3, dtype=cr.float64).dtype == F64
    c = cr.linspace(0, 1, 5)
    assert c.dtype == F32
    np.testing.assert_allclose(c.data, [0, 0.25, 0.5, 0.75, 1])


def test_creation_requires_grad() -> None:
    for t in (cr.zeros(2, requires_grad=True), cr.randn(2, requires_grad=True)):
        assert t.requires_grad and t.is_leaf
    assert cr.ones_like(cr.zeros(2), requires_grad=True).requires_grad


def test_random_creation_dtypes_and_ranges() -> None:
    r = cr.rand(1000)
    assert r.dtype == F32 and r.shape == (1000,)
    assert r.data.min() >= 0.0 and r.data.max() < 1.0
    n = cr.randn(2, 3, dtype=cr.float64)
    assert n.dtype == F64 and n.shape == (2, 3)
    i = cr.randint(0, 5, (100,))
    assert i.dtype == I64 and set(i.tolist()) <= set(range(5))


def test_manual_seed_reproducible() -> None:
    cr.manual_seed(1234)
    a, b, c = cr.randn(5), cr.rand(3), cr.randint(0, 100, (4,))
    cr.manual_seed(1234)
    np.testing.assert_array_equal(a.data, cr.randn(5).data)
    np.testing.assert_array_equal(b.data, cr.rand(3).data)
    np.testing.assert_array_equal(c.data, cr.randint(0, 100, (4,)).data)
    cr.manual_seed(1235)
    assert not np.array_equal(a.data, cr.randn(5).data)
    cr.manual_seed(1234)
    w = cr.zeros(5)
    w.normal_()
    np.testing.assert_array_equal(w.data, a.data)


# --- dtype promotion (PyTorch's rules) ------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "dtype"),
    [
        (lambda: cr.ones(2) + cr.ones(2, dtype=cr.float64), F64),  # 1-D f32 + 1-D f64
        (lambda: cr.ones(2) * cr.tensor(2.0, dtype=cr.float64), F32),  # 0-d does not upcast
        (lambda: cr.tensor(2.0, dtype=cr.float64) * cr.ones(2), F32),
        (lambda: cr.tensor(1.0) * cr.tensor(2.0, dtype=cr.float64), F64),  # both 0-d
        (lambda: cr.ones(2, dtype=cr.float64) * cr.tensor(2.0), F64),
        (lambda: cr.tensor([1, 2]) * 2.5, F32),  # int tensor * float -> default float
        (lambda: 2.5 * cr.tensor([1, 2]), F32),
        (lambda: cr.tensor([1, 2]) * 2, I64),
        (lambda: cr.tensor([1, 2]) / 2, F32),  # true division of ints
        (lambda: cr.tensor([1, 2]) * cr.tensor(2.5), F32),
        (lambda: cr.tensor([1, 2]) * cr.tensor(2.5, dtype=cr.float64), F64),  # 0-d float wins
        (lambda: cr.ones(2) * 2.5, F32),  # a Python float never upcasts
        (lambda: cr.ones(2, dtype=cr.float64) * 2.5, F64),
        (lambda: cr.ones(2) + np.float64(1.5), F32),  # NumPy scalars are Python floats
        (lambda: cr.tensor([True]) + 1, I64),
        (lambda: cr.tensor([1, 2]).exp(), F32),
        (lambda: cr.tensor([1, 2]).sum(), I64),
        (lambda: cr.tensor([True, True]).sum(), I64),
        (lambda: cr.tensor([1, 2]) ** 2, I64),
        (lambda: cr.ones(2) ** cr.ones(2, dtype=cr.float64), F64),
        (lambda: cr.where(cr.tensor([True]), cr.ones(1), cr.ones(1, dtype=cr.float64)), F64),
        (lambda: cr.cat([cr.ones(1), cr.ones(1, dtype=cr.float64)]), F64),
        (lambda: cr.ones(2, 2) @ cr.ones(2, dtype=cr.float64), F64),
    ],
)
def test_promotion(make: object, dtype: np.dtype) -> None:
    assert make().dtype == dtype  # type: ignore[operator]


def test_conversions() -> None:
    x = cr.tensor([1.7, -2.2])
    assert x.double().dtype == F64 and x.float() is x
    assert x.to(cr.float64).dtype == F64 and x.to(np.float64).dtype == F64
    assert x.long().tolist() == [1, -2] and x.long().dtype == I64
    assert x.half().dtype == np.float16
    assert x.int().dtype == np.dtype("int32")
    assert x.bool().tolist() == [True, True]
    y = cr.tensor([1.0, 2.0], requires_grad=True)
    z = y.double()
    assert z.grad_fn.name() == "ToCopyBackward0"
    z.sum().backward()
    assert y.grad.dtype == F32


# --- metadata and conversions ---------------------------------------------------------------


def test_metadata() -> None:
    x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.numel() == 6
    assert x.size() == (2, 3) and x.size(1) == 3 and len(x) == 2
    assert x.T.shape == (3, 2) and x.T.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert cr.ones(2, 3, 4).mT.shape == (2, 4, 3)
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x[1, 2].item() == 6.0 and isinstance(x[1, 2].item(), float)
    assert cr.tensor(3).item() == 3 and isinstance(cr.tensor(3).item(), int)
    assert float(x[0, 0]) == 1.0 and int(cr.tensor([7])) == 7
    assert [row.tolist() for row in x] == x.tolist()
    assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError):
        len(cr.tensor(1.0))


def test_max_min_with_dim_return_values_and_indices() -> None:
    x = cr.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], requires_grad=True)
    r = x.max(1)
    assert isinstance(r, tuple) and r._fields == ("values", "indices")
    values, indices = r
    assert values.tolist() == [5.0, 6.0] and indices.tolist() == [1, 2]
    assert indices.dtype == I64 and not indices.requires_grad
    m = cr.min(x, dim=0, keepdim=True)
    assert m.values.tolist() == [[1.0, 2.0, 3.0]] and m.indices.tolist() == [[0, 1, 0]]
    assert x.max().item() == 6.0 and x.max().shape == ()
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_0d_results_are_writable_arrays() -> None:
    """NumPy returns scalars for 0-d results; a Tensor must hold a (writable) 0-d array, so
    that in-place ops and grad.zero_() work on 0-d tensors."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for t in (x.sum(), x[0] * 2.0, cr.tensor(2.0) * 3, x.detach().argmax(), x.max()):
        assert type(t.data) is np.ndarray and t.shape == ()
    y = x.sum() * 1.0
    y.add_(1.0)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])
    a = cr.tensor(2.0, requires_grad=True)
    (a * a).backward()
    assert type(a.grad.data) is np.ndarray
    a.grad.zero_()
    assert a.grad.item() == 0.0
    s = cr.tensor([1.0, 2.0]).sum()
    s.mul_(3.0)
    s[...] = s + 1.0
    assert s.item() == 10.0


def test_numpy_shares_data() -> None:
    x = cr.tensor([1.0, 2.0])
    a = x.numpy()
    a[0] = 5.0
    assert x.tolist() == [5.0, 2.0]
    np.testing.assert_array_equal(np.asarray(x), [5.0, 2.0])


def test_detach_shares_data_without_history() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, y.data)
    d.add_(1)  # visible through y, and bumps the shared version counter
    assert y.tolist() == [3.0, 5.0] and y._version == 1


def test_requires_grad_and_is_leaf() -> None:
    x = cr.tensor([1.0, 2.0])
    assert not x.requires_grad and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert y.requires_grad and not y.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (lambda x: x * 2, "MulBackward0"),
        (lambda x: x + 1, "AddBackward0"),
        (lambda x: x - 1, "SubBackward0"),
        (lambda x: x / 2, "DivBackward0"),
        (lambda x: x**2, "PowBackward0"),
        (lambda x: -x, "NegBackward0"),
        (lambda x: x.exp(), "ExpBackward0"),
        (lambda x: x.log(), "LogBackward0"),
        (lambda x: x.sum(), "SumBackward0"),
        (lambda x: x @ x, "MmBackward0"),
        (lambda x: x[0], "IndexBackward0"),
        (lambda x: x.reshape(2, 1), "ReshapeBackward0"),
        (lambda x: x.expand(3, 2), "ExpandBackward0"),
        (lambda x: cr.cat([x, x]), "CatBackward0"),
        (lambda x: x.softmax(0), "SoftmaxBackward0"),
        (lambda x: x.log_softmax(0), "LogSoftmaxBackward0"),
        (lambda x: x.relu(), "ReluBackward0"),
        (lambda x: x.to(cr.float64), "ToCopyBackward0"),
    ],
)
def test_grad_fn_names(fn: object, name: str) -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = fn(x)  # type: ignore[operator]
    assert y.grad_fn.name() == name
    assert f"grad_fn=<{name}>" in repr(y)


def test_next_functions_follow_the_graph() -> None:
    x = cr.tensor([1.0], requires_grad=True)
    y = x.exp()
    z = y * 2
    (first, _), (second, _) = z.grad_fn.next_functions
    assert first is y.grad_fn and second is None
    assert y.grad_fn.next_functions[0][0] is x


# --- repr -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: cr.tensor([1.0, 2.0]), "tensor([1., 2.])"),
        (lambda: cr.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
        (
            lambda: cr.tensor([1.0, 2.0], requires_grad=True) * 2,
            "tensor([2., 4.], grad_fn=<MulBackward0>)",
        ),
        (lambda: cr.tensor(1.5), "tensor(1.5000)"),
        (lambda: cr.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
        (lambda: cr.tensor([1, 2]), "tensor([1, 2])"),
        (lambda: cr.tensor([1.0, 2.0], dtype=cr.float64), "tensor([1., 2.], dtype=float64)"),
        (lambda: cr.tensor([True, False]), "tensor([ True, False])"),
        (lambda: cr.tensor([[1e-5, 1e5]]), "tensor([[1.0000e-05, 1.0000e+05]])"),
        (lambda: cr.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
        (lambda: cr.tensor([]), "tensor([])"),
    ],
)
def test_repr_like_pytorch(make: object, text: str) -> None:
    assert repr(make()) == text  # type: ignore[operator]


# --- NumPy interop --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, x: a * x,
        lambda a, x: a + x,
        lambda a, x: a - x,
        lambda a, x: a / x,
        lambda a, x: a**x,
        lambda a, x: np.ones((3, 2)) @ x,
    ],
)
def test_ndarray_on_the_left_gives_a_tensor(fn: object) -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = fn(np.array([3.0, 4.0]), x)  # type: ignore[operator]
    assert isinstance(out, cr.Tensor) and out.requires_grad
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == (2,)


def test_ndarray_comparison_on_the_left() -> None:
    out = np.array([1.0, 3.0]) < cr.tensor([2.0, 2.0])
    assert isinstance(out, cr.Tensor) and out.tolist() == [True, False]


# --- numerical stability at |x| = 1000 ------------------------------------------------------

BIG = [1000.0, -1000.0, 0.0, 999.0]


def _grad(fn: object, data: list[float], v: list[float] | None = None) -> tuple[np.ndarray, ...]:
    x = cr.tensor(np.array(data), requires_grad=True)
    out = fn(x)  # type: ignore[operator]
    if v is None:
        out.sum().backward()
    else:
        out.backward(cr.tensor(np.array(v)))
    assert np.isfinite(out.data).all() and np.isfinite(x.grad.data).all()
    return out.data, x.grad.data


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_logsumexp_softmax_stable(dtype: object) -> None:
    x = cr.tensor(BIG, dtype=dtype, requires_grad=True)
    lse = x.logsumexp(0)
    assert lse.dtype == dtype
    assert lse.item() == pytest.approx(1000.0 + np.log1p(np.exp(-1.0)), rel=1e-6)
    lse.backward()
    soft = np.exp(np.array(BIG) - (1000.0 + np.log1p(np.exp(-1.0))))
    # the VJP is exp(x - lse) (as PyTorch's): in float32, lse = 1000.31 carries an error of
    # half an ulp at 1000 (3e-5), which exp turns into a relative error of the same size
    np.testing.assert_allclose(x.grad.data, soft, rtol=1e-4 if dtype == cr.float32 else 1e-12)
    np.testing.assert_allclose(x.softmax(0).data, soft, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(
        x.log_softmax(0).data, np.array(BIG) - 1000.0 - np.log1p(np.exp(-1.0)), rtol=1e-6
    )


def test_softmax_and_log_softmax_grads_stable() -> None:
    v = [1.0, 2.0, 3.0, 4.0]
    out, g = _grad(lambda t: t.softmax(0), BIG, v)
    np.testing.assert_allclose(g, out * (np.array(v) - np.sum(np.array(v) * out)), atol=1e-12)
    out, g = _grad(lambda t: t.log_softmax(0), BIG, v)
    np.testing.assert_allclose(g, np.array(v) - np.exp(out) * np.sum(v), atol=1e-12)
    _grad(lambda t: t.logsumexp(0), BIG)
    _grad(lambda t: t.reshape(2, 2).logsumexp(1), BIG)


def test_softplus_and_sigmoid_stable() -> None:
    out, g = _grad(lambda t: t.sigmoid(), BIG)
    np.testing.assert_allclose(out, [1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(g, [0.0, 0.0, 0.25, 0.0])
    out, g = _grad(lambda t: cr.softplus(t), BIG)
    np.testing.assert_allclose(out, [1000.0, 0.0, np.log(2.0), 999.0])
    np.testing.assert_allclose(g, [1.0, 0.0, 0.5, 1.0])
    out, g = _grad(lambda t: cr.softplus(t, beta=0.5, threshold=1e9), BIG)  # no shortcut
    np.testing.assert_allclose(out, [1000.0, 2 * np.exp(-500.0), 2 * np.log(2.0), 999.0])
    np.testing.assert_allclose(g, [1.0, np.exp(-500.0), 0.5, 1.0])
    out, g = _grad(lambda t: cr.silu(t), BIG)
    np.testing.assert_allclose(out, [1000.0, 0.0, 0.0, 999.0])
    np.testing.assert_allclose(g, [1.0, 0.0, 0.5, 1.0])
    for t in (cr.tensor(BIG).sigmoid(), cr.softplus(cr.tensor(BIG))):
        assert t.dtype == F32 and np.isfinite(t.data).all()


def test_degenerate_reductions_give_nan_not_errors() -> None:
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isnan(cr.tensor([1.0]).var().item())
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isinf(cr.tensor([1.0, 2.0]).var(correction=2).item())
    assert np.isnan(cr.ones(0).mean().item())
    assert cr.ones(0).sum().item() == 0.0


def test_cat_and_stack_copy() -> None:
    """cat/stack return new memory even for a single tensor (as PyTorch), never an alias."""
    x = cr.tensor([1.0, 2.0])
    for y in (cr.cat([x]), cr.stack([x]), cr.cat([x, x])):
        assert not np.shares_memory(x.data, y.data)
        y.add_(1.0)
    assert x.tolist() == [1.0, 2.0]


# --- recorded fill_/copy_/zero_ keep inf and NaN out (issue 11) -----------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda w: w.zero_(),
        lambda w: w.fill_(0.0),
        lambda w: w.fill_(cr.tensor(0.0, dtype=cr.float64)),
        lambda w: w.copy_(cr.zeros(2, dtype=cr.float64)),
    ],
)
def test_recorded_overwrite_of_inf_and_nan_gives_the_value(write: object) -> None:
    # PyTorch: [0., 0.]; `s * 0 + value` gave [nan, 0.] (inf * 0 = nan)
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    w = a * cr.tensor([np.inf, 1.0], dtype=cr.float64)
    write(w)  # type: ignore[operator]
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    w = a * cr.tensor([np.nan, 1.0], dtype=cr.float64)
    write(w)  # type: ignore[operator]
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    (w * 3.0).sum().backward()
    # the old value gets a zero cotangent (mul's VJP then gives 0 * nan = nan, as in PyTorch)
    assert a.grad.data[1] == 0.0


def test_recorded_copy_from_a_tensor_that_requires_grad_keeps_its_gradient() -> None:
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([5.0], dtype=cr.float64, requires_grad=True)
    w = a * 2.0
    w.copy_(b)  # broadcast (1,) -> (2,)
    np.testing.assert_array_equal(w.data, [5.0, 5.0])
    (w * cr.tensor([2.0, 3.0], dtype=cr.float64)).sum().backward()
    np.testing.assert_array_equal(b.grad.data, [5.0])
    np.testing.assert_array_equal(a.grad.data, [0.0, 0.0])


def test_recorded_normal_and_uniform_over_inf() -> None:
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    for fill in (lambda w: w.normal_(), lambda w: w.uniform_(0.25, 0.5)):
        w = a * cr.tensor([np.inf, np.nan], dtype=cr.float64)
        fill(w)
        assert np.isfinite(w.data).all()


@pytest.mark.torch
def test_recorded_zero_over_inf_against_torch() -> None:
    torch = pytest.importorskip("torch")
    ta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tw = ta * torch.tensor([float("inf"), 1.0], dtype=torch.float64)
    tw.zero_()
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    w = a * cr.tensor([np.inf, 1.0], dtype=cr.float64)
    w.zero_()
    np.testing.assert_array_equal(w.data, tw.detach().numpy())
