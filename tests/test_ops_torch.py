"""Every op of the table against PyTorch on the same float64 inputs: forward values, backward
with a random cotangent, and double backward (the gradient of <grad, w>, with respect to the
inputs and to the cotangent). Skipped when torch is not installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from opinfo import OPS, OpInfo, as_tuple, iter_samples

import chainrule as cr

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def to_torch(x: cr.Tensor, requires_grad: bool = False) -> Any:
    return torch.from_numpy(x.data.copy()).requires_grad_(requires_grad)


def assert_close(
    ours: Any, theirs: Any, what: str, rtol: float = 1e-7, atol: float = 1e-10
) -> None:
    """Compare a chainrule tensor (or None: a symbolic zero) with a torch tensor (or None)."""
    if ours is None and theirs is None:
        return
    ref = None if theirs is None else theirs.detach().numpy(force=True)  # force: ZeroTensors
    got = None if ours is None else ours.data
    shape = ref.shape if got is None else got.shape
    got = np.zeros(shape) if got is None else got
    ref = np.zeros(shape) if ref is None else ref
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != torch's {ref.shape}"
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != torch's {ref.dtype}"
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("info", OPS, ids=str)
def test_against_torch(info: OpInfo) -> None:
    rng = np.random.default_rng(3)
    for xs in (xs for _, xs in iter_samples([info], seed=7)):
        mask = info.diff_mask(xs)
        ts = [to_torch(x, d) for x, d in zip(xs, mask)]
        outs, touts = as_tuple(info.op(*xs)), as_tuple(info.torch(*ts))
        assert len(outs) == len(touts)
        for k, (o, t) in enumerate(zip(outs, touts)):
            assert_close(o, t, f"{info.name} forward, output {k}")
        if not info.grad:
            continue
        # first order, recorded so that it can be differentiated again
        vs = [rng.standard_normal(o.shape) for o in outs]
        v_cr = [cr.tensor(v, requires_grad=True) for v in vs]
        v_t = [torch.from_numpy(v).requires_grad_() for v in vs]
        dx = [x for x, d in zip(xs, mask) if d]
        dt = [t for t, d in zip(ts, mask) if d]
        gs = cr.autograd.grad(
            list(outs), dx, [v.to(o.dtype) for v, o in zip(v_cr, outs)],
            create_graph=True, allow_unused=True,
        )  # fmt: skip
        tgs = torch.autograd.grad(
            touts, dt, [v.to(t.dtype) for v, t in zip(v_t, touts)],
            create_graph=True, allow_unused=True,
        )  # fmt: skip
        for k, (g, tg) in enumerate(zip(gs, tgs)):
            assert_close(g, tg, f"{info.name} backward, input {k}")
        # second order: d <grad, w> / d (inputs, cotangents)
        ws = [rng.standard_normal(x.shape) for x in dx]
        terms = [(g * cr.tensor(w)).sum() for g, w in zip(gs, ws) if g is not None]
        tterms = [(g * torch.from_numpy(w)).sum() for g, w in zip(tgs, ws) if g is not None]
        s, ts_ = sum(terms[1:], terms[0]), sum(tterms[1:], tterms[0])
        wrt, twrt = dx + v_cr, dt + v_t
        ggs = cr.autograd.grad(s, wrt, allow_unused=True) if s.requires_grad else [None] * len(wrt)
        # torch knows some gradients are constants (x ** 0) and returns them without history
        tggs = (
            torch.autograd.grad(ts_, twrt, allow_unused=True)
            if ts_.requires_grad
            else [None] * len(twrt)
        )
        for k, (g, tg) in enumerate(zip(ggs, tggs)):
            assert_close(g, tg, f"{info.name} double backward, wrt {k}", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("info", OPS, ids=str)
def test_float32_dtypes_against_torch(info: OpInfo) -> None:
    """The same in float32: output and gradient dtypes must be torch's (no silent upcasts
    inside rules), and values close."""
    for xs in (xs for _, xs in iter_samples([info], dtype=np.float32, seed=8)):
        mask = info.diff_mask(xs)
        ts = [to_torch(x, d) for x, d in zip(xs, mask)]
        outs, touts = as_tuple(info.op(*xs)), as_tuple(info.torch(*ts))
        for k, (o, t) in enumerate(zip(outs, touts)):
            assert_close(o, t, f"{info.name} float32 forward {k}", rtol=1e-5, atol=1e-6)
        if not info.grad:
            continue
        dx = [x for x, d in zip(xs, mask) if d]
        dt = [t for t, d in zip(ts, mask) if d]
        vs = [np.full(o.shape, 0.5, dtype=o.dtype) for o in outs]
        gs = cr.autograd.grad(list(outs), dx, [cr.tensor(v) for v in vs], allow_unused=True)
        tgs = torch.autograd.grad(touts, dt, [torch.from_numpy(v) for v in vs], allow_unused=True)
        for k, (g, tg) in enumerate(zip(gs, tgs)):
            assert_close(g, tg, f"{info.name} float32 backward {k}", rtol=1e-4, atol=1e-5)


def test_issue_example_float32() -> None:
    """The example of the issue: w.grad equals torch's in float32."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((64, 10)).astype(np.float32)
    w_np = rng.standard_normal((10, 5)).astype(np.float32)
    y_np = rng.integers(0, 5, 64)

    x, w, y = cr.tensor(x_np), cr.tensor(w_np, requires_grad=True), cr.tensor(y_np)
    loss = (x @ w).log_softmax(dim=1)[cr.arange(64), y].mean().neg()
    loss.backward()

    tx, tw = torch.from_numpy(x_np), torch.from_numpy(w_np).requires_grad_()
    tloss = (tx @ tw).log_softmax(dim=1)[torch.arange(64), torch.from_numpy(y_np)].mean().neg()
    tloss.backward()

    assert loss.dtype == np.float32 and w.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=1e-5, atol=1e-7)


