"""User-defined derivatives: ``autograd.Function`` (PyTorch's contract) and
``func.custom_vjp``/``func.custom_jvp`` (JAX's), under the tape and every transform."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd import Function, gradcheck, gradgradcheck, once_differentiable


def f64(*values, grad=False):
    return cr.tensor(np.array(values, dtype=np.float64), requires_grad=grad)


# --- a Legendre polynomial, in the style of PyTorch's custom-function tutorial --------------


class LegendreP3(Function):
    """P3(x) = (5x^3 - 3x) / 2;  d/dx P3 = (15x^2 - 3) / 2;  second derivative 15x."""

    generate_vmap_rule = True  # written in chainrule ops: vmap may run it on batched values

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x**3 - 3 * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 1.5 * (5 * x**2 - 1)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 1.5 * (5 * x**2 - 1)


def test_legendre_function_fits_a_sine_like_the_tutorial():
    # y = a + b P3(c + d x) fitted to sin(x) by gradient descent, as in PyTorch's tutorial
    x = cr.tensor(np.linspace(-np.pi, np.pi, 200))
    y = x.sin()
    params = [cr.tensor(v, dtype=cr.float64, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3)]
    first = None
    for _ in range(200):
        a, b, c, d = params
        pred = a + b * LegendreP3.apply(c + d * x)
        loss = ((pred - y) ** 2).sum()
        first = float(loss) if first is None else first
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= 3e-5 * p.grad
                p.grad = None
    assert float(loss) < 0.5 * first


def test_legendre_gradients_everywhere():
    x = f64(-0.7, 0.1, 0.9, grad=True)
    y = LegendreP3.apply(x)
    assert y.grad_fn.name() == "LegendreP3Backward"
    assert gradcheck(LegendreP3.apply, (x,))
    assert gradgradcheck(LegendreP3.apply, (x,))
    xd = x.detach()
    expected_d1 = 1.5 * (5 * xd.data**2 - 1)
    s = lambda v: LegendreP3.apply(v).sum()  # noqa: E731
    np.testing.assert_allclose(func.grad(s)(xd).data, expected_d1)
    np.testing.assert_allclose(func.jacfwd(LegendreP3.apply)(xd).data, np.diag(expected_d1))
    np.testing.assert_allclose(func.jacrev(LegendreP3.apply)(xd).data, np.diag(expected_d1))
    np.testing.assert_allclose(func.hessian(s)(xd).data, np.diag(15 * xd.data))
    np.testing.assert_allclose(func.jacrev(func.jacrev(s))(xd).data, np.diag(15 * xd.data))


def test_wrong_backward_is_caught_by_gradcheck():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # wrong: d/dx x^2 = 2x

    with pytest.raises(RuntimeError, match=r"Jacobian mismatch|gradcheck"):
        gradcheck(WrongSquare.apply, (f64(0.5, -1.0, grad=True),))


def test_setup_context_style_and_non_tensor_arguments():
    class Scale(Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None  # no gradient for the number k

    x = f64(1.0, 2.0, grad=True)
    Scale.apply(x, 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])
    assert gradcheck(lambda v: Scale.apply(v, 3.0), (x,))


def test_multiple_outputs_non_differentiable_and_needs_input_grad():
    seen = {}

    class SortWithIndex(Function):
        @staticmethod
        def forward(ctx, x, w):
            seen["needs"] = ctx.needs_input_grad
            idx = np.argsort(x.data)
            values = cr.tensor(x.data[idx]) * w
            index = cr.tensor(idx)
            doubled = x * 2.0
            ctx.mark_non_differentiable(index)
            ctx.idx = idx
            ctx.save_for_backward(w)
            return values, index, doubled

        @staticmethod
        def backward(ctx, g_values, g_index, g_doubled):
            (w,) = ctx.saved_tensors
            gx = cr.zeros_like(g_values).double()
            gx[cr.tensor(ctx.idx)] = g_values * w
            return gx + 2.0 * g_doubled, None

    x = f64(3.0, 1.0, 2.0, grad=True)
    w = f64(2.0)
    values, index, doubled = SortWithIndex.apply(x, w)
    assert seen["needs"] == (True, False)
    assert not index.requires_grad and index.dtype == np.int64
    np.testing.assert_allclose(values.data, [2.0, 4.0, 6.0])
    (values.sum() + doubled.sum()).backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 4.0, 4.0])
    assert gradcheck(lambda v: SortWithIndex.apply(v, w)[0], (x,))


def test_saved_tensors_are_version_checked():
    x = f64(1.0, 2.0, grad=True)
    a = x * 1.0
    y = LegendreP3.apply(a)
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="LegendreP3Backward saved its input 0"):
        y.sum().backward()

    class SavesIntermediate(Function):
        @staticmethod
        def forward(ctx, x):
            e = x.exp()
            ctx.save_for_backward(e)
            ctx.e = e
            return e

        @staticmethod
        def backward(ctx, g):
            (e,) = ctx.saved_tensors
            return g * e

    y = SavesIntermediate.apply(f64(0.5, grad=True))
    y.add_(1.0)  # the output is the saved tensor: changed in place
    with pytest.raises(RuntimeError, match="SavesIntermediateBackward"):
        y.sum().backward()


def test_saved_intermediates_are_version_checked():
    kept = []

    class SavesIntermediate(Function):
        @staticmethod
        def forward(ctx, x):
            e = x.exp()  # neither an input nor an output: a constant to the rules
            ctx.save_for_backward(e)
            kept.append(e)
            return e * 2.0

        @staticmethod
        def backward(ctx, g):
            (e,) = ctx.saved_tensors
            return g * 2.0 * e

    x = f64(0.5, 1.0, grad=True)
    SavesIntermediate.apply(x).sum().backward()  # unchanged: backward runs
    np.testing.assert_allclose(x.grad.data, 2.0 * np.exp([0.5, 1.0]))
    y = SavesIntermediate.apply(x)
    kept[-1].add_(1.0)
    with pytest.raises(RuntimeError, match="SavesIntermediateBackward saved a tensor"):
        y.sum().backward()


def test_second_backward_without_retain_graph_is_refused():
    x = f64(0.3, grad=True)
    y = LegendreP3.apply(x)
    y.backward(retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_materialize_grads_and_once_differentiable():
    class TwoOut(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2.0, x * 3.0

        @staticmethod
        @once_differentiable
        def backward(ctx, ga, gb):
            return ga * 2.0 + gb * 3.0

    x = f64(1.0, 2.0, grad=True)
    a, b = TwoOut.apply(x)
    a.sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])
    (g,) = cr.autograd.grad(TwoOut.apply(x)[0].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_missing_jvp_is_named_and_wrong_gradient_count_is_refused():
    class NoJvp(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    with pytest.raises(RuntimeError, match=r"NoJvp.jvp\(ctx, \*tangents\)"):
        func.jvp(NoJvp.apply, (f64(1.0),), (f64(1.0),))

    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0, None

    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooMany.apply(f64(1.0, grad=True)).sum().backward()


# --- JAX's custom_jvp / custom_vjp ------------------------------------------------------------


@func.custom_jvp
def log1pexp(x):
    """log(1 + e^x), the naive formula (its autodiff derivative is nan for large x)."""
    return (1.0 + x.exp()).log()


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # d/dx log(1 + e^x) = sigmoid(x), written stably: 1 - 1/(1 + e^x) would be inf/inf
    return log1pexp(x), t * x.sigmoid()


def test_stable_log1pexp_under_every_transform():
    x = f64(-3.0, 0.0, 100.0)
    s = lambda v: log1pexp(v).sum()  # noqa: E731
    sig = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(func.grad(s)(x).data, sig)  # the naive form gives nan at 100
    np.testing.assert_allclose(func.jvp(log1pexp, (x,), (cr.ones_like(x),))[1].data, sig)
    hess = np.diag(sig * (1 - sig))
    np.testing.assert_allclose(func.hessian(s)(x).data, hess, atol=1e-12)
    np.testing.assert_allclose(func.jacrev(func.jacrev(s))(x).data, hess, atol=1e-12)
    np.testing.assert_allclose(func.jacrev(func.jacfwd(s))(x).data, hess, atol=1e-12)
    xg = f64(-3.0, 0.5, 2.0, grad=True)
    assert gradcheck(log1pexp, (xg,)) and gradgradcheck(log1pexp, (xg,))


@func.custom_vjp
def clip_gradient(x, lo, hi):
    return x * 1.0  # the identity, with a clipped gradient


clip_gradient.defvjp(
    lambda x, lo, hi: (x * 1.0, (lo, hi)),
    lambda res, g: (g.clamp(res[0], res[1]), None, None),
)


def test_clipped_gradient_identity():
    x = f64(1.0, 2.0)
    g = func.grad(lambda v: (clip_gradient(v, -0.5, 0.5) * cr.tensor([3.0, -0.2])).sum())(x)
    np.testing.assert_allclose(g.data, [0.5, -0.2])
    xt = f64(1.0, 2.0, grad=True)
    (clip_gradient(xt, -1.0, 1.0) * 4.0).sum().backward()
    np.testing.assert_allclose(xt.grad.data, [1.0, 1.0])


@func.custom_vjp
def cube(x):
    return x**3


cube.defvjp(lambda x: (x**3, x), lambda x, g: (g * 3 * x**2,))


def test_custom_vjp_nests_and_forward_mode_transposes_bwd():
    x = f64(0.5, -2.0)
    s = lambda v: cube(v).sum()  # noqa: E731
    np.testing.assert_allclose(func.grad(func.grad(lambda v: cube(v).sum()))(f64(2.0)).data, 12)
    np.testing.assert_allclose(func.jacrev(func.jacrev(s))(x).data, np.diag(6 * x.data))
    np.testing.assert_allclose(func.hessian(s)(x).data, np.diag(6 * x.data))  # jacfwd(jacrev)
    np.testing.assert_allclose(func.jacfwd(cube)(x).data, np.diag(3 * x.data**2))
    xg = f64(0.5, -2.0, grad=True)
    assert gradcheck(cube, (xg,)) and gradgradcheck(cube, (xg,))


def test_custom_rules_without_a_rule_say_so():
    @func.custom_vjp
    def f(x):
        return x

    with pytest.raises(RuntimeError, match=r"f.defvjp\(fwd, bwd\)"):
        f(f64(1.0))

    @func.custom_jvp
    def h(x):
        return x

    with pytest.raises(RuntimeError, match=r"h.defjvp\(rule\)"):
        h(f64(1.0))


def test_nondiff_argnums_follow_jax():
    def power(n, x):
        return x**n

    f = func.custom_jvp(power, nondiff_argnums=(0,))

    @f.defjvp
    def _(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return x**n, t * n * x ** (n - 1)

    g = func.custom_vjp(power, nondiff_argnums=(0,))
    g.defvjp(lambda n, x: (x**n, x), lambda n, x, ct: (ct * n * x ** (n - 1),))
    x = f64(1.5, -0.5)
    for h in (f, g):
        np.testing.assert_allclose(func.grad(lambda v, h=h: h(3, v).sum())(x).data, 3 * x.data**2)
        np.testing.assert_allclose(
            func.jacfwd(lambda v, h=h: h(3, v))(x).data, np.diag(3 * x.data**2)
        )
