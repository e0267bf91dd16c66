"""Per-example gradients of the small MLP (batch 64, 784-128-10, float32) with ``vmap(grad)``,
against one batched backward pass (the target: at most 2x), a Python loop over the examples,
torch.func.vmap and JAX's vmap without jit, all measured in one run.

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)

``loss`` is one example's cross-entropy after linear-ReLU-linear, written once for each
library; the batched pass is the same network on the whole batch with the mean loss.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from _common import THREADS, compare, limit_threads, machine, peer, report

import chainrule as cr
import chainrule.nn.functional as F

BATCH, WIDTHS = 64, (784, 128, 10)


def make_data(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(WIDTHS):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    x = rng.standard_normal((BATCH, WIDTHS[0])).astype(np.float32)
    y = rng.integers(0, WIDTHS[-1], BATCH)
    return params, x, y


def chainrule_fns(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    ps = tuple(cr.tensor(p) for p in params)
    xt, yt = cr.tensor(x), cr.tensor(y)

    def loss(p: tuple, xi: Any, yi: Any) -> Any:
        w1, b1, w2, b2 = p
        return F.cross_entropy(F.linear(F.relu(F.linear(xi, w1, b1)), w2, b2), yi)

    per_example = cr.func.vmap(cr.func.grad(loss), in_dims=(None, 0, 0))
    batched = cr.func.grad(loss)  # x (64, 784), y (64,): the mean loss, one backward pass

    def loop() -> Any:
        g = cr.func.grad(loss)
        return [g(ps, xt[k], yt[k]) for k in range(BATCH)]

    return {
        "chainrule vmap(grad)": lambda: per_example(ps, xt, yt),
        "chainrule batched grad": lambda: batched(ps, xt, yt),
        "chainrule Python loop": loop,
    }


def torch_fns(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    torch = peer("torch")
    if torch is None:
        return {}
    tf = torch.nn.functional
    ps = tuple(torch.tensor(p) for p in params)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def loss(p: tuple, xi: Any, yi: Any) -> Any:
        w1, b1, w2, b2 = p
        return tf.cross_entropy(tf.linear(tf.relu(tf.linear(xi, w1, b1)), w2, b2), yi)

    per_example = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
    return {"torch.func vmap(grad)": lambda: per_example(ps, xt, yt)}


def jax_fns(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    jax = peer("jax")
    if jax is None:
        return {}
    jnp = jax.numpy
    ps = tuple(jnp.asarray(p) for p in params)
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(p: tuple, xi: Any, yi: Any) -> Any:
        w1, b1, w2, b2 = p
        h = jax.nn.relu(w1 @ xi + b1)
        z = w2 @ h + b2
        return -jax.nn.log_softmax(z)[yi]

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))

    def run() -> Any:
        with jax.disable_jit():
            return jax.block_until_ready(per_example(ps, xj, yj))

    return {"JAX vmap(grad) (no jit)": run}


def check(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> None:
    """The per-example gradients agree with the loop (and with torch.func when present)."""
    fns = chainrule_fns(params, x, y)
    got = fns["chainrule vmap(grad)"]()
    loop = fns["chainrule Python loop"]()
    for j, g in enumerate(got):
        ref = np.stack([item[j].data for item in loop])
        np.testing.assert_allclose(g.data, ref, rtol=1e-4, atol=1e-6)
    theirs = torch_fns(params, x, y)
    if theirs:
        for g, t in zip(got, theirs["torch.func vmap(grad)"]()):
            np.testing.assert_allclose(g.data, t.numpy(), rtol=1e-4, atol=1e-6)


def main() -> list[tuple[str, float]]:
    params, x, y = make_data()
    check(params, x, y)
    fns = {**chainrule_fns(params, x, y), **torch_fns(params, x, y)}
    rows = compare(fns, rounds=9)
    jfns = jax_fns(params, x, y)
    if jfns:  # alone: XLA's worker threads would slow the others down
        rows += compare(jfns, rounds=5)
    report(
        f"per-example gradients, MLP {WIDTHS}, batch {BATCH}", rows, "ms", "torch.func vmap(grad)"
    )
    times = dict(rows)
    ratio = times["chainrule vmap(grad)"] / times["chainrule batched grad"]
    print(f"  chainrule vmap(grad) / one batched grad = {ratio:.2f} (target: at most 2)")
    return rows


if __name__ == "__main__":
    limit_threads(THREADS)
    print(machine())
    main()
