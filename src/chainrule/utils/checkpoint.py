"""Gradient checkpointing: trade compute for memory by recomputing activations in backward.

A training step keeps every intermediate activation alive until backward uses it, so memory
grows with depth; inference frees each one as soon as the next layer has read it.
``checkpoint(fn, *args)`` runs ``fn`` under ``no_grad`` (nothing inside is saved) and records
*one* node whose VJP re-runs ``fn`` with grad enabled and backpropagates through that fresh
local graph. Only the segment's inputs are kept, at the cost of one extra forward of ``fn``.

How gradients reach the leaves (the design choice):

- the positional Tensor arguments, and the parameters of ``fn`` when it is a ``Module`` or a
  bound method of one (or the tensors passed as ``params=``), are inputs of the recorded node,
  so their gradients flow through the outer graph like any other op's (``autograd.grad``
  works for them, hooks run once);
- any other leaf that ``fn`` captures in a closure gets its gradient accumulated into
  ``.grad`` by the recompute's own backward, as PyTorch's (reentrant) checkpoint does. That
  path serves ``loss.backward()``; ``autograd.grad`` cannot see such leaves.

The random generator's state is saved and restored around the recompute, so dropout inside
``fn`` draws the same mask twice. Double backward (``create_graph=True``) through a
checkpoint is not supported and says so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.ops._primitive import Primitive, bind
from chainrule.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Pending:
    """Gradients from one recompute, handed out one input at a time (the engine asks the
    rule once per input; recomputing per input would repeat the work)."""

    def __init__(self) -> None:
        self.grads: dict[int, Any] | None = None


def _call_args(arrays: Sequence[Any], template: tuple, wrap: Callable[[Any], Any]) -> list:
    """The user's positional arguments with the Tensor slots filled from ``arrays``."""
    args, k = [], 0
    for slot in template:
        if slot is _TENSOR:
            args.append(wrap(arrays[k]))
            k += 1
        else:
            args.append(slot)
    return args


_TENSOR = object()  # marks where a Tensor argument goes in the template


def _rng_state() -> Any:
    from chainrule.creation import _rng

    return _rng().bit_generator.state


def _set_rng_state(state: Any) -> None:
    from chainrule.creation import _rng

    _rng().bit_generator.state = state


def _impl(*arrays: Any, fn: Callable, template: tuple, n_args: int, pending: _Pending,
          rng: Any) -> Any:  # fmt: skip
    prev = STATE.grad_enabled
    STATE.grad_enabled = False  # the forward saves nothing: that is the point
    try:
        out = fn(*_call_args(arrays[:n_args], template, Tensor))
    finally:
        STATE.grad_enabled = prev
    if not isinstance(out, Tensor):
        raise TypeError(
            f"checkpoint: the function must return one Tensor, got {type(out).__name__}"
        )
    return out.data


def _vjp(i: int, g: Any, out: Any, *inputs: Any, fn: Callable, template: tuple, n_args: int,
         pending: _Pending, rng: Any) -> Any:  # fmt: skip
    if pending.grads is None:
        pending.grads = _recompute(g, inputs, fn, template, n_args, rng)
    grads = pending.grads
    gx = grads.pop(i, None)
    if not grads:
        pending.grads = None  # every input served: a second backward recomputes
    return gx


def _recompute(
    g: Any, inputs: tuple, fn: Callable, template: tuple, n_args: int, rng: Any
) -> dict[int, Any]:
    """Re-run ``fn`` with grad enabled on detached copies of the arguments, backpropagate
    ``g`` through it, and return the gradient of every input that requires grad."""
    if STATE.grad_enabled:  # the engine turns grad mode on in rules only for create_graph
        raise RuntimeError(
            "checkpoint: double backward (create_graph=True) through a checkpointed function "
            "is not supported; run that part without checkpoint"
        )
    # Fresh leaves for the arguments: the recompute's graph stops at them, so its backward
    # never runs into (or frees) the outer graph, and their .grad is the arguments' gradient.
    copies = []
    for x in inputs[:n_args]:
        c = Tensor(x.data)
        if x.requires_grad:
            c.requires_grad_()
        copies.append(c)
    params = inputs[n_args:]
    saved_rng = None
    if rng is not None:
        saved_rng = _rng_state()
        _set_rng_state(rng)  # replay the forward's random draws (dropout masks)
    STATE.grad_enabled = True
    try:
        out = fn(*_call_args(copies, template, lambda c: c))
    finally:
        STATE.grad_enabled = False
        if saved_rng is not None:
            _set_rng_state(saved_rng)
    grads: dict[int, Any] = {k: None for k, x in enumerate(inputs) if x.requires_grad}
    if not (isinstance(out, Tensor) and out.requires_grad):
        return grads
    # The node's parameter inputs get their gradient from the outer engine, so the inner
    # backward must not accumulate into their .grad (nor run their hooks): park them.
    stash = [(p.grad, p._hooks) for p in params]
    for p in params:
        p.grad, p._hooks = None, None
    try:
        out.backward(g)  # accumulates into the copies, the parked params and closure leaves
        for k, c in enumerate(copies):
            if k in grads:
                grads[k] = c.grad
        for k, p in enumerate(params, start=n_args):
            if k in grads:
                grads[k] = p.grad
    finally:
        for p, (grad, hooks) in zip(params, stash):
            p.grad, p._hooks = grad, hooks
    return grads


