"""Per-op overhead: ``(a*b + a).sum()`` forward and backward on shape (4,), float32.

Tiny arrays make the NumPy work negligible, so this measures what each library adds per op:
tensor creation, graph recording and the backward sweep. The hand-written NumPy version (the
derivative done by hand) is the floor.
"""

from __future__ import annotations

import numpy as np
from _common import THREADS, compare, limit_threads, machine, peer, report

import chainrule as cr


def numpy_floor(a: np.ndarray, b: np.ndarray) -> tuple:
    out = (a * b + a).sum()
    g = np.ones_like(a)
    return out, g * b + g, g * a  # d/da = b + 1, d/db = a


def main() -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(4).astype(np.float32)
    b_np = rng.standard_normal(4).astype(np.float32)
    fns = {"hand-written NumPy": lambda: numpy_floor(a_np, b_np)}

    a = cr.tensor(a_np, requires_grad=True)
    b = cr.tensor(b_np, requires_grad=True)

    def chainrule_step() -> None:
        a.grad = b.grad = None
        (a * b + a).sum().backward()

    fns["chainrule"] = chainrule_step

    torch = peer("torch")
    if torch is not None:
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)

        def torch_step() -> None:
            ta.grad = tb.grad = None
            (ta * tb + ta).sum().backward()

        fns["PyTorch eager"] = torch_step

    mygrad = peer("mygrad")
    if mygrad is not None:
        ma, mb = mygrad.tensor(a_np), mygrad.tensor(b_np)

        def mygrad_step() -> None:
            (ma * mb + ma).sum().backward()

        fns["mygrad"] = mygrad_step

    autograd = peer("autograd")
    if autograd is not None:
        anp = peer("autograd.numpy")
        g = autograd.grad(lambda a, b: anp.sum(a * b + a), argnum=(0, 1))
        fns["HIPS autograd"] = lambda: g(a_np, b_np)

    jax = peer("jax")
    if jax is not None:
        jnp = jax.numpy
        ja, jb = jnp.asarray(a_np), jnp.asarray(b_np)
        jg = jax.value_and_grad(lambda a, b: jnp.sum(a * b + a), argnums=(0, 1))
        jax_fn = lambda: jax.block_until_ready(jg(ja, jb))  # noqa: E731

    rows = compare(fns)
    if jax is not None:  # alone: XLA's spinning worker threads would slow the others
        rows += compare({"JAX (no jit)": jax_fn}, rounds=5)
    report("(a*b + a).sum() fwd+bwd, shape (4,)", rows, "us", "PyTorch eager")
    return rows


if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    main()
