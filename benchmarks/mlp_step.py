"""One SGD training step of an MLP classifier (forward, cross-entropy, backward, update),
float32, at three sizes, for chainrule, the hand-written NumPy step (the floor) and peers.

chainrule and PyTorch run what their ``nn.Linear`` runs (``F.linear``: one fused node per
layer) and their fused cross-entropy; the peers without those use matmul, add, log-softmax.

tiny: batch 32, 64-32-10;  small: batch 64, 784-128-10;  medium: batch 256, 784-512-512-10.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from _common import compare, machine, peer, report

import chainrule as cr

SIZES = {
    "tiny": (32, [64, 32, 10]),
    "small": (64, [784, 128, 10]),
    "medium": (256, [784, 512, 512, 10]),
}
LR = 0.01
# The same batch is stepped on thousands of times; plain SGD would drive the loss to zero and
# the gradients into float32 denormals, which are very slow on x86 and would time the FPU's
# slow path, not autodiff. So every step uses the learning rate with alternating sign: the
# same work per step, and the parameters stay where they started.
_sign = [1.0]


def lr() -> float:
    _sign[0] = -_sign[0]
    return LR * _sign[0]


def make_params(widths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(widths):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return params


def numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """The floor: forward, softmax cross-entropy and backward derived by hand."""
    acts = [x]
    h = x
    n_layers = len(params) // 2
    for k in range(n_layers):
        h = h @ params[2 * k] + params[2 * k + 1]
        if k < n_layers - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    z = h - h.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), y]).mean()
    g = p
    g[np.arange(n), y] -= 1
    g /= n
    rate = lr()
    for k in reversed(range(n_layers)):
        a = acts[k]
        gw = a.T @ g
        gb = g.sum(axis=0)
        if k > 0:
            g = (g @ params[2 * k].T) * (acts[k] > 0)
        params[2 * k] -= rate * gw
        params[2 * k + 1] -= rate * gb
    return float(loss)


def linear_layout(params: list[np.ndarray]) -> list[np.ndarray]:
    """Weights as (out, in), as nn.Linear and F.linear keep them."""
    return [p.T.copy() if p.ndim == 2 else p.copy() for p in params]


def chainrule_setup(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    from chainrule.nn.functional import cross_entropy, linear

    ps = [cr.tensor(p, requires_grad=True) for p in linear_layout(params)]
    xt, yt = cr.tensor(x), cr.tensor(y)

    def step() -> None:
        h = xt
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = linear(h, ps[2 * k], ps[2 * k + 1])  # what nn.Linear runs
            if k < n_layers - 1:
                h = h.relu()
        loss = cross_entropy(h, yt)
        for p in ps:
            p.grad = None
        loss.backward()
        rate = lr()
        with cr.no_grad():
            for p in ps:
                p.data -= rate * p.grad.data

    return step


def torch_setup(torch, params, x, y):
    ps = [torch.tensor(p, requires_grad=True) for p in linear_layout(params)]
    xt, yt = torch.tensor(x), torch.tensor(y)
    F = torch.nn.functional

    def step() -> None:
        h = xt
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = F.linear(h, ps[2 * k], ps[2 * k + 1])  # what nn.Linear runs
            if k < n_layers - 1:
                h = h.relu()
        loss = F.cross_entropy(h, yt)
        for p in ps:
            p.grad = None
        loss.backward()
        rate = lr()
        with torch.no_grad():
            for p in ps:
                p -= rate * p.grad

    return step


def mygrad_setup(mg, params, x, y):
    ps = [mg.tensor(p.copy()) for p in params]

    def step() -> None:
        h = x
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = mg.matmul(h, ps[2 * k]) + ps[2 * k + 1]
            if k < n_layers - 1:
                h = mg.nnet.activations.relu(h)
        loss = mg.nnet.losses.softmax_crossentropy(h, y)
        loss.backward()
        rate = lr()
        for p in ps:
            p.data -= rate * p.grad

    return step


def autograd_setup(ag, anp, params, x, y):
    ps = [p.copy() for p in params]
    n = x.shape[0]

    def loss_fn(ps):
        h = x
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = anp.dot(h, ps[2 * k]) + ps[2 * k + 1]
            if k < n_layers - 1:
                h = anp.maximum(h, 0)
        z = h - anp.max(h, axis=1, keepdims=True)
        logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.mean(logp[anp.arange(n), y])

    g = ag.grad(loss_fn)

    def step() -> None:
        grads = g(ps)
        rate = lr()
        for p, gp in zip(ps, grads):
            p -= rate * gp

    return step


def jax_setup(jax, params, x, y):
    jnp = jax.numpy
    ps = [jnp.asarray(p) for p in params]
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]

    def loss_fn(ps):
        h = xj
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = h @ ps[2 * k] + ps[2 * k + 1]
            if k < n_layers - 1:
                h = jnp.maximum(h, 0)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(logp[jnp.arange(n), yj])

    g = jax.grad(loss_fn)
    state = {"ps": ps}

    def step() -> None:
        grads = g(state["ps"])
        rate = lr()
        state["ps"] = [p - rate * gp for p, gp in zip(state["ps"], grads)]
        jax.block_until_ready(state["ps"])

    return step


def main(sizes: list[str] | None = None) -> dict[str, list[tuple[str, float]]]:
    results = {}
    torch, mg, ag, jax = peer("torch"), peer("mygrad"), peer("autograd"), peer("jax")
    for name in sizes or list(SIZES):
        batch, widths = SIZES[name]
        rng = np.random.default_rng(1)
        x = rng.standard_normal((batch, widths[0])).astype(np.float32)
        y = rng.integers(0, widths[-1], batch)
        params = make_params(widths)
        np_params = [p.copy() for p in params]
        fns = {
            "hand-written NumPy": functools.partial(numpy_step, np_params, x, y),
            "chainrule": chainrule_setup(params, x, y),
        }
        if torch is not None:
            fns["PyTorch eager"] = torch_setup(torch, params, x, y)
        if mg is not None:
            fns["mygrad"] = mygrad_setup(mg, params, x, y)
        if ag is not None:
            fns["HIPS autograd"] = autograd_setup(ag, peer("autograd.numpy"), params, x, y)
        rows = compare(fns)
        if jax is not None:  # alone: XLA's spinning worker threads would slow the others
            rows += compare({"JAX (no jit)": jax_setup(jax, params, x, y)}, rounds=5)
        report(f"MLP step {name}: batch {batch}, {widths}", rows, "ms", "PyTorch eager")
        results[name] = rows
    return results


if __name__ == "__main__":
    import sys

    print(machine())
    main(sys.argv[1:] or None)
