"""The training step users write, ``h @ W + b``, next to the fused ``F.linear`` step, for
chainrule and PyTorch, against the hand-written NumPy floor: default threads, then one thread.

    python benchmarks/eager_step.py [tiny small medium] [--rounds 15]

Each thread setting is one set of interleaved rounds over all five functions, so the ratios in
a row come from the same conditions. "raw" is ``h @ W + b`` with W stored (in, out), relu,
cross-entropy, backward, SGD; "linear" is ``F.linear`` (what ``nn.Linear`` runs).
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
from _common import compare, machine, peer
from mlp_step import SIZES, chainrule_setup, lr, make_params, numpy_step, torch_setup

import chainrule as cr
from chainrule._threads import limit_threads


def chainrule_raw(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    from chainrule.nn.functional import cross_entropy

    ps = [cr.tensor(p, requires_grad=True) for p in params]
    xt, yt = cr.tensor(x), cr.tensor(y)

    def step() -> None:
        h = xt
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = h @ ps[2 * k] + ps[2 * k + 1]
            if k < n_layers - 1:
                h = h.relu()
        loss = cross_entropy(h, yt)
        for p in ps:
            p.grad = None
        loss.backward()
        rate = lr()
        with cr.no_grad():
            for p in ps:
                p.data -= rate * p.grad.data

    return step


def torch_raw(torch, params, x, y):
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    xt, yt = torch.tensor(x), torch.tensor(y)
    F = torch.nn.functional

    def step() -> None:
        h = xt
        n_layers = len(ps) // 2
        for k in range(n_layers):
            h = h @ ps[2 * k] + ps[2 * k + 1]
            if k < n_layers - 1:
                h = h.relu()
        loss = F.cross_entropy(h, yt)
        for p in ps:
            p.grad = None
        loss.backward()
        rate = lr()
        with torch.no_grad():
            for p in ps:
                p -= rate * p.grad

    return step


def run(size: str, rounds: int) -> dict[str, float]:
    batch, widths = SIZES[size]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], batch)
    params = make_params(widths)
    fns = {
        "NumPy floor": functools.partial(numpy_step, [p.copy() for p in params], x, y),
        "chainrule raw": chainrule_raw(params, x, y),
        "chainrule linear": chainrule_setup(params, x, y),
    }
    torch = peer("torch")
    if torch is not None:
        fns["PyTorch raw"] = torch_raw(torch, params, x, y)
        fns["PyTorch linear"] = torch_setup(torch, params, x, y)
    return dict(compare(fns, rounds=rounds))


def report(size: str, threads: str, t: dict[str, float]) -> None:
    floor, tr = t["NumPy floor"], t.get("PyTorch raw")
    tl = t.get("PyTorch linear")
    cells = [f"floor {floor * 1e3:.3f}"]
    for name in ("PyTorch raw", "chainrule raw", "PyTorch linear", "chainrule linear"):
        if name in t:
            cells.append(f"{name} {t[name] * 1e3:.3f}")
    print(f"{size:<7} {threads:<8} ms: " + ", ".join(cells))
    ratios = [f"cr raw/floor {t['chainrule raw'] / floor:.2f}"]
    if tr:
        ratios.append(f"cr raw/torch raw {t['chainrule raw'] / tr:.2f}")
    if tl:
        ratios.append(f"cr linear/torch linear {t['chainrule linear'] / tl:.2f}")
    ratios.append(f"cr raw/cr linear {t['chainrule raw'] / t['chainrule linear']:.2f}")
    print(" " * 17 + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(machine())
    torch = peer("torch")
    default_torch = torch.get_num_threads() if torch is not None else None
    for threads in ("default", "1"):
        with limit_threads(None if threads == "default" else 1):
            if torch is not None:
                torch.set_num_threads(default_torch if threads == "default" else 1)
            for size in args.sizes:
                report(size, threads, run(size, args.rounds))


if __name__ == "__main__":
    main()
