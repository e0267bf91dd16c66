"""``chainrule tour``: the main job. Trains networks with chainrule, runs the lesson's
experiments, and writes one page with everything it measured.

Part 1 trains the lesson's scalar engine: a micrograd-style MLP on make_moons, every weight a
``Value`` and every multiply a graph node, with the max-margin loss from micrograd's demo.
Part 2 trains tensor networks on scikit-learn's handwritten digits: an MLP and a small CNN.
Part 3 shows the transforms: forward vs reverse mode on the lesson's two shapes of problem,
and a Hessian-vector product checked against the full Hessian.
Part 4 runs every lesson (``chainrule.lessons``) in quick mode and writes ``DIR/index.html``
(default ``chainrule-out/``) with each lesson's claims, numbers and figures.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "") -> Any:
    """A tqdm bar on stderr when tqdm is installed (the ``cli`` extra), else the iterable
    itself with a one-line note, so the command still works without it."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(f"{desc} ...", file=sys.stderr)
        return _Quiet(iterable)
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)


class _Quiet:
    """What ``progress`` returns without tqdm: iterates, ignores postfix updates."""

    def __init__(self, iterable: Iterable[T]) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[T]:
        return iter(self.iterable)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def write(self, text: str) -> None:
        print(text)


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
    bar = progress(range(steps), desc="moons MLP (scalar Values)")
    for k in bar:
        loss, acc = loss_and_accuracy()
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / steps  # micrograd's demo decays the rate linearly
        for p in model.parameters():
            p.data -= lr * p.grad
        bar.set_postfix(loss=f"{loss.data:.4g}", acc=f"{acc:.2f}")
    seconds = time.perf_counter() - start
    _, acc = loss_and_accuracy()
    return {"accuracy": acc, "seconds": seconds, "ms_per_step": 1000 * seconds / steps}


def main(argv: list[str] | None = None) -> int:
    """Run the tour; return 0 when every lesson's claims hold, 1 when one does not."""
    parser = argparse.ArgumentParser(
        prog="chainrule tour",
        description="Train networks with chainrule (two moons, handwritten digits), run every "
        "lesson in quick mode, and write DIR/index.html with their claims, numbers and figures.",
        epilog="exit status: 0 all claims hold, 1 a lesson's claim does not hold, 2 usage error",
    )
    parser.add_argument(
        "--out", default="chainrule-out", help="output folder (default: chainrule-out/)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer training steps and epochs (a smoke test)"
    )
    parser.add_argument(
        "--lessons",
        default=None,
        help="comma-separated lesson names to run (default: all of them)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads while training on the digits (default 1: these matrices are too "
        "small to gain from more, and spare threads spin on a busy machine); see "
        "cr.set_num_threads",
    )
    args = parser.parse_args(argv)
    from chainrule.lessons import names

    chosen = names() if args.lessons is None else [n for n in args.lessons.split(",") if n]
    unknown = [n for n in chosen if n.replace("_", "-") not in names()]
    if unknown:
        parser.error(f"unknown lesson(s) {', '.join(unknown)}; choose from {', '.join(names())}")
    start = time.perf_counter()
    training: list[str] = []

    print("chainrule tour — part 1: the scalar engine (the lesson's Value)")
    result = train_moons(steps=15 if args.quick else 60)
    line = (
        f"make_moons(100), MLP(2, [16, 16, 1]), 337 parameters: "
        f"accuracy {result['accuracy']:.0%} in {result['seconds']:.2f} s "
        f"({result['ms_per_step']:.1f} ms per step)"
    )
    print("  " + line)
    training.append("Scalar Values on " + line)

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
            line = (
                f"{name}: test accuracy {r['test_accuracy']:.2%} after "
                f"{r['epochs']} epochs ({r['parameters']:,} parameters) in {r['seconds']:.1f} s"
            )
            print("  " + line)
            training.append("Digits " + line)

    print("\nchainrule tour — part 3: forward vs reverse mode, Hessian-vector products")
    from chainrule.lessons import one_blas_thread

    with one_blas_thread():
        training += _transforms_part()

    print(f"\nchainrule tour — part 4: the lesson's experiments ({len(chosen)} lessons)")
    try:
        page, ok = _lessons_part(Path(args.out), chosen, training, start)
    except ImportError as err:  # matplotlib or scikit-learn missing: say how to install
        print(f"  cannot run the lessons: {err}", file=sys.stderr)
        return 1
    from chainrule.lessons._cli import mark

    verdict = "all claims hold" if ok else f"some claims did NOT hold (marked {mark(False)} above)"
    print(f"\n{verdict}")
    print(f"the tour's page: {page.resolve()}")
    return 0 if ok else 1


def _lessons_part(
    out: Path, chosen: list[str], training: list[str], start: float
) -> tuple[Path, bool]:
    """Run the chosen lessons quickly into out/NAME/, print their claims, write the page."""
    from chainrule.lessons import run_lesson, summary
    from chainrule.lessons._cli import mark
    from chainrule.lessons.page import write_index

    results, summaries = [], {}
    bar = progress(chosen, total=len(chosen), desc="lessons")
    for name in bar:
        bar.set_description(f"lesson {name}")
        t0 = time.perf_counter()
        r = run_lesson(name, out / name.replace("_", "-"), quick=True)
        results.append(r)
        summaries[r.lesson] = summary(name)
        held = sum(c.holds for c in r.claims)
        # tqdm.write prints above the bar without breaking it
        bar.write(
            f"  {mark(r.ok)} {r.lesson:<19} {held}/{len(r.claims)} claims hold, "
            f"{len(r.figures)} figure(s), {time.perf_counter() - t0:.1f} s"
        )
        for c in r.claims:
            if not c.holds:
                print(f"      {mark(False)} {c.claim}", file=sys.stderr)
    page = write_index(out, results, summaries, training, time.perf_counter() - start)
    return page, all(r.ok for r in results)


def _transforms_part() -> list[str]:
    """The lesson's asymmetry, measured: few inputs -> forward mode, one output -> reverse."""
    import chainrule as cr

    lines: list[str] = []
    cr.manual_seed(0)
    W = cr.randn(2000, 4)
    few_in = lambda x: (W @ x).tanh()  # noqa: E731  R^4 -> R^2000
    x4 = cr.randn(4)
    for mode, jac in (("jacfwd", cr.func.jacfwd), ("jacrev", cr.func.jacrev)):
        start = time.perf_counter()
        J = jac(few_in)(x4)
        ms = 1000 * (time.perf_counter() - start)
        lines.append(f"R^4 -> R^2000, {mode}: Jacobian {tuple(J.shape)} in {ms:.1f} ms")
    many_in = lambda x: (x.tanh() ** 2).sum()  # noqa: E731  R^100000 -> R
    x = cr.randn(100000)
    start = time.perf_counter()
    g = cr.func.grad(many_in)(x)
    ms = 1000 * (time.perf_counter() - start)
    lines.append(f"R^100000 -> R, grad (one reverse sweep): {tuple(g.shape)} in {ms:.2f} ms")
    A = cr.randn(50, 50, dtype=cr.float64)
    f = lambda x: ((A @ x).tanh() ** 2).sum()  # noqa: E731
    x50, v = cr.randn(50, dtype=cr.float64), cr.randn(50, dtype=cr.float64)
    _, hv = cr.func.hvp(f, (x50,), (v,))
    H = cr.func.hessian(f)(x50)
    err = float((hv - H @ v).abs().max())
    lines.append(f"hvp (forward-over-reverse) vs hessian @ v, n=50: max difference {err:.1e}")
    for line in lines:
        print("  " + line)
    return lines
