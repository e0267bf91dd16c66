"""Every op of the table (``opinfo.py``), in float64: forward vs NumPy, gradcheck (backward vs
central differences), gradgradcheck (second order), the VJP dot-product identity
<v, J u> = <J^T v, u> with random v and u, and the hygiene checks (inputs not mutated, no
``.grad`` aliasing another buffer)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from opinfo import GRAD_OPS, OPS, OpInfo, as_tuple, iter_samples, numerical_jvp

import chainrule as cr


def samples(info: OpInfo, seed: int = 0) -> list[list[cr.Tensor]]:
    return [xs for _, xs in iter_samples([info], seed=seed)]


@pytest.mark.parametrize("info", [o for o in OPS if o.ref is not None], ids=str)
def test_forward_matches_numpy(info: OpInfo) -> None:
    for xs in samples(info):
        outs = as_tuple(info.op(*xs))
        refs = as_tuple(info.ref(*[x.data for x in xs]))
        assert len(outs) == len(refs)
        for out, ref in zip(outs, refs):
            ref = np.asarray(ref)
            assert isinstance(out, cr.Tensor)
            assert type(out.data) is np.ndarray  # never a NumPy scalar, even when 0-d
            assert out.shape == ref.shape, (out.shape, ref.shape)
            assert out.dtype == ref.dtype, (out.dtype, ref.dtype)
            np.testing.assert_allclose(out.data, ref, rtol=1e-6, atol=1e-12)
            if not info.grad:
                assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_gradcheck(info: OpInfo) -> None:
    for xs in samples(info):
        assert cr.autograd.gradcheck(info.op, xs, eps=info.eps, atol=info.atol, rtol=info.rtol)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_gradgradcheck(info: OpInfo) -> None:
    for xs in samples(info):
        assert cr.autograd.gradgradcheck(info.op, xs, eps=info.eps, atol=info.atol, rtol=info.rtol)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_vjp_dot_product_identity(info: OpInfo) -> None:
    """<v, J u> (J u by central differences along a random u) == <J^T v, u> (backward)."""
    rng = np.random.default_rng(1)
    for xs in samples(info):
        fn, primals = info.diff_fn(xs)
        outs = as_tuple(fn(*primals))
        vs = [rng.standard_normal(o.shape) for o in outs]
        us = [rng.standard_normal(p.shape) for p in primals]
        gs = cr.autograd.grad(list(outs), primals, [cr.tensor(v) for v in vs], allow_unused=True)
        terms = [v * ju for v, ju in zip(vs, numerical_jvp(fn, primals, us, eps=info.eps))]
        lhs = sum(float(np.sum(t)) for t in terms)
        rhs = sum(float(np.sum(g.data * u)) for g, u in zip(gs, us) if g is not None)
        scale = sum(float(np.sum(np.abs(t))) for t in terms) + 1.0
        rtol, atol = (1e-6, 1e-8) if info.eps == 1e-6 else (info.rtol, info.atol)
        assert abs(lhs - rhs) <= atol * scale + rtol * abs(lhs), (lhs, rhs)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_no_mutation_and_no_aliasing(info: OpInfo) -> None:
    """Forward and backward leave inputs and cotangents untouched, and every ``.grad`` owns
    its buffer (MyGrad's checks). Backward runs once per output, so grads also accumulate."""
    rng = np.random.default_rng(2)
    for xs in samples(info):
        mask = info.diff_mask(xs)
        before = [x.data.copy() for x in xs]
        outs = as_tuple(info.op(*xs))
        for x, b in zip(xs, before):
            np.testing.assert_array_equal(x.data, b)
        vs = [cr.tensor(rng.standard_normal(o.shape)).to(o.dtype) for o in outs]
        v_before = [v.data.copy() for v in vs]
        for o, v in zip(outs, vs):
            o.backward(gradient=v, retain_graph=True)
        for x, b in zip(xs, before):
            np.testing.assert_array_equal(x.data, b)
        for v, b in zip(vs, v_before):
            np.testing.assert_array_equal(v.data, b)
        grads = [x.grad for x, d in zip(xs, mask) if d]
        for x, d in zip(xs, mask):
            if d:
                assert x.grad is not None
                assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
                assert type(x.grad.data) is np.ndarray and x.grad.data.flags.writeable
                assert x.grad.grad_fn is None and not x.grad.requires_grad
            else:
                assert x.grad is None
        for g, h in itertools.combinations(grads, 2):
            assert not np.shares_memory(g.data, h.data)
        others = [x.data for x in xs] + [o.data for o in outs] + [v.data for v in vs]
        for g in grads:
            for a in others:
                assert not np.shares_memory(g.data, a)


def _requires_grad_patterns(mask: list[bool]) -> list[list[bool]]:
    """Every differentiable input together, then each one alone (the others constants)."""
    alone = [[j == i for j in range(len(mask))] for i, d in enumerate(mask) if d]
    return [mask, *alone] if len(alone) > 1 else [mask]


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_gradcheck_with_non_leaf_inputs(info: OpInfo) -> None:
    """The same samples fed as intermediates (``x * 1.0``), under every requires-grad
    pattern, so that what a node saves is tested, not trusted: an input that a VJP reads but
    the primitive does not save is replaced by its shape, and reading it raises a named error.
    """
    for xs in samples(info):
        for pattern in _requires_grad_patterns(info.diff_mask(xs)):
            leaves = [
                cr.tensor(x.data.copy(), requires_grad=True) if d else x.detach()
                for x, d in zip(xs, pattern)
            ]

            def fn(*ls: cr.Tensor) -> object:
                return info.op(*[t * 1.0 if t.requires_grad else t for t in ls])

            assert cr.autograd.gradcheck(fn, leaves, eps=info.eps, atol=info.atol, rtol=info.rtol)
            if pattern is not None and sum(pattern) == sum(info.diff_mask(xs)):
                assert cr.autograd.gradgradcheck(
                    fn, leaves, eps=info.eps, atol=info.atol, rtol=info.rtol
                )


# --- the checkers themselves ----------------------------------------------------------------


def test_gradcheck_non_contiguous_input() -> None:
    """Finite differences must perturb the input itself, also when it is a strided view."""
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3))).T.detach()
    assert not x.data.flags.c_contiguous
    x.requires_grad_()
    assert cr.autograd.gradcheck(lambda t: (t * t).sum(1), (x,))
    assert cr.autograd.gradgradcheck(lambda t: (t * t).sum(1), (x,))


