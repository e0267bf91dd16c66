"""The nesting design, pinned: no perturbation confusion, leaked tracers are constants,
forward-over-reverse and reverse-over-forward agree, to third order."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.func import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp


def D_fwd(f):
    """Derivative of a scalar function by forward mode."""
    return lambda x: jvp(f, (x,), (cr.ones_like(x),))[1]


D_rev = grad
DERIVATIVES = {"jvp": D_fwd, "grad": D_rev}


def f64(v):
    return cr.tensor(np.asarray(v, dtype=np.float64))


@pytest.mark.parametrize("outer", ["jvp", "grad"])
@pytest.mark.parametrize("inner", ["jvp", "grad"])
def test_siskind_pearlmutter(outer, inner):
    # D(x -> x * D(y -> x + y)(1))(1) == 1; tangents that are not kept apart give 2.
    Do, Di = DERIVATIVES[outer], DERIVATIVES[inner]
    one = f64(1.0)
    assert float(Do(lambda x: x * Di(lambda y: x + y)(one))(one)) == 1.0


@pytest.mark.parametrize("outer", ["jvp", "grad"])
@pytest.mark.parametrize("inner", ["jvp", "grad"])
def test_closure_over_outer_value_has_zero_inner_derivative(outer, inner):
    # autodidax2: d/dy of (y -> x) is 0 even though x is being differentiated outside.
    Do, Di = DERIVATIVES[outer], DERIVATIVES[inner]
    one = f64(1.5)
    assert float(Do(lambda x: Di(lambda y: x)(one) * x)(one)) == 0.0
    assert float(Do(lambda x: Di(lambda y: x * y)(one))(one)) == 1.0


def test_leaked_tangent_is_a_constant_in_a_sibling_jvp():
    leaked = []

    def f(x):
        y = x * x
        leaked.append(y)
        return y

    jvp(f, (f64(3.0),), (f64(1.0),))
    # In a sibling jvp at the same depth, the escaped tracer must act as the constant 9.
    out, t = jvp(lambda z: z * leaked[0], (f64(2.0),), (f64(1.0),))
    assert float(out) == 18.0
    assert float(t) == 9.0
    # and outside any transform it is just its value
    assert float(leaked[0] + 1) == 10.0


def test_leaked_reverse_tracer_is_a_constant():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return (x * x).sum()

    grad(f)(f64([1.0, 2.0]))
    g = grad(lambda z: (z * leaked[0]).sum())(f64([1.0, 1.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])


def _f(x):
    return (x.tanh() ** 2).sum() + x[0] * x[1] * x[2] + (x.sin() * x.exp()).sum()


@pytest.fixture
def x3():
    return f64([0.3, -1.2, 0.7])


def test_hvp_matches_hessian_and_finite_differences(x3):
    v = f64([1.0, -2.0, 0.5])
    value, hv = hvp(_f, (x3,), (v,))
    np.testing.assert_allclose(float(value), float(_f(x3)))
    H = hessian(_f)(x3)
    np.testing.assert_allclose(hv.numpy(), (H @ v).numpy(), rtol=1e-12, atol=1e-12)
    eps = 1e-6
    g_plus = grad(_f)(x3 + eps * v).numpy()
    g_minus = grad(_f)(x3 - eps * v).numpy()
    np.testing.assert_allclose(hv.numpy(), (g_plus - g_minus) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_all_second_order_compositions_agree(x3):
    H = hessian(_f)(x3).numpy()
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    for name, h in [
        ("jacfwd(jacrev)", jacfwd(jacrev(_f))),
        ("jacrev(jacfwd)", jacrev(jacfwd(_f))),
        ("jacrev(jacrev)", jacrev(jacrev(_f))),
        ("jacfwd(jacfwd)", jacfwd(jacfwd(_f))),
    ]:
        np.testing.assert_allclose(h(x3).numpy(), H, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("chain", ["jjj", "ggg", "jgj", "gjg"])
def test_third_derivative_of_sin(chain):
    f = lambda x: x.sin()  # noqa: E731
    for c in reversed(chain):
        f = DERIVATIVES["jvp" if c == "j" else "grad"](f)
    x = f64(0.5)
    np.testing.assert_allclose(float(f(x)), -math.cos(0.5), rtol=1e-14)


def test_transforms_leave_no_tracers_behind(x3):
    from chainrule.func.levels import Tracer

    value, g = value_and_grad(_f)(x3)
    out, t = jvp(_f, (x3,), (cr.ones_like(x3),))
    o, vjp_fn = vjp(lambda x: x.sin(), x3)
    for r in (value, g, out, t, o, *vjp_fn(cr.ones_like(x3)), hessian(_f)(x3)):
        assert type(r) is cr.Tensor and not isinstance(r, Tracer)
        assert r.grad_fn is None and not r.requires_grad
    from chainrule.autograd.grad_mode import STATE

    assert STATE.levels == 0


def test_backward_through_a_transform_reaches_parameters():
    # Parameters captured by f are ordinary tensors below every level: the eager tape
    # records the backward pass grad(f) runs, so loss.backward() reaches w (MAML-style).
    w = cr.tensor(np.array([0.5, -1.0]), requires_grad=True)
    x = f64([2.0, 3.0])
    g = grad(lambda x: (w * x * x).sum())(x)  # 2 w x
    g.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * x.numpy())


def test_exception_inside_transform_closes_the_level():
    from chainrule.autograd.grad_mode import STATE

    with pytest.raises(ZeroDivisionError):
        grad(lambda x: 1 / 0)(f64(1.0))
    assert STATE.levels == 0
