"""``autograd.grad``: gradients of outputs with respect to chosen inputs, returned rather than
accumulated into ``.grad``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _as_list(x: Any) -> list[Any]:
    from chainrule.tensor import Tensor

    return [x] if isinstance(x, Tensor) else list(x)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Any, ...]:
    """Sum over ``outputs`` of ``grad_output`` times d(output)/d(input), for each input.

    Args:
        outputs: a tensor or a sequence of tensors to differentiate.
        inputs: the tensors to differentiate with respect to (leaves or intermediates).
        grad_outputs: cotangents of ``outputs`` (ones for one-element outputs when omitted).
        retain_graph: keep the graph for another backward (defaults to ``create_graph``).
        create_graph: record the backward, so the result can be differentiated again.
        allow_unused: return ``None`` for inputs the outputs do not depend on, instead of
            raising.

    Returns:
        A tuple with one gradient per input.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> (dx,) = cr.autograd.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = cr.autograd.grad(dx, x)
    >>> float(dx), float(d2x)
    (12.0, 12.0)
    """
    from chainrule.autograd.engine import root_gradient, run_backward
    from chainrule.tensor import Tensor

    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if grad_outputs is None:
        gouts: Sequence[Any] = [None] * len(outs)
    else:
        gouts = _as_list(grad_outputs) if not isinstance(grad_outputs, Tensor) else [grad_outputs]
    if len(gouts) != len(outs):
        raise ValueError(
            f"autograd.grad: got {len(gouts)} grad_outputs for {len(outs)} outputs; pass one "
            "per output"
        )
    roots, root_grads = [], []
    for k, (out, g) in enumerate(zip(outs, gouts)):
        root, g = root_gradient(out, g, "autograd.grad", k)
        roots.append(root)
        root_grads.append(g)
    for k, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(
                f"autograd.grad: input {k} (shape {tuple(t.shape)}) does not require grad"
            )
    if retain_graph is None:
        retain_graph = create_graph
    edges = [t.grad_fn if t.grad_fn is not None else t for t in ins]
    results = run_backward(
        roots, root_grads, retain_graph=retain_graph, create_graph=create_graph, inputs=edges
    )
    assert results is not None
    for k, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(
                f"autograd.grad: input {k} (shape {tuple(ins[k].shape)}) was not used to "
                "compute the outputs. Pass allow_unused=True to get None for it."
            )
    return tuple(results)
