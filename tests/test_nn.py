"""chainrule.nn: layers and functional ops against float64 finite differences (first and
second order), Module registration and state dicts, checkpointing, gradient accumulation,
initialisation statistics, error messages, and a short training smoke test."""

from __future__ import annotations

import copy
import re
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
import chainrule.utils
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.nn import init
from chainrule.utils import checkpoint, checkpoint_sequential

conv_ops = sys.modules["chainrule.ops.conv"]


def T(rng: np.random.Generator, *shape: int, grad: bool = True) -> cr.Tensor:
    return cr.Tensor(rng.standard_normal(shape), requires_grad=grad)


# --- primitives: gradcheck in float64, first and second order -------------------------------


@pytest.mark.parametrize(
    "stride, padding",
    [(1, 0), (1, 1), (2, 1), (2, 0), ((2, 1), (0, 1))],
)
def test_conv2d_gradcheck(rng: np.random.Generator, stride, padding) -> None:
    x, w, b = T(rng, 2, 3, 5, 6), T(rng, 4, 3, 3, 2), T(rng, 4)

    def f(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding)

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_conv2d_matches_direct_sum(rng: np.random.Generator) -> None:
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    out = F.conv2d(cr.Tensor(x), cr.Tensor(w), stride=2, padding=1).data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((2, 4, 3, 3))
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            ref[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_primitives_gradcheck(rng: np.random.Generator) -> None:
    # the two VJP primitives are differentiable in both arguments, to second order
    g, w, x = T(rng, 2, 4, 3, 3), T(rng, 4, 3, 3, 3), T(rng, 2, 3, 6, 5)

    def input_grad(g, w):
        return conv_ops.conv2d_input_grad(g, w, (2, 3, 6, 5), (2, 2), (1, 1))

    def weight_grad(x, g):
        return conv_ops.conv2d_weight_grad(x, g, (4, 3, 3, 3), (2, 2), (1, 1))

    for fn, args in ((input_grad, (g, w)), (weight_grad, (x, g))):
        assert gradcheck(fn, args)
        assert gradgradcheck(fn, args)


@pytest.mark.parametrize(
    "kernel, stride, padding", [(2, None, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 0))]
)
def test_max_pool2d_gradcheck(rng: np.random.Generator, kernel, stride, padding) -> None:
    x = T(rng, 2, 3, 6, 7)

    def f(x):
        return F.max_pool2d(x, kernel, stride, padding)

    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_max_pool2d_ties_go_to_the_first_max() -> None:
    x = cr.tensor([[[[1.0, 1.0], [1.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]
    # overlapping windows send their gradients to a shared maximum, adding up
    y = cr.tensor([[[[0.0, 5.0, 0.0]]]], requires_grad=True)
    F.max_pool2d(y, (1, 2), stride=1).sum().backward()
    assert y.grad.tolist() == [[[[0.0, 2.0, 0.0]]]]


def test_max_pool2d_propagates_nan() -> None:
    x = cr.tensor([[[[1.0, float("nan")], [3.0, 2.0]]]])
    assert np.isnan(F.max_pool2d(x, 2).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradcheck(rng, reduction, smoothing, weighted) -> None:
    z = T(rng, 5, 4)
    y = cr.tensor([0, 3, 1, -100, 2])
    w = cr.tensor([1.0, 2.0, 0.5, 3.0]) if weighted else None

    def f(z):
        return F.cross_entropy(z, y, w, reduction=reduction, label_smoothing=smoothing)

    assert gradcheck(f, (z,))
    assert gradgradcheck(f, (z,))


def test_cross_entropy_backward_is_softmax_minus_one_hot(rng: np.random.Generator) -> None:
    z = T(rng, 6, 5)
    y = np.array([0, 4, 2, 2, 1, 3])
    F.cross_entropy(z, cr.tensor(y)).backward()
    p = np.exp(z.data - z.data.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad.data, (p - np.eye(5)[y]) / 6, atol=1e-15)


def test_cross_entropy_is_stable_at_large_logits() -> None:
    z = cr.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(z, cr.tensor([1]))
    loss.backward()
    assert loss.item() == pytest.approx(2000.0)
    assert np.isfinite(z.grad.data).all()


def test_cross_entropy_shapes_and_probability_targets(rng: np.random.Generator) -> None:
    z = rng.standard_normal((2, 4, 3))
    y = rng.integers(0, 4, (2, 3))
    per = F.cross_entropy(cr.Tensor(z), cr.Tensor(y), reduction="none")
    assert per.shape == (2, 3)
    rows = F.cross_entropy(cr.Tensor(z.transpose(0, 2, 1).reshape(6, 4)), cr.Tensor(y.ravel()))
    assert F.cross_entropy(cr.Tensor(z), cr.Tensor(y)).item() == pytest.approx(rows.item())
    # one-hot probabilities give the same loss as the class indices
    onehot = np.eye(4)[y].transpose(0, 2, 1)
    assert F.cross_entropy(cr.Tensor(z), cr.Tensor(onehot)).item() == pytest.approx(rows.item())
    # a single unbatched row
    assert F.cross_entropy(cr.Tensor(z[0, :, 0]), cr.tensor(1)).shape == ()


def test_cross_entropy_errors() -> None:
    z = cr.zeros(4, 10)
    with pytest.raises(ValueError, match=r"input of shape \(4, 10\).*targets of shape \(4,\)"):
        F.cross_entropy(z, cr.tensor([[1, 2, 3, 4]]))
    with pytest.raises(TypeError, match=r"class indices \(int64\).*got a bool"):
        F.cross_entropy(z, cr.tensor([True, False, True, True]))
    with pytest.raises(ValueError, match="probability targets must have the input's shape"):
        F.cross_entropy(z, cr.zeros(4, 9))
    with pytest.raises(IndexError, match="target 10 is out of bounds for 10 classes"):
        F.cross_entropy(z, cr.tensor([0, 10, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(z, cr.tensor([0, 1, 1, 2]), reduction="avg")


def test_losses_gradcheck(rng: np.random.Generator) -> None:
    x, t = T(rng, 3, 4), cr.Tensor(rng.random((3, 4)))
    y = cr.tensor([0, 2, 3])
    assert gradcheck(lambda x: F.mse_loss(x, t), (x,))
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, t), (x,))
    assert gradcheck(
        lambda x: F.binary_cross_entropy_with_logits(x, t, pos_weight=cr.tensor(2.0)), (x,)
    )
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), y), (x,))
    assert gradgradcheck(lambda x: F.binary_cross_entropy_with_logits(x, t), (x,))


def test_bce_with_logits_is_stable() -> None:
    x = cr.tensor([1000.0, -1000.0, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, cr.tensor([0.0, 1.0, 1.0]), reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(2000.0 + np.log(2.0))
    np.testing.assert_allclose(x.grad.data, [1.0, -1.0, -0.5])


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Linear(4, 3),
        lambda: nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 3), nn.SiLU()),
        lambda: nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(0.1), nn.Tanh(), nn.Sigmoid()),
        lambda: nn.LayerNorm(4),
        lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm((6,)), nn.ReLU()),
    ],
)
def test_layers_gradcheck(rng: np.random.Generator, make) -> None:
    cr.manual_seed(0)
    layer = make().double()
    x = T(rng, 2, 4)
    params = list(layer.parameters())

    def f(x, *ps):
        return layer(x)

    assert gradcheck(f, (x, *params))