def test_gradgradcheck_catches_a_wrong_second_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    """A VJP that is right to first order but built from a detached output: gradcheck passes,
    gradgradcheck must not."""
    from chainrule.ops import elementwise as E

    monkeypatch.setattr(
        E.tanh_p, "vjps", (lambda g, out, x: g * (1.0 - out.detach() * out.detach()),)
    )
    x = cr.tensor(np.array([0.3, -1.2]), requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: t.tanh(), (x,))
    assert not cr.autograd.gradgradcheck(lambda t: t.tanh(), (x,), raise_exception=False)


def test_every_primitive_is_reached_by_the_op_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new primitive without a table entry would get none of the checks above: the table's
    forward passes and (recorded) backward passes must run every primitive of every family."""
    from chainrule.ops import _primitive, conv, elementwise, linalg, loss, nn, pool, reduce, shape

    seen: set[str] = set()
    eager = _primitive.eager

    def recording(prim, args, params):  # type: ignore[no-untyped-def]
        seen.add(prim.name)
        return eager(prim, args, params)

    monkeypatch.setattr(_primitive, "eager", recording)
    for info, xs in iter_samples(OPS):
        outs = as_tuple(info.op(*xs))
        if info.grad:
            dx = [x for x, d in zip(xs, info.diff_mask(xs)) if d]
            ones = [cr.ones_like(o) for o in outs]
            cr.autograd.grad(list(outs), dx, ones, create_graph=True, allow_unused=True)
    families = (shape, elementwise, reduce, linalg, nn, conv, pool, loss)
    every = {
        v.name for m in families for v in vars(m).values() if isinstance(v, _primitive.Primitive)
    }
    assert every - seen == set()