def _prim(n: int) -> Primitive:
    prim = _PRIMS.get(n)
    if prim is None:
        prim = _PRIMS[n] = Primitive("checkpoint", _impl, saves=tuple(range(n)))
        prim.vjps = _Rules()
    return prim


class _Rules(tuple):
    """One VJP rule for any number of inputs; rule i returns input i's gradient."""

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        return functools.partial(_vjp, i)


_PRIMS: dict[int, Primitive] = {}


def checkpoint(
    function: Callable[..., Tensor],
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    params: Sequence[Tensor] | None = None,
) -> Tensor:
    """``function(*args)``, computed without saving its activations; they are recomputed
    during backward. Same value and gradients as calling ``function`` directly.

    Args:
        function: returns one Tensor. Its parameters (a ``Module`` or a bound method of one)
            become inputs of the recorded node automatically.
        args: its positional arguments (Tensors and other values).
        use_reentrant: accepted for PyTorch compatibility; ignored.
        preserve_rng_state: replay the random generator, so dropout masks match.
        params: extra tensors that ``function`` reads through a closure, to route their
            gradients through the outer graph (otherwise they are accumulated into ``.grad``
            directly by the recompute's backward).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> _ = cr.manual_seed(0)
    >>> block = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    >>> x = cr.randn(2, 4, requires_grad=True)
    >>> checkpoint(block, x).sum().backward()
    >>> g_ckpt = x.grad.clone(); x.grad = None
    >>> block(x).sum().backward()
    >>> bool((x.grad - g_ckpt).abs().max() < 1e-6)
    True
    """
    template = tuple(_TENSOR if isinstance(a, Tensor) else a for a in args)
    tensors = [a for a in args if isinstance(a, Tensor)]
    extra = list(params) if params is not None else _module_params(function)
    seen = {id(t) for t in tensors}
    extra = [p for p in extra if id(p) not in seen and p.requires_grad]
    inputs = tensors + extra
    if not any(t.requires_grad for t in inputs) and STATE.grad_enabled:
        # closure leaves may still need gradients: one dummy input keeps the node in the graph
        inputs.append(Tensor(_zero(), requires_grad=True))
    params_ = {
        "fn": function,
        "template": template,
        "n_args": len(tensors),
        "pending": _Pending(),
        "rng": _rng_state() if preserve_rng_state else None,
    }
    return bind(_prim(len(inputs)), tuple(inputs), params_)


def _zero() -> Any:
    from chainrule._backend import xp

    return xp.zeros((), dtype=xp.float32)


def _module_params(function: Callable) -> list[Tensor]:
    from chainrule.nn.module import Module

    owner = function if isinstance(function, Module) else getattr(function, "__self__", None)
    return list(owner.parameters()) if isinstance(owner, Module) else []


def checkpoint_sequential(functions: Any, segments: int, input: Tensor, **kwargs: Any) -> Tensor:
    """Run a ``Sequential`` (or a list of modules) in ``segments`` chunks, checkpointing all
    but the last chunk (whose activations backward needs at once anyway), as PyTorch's."""
    from chainrule.nn.layers import Sequential

    layers = list(functions)
    size = -(-len(layers) // segments)
    chunks = [Sequential(*layers[i : i + size]) for i in range(0, len(layers), size)]
    for chunk in chunks[:-1]:
        input = checkpoint(chunk, input, **kwargs)
    return chunks[-1](input)
