"""Property tests: hypothesis draws broadcastable shapes for every broadcasting op of the table
and random dims/keepdim for the reductions. Forward shapes must equal NumPy's, gradient shapes
the inputs' shapes, and gradient values (for a random cotangent) central differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from opinfo import BROADCASTING, REDUCTIONS, OpInfo, make_inputs

import chainrule as cr

SETTINGS = settings(max_examples=20, deadline=None)


def numerical_grad(
    fn: Callable[..., Any], xs: Sequence[cr.Tensor], k: int, v: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """d <v, fn(xs)> / d xs[k] by central differences, entry by entry."""
    base = xs[k].data
    out = np.zeros(base.shape)
    for idx in np.ndindex(base.shape):
        vals = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[idx] += sign * eps
            args = [cr.tensor(shifted) if i == k else x.detach() for i, x in enumerate(xs)]
            with cr.no_grad():
                vals.append(float(np.sum(v * fn(*args).data)))
        out[idx] = (vals[0] - vals[1]) / (2 * eps)
    return out


def check_backward(fn: Callable[..., Any], xs: list[cr.Tensor], seed: int) -> cr.Tensor:
    rng = np.random.default_rng(seed)
    out = fn(*xs)
    v = rng.standard_normal(out.shape)
    out.backward(gradient=cr.tensor(v))
    for k, x in enumerate(xs):
        if not x.requires_grad:
            assert x.grad is None
            continue
        assert x.grad is not None and x.grad.shape == x.shape, (x.grad, x.shape)
        assert x.grad.dtype == x.dtype
        np.testing.assert_allclose(x.grad.data, numerical_grad(fn, xs, k, v), rtol=1e-5, atol=1e-7)
    return out


@pytest.mark.parametrize("info", BROADCASTING, ids=str)
@SETTINGS
@given(data=st.data())
def test_broadcasting_binary_ops(info: OpInfo, data: st.DataObject) -> None:
    n_inputs = len(info.samples[0])
    shapes = data.draw(
        mutually_broadcastable_shapes(num_shapes=n_inputs, min_dims=0, max_dims=3, max_side=3),
        label="shapes",
    )
    seed = data.draw(st.integers(0, 2**16), label="seed")
    xs = make_inputs(info, shapes.input_shapes, np.random.default_rng(seed))
    out = check_backward(info.op, xs, seed)
    assert out.shape == shapes.result_shape == np.broadcast_shapes(*shapes.input_shapes)
    ref = info.ref(*[x.data for x in xs])
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-12)


@st.composite
def shape_and_dim(draw: st.DrawFn) -> tuple[tuple[int, ...], Any]:
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3), label="shape")
    nd = len(shape)
    if nd == 0:
        dim = draw(st.sampled_from([None, 0, -1]))
    else:
        axis = st.integers(-nd, nd - 1)
        dim = draw(
            st.one_of(
                st.none(),
                axis,
                st.lists(axis, min_size=1, max_size=nd, unique_by=lambda d: d % nd).map(tuple),
            ),
            label="dim",
        )
    return shape, dim


@pytest.mark.parametrize("name", list(REDUCTIONS))
@SETTINGS
@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_reductions(name: str, sd: tuple[tuple[int, ...], Any], keepdim: bool, seed: int) -> None:
    fn, ref, domain = REDUCTIONS[name]
    shape, dim = sd
    rng = np.random.default_rng(seed)
    x = cr.tensor(domain(rng, shape).astype(np.float64), requires_grad=True)
    out = check_backward(lambda t: fn(t, dim, keepdim), [x], seed)
    np_dim = None if (dim is None or len(shape) == 0) else dim
    expected = np.asarray(ref(x.data, np_dim, keepdim))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
