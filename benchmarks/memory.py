"""Peak memory of one step of a 32-layer MLP: inference vs training vs training with
``chainrule.utils.checkpoint`` every 4 layers, and what checkpointing costs in time; and a
training step that multiplies every layer's output by a constant mask (a node saves only what
a gradient needs: ``h * mask`` keeps the mask, not ``h``).

Memory is measured with tracemalloc, which NumPy reports its array allocations to; the model's
parameters exist before measuring starts, so the numbers are what the step itself allocates:
activations kept for backward, gradients, temporaries. "kept after forward" is what is still
allocated when the forward returns (the graph's saved activations), "peak" the high-water
mark over forward and backward. Times are medians of separate runs without tracemalloc.

    python benchmarks/memory.py [--width 256] [--batch 1024] [--depth 32] [--every 4]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import machine

import chainrule as cr
import chainrule.nn as nn
from chainrule.train import blas_threads
from chainrule.utils import checkpoint


def build(width: int, depth: int) -> nn.Sequential:
    cr.manual_seed(0)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)])


def segments(model: nn.Sequential, every: int) -> list[nn.Sequential]:
    blocks = list(model)
    return [nn.Sequential(*blocks[i : i + every]) for i in range(0, len(blocks), every)]


def step_fns(model: nn.Sequential, x: cr.Tensor, every: int) -> dict[str, Callable[[], object]]:
    chunks = segments(model, every)

    def inference() -> object:
        with cr.no_grad():
            return model(x).sum()

    def forward_train() -> object:
        return model(x).sum()

    def forward_ckpt() -> object:
        h = x
        for chunk in chunks:
            h = checkpoint(chunk, h)
        return h.sum()

    masks = [cr.tensor((cr.rand(*x.shape).numpy() > 0.5).astype(x.dtype) * 2.0) for _ in model]

    def forward_masked() -> object:
        # a constant operand in every layer (a fixed dropout mask): `h * mask` needs only the
        # mask for h's gradient, so h is not kept for backward (as in PyTorch)
        h = x
        for block, mask in zip(model, masks):
            h = block(h) * mask
        return h.sum()

    return {
        "inference": inference,
        "training": forward_train,
        "checkpointed": forward_ckpt,
        "const. masks": forward_masked,
    }


def measure(forward: Callable[[], object], model: nn.Module, train: bool) -> tuple[int, int]:
    """(bytes kept after forward, peak bytes over the step), relative to the start."""
    model.zero_grad()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    loss = forward()
    kept = tracemalloc.get_traced_memory()[0] - base
    if train:
        loss.backward()  # type: ignore[attr-defined]
    del loss
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return kept, peak


def timed(forward: Callable[[], object], model: nn.Module, train: bool, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        model.zero_grad()
        start = time.perf_counter()
        loss = forward()
        if train:
            loss.backward()  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv if argv is not None else [])
    model = build(args.width, args.depth)
    x = cr.randn(args.batch, args.width)
    params = sum(p.numel() * p.data.itemsize for p in model.parameters())
    activation = args.batch * args.width * 4
    print(machine())
    print(
        f"{args.depth} x (Linear({args.width}, {args.width}) + ReLU), batch {args.batch}, "
        f"float32: parameters {params / 2**20:.1f} MiB, one activation "
        f"{activation / 2**20:.2f} MiB; checkpoint every {args.every} layers; "
        f"BLAS threads {args.threads}"
    )
    fns = step_fns(model, x, args.every)
    rows = []
    with blas_threads(args.threads):
        for name, fn in fns.items():
            train = name != "inference"
            kept, peak = measure(fn, model, train)
            seconds = timed(fn, model, train, args.repeats)
            rows.append((name, kept, peak, seconds))
    base_time = rows[1][3]
    print(f"  {'':<14}{'kept after forward':>20}{'peak':>12}{'time/step':>12}")
    for name, kept, peak, seconds in rows:
        print(
            f"  {name:<14}{kept / 2**20:17.1f} MiB{peak / 2**20:8.1f} MiB"
            f"{seconds * 1e3:9.1f} ms  ({seconds / base_time:.2f}x training)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
