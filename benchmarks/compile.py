"""``cr.compile`` against its hand-written NumPy floor, chainrule eager, JAX jit and PyTorch
eager (issue 12's speed table). One thread each (BENCH_THREADS), interleaved rounds; JAX is
timed in rounds of its own (XLA's worker threads would slow the others down).

Rows: the value and gradient of a tiny and a small MLP's loss, the full SGD training step
(forward, backward, step, zero_grad) of the same MLPs as an ``nn.Module``, the hvp of
``sum(tanh(A x)**2)`` (n = 1000), the gradient of ``sum(tanh(x)**2)`` on R^100000, and the
first call of the compiled tiny step (trace + optimise) against one eager step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import THREADS, compare, limit_threads, machine, peer, report

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim

LR = 0.1
rng = np.random.default_rng(0)


# --- the MLP: tanh hidden layer, mean cross-entropy --------------------------------------------


def mlp_data(batch: int, sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    d, h, k = sizes
    return {
        "x": rng.standard_normal((batch, d)).astype(np.float32),
        "y": rng.integers(0, k, batch),
        "w1": (rng.standard_normal((h, d)) / np.sqrt(d)).astype(np.float32),
        "b1": np.zeros(h, np.float32),
        "w2": (rng.standard_normal((k, h)) / np.sqrt(h)).astype(np.float32),
        "b2": np.zeros(k, np.float32),
    }


def numpy_value_and_grad(p: dict[str, np.ndarray]) -> tuple[Any, ...]:
    """The floor: forward and backward written by hand (weights stored (out, in))."""
    x, y = p["x"], p["y"]
    n = x.shape[0]
    h = np.tanh(x @ p["w1"].T + p["b1"])
    z = h @ p["w2"].T + p["b2"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = np.log(s).mean() - z[np.arange(n), y].mean()
    dz = e / s
    dz[np.arange(n), y] -= 1
    dz /= n
    dw2 = dz.T @ h
    db2 = dz.sum(0)
    dh = (dz @ p["w2"]) * (1 - h * h)
    dw1 = dh.T @ x
    db1 = dh.sum(0)
    return loss, dw1, db1, dw2, db2


def numpy_step(p: dict[str, np.ndarray]) -> Any:
    loss, *grads = numpy_value_and_grad(p)
    for name, g in zip(("w1", "b1", "w2", "b2"), grads):
        p[name] -= LR * g  # in place, as the optimizer does
    return loss


def cr_loss(w1: Any, b1: Any, w2: Any, b2: Any, x: Any, y: Any) -> Any:
    return F.cross_entropy(F.linear(F.linear(x, w1, b1).tanh(), w2, b2), y)


def module_and_step(p: dict[str, np.ndarray]) -> tuple[Callable, Any]:
    d, h, k = p["w1"].shape[1], p["w1"].shape[0], p["w2"].shape[0]
    model = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, k))
    with cr.no_grad():
        for param, name in zip(model.parameters(), ("w1", "b1", "w2", "b2")):
            param.data[...] = p[name]
    opt = optim.SGD(model.parameters(), lr=LR)

    def train_step(x: Any, y: Any) -> Any:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return train_step, model


def mlp_rows(label: str, batch: int, sizes: tuple[int, int, int]) -> None:
    p = mlp_data(batch, sizes)
    t = {k: cr.tensor(v) for k, v in p.items()}
    args = (t["w1"], t["b1"], t["w2"], t["b2"], t["x"], t["y"])
    vg = cr.func.value_and_grad(cr_loss, argnums=(0, 1, 2, 3))
    cvg = cr.compile(vg)
    fns: dict[str, Callable[[], Any]] = {
        "hand NumPy floor": lambda: numpy_value_and_grad(p),
        "chainrule eager": lambda: vg(*args),
        "chainrule compiled": lambda: cvg(*args),
    }
    torch = peer("torch")
    if torch is not None:
        tt = {k: torch.tensor(v) for k, v in p.items()}
        tw = [tt[k].clone().requires_grad_() for k in ("w1", "b1", "w2", "b2")]
        tF = torch.nn.functional

        def torch_vg() -> Any:
            loss = tF.cross_entropy(tF.linear(tF.linear(tt["x"], tw[0], tw[1]).tanh(), tw[2],
                                              tw[3]), tt["y"])  # fmt: skip
            return torch.autograd.grad(loss, tw)

        fns["PyTorch eager"] = torch_vg
    rows = compare(fns)
    rows += jax_rows(p, "value_and_grad")
    report(f"{label} MLP value_and_grad (b{batch}, {'-'.join(map(str, sizes))})", rows, "us",
           "hand NumPy floor")  # fmt: skip

    # the full training step: nn.Module + SGD, parameters updated in place
    pn = {k: v.copy() for k, v in p.items()}
    eager_step, _ = module_and_step(p)
    compiled_step = cr.compile(module_and_step(p)[0])
    x, y = t["x"], t["y"]
    fns = {
        "hand NumPy floor": lambda: numpy_step(pn),
        "chainrule eager": lambda: eager_step(x, y),
        "chainrule compiled": lambda: compiled_step(x, y),
    }
    if torch is not None:
        d, h, k = sizes
        tm = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, k))
        topt = torch.optim.SGD(tm.parameters(), lr=LR)

        def torch_step() -> Any:
            loss = torch.nn.functional.cross_entropy(tm(tt["x"]), tt["y"])
            loss.backward()
            topt.step()
            topt.zero_grad()
            return loss

        fns["PyTorch eager"] = torch_step
    rows = compare(fns)
    rows += jax_rows(p, "step")
    report(f"{label} MLP SGD training step", rows, "us", "hand NumPy floor")
    assert compiled_step.traces == 1, "the compiled step retraced"


def jax_rows(p: dict[str, np.ndarray], what: str) -> list[tuple[str, float]]:
    jax = peer("jax")
    if jax is None:
        return []
    jnp = jax.numpy

    def loss(w: tuple, x: Any, y: Any) -> Any:
        w1, b1, w2, b2 = w
        z = jnp.tanh(x @ w1.T + b1) @ w2.T + b2
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])

    w = tuple(jnp.asarray(p[k]) for k in ("w1", "b1", "w2", "b2"))
    x, y = jnp.asarray(p["x"]), jnp.asarray(p["y"])
    if what == "value_and_grad":
        f = jax.jit(jax.value_and_grad(loss))
        return compare({"JAX jit": lambda: jax.block_until_ready(f(w, x, y))}, rounds=5)

    @jax.jit
    def step(w: tuple, x: Any, y: Any) -> Any:
        value, g = jax.value_and_grad(loss)(w, x, y)
        return value, tuple(a - LR * b for a, b in zip(w, g))

    state = [w]

    def run() -> Any:
        value, state[0] = step(state[0], x, y)
        return jax.block_until_ready(value)

    return compare({"JAX jit": run}, rounds=5)


# --- hvp and a big gradient ---------------------------------------------------------------------


def hvp_rows() -> None:
    n = 1000
    A = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32)

    def numpy_hvp() -> Any:
        t = np.tanh(A @ x)
        s = 1 - t * t
        return A.T @ (2 * s * (s - 2 * t * t) * (A @ v))

    At, xt, vt = cr.tensor(A), cr.tensor(x), cr.tensor(v)

    def hvp(x: Any, v: Any) -> Any:
        f = lambda x: ((At @ x).tanh() ** 2).sum()  # noqa: E731
        return cr.func.jvp(cr.func.grad(f), (x,), (v,))[1]

    chvp = cr.compile(hvp)
    fns: dict[str, Callable[[], Any]] = {
        "hand NumPy floor": numpy_hvp,
        "chainrule eager": lambda: hvp(xt, vt),
        "chainrule compiled": lambda: chvp(xt, vt),
    }
    torch = peer("torch")
    if torch is not None:
        Ao, xo, vo = map(torch.tensor, (A, x, v))
        fo = lambda x: ((Ao @ x).tanh() ** 2).sum()  # noqa: E731
        fns["torch.func"] = lambda: torch.func.jvp(torch.func.grad(fo), (xo,), (vo,))
    rows = compare(fns)
    jax = peer("jax")
    if jax is not None:
        jnp = jax.numpy
        Aj, xj, vj = map(jnp.asarray, (A, x, v))
        fj = lambda x: jnp.sum(jnp.tanh(Aj @ x) ** 2)  # noqa: E731
        hj = jax.jit(lambda x, v: jax.jvp(jax.grad(fj), (x,), (v,))[1])
        rows += compare({"JAX jit": lambda: jax.block_until_ready(hj(xj, vj))}, rounds=5)
    report(f"hvp of sum(tanh(A x)**2), n={n}", rows, "us", "hand NumPy floor")


def grad_rows() -> None:
    x = rng.standard_normal(100000).astype(np.float32)
    xt = cr.tensor(x)

    def numpy_grad() -> Any:
        t = np.tanh(x)
        return 2 * t * (1 - t * t)

    g = cr.func.grad(lambda x: (x.tanh() ** 2).sum())
    cg = cr.compile(g)
    rows = compare(
        {
            "hand NumPy floor": numpy_grad,
            "chainrule eager": lambda: g(xt),
            "chainrule compiled": lambda: cg(xt),
        }
    )
    jax = peer("jax")
    if jax is not None:
        jnp = jax.numpy
        xj = jnp.asarray(x)
        gj = jax.jit(jax.grad(lambda x: jnp.sum(jnp.tanh(x) ** 2)))
        rows += compare({"JAX jit": lambda: jax.block_until_ready(gj(xj))}, rounds=5)
    report("grad f2 = sum(tanh(x)**2), R^100000 -> R", rows, "us", "hand NumPy floor")


def first_call_rows() -> None:
    """The compiled tiny step's first call (trace + optimise + compile) vs one eager step."""
    p = mlp_data(32, (64, 32, 10))
    x, y = cr.tensor(p["x"]), cr.tensor(p["y"])
    eager_step, _ = module_and_step(p)
    eager = compare({"one eager step": lambda: eager_step(x, y)})[0][1]
    firsts = []
    for _ in range(5):
        step = cr.compile(module_and_step(p)[0])
        t0 = time.perf_counter()
        step(x, y)
        firsts.append(time.perf_counter() - t0)
    first = float(np.median(firsts))
    rows = [("one eager step", eager), ("chainrule compiled, 1st call", first)]
    jax = peer("jax")
    if jax is not None:
        jnp = jax.numpy
        jf = []
        for k in range(3):
            w = tuple(jnp.asarray(p[n]) + k for n in ("w1", "b1", "w2", "b2"))

            def loss(w: tuple, x: Any) -> Any:
                return jnp.sum(jnp.tanh(x @ w[0].T + w[1]) @ w[2].T + w[3])

            fresh = jax.jit(jax.value_and_grad(loss))  # a new function: no cache
            t0 = time.perf_counter()
            jax.block_until_ready(fresh(w, jnp.asarray(p["x"])))
            jf.append(time.perf_counter() - t0)
        rows.append(("JAX jit, 1st call", float(np.median(jf))))
    report("first call of the tiny training step", rows, "ms", "one eager step")


def main() -> None:
    mlp_rows("tiny", 32, (64, 32, 10))
    mlp_rows("small", 64, (784, 128, 10))
    hvp_rows()
    grad_rows()
    first_call_rows()


if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    main()
