"""``chainrule tour``: the main job. Trains networks with chainrule and reports what happened.

Part 1 trains the lesson's scalar engine: a micrograd-style MLP on make_moons, every weight a
``Value`` and every multiply a graph node, with the max-margin loss from micrograd's demo.
Part 2 trains tensor networks on scikit-learn's handwritten digits: an MLP and a small CNN.
Part 3 shows the transforms: forward vs reverse mode on the lesson's two shapes of problem,
and a Hessian-vector product checked against the full Hessian.
"""

from __future__ import annotations

import argparse
import random
import time

from chainrule._progress import Progress


def train_moons(steps: int = 60, fused: bool = True, seed: int = 1337) -> dict[str, float]:
    """Train ``MLP(2, [16, 16, 1])`` on 100 moons with SGD; return accuracy and timing."""
    from chainrule.data import make_moons
    from chainrule.scalar import Value
    from chainrule.scalar.nn import MLP

    random.seed(seed)
    X, y = make_moons(n_samples=100, noise=0.1, random_state=seed)
    ys = [1.0 if label == 1 else -1.0 for label in y]  # max-margin labels are +-1
    model = MLP(2, [16, 16, 1], fused=fused)
    rows = [list(map(float, row)) for row in X]

    def loss_and_accuracy() -> tuple[Value, float]:
        scores = [model(row) for row in rows]
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        correct = sum((yi > 0) == (si.data > 0) for yi, si in zip(ys, scores))
        return data_loss + reg_loss, correct / len(ys)

    start = time.perf_counter()
    bar = Progress(range(steps), desc="moons MLP (scalar Values)")
    for k in bar:
        loss, acc = loss_and_accuracy()
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / steps  # micrograd's demo decays the rate linearly
        for p in model.parameters():
            p.data -= lr * p.grad
        bar.set(loss=loss.data, acc=acc)
    seconds = time.perf_counter() - start
    _, acc = loss_and_accuracy()
    return {"accuracy": acc, "seconds": seconds, "ms_per_step": 1000 * seconds / steps}


def main(argv: list[str] | None = None) -> int:
    """Run the tour; ``--quick`` shortens every part (used by the tests)."""
    parser = argparse.ArgumentParser(prog="chainrule tour")
    parser.add_argument("--quick", action="store_true", help="fewer steps, for a smoke test")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads while training on the digits (default 1: these matrices are too "
        "small to gain from more, and spare threads spin on a busy machine); see "
        "cr.set_num_threads",
    )
    args = parser.parse_args(argv)

    print("chainrule tour — part 1: the scalar engine (the lesson's Value)")
    result = train_moons(steps=15 if args.quick else 60)
    print(
        f"  make_moons(100), MLP(2, [16, 16, 1]), 337 parameters: "
        f"accuracy {result['accuracy']:.0%} in {result['seconds']:.2f} s "
        f"({result['ms_per_step']:.1f} ms per step)"
    )

    print("\nchainrule tour — part 2: tensors, nn and optim on handwritten digits (8x8)")
    try:
        from chainrule.train import train_digits_cnn, train_digits_mlp
    except ImportError as err:  # scikit-learn ships the digits: pip install chainrule[data]
        print(f"  skipped: {err}")
    else:
        epochs = {"epochs": 3} if args.quick else {}
        print(f"  BLAS threads while training: {args.threads} (--threads)")
        for name, train in (("MLP", train_digits_mlp), ("CNN", train_digits_cnn)):
            r = train(**epochs, threads=args.threads)
            print(
                f"  {name}: test accuracy {r['test_accuracy']:.2%} after "
                f"{r['epochs']} epochs ({r['parameters']:,} parameters) in {r['seconds']:.1f} s"
            )

    print("\nchainrule tour — part 3: forward vs reverse mode, Hessian-vector products")
    _transforms_part()
    return 0


def _transforms_part() -> None:
    """The lesson's asymmetry, measured: few inputs -> forward mode, one output -> reverse."""
    import chainrule as cr

    cr.manual_seed(0)
    W = cr.randn(20000, 4)
    few_in = lambda x: (W @ x).tanh()  # noqa: E731  R^4 -> R^20000
    x4 = cr.randn(4)
    for mode, jac in (("jacfwd", cr.func.jacfwd), ("jacrev", cr.func.jacrev)):
        start = time.perf_counter()
        J = jac(few_in)(x4)
        ms = 1000 * (time.perf_counter() - start)
        print(f"  R^4 -> R^20000, {mode}: Jacobian {tuple(J.shape)} in {ms:.1f} ms")
    many_in = lambda x: (x.tanh() ** 2).sum()  # noqa: E731  R^100000 -> R
    x = cr.randn(100000)
    start = time.perf_counter()
    g = cr.func.grad(many_in)(x)
    ms = 1000 * (time.perf_counter() - start)
    print(f"  R^100000 -> R, grad (one reverse sweep): {tuple(g.shape)} in {ms:.2f} ms")
    A = cr.randn(50, 50, dtype=cr.float64)
    f = lambda x: ((A @ x).tanh() ** 2).sum()  # noqa: E731
    x50, v = cr.randn(50, dtype=cr.float64), cr.randn(50, dtype=cr.float64)
    _, hv = cr.func.hvp(f, (x50,), (v,))
    H = cr.func.hessian(f)(x50)
    err = float((hv - H @ v).abs().max())
    print(f"  hvp (forward-over-reverse) vs hessian @ v, n=50: max difference {err:.1e}")
