"""``func.vmap``: the whole op table batched against a Python loop, nesting, composition with
the derivative transforms in both orders, per-example gradients, and the argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import OPS, OpInfo, as_tuple, make_inputs

import chainrule as cr
from chainrule import func
from chainrule.func import batching

B = 3


def stacked_samples(info: OpInfo, seed: int = 0):
    """Per sample: B independent draws of the inputs, and the inputs stacked (batch first)."""
    rng = np.random.default_rng(seed)
    for shapes in info.samples:
        draws = [make_inputs(info, shapes, rng, requires_grad=False) for _ in range(B)]
        stacked = [cr.tensor(np.stack([d[i].data for d in draws])) for i in range(len(shapes))]
        yield draws, stacked


@pytest.fixture
def no_loop_fallback(monkeypatch):
    """Fail if a primitive without a batching rule falls back to the per-example loop."""
    used = []
    original = batching.loop_batch

    def spy(level, prim, values, batched, params):
        used.append(prim.name)
        return original(level, prim, values, batched, params)

    monkeypatch.setattr(batching, "loop_batch", spy)
    yield used


@pytest.mark.parametrize("info", OPS, ids=str)
def test_vmap_matches_a_loop(info: OpInfo, no_loop_fallback) -> None:
    for draws, stacked in stacked_samples(info):
        # every input batched, then each one batched alone (the others shared)
        patterns = [tuple(0 for _ in stacked)]
        if len(stacked) > 1:
            patterns += [
                tuple(0 if j == i else None for j in range(len(stacked)))
                for i in range(len(stacked))
            ]
        for dims in patterns:
            args = [s if d == 0 else draws[0][i] for i, (s, d) in enumerate(zip(stacked, dims))]
            got = as_tuple(func.vmap(info.op, in_dims=dims)(*args))
            loop = [
                as_tuple(
                    info.op(*[draws[k][i] if d == 0 else draws[0][i] for i, d in enumerate(dims)])
                )
                for k in range(B)
            ]
            for j, out in enumerate(got):
                expected = np.stack([np.asarray(r[j].data) for r in loop])
                assert out.shape == expected.shape, (info.name, dims, j)
                np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert not no_loop_fallback, f"{info.name}: no batching rule for {set(no_loop_fallback)}"


@pytest.mark.parametrize("info", [o for o in OPS if o.grad], ids=str)
def test_per_example_vjp_matches_a_loop(info: OpInfo, no_loop_fallback) -> None:
    """vmap over the pullback: the VJP rules run on batched primals and cotangents."""
    for draws, stacked in stacked_samples(info, seed=1):
        fn, _ = info.diff_fn(draws[0])
        mask = info.diff_mask(draws[0])
        diff_stacked = [s for s, m in zip(stacked, mask) if m]
        outs = as_tuple(fn(*[d for d, m in zip(draws[0], mask) if m]))
        rng = np.random.default_rng(5)
        cts = [cr.tensor(rng.standard_normal((B, *o.shape))) for o in outs]
        if any(o.dtype.kind != "f" for o in outs):
            continue

        n = len(diff_stacked)

        def pullback(*xs_and_cts, n=n, fn=fn):
            xs, vs = xs_and_cts[:n], xs_and_cts[n:]
            _, vjp_fn = func.vjp(fn, *xs)
            return vjp_fn(vs if len(vs) > 1 else vs[0])

        got = func.vmap(pullback)(*diff_stacked, *cts)
        for k in range(B):
            xs = [s[k] for s in diff_stacked]
            _, vjp_fn = func.vjp(fn, *xs)
            vs = [c[k] for c in cts]
            ref = vjp_fn(vs if len(vs) > 1 else vs[0])
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g.data[k], r.data, rtol=1e-9, atol=1e-12)
    assert not no_loop_fallback, f"{info.name}: no batching rule for {set(no_loop_fallback)}"


# --- semantics ---------------------------------------------------------------------------------


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).tanh()
    logits = h @ w2 + b2
    return -(logits.log_softmax(-1) * y).sum()  # y one-hot: cross-entropy of one example


def make_mlp(rng):
    shapes = [(4, 8), (8,), (8, 3), (3,)]
    return tuple(cr.tensor(rng.standard_normal(s) * 0.5) for s in shapes)


def test_per_example_gradients_equal_a_loop():
    rng = np.random.default_rng(0)
    params = make_mlp(rng)
    x = cr.tensor(rng.standard_normal((6, 4)))
    y = cr.tensor(np.eye(3)[rng.integers(0, 3, 6)])
    per_example = func.vmap(func.grad(mlp_loss), in_dims=(None, 0, 0))(params, x, y)
    for k in range(6):
        ref = func.grad(mlp_loss)(params, x[k], y[k])
        for g, r in zip(per_example, ref):
            np.testing.assert_allclose(g.data[k], r.data, rtol=1e-12, atol=1e-14)


def test_in_dims_out_dims_and_nesting():
    rng = np.random.default_rng(1)
    a = cr.tensor(rng.standard_normal((3, 5, 2)))
    b = cr.tensor(rng.standard_normal((2, 5)))
    # batch over a's axis 1 and b's axis 1; put the batch axis last in the output
    out = func.vmap(lambda u, v: u @ v, in_dims=(1, 1), out_dims=1)(a, b)
    ref = np.stack([a.data[:, k] @ b.data[:, k] for k in range(5)], axis=1)
    np.testing.assert_allclose(out.data, ref)
    # nested: an outer product table
    u, v = cr.tensor(rng.standard_normal(4)), cr.tensor(rng.standard_normal(3))
    table = func.vmap(func.vmap(lambda p, q: p * q, in_dims=(None, 0)), in_dims=(0, None))(u, v)
    np.testing.assert_allclose(table.data, np.outer(u.data, v.data))
    # an output that does not depend on the batch is broadcast (or kept with out_dims=None)
    c = func.vmap(lambda p: cr.tensor(2.0), in_dims=0)(u)
    np.testing.assert_allclose(c.data, np.full(4, 2.0))
    d = func.vmap(lambda p: (p * 2.0, cr.tensor(1.0)), out_dims=(0, None))(u)
    assert d[1].shape == ()


def test_composes_with_every_transform_in_both_orders():
    rng = np.random.default_rng(2)
    xs = cr.tensor(rng.standard_normal((4, 3)))

    def f(x):
        return (x.sin() * x).sum() + (x[0] * x[1]) ** 2

    hess = [func.hessian(f)(xs[k]).data for k in range(4)]
    jac = [func.jacrev(f)(xs[k]).data for k in range(4)]
    np.testing.assert_allclose(func.vmap(func.hessian(f))(xs).data, np.stack(hess))
    np.testing.assert_allclose(func.vmap(func.jacfwd(func.jacrev(f)))(xs).data, np.stack(hess))
    np.testing.assert_allclose(func.vmap(func.jacrev(func.jacrev(f)))(xs).data, np.stack(hess))
    np.testing.assert_allclose(func.vmap(func.jacfwd(f))(xs).data, np.stack(jac))
    # transforms outside vmap: the Jacobian of the batched function is block diagonal
    batched = func.vmap(func.grad(f))
    for outer in (func.jacrev, func.jacfwd):
        full = outer(batched)(xs).data  # (4, 3, 4, 3)
        for k in range(4):
            np.testing.assert_allclose(full[k, :, k, :], hess[k], atol=1e-12)
            other = np.delete(full[k], k, axis=1)
            np.testing.assert_allclose(other, 0.0, atol=1e-14)
    # grad of a vmapped sum, and the eager tape through vmap
    g = func.grad(lambda x: func.vmap(f)(x).sum())(xs)
    np.testing.assert_allclose(g.data, np.stack(jac))
    xt = xs.detach().clone().requires_grad_()
    func.vmap(f)(xt).sum().backward()
    np.testing.assert_allclose(xt.grad.data, np.stack(jac))


def test_custom_rules_under_vmap():
    from test_custom_rules import LegendreP3, cube, log1pexp

    x = cr.tensor(np.linspace(-0.9, 0.9, 5))
    np.testing.assert_allclose(
        func.vmap(LegendreP3.apply)(x).data, 0.5 * (5 * x.data**3 - 3 * x.data)
    )
    d = func.vmap(func.grad(LegendreP3.apply))(x)
    np.testing.assert_allclose(d.data, 1.5 * (5 * x.data**2 - 1))
    np.testing.assert_allclose(func.vmap(func.grad(cube))(x).data, 3 * x.data**2)
    sig = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(func.vmap(func.grad(log1pexp))(x).data, sig)

    class NoRule(cr.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            return cr.tensor(np.sin(v.data))  # on the array: not batchable

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="generate_vmap_rule = True"):
        func.vmap(NoRule.apply)(x)


def test_linalg_under_vmap():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3, 3))
    spd = cr.tensor(a @ np.swapaxes(a, -1, -2) + np.eye(3))
    b = cr.tensor(rng.standard_normal((4, 3)))

    def logdet_solve(m, v):
        chol = cr.linalg.cholesky(m)
        z = cr.linalg.solve_triangular(chol, v.reshape(3, 1), upper=False)
        return (z * z).sum() + cr.linalg.slogdet(m)[1]

    got = func.vmap(func.grad(logdet_solve, argnums=(0, 1)))(spd, b)
    for k in range(4):
        ref = func.grad(logdet_solve, argnums=(0, 1))(spd[k], b[k])
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g.data[k], r.data, rtol=1e-10)


def test_randomness_and_argument_errors():
    x = cr.ones(3, 2)
    with pytest.raises(RuntimeError, match="randomness='error'"):
        func.vmap(lambda r: r * cr.rand(2))(x)
    same = func.vmap(lambda r: r * cr.rand(2), randomness="same")(x)
    np.testing.assert_allclose(same.data[0], same.data[1])
    with pytest.raises(ValueError, match="different sizes"):
        func.vmap(lambda p, q: p + q)(cr.ones(3), cr.ones(4))
    with pytest.raises(ValueError, match="at least one argument must be batched"):
        func.vmap(lambda p: p, in_dims=None)(cr.ones(3))
    with pytest.raises(ValueError, match="out of range"):
        func.vmap(lambda p: p, in_dims=2)(cr.ones(3))
    with pytest.raises(ValueError, match="randomness"):
        func.vmap(lambda p: p, randomness="sometimes")
    cr.manual_seed(0)
    diff = func.vmap(lambda r: r * cr.rand(2), randomness="different")(x)
    assert diff.shape == (3, 2) and not np.allclose(diff.data[0], diff.data[1])
    nested = func.vmap(
        func.vmap(lambda r: r + cr.randn(()), randomness="different"), randomness="different"
    )(cr.zeros(4, 5))
    assert nested.shape == (4, 5) and len(np.unique(nested.data)) == 20
    import chainrule.nn.functional as F

    drop = func.vmap(lambda r: F.dropout(r, 0.5), randomness="different")(cr.ones(64, 8))
    assert set(np.unique(drop.data)) <= {0.0, 2.0}
    assert len({tuple(row) for row in drop.data.tolist()}) > 1  # masks differ per example


@pytest.mark.parametrize(
    "name",
    [
        "linear",
        "linear_per_example_weights",
        "conv2d",
        "cross_entropy",
        "cross_entropy_targets",
        "layer_norm",
        "mse_loss",
        "bce_logits",
        "gelu",
    ],
)
def test_nn_functional_under_vmap(name, no_loop_fallback):
    """The kit's layers: values and per-example gradients against a loop, no loop fallback."""
    import chainrule.nn.functional as F

    rng = np.random.default_rng(4)

    def t(*shape):
        return cr.tensor(rng.standard_normal(shape))

    w, b, cw = t(5, 4), t(5), t(2, 3, 3, 3)
    target = cr.tensor(rng.integers(0, 4, (B, 2)))
    probs = cr.tensor(rng.random((2, 4)))
    cases = {
        "linear": (lambda x: F.linear(x, w, b), [t(B, 2, 4)]),
        "linear_per_example_weights": (lambda x, v: F.linear(x, v, b), [t(B, 2, 4), t(B, 5, 4)]),
        "conv2d": (lambda x: F.conv2d(x, cw, padding=1), [t(B, 1, 3, 5, 5)]),
        "cross_entropy": (lambda z: F.cross_entropy(z, target[0]), [t(B, 2, 4)]),
        "cross_entropy_targets": (lambda z, y: F.cross_entropy(z, y), [t(B, 2, 4), target]),
        "layer_norm": (lambda x: F.layer_norm(x, (4,)), [t(B, 2, 4)]),
        "mse_loss": (lambda x: F.mse_loss(x, probs), [t(B, 2, 4)]),
        "bce_logits": (lambda x: F.binary_cross_entropy_with_logits(x, probs), [t(B, 2, 4)]),
        "gelu": (F.gelu, [t(B, 2, 4)]),
    }
    f, ins = cases[name]

    def scalar(*a):
        return f(*a).sum()

    out = func.vmap(f)(*ins)
    grads = func.vmap(func.grad(scalar))(*ins)
    for k in range(B):
        np.testing.assert_allclose(out.data[k], f(*[x[k] for x in ins]).data, rtol=1e-12)
        ref = func.grad(scalar)(*[x[k] for x in ins])
        np.testing.assert_allclose(grads.data[k], ref.data, rtol=1e-10, atol=1e-14)
    assert not no_loop_fallback, f"{name}: no batching rule for {set(no_loop_fallback)}"


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 1)])
def test_max_pool2d_under_vmap(kernel, stride, padding):
    import chainrule.nn.functional as F

    rng = np.random.default_rng(6)
    x = cr.tensor(rng.standard_normal((3, 2, 2, 5, 5)))

    def f(v):
        return F.max_pool2d(v, kernel, stride, padding)

    def loss(v):
        return (f(v) ** 2).sum()

    out, grads = func.vmap(f)(x), func.vmap(func.grad(loss))(x)
    for k in range(3):
        np.testing.assert_allclose(out.data[k], f(x[k]).data)
        np.testing.assert_allclose(grads.data[k], func.grad(loss)(x[k]).data)
    nested = func.vmap(func.vmap(func.grad(loss)))(x.reshape(3, 2, 1, 2, 5, 5))
    np.testing.assert_allclose(nested.data.reshape(grads.shape), grads.data)