def test_conv_net_gradcheck(rng: np.random.Generator) -> None:
    cr.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2)
    ).double()
    x = T(rng, 2, 2, 4, 4)
    assert gradcheck(lambda x, *ps: net(x), (x, *net.parameters()))


def test_embedding_gradients_accumulate_and_skip_padding() -> None:
    emb = nn.Embedding(5, 2, padding_idx=0)
    assert emb.weight.data[0].tolist() == [0.0, 0.0]
    emb(cr.tensor([[1, 1, 0], [3, 1, 0]])).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.data[:, 0], [0.0, 3.0, 0.0, 1.0, 0.0])


def test_dropout_train_eval_and_scaling() -> None:
    cr.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = cr.ones(1000, 10, requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y.data[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, kept / 0.75, rtol=1e-6)
    assert drop.eval()(x) is x


def test_jvp_of_conv_and_pool_matches_finite_differences(rng: np.random.Generator) -> None:
    func = pytest.importorskip("chainrule.func")
    x, t = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((1, 2, 5, 5))
    w = cr.Tensor(rng.standard_normal((3, 2, 3, 3)))

    def f(x):
        return F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum()

    _, tangent = func.jvp(f, (cr.Tensor(x),), (cr.Tensor(t),))
    eps = 1e-6
    fd = (f(cr.Tensor(x + eps * t)).item() - f(cr.Tensor(x - eps * t)).item()) / (2 * eps)
    assert tangent.item() == pytest.approx(fd, rel=1e-6)


# --- Module ---------------------------------------------------------------------------------


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.head = nn.Linear(4, 2, bias=False)
        self.scale = nn.Parameter(cr.ones(1))
        self.register_buffer("steps", cr.zeros(1))
        self.register_buffer("cache", cr.zeros(2), persistent=False)

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def test_module_registration_and_traversal() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight"]
    assert [n for n, _ in net.named_children()] == ["body", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert list(net.state_dict()) == [
        "scale",
        "steps",
        "body.0.weight",
        "body.0.bias",
        "head.weight",
    ]
    assert net.head.bias is None
    # a shared (tied) parameter is listed once
    tied = nn.Sequential(net.body[0], net.body[0])
    assert len(list(tied.parameters())) == 2
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        net.scale = cr.ones(1)
    net.scale = None  # allowed, as PyTorch
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'missing'"):
        _ = net.missing


def test_module_repr_like_pytorch() -> None:
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.Dropout(0.1), nn.Flatten())
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): Dropout(p=0.1, inplace=False)\n"
        "  (2): Flatten(start_dim=1, end_dim=-1)\n"
        ")"
    )
    assert repr(nn.LayerNorm(8)) == (
        "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"
    )


