"""``cr.func.make_program`` and ``cr.compile`` against eager: every op-table entry (its
function, its VJP and its JVP, each compiled, traced on the first call and replayed on the
second), training steps step for step, retracing, the control-flow error, printing."""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import GRAD_OPS, OPS, OpInfo, as_tuple, iter_samples

import chainrule as cr
from chainrule import func


def sample_pairs(info: OpInfo):
    """Two draws of every sample: the program is traced on the first and replayed on the
    second, so a value frozen into the program at trace time would show."""
    for (_, xs), (_, ys) in zip(iter_samples([info]), iter_samples([info], seed=1)):
        yield [x.detach() for x in xs], [y.detach() for y in ys]


def diff_pairs(info: OpInfo):
    """``(fn, primals, other_primals)``; the non-differentiable inputs are those of the first
    draw in both (fn closes over them)."""
    for xs, ys in sample_pairs(info):
        fn, primals = info.diff_fn(xs)
        mask = info.diff_mask(xs)
        yield fn, primals, [y for y, d in zip(ys, mask) if d]


def same(actual, expected, info):
    for a, e in zip(as_tuple(actual), as_tuple(expected)):
        if isinstance(e, (tuple, list)):
            same(a, e, info)
            continue
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a.data, e.data, rtol=1e-12, atol=1e-12)


def check_compiled(fn, args, other, info):
    compiled = cr.compile(fn)
    same(compiled(*args), fn(*args), info)  # the trace (an eager run on tracers)
    same(compiled(*other), fn(*other), info)  # the replay, on other values
    assert compiled.traces == 1


@pytest.mark.parametrize("info", OPS, ids=str)
def test_compiled_op_matches_eager(info: OpInfo) -> None:
    for xs, ys in sample_pairs(info):
        with cr.no_grad():
            check_compiled(info.op, xs, ys, info)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_compiled_vjp_matches_eager(info: OpInfo) -> None:
    for fn, primals, other in diff_pairs(info):
        outs = as_tuple(fn(*primals))
        rng = np.random.default_rng(3)
        cts = tuple(cr.tensor(rng.standard_normal(o.shape)) for o in outs)

        def pullback(*ps, fn=fn, cts=cts):
            _, vjp_fn = func.vjp(fn, *ps)
            return vjp_fn(cts if len(cts) > 1 else cts[0])

        check_compiled(pullback, primals, other, info)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_compiled_jvp_matches_eager(info: OpInfo) -> None:
    for fn, primals, other in diff_pairs(info):
        rng = np.random.default_rng(4)
        us = tuple(cr.tensor(rng.standard_normal(p.shape)) for p in primals)

        def push(*ps, fn=fn, us=us):
            return func.jvp(fn, ps, us)

        check_compiled(push, primals, other, info)
