"""Per-op overhead: ``(a*b + a).sum()`` forward and backward on shape (4,), float32.

Tiny arrays make the NumPy work negligible, so this measures what each library adds per op:
tensor creation, graph recording and the backward sweep. The hand-written NumPy version (the
derivative done by hand) is the floor.
"""

from __future__ import annotations

import numpy as np
from _common import machine, peer, report, timeit

import chainrule as cr


def numpy_floor(a: np.ndarray, b: np.ndarray) -> tuple:
    out = (a * b + a).sum()
    g = np.ones_like(a)
    return out, g * b + g, g * a  # d/da = b + 1, d/db = a


def main() -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(4).astype(np.float32)
    b_np = rng.standard_normal(4).astype(np.float32)
    rows = [("hand-written NumPy", timeit(lambda: numpy_floor(a_np, b_np)))]

    a = cr.tensor(a_np, requires_grad=True)
    b = cr.tensor(b_np, requires_grad=True)

    def chainrule_step() -> None:
        a.grad = b.grad = None
        (a * b + a).sum().backward()

    rows.append(("chainrule", timeit(chainrule_step)))

    torch = peer("torch")
    if torch is not None:
        torch.set_num_threads(1)
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)

        def torch_step() -> None:
            ta.grad = tb.grad = None
            (ta * tb + ta).sum().backward()

        rows.append(("PyTorch eager", timeit(torch_step)))

    mygrad = peer("mygrad")
    if mygrad is not None:
        ma, mb = mygrad.tensor(a_np), mygrad.tensor(b_np)

        def mygrad_step() -> None:
            (ma * mb + ma).sum().backward()

        rows.append(("mygrad", timeit(mygrad_step)))

    autograd = peer("autograd")
    if autograd is not None:
        anp = peer("autograd.numpy")
        g = autograd.grad(lambda a, b: anp.sum(a * b + a), argnum=(0, 1))
        rows.append(("HIPS autograd", timeit(lambda: g(a_np, b_np))))

    jax = peer("jax")
    if jax is not None:
        jnp = jax.numpy
        ja, jb = jnp.asarray(a_np), jnp.asarray(b_np)
        jg = jax.value_and_grad(lambda a, b: jnp.sum(a * b + a), argnums=(0, 1))
        rows.append(("JAX (no jit)", timeit(lambda: jax.block_until_ready(jg(ja, jb)))))

    report("(a*b + a).sum() fwd+bwd, shape (4,)", rows, "us", "PyTorch eager")
    return rows


if __name__ == "__main__":
    print(machine())
    main()
