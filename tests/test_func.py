"""The transforms' API: argnums, has_aux, pytrees, vjp_fn reuse, Jacobian shapes and values,
chunking, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.func import api


def f64(*shape, seed=0):
    return cr.tensor(np.random.default_rng(seed).standard_normal(shape))


def numerical_jacobian(f, x, eps=1e-6):
    x0 = x.numpy().astype(np.float64)
    out = f(cr.tensor(x0)).numpy()
    jac = np.zeros(out.shape + x0.shape)
    for idx in np.ndindex(*x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += eps
        xm[idx] -= eps
        jac[(...,) + idx] = (f(cr.tensor(xp)).numpy() - f(cr.tensor(xm)).numpy()) / (2 * eps)
    return jac


W = np.random.default_rng(1).standard_normal((4, 3))
FUNCS = {
    "tanh_matvec": lambda x: (cr.tensor(W) @ x).tanh(),
    "softmax": lambda x: x.softmax(dim=0) * 3.0,
    "log_softmax_2d": lambda x: x.reshape(3, 1).expand(3, 2).log_softmax(dim=0),
    "logsumexp": lambda x: cr.stack([x.logsumexp(dim=0), x.sum()]),
    "index_and_cat": lambda x: cr.cat([x[cr.tensor([0, 0, 2])], x[1:] * x[:2]]),
    "outer_matmul": lambda x: x.reshape(3, 1) @ x.reshape(1, 3),
    "vec_matmul": lambda x: x @ cr.tensor(W.T) + (cr.tensor(W) @ x).sum(),
    "reductions": lambda x: cr.stack([x.max(), x.min(), x.mean(), x.var(), x.std()]),
    "where_relu": lambda x: cr.where(x > 0, x * x, x.exp()).relu() + x.abs(),
    "pow_div": lambda x: (x * x + 1.0) ** 1.5 / (x.exp() + 2.0),
    "permute": lambda x: (x.reshape(1, 3, 1) * x.reshape(3, 1, 1)).permute(2, 0, 1).flatten(),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jacobians_match_finite_differences(name):
    f = FUNCS[name]
    x = f64(3) * 0.7 + 0.1
    expected = numerical_jacobian(f, x)
    np.testing.assert_allclose(func.jacrev(f)(x).numpy(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(func.jacfwd(f)(x).numpy(), expected, rtol=1e-6, atol=1e-7)


def test_jacobian_shapes_follow_out_then_in():
    f = lambda x: x.sum(dim=1, keepdim=True) * x  # (2, 3) -> (2, 3)  # noqa: E731
    x = f64(2, 3)
    assert func.jacrev(f)(x).shape == (2, 3, 2, 3)
    assert func.jacfwd(f)(x).shape == (2, 3, 2, 3)
    np.testing.assert_allclose(func.jacrev(f)(x).numpy(), func.jacfwd(f)(x).numpy())
    scalar = lambda x: (x * x).sum()  # noqa: E731
    assert func.jacrev(scalar)(x).shape == (2, 3)
    assert func.jacfwd(scalar)(x).shape == (2, 3)


def test_jacobians_are_chunked_when_the_basis_is_large(monkeypatch):
    monkeypatch.setattr(api, "CHUNK_ELEMENTS", 7)  # force many small chunks
    f = FUNCS["tanh_matvec"]
    x = f64(3)
    full = numerical_jacobian(f, x)
    np.testing.assert_allclose(func.jacrev(f)(x).numpy(), full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(func.jacfwd(f)(x).numpy(), full, rtol=1e-6, atol=1e-7)


def test_multiple_argnums_and_pytrees():
    def loss(params, x):
        return ((x @ params["w"] + params["b"]).tanh() ** 2).sum()

    params = {"w": f64(3, 2), "b": f64(2, seed=1)}
    x = f64(5, 3, seed=2)
    g = func.grad(loss)(params, x)
    assert set(g) == {"w", "b"} and g["w"].shape == (3, 2)
    gw, gx = func.grad(lambda w, x: loss({"w": w, "b": params["b"]}, x), argnums=(0, 1))(
        params["w"], x
    )
    np.testing.assert_allclose(gw.numpy(), g["w"].numpy())
    assert gx.shape == (5, 3)
    # the same through the eager tape
    w = params["w"].detach().requires_grad_()
    b = params["b"].detach().requires_grad_()
    loss({"w": w, "b": b}, x).backward()
    np.testing.assert_allclose(w.grad.numpy(), g["w"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), g["b"].numpy(), rtol=1e-12)


def test_has_aux_and_value_and_grad_order():
    f = lambda x: ((x * x).sum(), {"norm": x.abs().max()})  # noqa: E731
    x = f64(3)
    (value, aux), g = func.value_and_grad(f, has_aux=True)(x)
    np.testing.assert_allclose(float(value), float((x * x).sum()))
    np.testing.assert_allclose(float(aux["norm"]), float(x.abs().max()))
    g2, aux2 = func.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())
    np.testing.assert_allclose(g2.numpy(), g.numpy())
    out, t, aux3 = func.jvp(f, (x,), (cr.ones_like(x),), has_aux=True)
    assert type(aux3["norm"]) is cr.Tensor


def test_vjp_fn_can_be_called_several_times_and_handles_tuples():
    x, y = f64(3), f64(3, seed=1)
    out, vjp_fn = func.vjp(lambda a, b: (a * b, a.sin()), x, y)
    for scale in (1.0, 2.0):
        ga, gb = vjp_fn((cr.ones_like(x) * scale, cr.zeros_like(x)))
        np.testing.assert_allclose(ga.numpy(), scale * y.numpy())
        np.testing.assert_allclose(gb.numpy(), scale * x.numpy())
    ga, gb = vjp_fn((cr.zeros_like(x), cr.ones_like(x)))
    np.testing.assert_allclose(ga.numpy(), np.cos(x.numpy()))
    np.testing.assert_allclose(gb.numpy(), 0.0)


def test_numpy_and_float_inputs_are_accepted():
    g = func.grad(lambda x: (x**2).sum())(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    assert float(func.grad(lambda x: x**3)(2.0)) == 12.0
    out, t = func.jvp(lambda x: x * 3, (np.array([1.0]),), (np.array([2.0]),))
    assert float(t) == 6.0


def test_outputs_that_do_not_depend_on_inputs_have_zero_derivatives():
    c = f64(3)
    assert np.all(func.grad(lambda x: c.sum())(f64(3)).numpy() == 0)
    assert np.all(func.jacfwd(lambda x: c * 2)(f64(2)).numpy() == 0)
    assert np.all(func.jacrev(lambda x: c * 2)(f64(2)).numpy() == 0)
    assert func.jacrev(lambda x: c * 2)(f64(2)).shape == (3, 2)


def test_hvp_with_several_primals():
    f = lambda x, y: (x * x * y).sum()  # noqa: E731
    x, y = f64(2), f64(2, seed=1)
    v = (cr.ones_like(x), cr.zeros_like(y))
    value, (hx, hy) = func.hvp(f, (x, y), v)
    np.testing.assert_allclose(hx.numpy(), 2 * y.numpy())  # d2/dx2 = 2y
    np.testing.assert_allclose(hy.numpy(), 2 * x.numpy())  # d2/dydx = 2x


# --- errors --------------------------------------------------------------------------------


def test_grad_of_non_scalar_output_names_the_shape():
    with pytest.raises(ValueError, match=r"grad: f must return a scalar .* shape \(3,\)"):
        func.grad(lambda x: x * 2)(f64(3))


def test_integer_inputs_are_rejected():
    with pytest.raises(TypeError, match="grad: argument 0 has dtype int64"):
        func.grad(lambda x: x.sum())(cr.tensor([1, 2]))
    with pytest.raises(TypeError, match="jvp: primal 0 has dtype int64"):
        func.jvp(lambda x: x, (cr.tensor([1, 2]),), (cr.tensor([1, 2]),))


def test_mismatched_tangents_are_rejected():
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(2,\) but primal 0 .*\(3,\)"):
        func.jvp(lambda x: x, (f64(3),), (f64(2),))
    with pytest.raises(TypeError, match="jvp: tangent 0 has dtype float32 but primal 0"):
        func.jvp(lambda x: x, (f64(3),), (cr.ones(3),))
    with pytest.raises(TypeError, match="must be tuples"):
        func.jvp(lambda x: x, f64(3), f64(3))
    _, vjp_fn = func.vjp(lambda x: x * 2, f64(3))
    with pytest.raises(ValueError, match=r"vjp_fn: cotangent 0 has shape \(2,\)"):
        vjp_fn(f64(2))


def test_bad_argnums():
    with pytest.raises(ValueError, match="argnums 3 is out of range"):
        func.grad(lambda x: x.sum(), argnums=3)(f64(2))


def test_in_place_inside_transforms():
    def f(x):
        y = x * 2
        y.add_(x)  # y = 3x
        y[0] = y[0] * x[1]  # y0 = 3 x0 x1
        buf = cr.zeros(2, dtype=cr.float64)
        buf[1] = y.sum()  # a plain tensor that receives a traced value becomes traced
        return buf.sum() + y.sum()

    x = f64(2)
    x0, x1 = x.numpy()
    expected = 2 * np.array([3 * x1, 3 * x0 + 3])
    np.testing.assert_allclose(func.grad(f)(x).numpy(), expected)
    _, t = func.jvp(f, (x,), (cr.tensor(np.array([1.0, 0.0])),))
    np.testing.assert_allclose(float(t), expected[0])


def test_in_place_on_a_traced_view_raises():
    def mutate_view(x):
        v = x[0:1]
        x.mul_(2)
        return v.sum()

    with pytest.raises(RuntimeError, match="is a view, and its memory was changed in place"):
        func.grad(mutate_view)(f64(2))


def test_in_place_change_of_a_saved_constant_inside_grad_raises():
    def f(x):
        c = cr.ones(3, dtype=cr.float64)
        y = (x * c).sum()
        c.add_(1)  # mul saved c: its gradient would use the new value
        return y

    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        func.grad(f)(f64(3))


def test_jacobians_of_mixed_integer_and_array_indexing():
    x = f64(2, 3, 2)
    f = lambda x: x[[0, 1], :, 0]  # noqa: E731  NumPy moves the advanced dims first
    expected = numerical_jacobian(f, x)
    np.testing.assert_allclose(func.jacfwd(f)(x).numpy(), expected, atol=1e-8)
    np.testing.assert_allclose(func.jacrev(f)(x).numpy(), expected, atol=1e-8)


def test_hessian_with_several_argnums_is_the_nested_tuple_of_blocks():
    g = lambda x, y: (x * x * y).sum() + (x.sin() * y.cos()).sum()  # noqa: E731
    x, y = f64(2), f64(2, seed=1)
    H = func.hessian(g, argnums=(0, 1))(x, y)
    xy = cr.cat([x, y])
    full = func.hessian(lambda v: g(v[:2], v[2:]))(xy).numpy()
    for i in range(2):
        for j in range(2):
            block = full[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            np.testing.assert_allclose(H[i][j].numpy(), block, rtol=1e-12, atol=1e-12)


def test_jacobians_of_pytree_outputs():
    f = lambda x: {"double": x * 2, "parts": (x.sum(), x[0] * x[1])}  # noqa: E731
    x = f64(2)
    for jac in (func.jacfwd, func.jacrev):
        J = jac(f)(x)
        np.testing.assert_allclose(J["double"].numpy(), 2 * np.eye(2))
        np.testing.assert_allclose(J["parts"][0].numpy(), [1.0, 1.0])
        np.testing.assert_allclose(J["parts"][1].numpy(), x.numpy()[::-1])


def test_a_captured_tensor_written_inside_grad_does_not_stay_a_tracer():
    # issue 11: `y` captured by f became a VJPTracer of a dead level for good
    y = cr.zeros(3, dtype=cr.float64)

    def f(x):
        y[0] = x.sum()
        return (y * y).sum()  # y is traced inside f: the gradient flows through it

    x = f64(2)
    np.testing.assert_allclose(func.grad(f)(x).numpy(), 2 * x.numpy().sum() * np.ones(2))
    assert type(y) is cr.Tensor
    assert "Tracer" not in repr(y) and "level" not in repr(y)
    np.testing.assert_allclose(y.numpy(), [x.numpy().sum(), 0.0, 0.0])
    assert not y.requires_grad and y.grad_fn is None
    (y * 2).sum()  # usable as an ordinary tensor afterwards


@pytest.mark.parametrize("transform", ["jvp", "jacrev", "jacfwd", "hvp"])
def test_a_captured_tensor_never_leaks_a_tracer(transform):
    y = cr.zeros(2, dtype=cr.float64)

    def f(x):
        y[1] = (x * x).sum()
        return y * 1.0 + x.sum()

    x = f64(2)
    if transform == "jvp":
        func.jvp(f, (x,), (cr.ones(2, dtype=cr.float64),))
    elif transform == "hvp":
        func.hvp(lambda a: f(a).sum(), (x,), (cr.ones(2, dtype=cr.float64),))
    else:
        getattr(func, transform)(f)(x)
    assert type(y) is cr.Tensor
    np.testing.assert_allclose(y.numpy()[1], (x.numpy() ** 2).sum())
