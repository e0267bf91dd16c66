"""Forward vs reverse mode, measured: the lesson's table with real numbers (float32, ms).

- jacfwd f1: R^8 -> R^50000, tanh(W x)      few inputs, many outputs: forward mode wins
- jacrev f3: R^500 -> R^500, tanh(W x)      square
- grad f2:   R^100000 -> R, sum(tanh(x)**2)  many inputs, one output: reverse mode wins
- hessian:   n = 200, of sum(tanh(A x)**2)   jacfwd(jacrev(f))

Also: jacrev of f1 (needs a 50000 x 50000 basis, 10 GB in float32: chunked) and jacfwd of f2
(100000 passes' worth of basis: chunked), to show the cost of the wrong mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import THREADS, compare, limit_threads, machine, peer, report, timeit

import chainrule as cr

rng = np.random.default_rng(0)
W1 = rng.standard_normal((50000, 8)).astype(np.float32) / 3
W3 = rng.standard_normal((500, 500)).astype(np.float32) / 25
A = rng.standard_normal((200, 200)).astype(np.float32) / 15
x1 = rng.standard_normal(8).astype(np.float32)
x2 = rng.standard_normal(100000).astype(np.float32)
x3 = rng.standard_normal(500).astype(np.float32)
xh = rng.standard_normal(200).astype(np.float32)


def numpy_rows() -> dict[str, Any]:
    """Hand-derived derivatives: the floor."""

    def jac_f1() -> np.ndarray:
        t = np.tanh(W1 @ x1)
        return (1 - t * t)[:, None] * W1

    def jac_f3() -> np.ndarray:
        t = np.tanh(W3 @ x3)
        return (1 - t * t)[:, None] * W3

    def grad_f2() -> np.ndarray:
        t = np.tanh(x2)
        return 2 * t * (1 - t * t)

    def hess() -> np.ndarray:
        t = np.tanh(A @ xh)
        s = 1 - t * t
        # d2/dx2 sum tanh(Ax)^2 = A^T diag(2 s (s - 2 t^2)) A
        return (A.T * (2 * s * (s - 2 * t * t))) @ A

    return {
        "jacfwd f1": jac_f1,
        "jacrev f3": jac_f3,
        "grad f2": grad_f2,
        "hessian n=200": hess,
    }


def chainrule_rows() -> dict[str, Any]:
    f = cr.func
    W1t, W3t, At = cr.tensor(W1), cr.tensor(W3), cr.tensor(A)
    t1, t2, t3, th = cr.tensor(x1), cr.tensor(x2), cr.tensor(x3), cr.tensor(xh)
    f1 = lambda x: (W1t @ x).tanh()  # noqa: E731
    f3 = lambda x: (W3t @ x).tanh()  # noqa: E731
    f2 = lambda x: (x.tanh() ** 2).sum()  # noqa: E731
    fh = lambda x: ((At @ x).tanh() ** 2).sum()  # noqa: E731
    return {
        "jacfwd f1": lambda: f.jacfwd(f1)(t1),
        "jacrev f3": lambda: f.jacrev(f3)(t3),
        "grad f2": lambda: f.grad(f2)(t2),
        "hessian n=200": lambda: f.hessian(fh)(th),
    }


def torch_rows(torch) -> dict[str, Any]:
    tf = torch.func
    W1t, W3t, At = torch.tensor(W1), torch.tensor(W3), torch.tensor(A)
    t1, t2, t3, th = map(torch.tensor, (x1, x2, x3, xh))
    return {
        "jacfwd f1": lambda: tf.jacfwd(lambda x: (W1t @ x).tanh())(t1),
        "jacrev f3": lambda: tf.jacrev(lambda x: (W3t @ x).tanh())(t3),
        "grad f2": lambda: tf.grad(lambda x: (x.tanh() ** 2).sum())(t2),
        "hessian n=200": lambda: tf.hessian(lambda x: ((At @ x).tanh() ** 2).sum())(th),
    }


def jax_rows(jax) -> dict[str, Any]:
    jnp = jax.numpy
    W1j, W3j, Aj = jnp.asarray(W1), jnp.asarray(W3), jnp.asarray(A)
    j1, j2, j3, jh = map(jnp.asarray, (x1, x2, x3, xh))

    def run(transform: Any, f: Any, x: Any) -> Any:
        with jax.disable_jit():  # eager, like every other library here
            return jax.block_until_ready(transform(f)(x))

    return {
        "jacfwd f1": lambda: run(jax.jacfwd, lambda x: jnp.tanh(W1j @ x), j1),
        "jacrev f3": lambda: run(jax.jacrev, lambda x: jnp.tanh(W3j @ x), j3),
        "grad f2": lambda: run(jax.grad, lambda x: jnp.sum(jnp.tanh(x) ** 2), j2),
        "hessian n=200": lambda: run(jax.hessian, lambda x: jnp.sum(jnp.tanh(Aj @ x) ** 2), jh),
    }


def autograd_rows(ag, anp) -> dict[str, Any]:
    basis = np.eye(8, dtype=np.float32)

    def jacfwd_f1() -> np.ndarray:  # autograd has no jacfwd: one JVP pass per input
        push = ag.make_jvp(lambda x: anp.tanh(W1 @ x))(x1)
        return np.stack([push(e)[1] for e in basis], axis=1)

    return {
        "jacfwd f1": jacfwd_f1,
        "jacrev f3": lambda: ag.jacobian(lambda x: anp.tanh(W3 @ x))(x3),
        "grad f2": lambda: ag.grad(lambda x: anp.sum(anp.tanh(x) ** 2))(x2),
        "hessian n=200": lambda: ag.hessian(lambda x: anp.sum(anp.tanh(A @ x) ** 2))(xh),
    }


def main() -> dict[str, list[tuple[str, float]]]:
    libs = {"hand-derived NumPy": numpy_rows(), "chainrule": chainrule_rows()}
    torch = peer("torch")
    if torch is not None:
        libs["torch.func"] = torch_rows(torch)
    ag = peer("autograd")
    if ag is not None:
        libs["HIPS autograd"] = autograd_rows(ag, peer("autograd.numpy"))
    jax = peer("jax")
    jax_fns = jax_rows(jax) if jax is not None else {}
    tables = {}
    for work in libs["chainrule"]:
        rows = compare({lib: r[work] for lib, r in libs.items()}, rounds=9)
        if work in jax_fns:  # alone: XLA's spinning worker threads would slow the others
            rows += compare({"JAX (no jit)": jax_fns[work]}, rounds=3)
        base = "torch.func" if torch is not None else "hand-derived NumPy"
        report(work, rows, "ms", base)
        tables[work] = rows

    # the wrong mode, for the lesson: chunked, so it finishes
    f = cr.func
    W1t, t1 = cr.tensor(W1), cr.tensor(x1)
    slow = timeit(lambda: f.jacrev(lambda x: (W1t @ x).tanh())(t1), min_time=0.01, repeats=1)
    fast = dict(tables["jacfwd f1"])["chainrule"]
    print(f"\nf1 (R^8 -> R^50000) by reverse mode: {slow * 1e3:.1f} ms ({slow / fast:.0f}x)")
    return tables


if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    main()
