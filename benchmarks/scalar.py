"""Benchmark the scalar engine against micrograd: an MLP training step and a deep chain.

Run by hand:  python benchmarks/scalar.py [--steps N] [--chain NODES]

1. micrograd's demo: MLP(2, [16, 16, 1]) on make_moons(100, noise=0.1), SVM max-margin loss
   mean((1 - y * score).relu()) + 1e-4 * sum(p * p), plain SGD with micrograd's schedule.
   One step = forward over all 100 samples + zero_grad + backward + update. We report the
   median milliseconds per step of
   - chainrule, unfused: micrograd's own training code, only the import changed;
   - chainrule, fused: MLP(fused=True) (one Value.dot node per neuron), Value.sum for the
     loss means, Value.dot(params, params) for the L2 term, plain floats as inputs;
   - micrograd 0.1.0, when it is installed (pip install micrograd==0.1.0).
   All runs start from the same weights (random.seed) and take the same steps in turn, so
   micrograd and unfused chainrule print the same losses (up to the order in which
   gradients are summed).
2. backward() through a 1,000,000-node chain (x * 1.0001 + 0.0, repeated), and micrograd's
   RecursionError on a chain of 500 such links.

The cyclic garbage collector stays enabled: it is part of what users pay.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import chainrule.scalar  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # run from a checkout: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chainrule.scalar import Value
from chainrule.scalar.nn import MLP

try:
    from chainrule.data import make_moons
except ImportError:

    def make_moons(
        n_samples: int = 100, noise: float = 0.1, random_state: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two interleaving half circles (scikit-learn's make_moons), X (n, 2), y in {0, 1}."""
        rng = np.random.default_rng(random_state)
        n_out = n_samples // 2
        n_in = n_samples - n_out
        t_out = np.linspace(0, np.pi, n_out)
        t_in = np.linspace(0, np.pi, n_in)
        X = np.concatenate(
            [
                np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], axis=1),
            ]
        )
        y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
        order = rng.permutation(n_samples)
        X = X[order] + rng.normal(scale=noise, size=(n_samples, 2))
        return X.astype(np.float64), y[order]


def make_step(value_cls, mlp, X, y, fused: bool):
    """One SGD step of micrograd's demo; returns (step(k) -> loss float)."""
    rows = [[float(a) for a in row] for row in X]
    ys = [float(v) for v in y * 2 - 1]  # labels in {-1, 1}
    params = mlp.parameters()

    def step(k: int) -> float:
        if fused:
            scores = [mlp(row) for row in rows]  # floats are constants in Value.dot
            losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
            data_loss = Value.sum(losses) * (1.0 / len(losses))
            reg_loss = 1e-4 * Value.dot(params, params)
        else:
            # micrograd's demo.ipynb loss(), verbatim apart from names.
            inputs = [list(map(value_cls, row)) for row in rows]
            scores = list(map(mlp, inputs))
            losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = 1e-4 * sum(p * p for p in params)
        total = data_loss + reg_loss
        mlp.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            p.data -= lr * p.grad
        return total.data

    return step


def time_training(variants, X, y, steps: int, seed: int) -> dict[str, tuple[float, list]]:
    """Median ms per step of each variant.

    Every variant runs the same steps k = 0 .. steps-1 from the same initial weights, so they
    are compared at the same stage of training. The variants run one after the other, not
    interleaved: micrograd leaves its graphs to the cycle collector, and interleaving would
    bill that collection to whichever variant runs next.
    """
    result = {}
    for name, value_cls, mlp_cls, fused in variants:
        random.seed(seed)
        mlp = mlp_cls(2, [16, 16, 1], fused=True) if fused else mlp_cls(2, [16, 16, 1])
        step = make_step(value_cls, mlp, X, y, fused)
        gc.collect()  # start each variant from a clean heap
        times, losses = [], []
        for k in range(steps):
            t0 = time.perf_counter()
            losses.append(step(k))
            times.append(time.perf_counter() - t0)
        del step, mlp
        gc.collect()
        ms = statistics.median(times) * 1e3
        spread = f"{min(times) * 1e3:.1f}-{max(times) * 1e3:.1f}"
        print(
            f"  {name:<18} {ms:9.2f} ms/step  (median of {steps}, range {spread}; "
            f"loss {losses[0]:.6f} -> {losses[-1]:.6f})",
            flush=True,
        )
        result[name] = (ms, losses)
    return result


def chain(x, links):
    """x * 1.0001 + 0.0, repeated: 2 nodes per link in chainrule (4 in micrograd)."""
    v = x
    for _ in range(links):
        v = v * 1.0001 + 0.0
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed SGD steps per variant")
    ap.add_argument("--chain", type=int, default=1_000_000, help="nodes in the deep chain")
    args = ap.parse_args()

    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.processor()}")
    X, y = make_moons(n_samples=100, noise=0.1, random_state=0)
    print(f"make_moons from {make_moons.__module__}")
    print("MLP(2, [16, 16, 1]) on make_moons(100, noise=0.1), one SGD step over all samples:")
    seed = 1337
    variants = [
        ("chainrule unfused", Value, MLP, False),
        ("chainrule fused", Value, MLP, True),
    ]
    try:
        from micrograd.engine import Value as MValue
        from micrograd.nn import MLP as MMLP
    except ImportError:
        print("  (micrograd not installed: pip install micrograd==0.1.0)")
    else:
        variants.append(("micrograd 0.1.0", MValue, MMLP, False))
    res = time_training(variants, X, y, args.steps, seed)
    unfused, l_unfused = res["chainrule unfused"]
    fused, l_fused = res["chainrule fused"]
    # Same weights: fused and unfused compute the same numbers (up to rounding).
    assert math.isclose(l_unfused[0], l_fused[0], rel_tol=1e-9), (l_unfused[0], l_fused[0])
    if "micrograd 0.1.0" in res:
        mg, l_mg = res["micrograd 0.1.0"]
        # Same weights, same code: the same losses up to the order of gradient accumulation.
        for a, b in zip(l_mg, l_unfused):
            assert math.isclose(a, b, rel_tol=1e-6), (a, b)
        print(f"  speedup vs micrograd: unfused {mg / unfused:.1f}x, fused {mg / fused:.1f}x")

    print(f"Deep chain, {args.chain:,} nodes (x * 1.0001 + 0.0 repeated):")
    x = Value(1.0)
    t0 = time.perf_counter()
    out = chain(x, args.chain // 2)
    t1 = time.perf_counter()
    out.backward()
    t2 = time.perf_counter()
    expected = 1.0001 ** (args.chain // 2)
    assert math.isclose(x.grad, expected, rel_tol=1e-9), (x.grad, expected)
    print(f"  forward {t1 - t0:.2f} s, backward {t2 - t1:.2f} s, x.grad = {x.grad:.6g} (exact)")
    del out

    try:
        from micrograd.engine import Value as MValue
    except ImportError:
        return
    try:
        chain(MValue(1.0), 500).backward()
        print("  micrograd: 500-link chain worked (recursion limit raised?)")
    except RecursionError as e:
        print(f"  micrograd on a 500-link chain: RecursionError: {e}")


if __name__ == "__main__":
    main()
