"""chainrule.optim: update formulas written out by hand, state dicts, schedulers' recursive
forms against their closed forms, gradient clipping. (Trajectories against PyTorch itself
are in test_nn_torch.py.)"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_
from chainrule.optim import lr_scheduler


def quadratic_steps(opt_cls, steps: int = 3, **kwargs) -> tuple[np.ndarray, list]:
    """Minimise sum(w**2 * c) and return the final w (float64) and the gradients seen."""
    w = cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    c = cr.tensor(np.array([1.0, 3.0, -2.0]))
    opt = opt_cls([w], **kwargs)
    grads = []
    for _ in range(steps):
        opt.zero_grad()
        (w * w * c).sum().backward()
        grads.append(w.grad.data.copy())
        opt.step()
    return w.data, grads


def test_sgd_momentum_nesterov_weight_decay_by_hand() -> None:
    lr, mu, wd, damp = 0.1, 0.9, 0.01, 0.0
    w = np.array([1.0, -2.0, 0.5])
    c = np.array([1.0, 3.0, -2.0])
    buf = None
    for _ in range(3):
        g = 2 * w * c + wd * w
        buf = g.copy() if buf is None else mu * buf + (1 - damp) * g
        w = w - lr * (g + mu * buf)
    ours, _ = quadratic_steps(optim.SGD, lr=lr, momentum=mu, weight_decay=wd, nesterov=True)
    np.testing.assert_allclose(ours, w, rtol=1e-14)


def test_adam_and_amsgrad_by_hand() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    for amsgrad in (False, True):
        w = np.array([1.0, -2.0, 0.5])
        c = np.array([1.0, 3.0, -2.0])
        m = v = vmax = np.zeros(3)
        for t in range(1, 4):
            g = 2 * w * c
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vmax = np.maximum(vmax, v)
            denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2**t) + eps
            w = w - lr / (1 - b1**t) * m / denom
        ours, _ = quadratic_steps(optim.Adam, lr=lr, amsgrad=amsgrad)
        np.testing.assert_allclose(ours, w, rtol=1e-12)


def test_adamw_decouples_weight_decay() -> None:
    # with a zero gradient, AdamW only shrinks the weights by (1 - lr * wd)
    w = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = cr.zeros_like(w)
    opt.step()
    np.testing.assert_allclose(w.data, [0.95, -1.9])
    # Adam's L2 penalty instead goes through the adaptive denominator
    w2 = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt2 = optim.Adam([w2], lr=0.1, weight_decay=0.5)
    w2.grad = cr.zeros_like(w2)
    opt2.step()
    np.testing.assert_allclose(w2.data, [0.9, -1.9], rtol=1e-6)


def test_rmsprop_centered_momentum_by_hand() -> None:
    lr, alpha, eps, mu = 0.01, 0.9, 1e-8, 0.5
    w = np.array([1.0, -2.0, 0.5])
    c = np.array([1.0, 3.0, -2.0])
    sq, ga, buf = np.zeros(3), np.zeros(3), np.zeros(3)
    for _ in range(3):
        g = 2 * w * c
        sq = alpha * sq + (1 - alpha) * g * g
        ga = ga + (1 - alpha) * (g - ga)
        avg = np.sqrt(sq - ga * ga) + eps
        buf = mu * buf + g / avg
        w = w - lr * buf
    ours, _ = quadratic_steps(optim.RMSprop, lr=lr, alpha=alpha, momentum=mu, centered=True)
    np.testing.assert_allclose(ours, w, rtol=1e-12)


def test_maximize_ascends() -> None:
    up, _ = quadratic_steps(optim.SGD, steps=1, lr=0.1, maximize=True)
    np.testing.assert_allclose(up, [1.2, -3.2, 0.3])


def test_param_groups_and_validation() -> None:
    a, b = cr.zeros(2, requires_grad=True), cr.zeros(3, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    assert "Parameter Group 1" in repr(opt)


def test_step_bumps_versions_so_stale_graphs_refuse_backward() -> None:
    w = cr.ones(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    w.grad = cr.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_optimizer_state_dict_round_trip() -> None:
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = cr.randn(8, 3), cr.randn(8, 2)

    def run(opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()

    opt = optim.Adam(model.parameters(), lr=0.05, amsgrad=True)
    run(opt, 3)
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_opt = copy.deepcopy(opt.state_dict())  # like PyTorch's, it holds references
    assert saved_opt["param_groups"][0]["params"] == [0, 1]
    assert saved_opt["state"][0]["step"] == 3
    run(opt, 2)
    expected = model.weight.data.copy()

    model.load_state_dict(saved_model)
    fresh = optim.Adam(model.parameters(), lr=0.05, amsgrad=True)
    fresh.load_state_dict(saved_opt)
    run(fresh, 2)
    np.testing.assert_array_equal(model.weight.data, expected)


@pytest.mark.parametrize(
    "make, closed",
    [
        (lambda o: lr_scheduler.StepLR(o, 3, 0.5), lambda t: 0.5 ** (t // 3)),
        (
            lambda o: lr_scheduler.CosineAnnealingLR(o, 10, 0.1),
            lambda t: 0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2,
        ),
        (
            lambda o: lr_scheduler.LinearLR(o, 0.25, 1.0, 4),
            lambda t: 0.25 + 0.75 * min(t, 4) / 4,
        ),
    ],
)
def test_schedulers_follow_their_closed_forms(make, closed) -> None:
    opt = optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    sched = make(opt)
    for t in range(12):
        assert sched.get_last_lr()[0] == pytest.approx(closed(t), rel=1e-12)
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
        opt.step()
        sched.step()


def test_clip_grad_norm_and_value() -> None:
    a, b = cr.zeros(2, requires_grad=True), cr.zeros(1, requires_grad=True)
    a.grad, b.grad = cr.tensor([3.0, 0.0]), cr.tensor([4.0])
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    assert (a.grad.data**2).sum() + (b.grad.data**2).sum() == pytest.approx(1.0, rel=1e-5)
    assert clip_grad_norm_([a, b], max_norm=10.0).item() == pytest.approx(1.0, rel=1e-5)
    a.grad = cr.tensor([3.0, -7.0])
    assert clip_grad_norm_([a], 100.0, norm_type=math.inf).item() == 7.0
    clip_grad_value_([a], 2.0)
    assert a.grad.tolist() == [2.0, -2.0]
    a.grad = cr.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
