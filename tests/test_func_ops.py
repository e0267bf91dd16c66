"""Forward mode and the transforms over the whole op table (``opinfo.py``), float64:

- every primitive's JVP against central differences (first order);
- second order in forward mode (jvp of jvp) and forward-over-reverse (jvp of vjp), each
  against central differences of the first-order transform;
- jacfwd == jacrev, which runs every primitive through the batching rules (stacked tangents
  and stacked cotangents) and checks them against each other.
"""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import GRAD_OPS, OpInfo, as_tuple, iter_samples, numerical_jvp

import chainrule as cr
from chainrule import func


def detached_samples(info: OpInfo):
    for _, xs in iter_samples([info]):
        fn, primals = info.diff_fn([x.detach() for x in xs])
        yield fn, [p.detach() for p in primals]


def directions(primals, seed):
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.standard_normal(p.shape)) for p in primals]


def close(actual, expected, info, scale=1.0):
    np.testing.assert_allclose(
        np.asarray(actual.data, dtype=np.float64),
        expected,
        rtol=info.rtol,
        atol=info.atol * scale,
    )


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_jvp_matches_finite_differences(info: OpInfo) -> None:
    for fn, primals in detached_samples(info):
        us = directions(primals, 0)
        out, t_out = func.jvp(fn, tuple(primals), tuple(us))
        expected = numerical_jvp(fn, primals, [u.data for u in us], eps=info.eps)
        for o, t, e in zip(as_tuple(out), as_tuple(t_out), expected):
            assert t.shape == o.shape and t.dtype == o.dtype
            close(t, e, info)
        with cr.no_grad():
            for o, ref in zip(as_tuple(out), as_tuple(fn(*primals))):
                np.testing.assert_allclose(o.data, ref.data)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_second_order_forward_over_forward(info: OpInfo) -> None:
    for fn, primals in detached_samples(info):
        us, ws = directions(primals, 1), directions(primals, 2)

        def tangent_of(*ps, fn=fn, us=us):
            return func.jvp(fn, ps, tuple(us))[1]

        _, tt = func.jvp(tangent_of, tuple(primals), tuple(ws))
        expected = numerical_jvp(tangent_of, primals, [w.data for w in ws], eps=info.eps)
        for t, e in zip(as_tuple(tt), expected):
            close(t, e, info, scale=10)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_second_order_forward_over_reverse(info: OpInfo) -> None:
    for fn, primals in detached_samples(info):
        outs = as_tuple(fn(*primals))
        rng = np.random.default_rng(3)
        vs = tuple(cr.tensor(rng.standard_normal(o.shape)) for o in outs)
        us = directions(primals, 4)

        def pullback(*ps, fn=fn, vs=vs):
            _, vjp_fn = func.vjp(fn, *ps)
            return vjp_fn(vs if len(vs) > 1 else vs[0])

        _, dg = func.jvp(pullback, tuple(primals), tuple(us))
        expected = numerical_jvp(pullback, primals, [u.data for u in us], eps=info.eps)
        for t, e in zip(as_tuple(dg), expected):
            close(t, e, info, scale=10)


@pytest.fixture
def no_batch_loop(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail on the per-example Python loop of batching: every primitive that a stacked
    tangent or cotangent reaches must have a batching rule (``prim.batch``)."""
    from chainrule.func import batching
    from chainrule.ops import shape

    looped: list[str] = []

    def refuse(level, prim, values, batched, params):
        looped.append(prim.name)
        raise AssertionError(f"batching fell back to the loop for {prim.name}")

    monkeypatch.setattr(batching, "loop_batch", refuse)
    monkeypatch.setattr(shape, "loop_batch", refuse)
    return looped


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_jacfwd_equals_jacrev(info: OpInfo, no_batch_loop: list[str]) -> None:
    for fn, primals in detached_samples(info):
        if len(as_tuple(fn(*primals))) != 1:
            continue  # Jacobians of single-tensor outputs only
        nums = tuple(range(len(primals)))
        fwd = func.jacfwd(fn, argnums=nums)(*primals)
        rev = func.jacrev(fn, argnums=nums)(*primals)
        for a, b, p in zip(fwd, rev, primals):
            out_shape = fn(*primals).shape
            assert a.shape == out_shape + p.shape == b.shape
            np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)


def test_every_linear_primitive_has_a_batching_rule() -> None:
    """Linear primitives are what stacked tangents and cotangents flow through."""
    import chainrule.ops.api  # noqa: F401  (every family loaded)
    from chainrule.ops import conv, elementwise, linalg, loss, nn, pool, reduce, shape
    from chainrule.ops._primitive import Primitive

    prims = [
        v
        for m in (shape, elementwise, reduce, linalg, nn, conv, pool, loss)
        for v in vars(m).values()
        if isinstance(v, Primitive)
    ]
    assert len(prims) > 40
    missing = [p.name for p in prims if p.linear and p.batch is None]
    assert not missing, missing