def _nnf(x: Any) -> Any:
    """``torch.nn.functional`` for torch tensors, ``chainrule`` for ours."""
    return torch.nn.functional if isinstance(x, torch.Tensor) else cr


# At kinks and ties the derivative is a convention; chainrule follows PyTorch's.
KINKS: list[tuple[str, Callable[..., Any], list[list[float]]]] = [
    ("relu at 0", lambda x: x.relu(), [[0.0, -1.0, 2.0]]),
    ("abs at 0", lambda x: x.abs(), [[0.0, -1.0, 2.0]]),
    ("leaky_relu at 0", lambda x: _nnf(x).leaky_relu(x, 0.2), [[0.0, -1.0, 2.0]]),
    ("clamp at bounds", lambda x: x.clamp(-1.0, 1.0), [[-1.0, 1.0, 0.0, 3.0]]),
    ("maximum ties", lambda x, y: x.maximum(y), [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    ("minimum ties", lambda x, y: x.minimum(y), [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    ("max ties", lambda x: x.max(), [[3.0, 1.0, 3.0, 3.0]]),
    ("min ties", lambda x: x.min(), [[0.0, 1.0, 0.0]]),
    ("amax ties dim", lambda x: x.reshape(2, 3).amax(1), [[2.0, 2.0, 1.0, 0.0, 5.0, 5.0]]),
    ("amin ties all", lambda x: x.amin(), [[2.0, 2.0, 2.0]]),
    ("pow base 0", lambda x, y: x**y, [[0.0, 0.0, 2.0], [2.0, 3.0, 0.0]]),
    ("pow 0 ** 0", lambda x, y: x**y, [[0.0, 2.0, -1.0], [0.0, 0.0, 0.0]]),
    ("pow x ** 0 at 0", lambda x: x**0, [[0.0, 2.0]]),
    ("pow x ** 1 at 0", lambda x: x**1, [[0.0, 2.0]]),
    ("sqrt at 0", lambda x: x.sqrt(), [[0.0, 4.0]]),
    ("log at 0", lambda x: x.log(), [[0.0, 1.0]]),
    ("softplus past threshold", lambda x: _nnf(x).softplus(x), [[25.0, -30.0, 0.0]]),
]


@pytest.mark.parametrize(("name", "fn", "data"), KINKS, ids=[k[0] for k in KINKS])
def test_conventions_at_kinks(name: str, fn: Callable[..., Any], data: list[list[float]]) -> None:
    xs = [cr.tensor(np.array(d), requires_grad=True) for d in data]
    ts = [torch.tensor(d, dtype=torch.float64, requires_grad=True) for d in data]
    out, tout = fn(*xs), fn(*ts)
    assert_close(out, tout, f"{name} forward")
    v = np.linspace(1.0, 2.0, out.numel()).reshape(out.shape)
    out.backward(cr.tensor(v))
    tout.backward(torch.from_numpy(v))
    for x, t in zip(xs, ts):
        assert_close(x.grad, t.grad, f"{name} grad")


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")  # both warn, as they should
@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.var(),
        lambda t: t.var(correction=2),
        lambda t: t.std(),
        lambda t: t.mean(),
        lambda t: t.reshape(-1, 1).mean(0),
        lambda t: t.sum(),
    ],
)
@pytest.mark.parametrize("data", [[1.0], [1.0, 2.0], []])
def test_degenerate_reductions(fn: Callable[..., Any], data: list[float]) -> None:
    """Too few entries give nan/inf like PyTorch, not an exception."""
    out = fn(cr.tensor(np.array(data)))
    assert_close(out, fn(torch.tensor(data, dtype=torch.float64)), "degenerate reduction")