def test_per_example_indices():
    x = cr.tensor(np.arange(12.0).reshape(3, 4))
    idx = cr.tensor([0, 2, 3])
    np.testing.assert_allclose(func.vmap(lambda r, i: r[i])(x, idx).data, [0.0, 6.0, 11.0])
    with pytest.raises(NotImplementedError, match="indices that vmap batches"):
        func.vmap(lambda r, i: r.take_along_dim(i.unsqueeze(0), 0))(x, idx)
    picked = func.vmap(lambda r, i: (r * (cr.arange(4) == i)).sum())(x, idx)
    np.testing.assert_allclose(picked.data, [0.0, 6.0, 11.0])
    values, indices = func.vmap(lambda r: r.max(0))(x)
    np.testing.assert_allclose(values.data, [3.0, 7.0, 11.0])
    np.testing.assert_array_equal(indices.data, [3, 3, 3])
    masked = func.vmap(lambda r, m: cr.where(m, r, 0.0))(x, cr.tensor(np.eye(3, 4, dtype=int)))
    np.testing.assert_allclose(masked.data, np.eye(3, 4) * x.data)


def test_per_example_index_tensors_gather_and_scatter():
    import chainrule.nn.functional as F

    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((3, 4, 2)))
    idx = cr.tensor([[0, 2], [3, 3], [1, 0]])  # with a repeat: its gradient accumulates
    w = cr.tensor(rng.standard_normal((5, 2)))
    got = func.vmap(lambda r, i: r[i])(x, idx)
    np.testing.assert_allclose(got.data, np.stack([x.data[k][idx.data[k]] for k in range(3)]))
    np.testing.assert_allclose(func.vmap(lambda i: w[i])(idx).data, w.data[idx.data])

    def emb(v, i):
        return (F.embedding(i, v) ** 2).sum()

    def cube(r, i):
        return (r[i] ** 3).sum()

    cases = [(emb, (w, idx), (None, 0)), (cube, (x, idx), (0, 0)), (cube, (x, idx[0]), (0, None))]
    for f, args, dims in cases:
        got = func.vmap(func.grad(f), in_dims=dims)(*args)
        for k in range(3):
            call = [a if d is None else a[k] for a, d in zip(args, dims)]
            np.testing.assert_allclose(got.data[k], func.grad(f)(*call).data)
    nested = cr.tensor(rng.integers(0, 4, (2, 3, 2)))
    inner = func.vmap(lambda r, i: r[i], in_dims=(None, 0))
    got = func.vmap(inner, in_dims=(None, 0))(x[0], nested)
    np.testing.assert_allclose(got.data, x.data[0][nested.data])
    batched = func.vmap(lambda r, i: r[i])
    rev = func.jacrev(lambda v: batched(v, idx))(x)
    fwd = func.jacfwd(lambda v: batched(v, idx))(x)
    np.testing.assert_allclose(rev.data, fwd.data)


def test_nan_and_constant_semantics_survive_vmap(no_loop_fallback):
    """The eager NaN rules (relu's gradient 1 at NaN, sign 0 at NaN, max's gradient shared by
    its NaN entries, std's gradient 0 on a constant slice) hold per example under vmap too."""
    from chainrule.ops.elementwise import sign

    nan = np.nan
    x = cr.tensor(np.array([[nan, -1.0, 0.0, 2.0], [1.0, nan, nan, 0.5], [3.0, 3.0, 3.0, 3.0]]))
    cases = [
        lambda v: cr.relu(v).sum(),
        lambda v: cr.max(v),
        lambda v: cr.min(v),
        lambda v: cr.std(v),
        lambda v: cr.clamp(v, -1.0, 1.0).sum(),
    ]
    for f in cases:
        batched = func.vmap(func.grad(f))(x).data
        looped = np.stack([func.grad(f)(cr.tensor(row)).data for row in x.data])
        np.testing.assert_array_equal(batched, looped)
        np.testing.assert_array_equal(func.vmap(f)(x).data, [f(cr.tensor(r)).data for r in x.data])
    np.testing.assert_array_equal(func.vmap(sign)(x).data, sign(x).data)
    assert not np.isnan(sign(x).data).any()
