"""Hessian-vector product of f(x) = sum(tanh(A x)**2), n = 1000, float32, forward-over-reverse
without forming the Hessian; reported with its ratio to one gradient (the theory says ~2-3x)."""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import THREADS, compare, limit_threads, machine, peer, report

import chainrule as cr

N = 1000
rng = np.random.default_rng(0)
A = (rng.standard_normal((N, N)) / np.sqrt(N)).astype(np.float32)
x = rng.standard_normal(N).astype(np.float32)
v = rng.standard_normal(N).astype(np.float32)


def numpy_hvp() -> np.ndarray:
    # grad = A^T (2 t s),  t = tanh(Ax), s = 1 - t^2;  H v = A^T (2 s (s - 2 t^2) * (A v))
    t = np.tanh(A @ x)
    s = 1 - t * t
    return A.T @ (2 * s * (s - 2 * t * t) * (A @ v))


def main() -> list[tuple[str, float]]:
    At, xt, vt = cr.tensor(A), cr.tensor(x), cr.tensor(v)
    f = lambda x: ((At @ x).tanh() ** 2).sum()  # noqa: E731
    fns = {
        "hand-derived NumPy": numpy_hvp,
        "chainrule": lambda: cr.func.hvp(f, (xt,), (vt,)),
        "chainrule grad": lambda: cr.func.grad(f)(xt),  # for the hvp / grad ratio
    }
    torch = peer("torch")
    if torch is not None:
        Ao, xo, vo = map(torch.tensor, (A, x, v))
        fo = lambda x: ((Ao @ x).tanh() ** 2).sum()  # noqa: E731
        fns["torch.func"] = lambda: torch.func.jvp(torch.func.grad(fo), (xo,), (vo,))
    ag = peer("autograd")
    if ag is not None:
        anp = peer("autograd.numpy")
        fa = lambda x: anp.sum(anp.tanh(A @ x) ** 2)  # noqa: E731
        hvp_a = ag.make_hvp(fa)
        fns["HIPS autograd"] = lambda: hvp_a(x)[0](v)
    rows = compare(fns)
    jax = peer("jax")
    if jax is not None:  # alone: XLA's spinning worker threads would slow the others
        jnp = jax.numpy
        Aj, xj, vj = map(jnp.asarray, (A, x, v))
        fj = lambda x: jnp.sum(jnp.tanh(Aj @ x) ** 2)  # noqa: E731

        def jax_hvp() -> Any:
            with jax.disable_jit():
                return jax.block_until_ready(jax.jvp(jax.grad(fj), (xj,), (vj,)))

        rows += compare({"JAX (no jit)": jax_hvp}, rounds=5)
    times = dict(rows)
    grad_t = times.pop("chainrule grad")
    rows = list(times.items())
    report(f"hvp of sum(tanh(A x)**2), n={N}", rows, "us", "torch.func")
    print(f"  chainrule hvp / grad = {times['chainrule'] / grad_t:.2f}")
    return rows


if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    main()