def test_train_eval_zero_grad() -> None:
    net = Net()
    assert net.training and net.body[1].training
    net.eval()
    assert not net.training and not net.body[1].training
    net(cr.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(abs(p.grad).sum()) == 0.0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_sequential_indexing_and_iteration() -> None:
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert len(seq[1:]) == 2 and seq[1:][0] is seq[1]
    with pytest.raises(IndexError):
        seq[3]


def test_state_dict_round_trip_and_errors() -> None:
    cr.manual_seed(0)
    a, b = Net(), Net()
    x = cr.randn(5, 3)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    # the state dict shares memory but has no history
    sd = a.state_dict()
    assert sd["head.weight"].data is a.head.weight.data and not sd["head.weight"].requires_grad

    bad = dict(a.state_dict())
    del bad["head.weight"]
    bad["extra.weight"] = cr.zeros(1)
    bad["body.0.weight"] = cr.zeros(5, 3)
    message = re.escape(
        "Error(s) in loading state_dict for Net:\n\tUnexpected key(s) in state_dict: "
        '"extra.weight". \n\tMissing key(s) in state_dict: "head.weight". \n\tsize mismatch '
        "for body.0.weight: copying a param with shape (5, 3) from checkpoint, the shape in "
        "current model is (4, 3)."
    )
    with pytest.raises(RuntimeError, match=message):
        b.load_state_dict(bad)
    del bad["body.0.weight"]
    missing, unexpected = b.load_state_dict(bad, strict=False)
    assert missing == ["body.0.weight", "head.weight"] and unexpected == ["extra.weight"]


def test_parameter_is_a_leaf_tensor() -> None:
    p = nn.Parameter(cr.zeros(3))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    assert type(p * 2) is cr.Tensor
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data is not p.data


def test_init_statistics() -> None:
    cr.manual_seed(0)
    w = cr.zeros(400, 300)
    init.kaiming_uniform_(w, a=5**0.5)  # PyTorch's Linear default: U(-1/sqrt(fan_in), ...)
    assert abs(w).max().item() <= 1 / 300**0.5
    assert w.std().item() == pytest.approx(1 / 300**0.5 / 3**0.5, rel=0.02)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.std().item() == pytest.approx((2 / 300) ** 0.5, rel=0.02)
    init.xavier_uniform_(w)
    assert w.std().item() == pytest.approx((2 / 700) ** 0.5, rel=0.02)
    init.xavier_normal_(w, gain=2.0)
    assert w.std().item() == pytest.approx(2 * (2 / 700) ** 0.5, rel=0.02)
    init.constant_(w, 0.5)
    assert w.data.min() == w.data.max() == 0.5
    # under recording, filling a parameter in place is allowed (init works under no_grad)
    layer = nn.Linear(3, 3)
    version = layer.weight._version
    init.zeros_(layer.weight)
    assert layer.weight._version == version + 1 and float(abs(layer.weight).sum()) == 0


def test_conv_and_pool_errors() -> None:
    w = cr.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\).*got shape \(5,\)"):
        F.conv2d(cr.zeros(5), w)
    with pytest.raises(
        ValueError,
        match=r"input of shape \(2, 1, 8, 8\) has 1 channels, but the weight of "
        r"shape \(4, 3, 3, 3\) expects 3 input channels",
    ):
        F.conv2d(cr.zeros(2, 1, 8, 8), w)
    with pytest.raises(ValueError, match="kernel size"):
        F.conv2d(cr.zeros(1, 3, 2, 2), w)
    with pytest.raises(ValueError, match="max_pool2d: expected a 4-D input"):
        F.max_pool2d(cr.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="linear: input of shape \\(2, 5\\) has 5 features"):
        nn.Linear(4, 3)(cr.zeros(2, 5))
    # unbatched (C, H, W) input works as in PyTorch
    assert F.conv2d(cr.zeros(3, 5, 5), w, padding="same").shape == (4, 5, 5)


