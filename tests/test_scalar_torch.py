"""The scalar engine against PyTorch: the random programs of test_scalar.py run on float64
tensors, forward values and gradients compared; plus the kink conventions that the docstrings
say follow PyTorch. Skipped without torch (CI: pip install torch==2.13.0; pytest -m torch).
"""

from __future__ import annotations

import importlib.util
import math
import operator
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from chainrule.scalar import Value  # noqa: E402
from chainrule.scalar.nn import MLP  # noqa: E402


def _load_programs():
    """test_scalar.py's program machinery, loaded by path (works with or without a tests
    package and without relying on sys.path)."""
    name = "_chainrule_test_scalar_programs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("test_scalar.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


P = _load_programs()
F = torch.nn.functional

TORCH_BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow_v": operator.pow,
}
TORCH_UNARY = {
    **P.VALUE_UNARY,  # the operator forms (a + c, c ** a, ...) work on tensors as they are
    "relu": lambda a, c: torch.relu(a),
    "leaky_relu": lambda a, c: F.leaky_relu(a, c),
    "tanh": lambda a, c: torch.tanh(a),
    "sigmoid": lambda a, c: torch.sigmoid(a),
    "exp": lambda a, c: torch.exp(a),
    "log": lambda a, c: torch.log(a),
    "sqrt": lambda a, c: torch.sqrt(a),
}


def _leaf(x: float):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _sum(nodes, c):
    return torch.stack(nodes).sum() + c


def _dot(ws, xs, bias):
    total = bias
    for w, x in zip(ws, xs):
        total = total + w * x
    return total


@settings(max_examples=200, deadline=None)
@given(P.programs())
def test_random_programs_against_torch(case):
    inputs, prog = case
    out, leaves = P.run_value(inputs, prog)
    out.backward()
    t_out, t_leaves = P.run_program(inputs, prog, _leaf, TORCH_UNARY, TORCH_BINARY, _sum, _dot)
    assert out.data == pytest.approx(t_out.item(), rel=1e-12, abs=1e-12)
    grads = torch.autograd.grad(t_out, t_leaves, allow_unused=True)
    for leaf, g in zip(leaves, grads):
        expected = 0.0 if g is None else g.item()
        assert leaf.grad == pytest.approx(expected, rel=1e-10, abs=1e-12), prog


@pytest.mark.parametrize(
    ("ours", "theirs", "x"),
    [
        (lambda v: v.relu(), torch.relu, 0.0),
        (lambda v: v.leaky_relu(0.2), lambda t: F.leaky_relu(t, 0.2), 0.0),
        (lambda v: v.sqrt(), torch.sqrt, 0.0),
        (lambda v: v**0.5, lambda t: t**0.5, 0.0),
        (lambda v: v**0, lambda t: t**0, 0.0),
        (lambda v: v.sigmoid(), torch.sigmoid, -800.0),
        (lambda v: v.sigmoid(), torch.sigmoid, 800.0),
    ],
)
def test_kinks_and_edges_like_torch(ours, theirs, x):
    v = Value(x)
    out = ours(v)
    out.backward()
    t = _leaf(x)
    t_out = theirs(t)
    t_out.backward()
    assert out.data == t_out.item()
    assert v.grad == t.grad.item() or (math.isinf(v.grad) and v.grad == t.grad.item())


def test_mlp_gradients_match_torch():
    random.seed(5)
    model = MLP(3, [6, 4, 1], fused=True)
    x = [0.3, -1.1, 0.8]
    out = model(x)
    out.backward()
    # The same network in torch, from the same weights.
    params = [_leaf(p.data) for p in model.parameters()]
    it = iter(params)
    h = [torch.tensor(v, dtype=torch.float64) for v in x]
    for li, layer in enumerate(model.layers):
        last = li == len(model.layers) - 1
        nxt = []
        for neuron in layer.neurons:
            ws = [next(it) for _ in neuron.w]
            b = next(it)
            act = _dot(ws, h, b)
            nxt.append(act if last else torch.relu(act))
        h = nxt
    assert out.data == pytest.approx(h[0].item(), rel=1e-12)
    grads = torch.autograd.grad(h[0], params, allow_unused=True)
    for p, g in zip(model.parameters(), grads):
        assert p.grad == pytest.approx(0.0 if g is None else g.item(), rel=1e-10, abs=1e-14)
