"""``chainrule tour``: the main job. Trains networks with chainrule and reports what happened.

Part 1 trains the lesson's scalar engine: a micrograd-style MLP on make_moons, every weight a
``Value`` and every multiply a graph node, with the max-margin loss from micrograd's demo.
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
    args = parser.parse_args(argv)

    print("chainrule tour — part 1: the scalar engine (the lesson's Value)")
    result = train_moons(steps=15 if args.quick else 60)
    print(
        f"  make_moons(100), MLP(2, [16, 16, 1]), 337 parameters: "
        f"accuracy {result['accuracy']:.0%} in {result['seconds']:.2f} s "
        f"({result['ms_per_step']:.1f} ms per step)"
    )
    return 0
