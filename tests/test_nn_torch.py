"""chainrule.nn and chainrule.optim against PyTorch on the same inputs: layer outputs and
gradients (weights copied over), losses, optimizer trajectories, schedules, reprs and
state-dict keys. Skipped when torch is not installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule import optim
from chainrule.nn.utils import clip_grad_norm_
from chainrule.optim import lr_scheduler

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional


def copy_weights(ours: nn.Module, theirs: Any) -> None:
    """Give the torch module our parameters (matching state-dict names)."""
    with torch.no_grad():
        ref = theirs.state_dict()
        for name, value in ours.state_dict().items():
            ref[name].copy_(torch.from_numpy(value.data.copy()))


def compare_module(ours: nn.Module, theirs: Any, x: np.ndarray, rtol: float = 1e-10) -> None:
    ours.double()
    theirs.double()
    copy_weights(ours, theirs)
    cx = cr.Tensor(x.copy(), requires_grad=x.dtype.kind == "f")
    tx = torch.from_numpy(x.copy()).requires_grad_(x.dtype.kind == "f")
    out, ref = ours(cx), theirs(tx)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(cr.Tensor(g))
    ref.backward(torch.from_numpy(g))
    if cx.requires_grad:
        np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), rtol=rtol, atol=1e-12)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, their_params[name].grad.numpy(), rtol=rtol, atol=1e-12, err_msg=name
        )


LAYERS: list[tuple[str, Callable[[], nn.Module], Callable[[], Any], tuple[int, ...]]] = [
    ("linear", lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), (4, 5)),
    ("linear_3d", lambda: nn.Linear(5, 3, bias=False), lambda: tnn.Linear(5, 3, False), (2, 4, 5)),
    (
        "conv",
        lambda: nn.Conv2d(3, 4, 3, padding=1),
        lambda: tnn.Conv2d(3, 4, 3, padding=1),
        (2, 3, 7, 6),
    ),
    (
        "conv_stride",
        lambda: nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), bias=False),
        lambda: tnn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), bias=False),
        (2, 3, 8, 7),
    ),
    ("maxpool", lambda: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), (2, 3, 6, 7)),
    (
        "maxpool_overlap",
        lambda: nn.MaxPool2d(3, stride=2, padding=1),
        lambda: tnn.MaxPool2d(3, stride=2, padding=1),
        (2, 3, 7, 6),
    ),
    ("layernorm", lambda: nn.LayerNorm(6), lambda: tnn.LayerNorm(6), (3, 6)),
    ("layernorm_2d", lambda: nn.LayerNorm((2, 3)), lambda: tnn.LayerNorm((2, 3)), (4, 2, 3)),
    (
        "activations",
        lambda: nn.Sequential(nn.GELU(), nn.SiLU(), nn.LeakyReLU(0.2), nn.Tanh(), nn.Sigmoid()),
        lambda: tnn.Sequential(
            tnn.GELU(), tnn.SiLU(), tnn.LeakyReLU(0.2), tnn.Tanh(), tnn.Sigmoid()
        ),
        (3, 7),
    ),
    (
        "cnn",
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 3),
        ),
        lambda: tnn.Sequential(
            tnn.Conv2d(1, 4, 3, padding=1),
            tnn.ReLU(),
            tnn.MaxPool2d(2),
            tnn.Flatten(),
            tnn.Linear(16, 3),
        ),
        (2, 1, 4, 4),
    ),
]


@pytest.mark.parametrize("name, ours, theirs, shape", LAYERS, ids=[row[0] for row in LAYERS])
def test_layer_matches_torch(name, ours, theirs, shape) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    compare_module(ours(), theirs(), x)


def test_embedding_matches_torch() -> None:
    idx = np.array([[1, 3, 0], [3, 3, 2]])
    compare_module(nn.Embedding(4, 3, padding_idx=0), tnn.Embedding(4, 3, padding_idx=0), idx)


def test_repr_and_state_dict_keys_match_torch() -> None:
    ours = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(256, 10), nn.LayerNorm(10), nn.GELU(), nn.Embedding(3, 4),
    )  # fmt: skip
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Dropout(0.5), tnn.Linear(256, 10), tnn.LayerNorm(10), tnn.GELU(), tnn.Embedding(3, 4),
    )  # fmt: skip
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_default_init_bounds_match_torch() -> None:
    # PyTorch's kaiming_uniform(a=sqrt(5)): every entry within 1/sqrt(fan_in), filling it
    cr.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / (16 * 9) ** 0.5
    for p in (conv.weight, conv.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.95 * bound


# --- losses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3)])
def test_cross_entropy_matches_torch(reduction, smoothing, weighted, shape) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape)
    y = rng.integers(0, 4, (shape[0], *shape[2:]))
    y.reshape(-1)[1] = -100  # ignore_index
    w = rng.random(4) + 0.5 if weighted else None
    kwargs = {"reduction": reduction, "label_smoothing": smoothing, "ignore_index": -100}
    cz = cr.Tensor(z, requires_grad=True)
    tz = torch.from_numpy(z).requires_grad_()
    ours = F.cross_entropy(cz, cr.Tensor(y), weight=w, **kwargs)
    ref = TF.cross_entropy(
        tz, torch.from_numpy(y), weight=None if w is None else torch.from_numpy(w), **kwargs
    )
    np.testing.assert_allclose(ours.data, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = rng.standard_normal(ours.shape)
    ours.backward(cr.Tensor(g))
    ref.backward(torch.from_numpy(g))
    np.testing.assert_allclose(cz.grad.data, tz.grad.numpy(), rtol=1e-12, atol=1e-14)
    # second order: the gradient of <grad, v> wrt the logits
    v = rng.standard_normal(shape)
    cz2 = cr.Tensor(z, requires_grad=True)
    (gz,) = cr.autograd.grad(
        F.cross_entropy(cz2, cr.Tensor(y), weight=w, **kwargs).sum(), cz2, create_graph=True
    )
    (gz * cr.Tensor(v)).sum().backward()
    tz2 = torch.from_numpy(z).requires_grad_()
    tw = None if w is None else torch.from_numpy(w)
    (tgz,) = torch.autograd.grad(
        TF.cross_entropy(tz2, torch.from_numpy(y), weight=tw, **kwargs).sum(),
        tz2,
        create_graph=True,
    )
    (tgz * torch.from_numpy(v)).sum().backward()
    np.testing.assert_allclose(cz2.grad.data, tz2.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_probability_targets_and_other_losses_match_torch() -> None:
    rng = np.random.default_rng(0)
    z, p = rng.standard_normal((5, 3)), rng.random((5, 3))
    p /= p.sum(1, keepdims=True)
    t = rng.random((5, 3))
    pairs = [
        (
            F.cross_entropy(cr.Tensor(z), cr.Tensor(p), label_smoothing=0.2),
            TF.cross_entropy(torch.from_numpy(z), torch.from_numpy(p), label_smoothing=0.2),
        ),
        (
            F.nll_loss(cr.Tensor(z), cr.tensor([0, 2, 1, 1, -100]), weight=np.array([1, 2, 3.0])),
            TF.nll_loss(
                torch.from_numpy(z),
                torch.tensor([0, 2, 1, 1, -100]),
                torch.tensor([1, 2, 3.0]).double(),
            ),
        ),
        (
            F.binary_cross_entropy_with_logits(
                cr.Tensor(z * 30), cr.Tensor(t), pos_weight=cr.Tensor(np.array([1.0, 2, 3]))
            ),
            TF.binary_cross_entropy_with_logits(
                torch.from_numpy(z * 30),
                torch.from_numpy(t),
                pos_weight=torch.tensor([1.0, 2, 3]).double(),
            ),
        ),
        (
            F.binary_cross_entropy(cr.Tensor(p), cr.Tensor(t), reduction="sum"),
            TF.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(t), reduction="sum"),
        ),
        (
            F.mse_loss(cr.Tensor(z), cr.Tensor(t)),
            TF.mse_loss(torch.from_numpy(z), torch.from_numpy(t)),
        ),
        (
            F.l1_loss(cr.Tensor(z), cr.Tensor(t)),
            TF.l1_loss(torch.from_numpy(z), torch.from_numpy(t)),
        ),
    ]
    for k, (ours, ref) in enumerate(pairs):
        np.testing.assert_allclose(ours.data, ref.numpy(), rtol=1e-12, err_msg=str(k))


# --- optimizers -----------------------------------------------------------------------------

OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.3, "eps": 1e-4}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[f"{n}-{k}" for n, k in OPTIMIZERS])
def test_optimizer_trajectory_matches_torch(name: str, kwargs: dict, dtype: str) -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype(dtype)
    b0 = rng.standard_normal(4).astype(dtype)
    x = rng.standard_normal((8, 3)).astype(dtype)

    def loss_fn(w, b, lib):
        h = lib.tanh(x_of(lib) @ w + b)
        return (h * h).sum()

    def x_of(lib):
        return cr.Tensor(x) if lib is cr else torch.from_numpy(x)

    cw, cb = cr.Tensor(w0.copy(), requires_grad=True), cr.Tensor(b0.copy(), requires_grad=True)
    tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (w0, b0))
    ours = getattr(optim, name)([cw, cb], **kwargs)
    theirs = getattr(torch.optim, name)([tw, tb], foreach=False, **kwargs)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-5, "atol": 1e-6}
    for step in range(5):
        ours.zero_grad()
        loss_fn(cw, cb, cr).backward()
        ours.step()
        theirs.zero_grad()
        loss_fn(tw, tb, torch).backward()
        theirs.step()
        np.testing.assert_allclose(cw.data, tw.detach().numpy(), err_msg=f"step {step}", **tol)
        np.testing.assert_allclose(cb.data, tb.detach().numpy(), err_msg=f"step {step}", **tol)


SCHEDULERS = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 5}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.5, "end_factor": 0.1, "total_iters": 6}),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{k}" for n, k in SCHEDULERS])
def test_scheduler_sequence_matches_torch(name: str, kwargs: dict) -> None:
    ours_opt = optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.3)
    their_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    ours = getattr(lr_scheduler, name)(ours_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(their_opt, **kwargs)
    for epoch in range(20):  # past T_max too: the cosine rises again, as PyTorch's
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), epoch
        ours_opt.step()
        their_opt.step()
        ours.step()
        theirs.step()


def test_clip_grad_norm_matches_torch() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in ((3, 4), (5,))]
    for norm_type in (2.0, 1.0, float("inf")):
        ours = [cr.zeros(*g.shape, dtype=cr.float64, requires_grad=True) for g in grads]
        theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for o, t, g in zip(ours, theirs, grads):
            o.grad, t.grad = cr.Tensor(g.copy()), torch.from_numpy(g.copy())
        total = clip_grad_norm_(ours, 0.5, norm_type)
        ref = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
        assert total.item() == pytest.approx(ref.item(), rel=1e-12)
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.grad.data, t.grad.numpy(), rtol=1e-12)
