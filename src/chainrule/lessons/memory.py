"""Memory: why training needs several times the memory of inference, and checkpointing.

Inference can forget: once layer ``k + 1`` has read layer ``k``'s output, that output is
garbage, so at any moment only a couple of activations are alive next to the weights.
Training cannot: the backward pass needs the forward pass's intermediate values (a linear
layer's VJP for its weight is ``g^T x``, it needs its input ``x``; ReLU's needs which units
were on), so every layer's saved tensors stay alive until backward reaches that layer. Add
the gradients, one per parameter, and training memory is the weights, plus their gradients,
plus one set of saved activations *per layer*, against inference's weights plus a constant.
That is where the lesson's "training uses 3-4x the memory of inference" comes from; the exact
factor depends on how the batch's activations compare to the weights.

Gradient checkpointing trades compute for memory: ``cr.utils.checkpoint_sequential`` runs
the network in segments, keeps only each segment's input, and recomputes the segment's
activations during backward when they are needed. Peak memory then holds one segment's
activations instead of all of them, for the price of one extra forward pass.

The lesson measures peak memory with ``tracemalloc`` (which sees every NumPy array
allocation) for MLPs of increasing depth: one forward under ``no_grad`` (inference) and one
forward plus backward (training), then training with and without checkpointing.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "memory"
WIDTH, BATCH = 256, 256


def mlp(depth: int, seed: int = 0) -> cr.nn.Sequential:
    """``depth`` blocks of Linear(256, 256) + ReLU."""
    cr.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [cr.nn.Linear(WIDTH, WIDTH), cr.nn.ReLU()]
    return cr.nn.Sequential(*layers)


def peak_bytes(fn) -> int:
    """Peak bytes allocated (above what was live at the start) while fn runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _param_bytes(model: cr.nn.Module) -> int:
    return sum(p.detach().numpy().nbytes for p in model.parameters())


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Training vs inference peak memory per depth; checkpointing's memory and time."""
    result = start(NAME, out_dir)
    x = cr.randn(BATCH, WIDTH)
    depths = [1, 2, 4, 8, 16] if quick else [1, 2, 4, 8, 16, 32]
    rows = []
    for depth in depths:
        model = mlp(depth)

        def infer(model=model) -> None:
            with cr.no_grad():
                model(x)

        def train(model=model) -> None:
            for p in model.parameters():
                p.grad = None
            model(x).pow(2).mean().backward()

        weights = _param_bytes(model)
        # totals include the weights, which both need and which were allocated beforehand
        rows.append(
            {
                "depth": depth,
                "weights": weights,
                "inference": weights + peak_bytes(infer),
                "training": weights + peak_bytes(train),
            }
        )
    ratio = [r["training"] / r["inference"] for r in rows]
    extra = [r["training"] - r["inference"] for r in rows]
    slope, intercept = np.polyfit(depths, extra, 1)
    fit = np.polyval([slope, intercept], depths)
    r2 = 1 - float(
        ((np.array(extra) - fit) ** 2).sum() / ((np.array(extra) - np.mean(extra)) ** 2).sum()
    )
    per_layer_activation = BATCH * WIDTH * 4  # one float32 activation of one layer
    layer_w = rows[0]["weights"]  # one layer's weights and bias, in bytes
    predicted = layer_w + per_layer_activation  # its gradient plus one saved activation
    # What an engine must keep per layer is the gradient; what it saves for backward depends
    # on the engine (a ReLU can keep its output or a 1-byte mask), so allow 0.5-2 activations.
    low, high = layer_w + per_layer_activation // 2, layer_w + 2 * per_layer_activation
    result.claim(
        "Training's extra memory over inference grows linearly with depth: per layer, one "
        "layer's gradient plus the activations saved for backward (predicted: one activation)",
        r2 > 0.98 and low <= slope <= high,
        extra_bytes_per_layer=float(slope),
        predicted_bytes_per_layer=predicted,
        one_activation_bytes=per_layer_activation,
        one_layer_weights_bytes=layer_w,
        linear_fit_r2=r2,
    )
    asymptote = (2 * layer_w + per_layer_activation) / layer_w
    deep = [q for q, r in zip(ratio, rows) if r["depth"] >= 8]
    result.claim(
        "With 8 or more layers training needs 2.5-4.5x the memory of inference (the lesson "
        "says 3-4x), rising with depth toward (weights + gradients + activations) / weights",
        all(2.5 <= q <= 4.5 for q in deep) and all(np.diff(ratio) > 0) and ratio[-1] < asymptote,
        depths=depths,
        training_over_inference=[round(q, 2) for q in ratio],
        predicted_limit=asymptote,
        training_bytes=[r["training"] for r in rows],
        inference_bytes=[r["inference"] for r in rows],
    )

    # Checkpointing: a deep net in 4 segments, against the plain training step.
    depth = 16
    model = mlp(depth)
    segments = 4

    def plain() -> None:
        model(x).pow(2).mean().backward()

    def checkpointed() -> None:
        cr.utils.checkpoint_sequential(list(model), segments, x).pow(2).mean().backward()

    grads = {}
    timing = {}
    for name, step in (("plain", plain), ("checkpointed", checkpointed)):
        for p in model.parameters():
            p.grad = None
        peak = peak_bytes(step)
        grads[name] = [p.grad.numpy().copy() for p in model.parameters()]
        best = float("inf")
        for _ in range(5):
            for p in model.parameters():
                p.grad = None
            t0 = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t0)
        timing[name] = {"peak_bytes": peak + _param_bytes(model), "seconds": best}
    same = max(float(np.abs(a - b).max()) for a, b in zip(grads["plain"], grads["checkpointed"]))
    saved = 1 - timing["checkpointed"]["peak_bytes"] / timing["plain"]["peak_bytes"]
    result.claim(
        f"checkpoint_sequential ({segments} segments, {depth} layers) lowers peak training "
        "memory and gives the same gradients",
        saved > 0.15 and same < 1e-5,
        memory_saved_fraction=saved,
        max_gradient_difference=same,
        plain=timing["plain"],
        checkpointed=timing["checkpointed"],
        time_ratio=timing["checkpointed"]["seconds"] / timing["plain"]["seconds"],
    )

    mib = 2**20
    fig = figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
    ax1.plot(
        depths,
        [r["training"] / mib for r in rows],
        "o-",
        color="tab:red",
        label="training: forward + backward",
    )
    ax1.plot(
        depths,
        [r["inference"] / mib for r in rows],
        "s-",
        color="tab:blue",
        label="inference: forward under no_grad",
    )
    ax1.plot(
        depths, [r["weights"] / mib for r in rows], ":", color="gray", label="the weights alone"
    )
    for d, r, q in zip(depths, rows, ratio):
        ax1.annotate(
            f"{q:.1f}x",
            (d, r["training"] / mib),
            textcoords="offset points",
            xytext=(-4, 7),
            ha="right",
            fontsize=8,
            color="tab:red",
        )
    ax1.set_ylim(0, 1.15 * rows[-1]["training"] / mib)
    ax1.set_xlabel(f"number of layers (Linear {WIDTH}x{WIDTH} + ReLU, batch {BATCH})")
    ax1.set_ylabel("peak memory (MiB, float32)")
    ax1.set_title("Training vs inference memory (labels: training / inference)")
    ax1.legend(loc="upper left")
    ax1.grid(alpha=0.3)
    names = ["plain", "checkpointed"]
    ax2.bar([0, 1], [timing[n]["peak_bytes"] / mib for n in names], color=["tab:red", "tab:green"])
    for i, n in enumerate(names):
        ax2.text(
            i,
            timing[n]["peak_bytes"] / mib,
            f"{1000 * timing[n]['seconds']:.0f} ms / step",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax2.set_xticks([0, 1], ["plain training", f"checkpoint_sequential\n({segments} segments)"])
    ax2.set_ylabel("peak memory (MiB)")
    ax2.set_title(
        f"Checkpointing, {depth} layers: peak memory (bars),\n"
        "time per step (labels, best of 5; it recomputes one extra forward)"
    )
    ax2.set_ylim(0, 1.2 * timing["plain"]["peak_bytes"] / mib)
    ax2.grid(alpha=0.3, axis="y")
    result.save_figure(fig, "memory.png")
    result.write()
    return result