# --- checkpointing and gradient accumulation ------------------------------------------------


def _grads(module: nn.Module, *extra: cr.Tensor) -> list[np.ndarray]:
    return [p.grad.data.copy() for p in (*module.parameters(), *extra)]


def test_checkpoint_gives_the_same_gradients() -> None:
    cr.manual_seed(0)
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Dropout(0.3), nn.Linear(6, 6))
    head = nn.Linear(6, 1)
    x0 = cr.randn(4, 6)
    results = []
    for use in (False, True):
        block.zero_grad()
        head.zero_grad()
        x = x0.clone().requires_grad_()
        cr.manual_seed(1)  # the same dropout mask both times (and again in the recompute)
        h = checkpoint(block, x) if use else block(x)
        (head(h) ** 2).sum().backward()
        results.append(_grads(block, x) + _grads(head))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_checkpoint_routes_closure_parameters() -> None:
    # fn closes over a module and a raw leaf; the input does not require grad at all
    cr.manual_seed(0)
    layer = nn.Linear(5, 5)
    w = cr.randn(5, 2, requires_grad=True)
    x = cr.randn(3, 5)

    def fn(x):
        return layer(x).relu() @ w

    results = []
    for use in (False, True):
        layer.zero_grad()
        w.grad = None
        out = checkpoint(fn, x) if use else fn(x)
        out.sum().backward()
        results.append(_grads(layer, w))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_checkpoint_module_params_work_with_autograd_grad() -> None:
    cr.manual_seed(0)
    block = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    x = cr.randn(2, 3, requires_grad=True)
    params = list(block.parameters())
    ours = cr.autograd.grad(checkpoint(block, x).sum(), [x, *params])
    ref = cr.autograd.grad(block(x).sum(), [x, *params])
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    assert all(p.grad is None for p in params)  # grad() touches no .grad


def test_checkpoint_sequential_and_double_backward_error() -> None:
    cr.manual_seed(0)
    net = nn.Sequential(*[nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(6)])
    x = cr.randn(2, 4, requires_grad=True)
    checkpoint_sequential(net, 3, x).sum().backward()
    ckpt = _grads(net, x)
    net.zero_grad()
    x.grad = None
    net(x).sum().backward()
    for a, b in zip(ckpt, _grads(net, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    y = checkpoint(net, x).sum()
    with pytest.raises(RuntimeError, match="double backward"):
        cr.autograd.grad(y, x, create_graph=True)


def test_gradient_accumulation_equals_one_big_batch() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    X, y = cr.randn(64, 8), cr.randint(0, 3, (64,))
    F.cross_entropy(model(X), y).backward()
    full = _grads(model)
    model.zero_grad()
    for k in range(4):  # 4 micro-batches of 16, each loss scaled by 1/4
        part = slice(16 * k, 16 * (k + 1))
        (F.cross_entropy(model(X[part]), y[part]) / 4).backward()
    for a, b in zip(full, _grads(model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# --- training smoke test --------------------------------------------------------------------


def test_digits_training_smoke() -> None:
    pytest.importorskip("sklearn")
    from chainrule.train import train_digits_cnn, train_digits_mlp

    mlp = train_digits_mlp(epochs=4, progress=False)
    assert mlp["test_accuracy"] > 0.94  # 96.9% on the reference machine
    assert mlp["epoch_losses"][-1] < mlp["epoch_losses"][0]
    cnn = train_digits_cnn(epochs=3, progress=False)
    assert cnn["test_accuracy"] > 0.9  # 95.0% on the reference machine
