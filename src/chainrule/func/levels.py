"""Levels and tracers: how nested transforms keep their perturbations apart.

Each call of a transform (``jvp``, ``grad``, ``vjp``...) opens one ``Level``. Its ``order``
comes from a global counter and is never reused, and levels are compared by identity, so a
value can only ever be taken for a tracer of the transform that made it (JAX's identity check,
with HIPS autograd's data-directed dispatch).

Inside a transform, values are tracers: ``Tensor`` subclasses that carry ``_level`` and a
``primal`` (a Tensor, or a tracer of an older level) plus either a tangent (forward mode) or a
graph node (reverse mode). ``bind`` sends an operation here when any level is live:

1. tracers of levels that have exited are lowered to their primals (they are constants now:
   a tangent that leaks out of one ``jvp`` cannot perturb a sibling ``jvp``);
2. the newest live level among the arguments handles the operation: it unwraps its own
   tracers, calls ``bind`` again on the primals (so older levels process the op next,
   recursively), then applies its rule to the result;
3. rules are ordinary chainrule ops on primals and tangents, so they are themselves traced by
   the older levels: "a rule runs one level down". That is what makes ``jvp(grad(f))`` (the
   Hessian-vector product) and ``jacfwd(jacrev(f))`` work with no extra machinery.
"""

from __future__ import annotations

import itertools
from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.ops._primitive import Primitive, eager
from chainrule.tensor import Tensor

_orders = itertools.count(1)


class Level:
    """One transform call. ``order`` grows monotonically: newer levels handle ops first."""

    __slots__ = ("alive", "kind", "order")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.order = next(_orders)
        self.alive = True

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Level:
        STATE.levels += 1
        STATE.dispatch = dispatch
        return self

    def __exit__(self, *exc: object) -> None:
        self.alive = False  # its tracers become constants from now on
        STATE.levels -= 1

    def __repr__(self) -> str:
        return f"<{self.kind} level {self.order}{'' if self.alive else ' (exited)'}>"


class Tracer(Tensor):
    """A value inside a transform: a Tensor whose ``data`` is its innermost primal's data."""

    primal: Any

    @property  # type: ignore[override]
    def data(self) -> Any:
        return self.primal.data

    def _record_inplace(self, other: Any = None) -> bool:
        raise RuntimeError(
            f"in-place operations are not supported on values traced by a {self._level.kind} "
            f"transform (a tensor of shape {tuple(self.shape)}); use the out-of-place op "
            "(x = x + 1 rather than x.add_(1))"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._level!r}, primal={self.primal!r})"


def lower(x: Any) -> Any:
    """Strip the tracers of exited levels: what is left is a constant to every live level."""
    while x._level is not None and not x._level.alive:
        x = x.primal
    return x


def dispatch(prim: Primitive, args: tuple, params: dict) -> Any:
    """``bind`` inside transforms: the newest live level among the arguments handles ``prim``."""
    top = None
    stale = False
    for a in args:
        level = a._level
        if level is not None:
            if not level.alive:
                stale = True
            elif top is None or level.order > top.order:
                top = level
    if stale:
        args = tuple(lower(a) for a in args)
        top = None
        for a in args:
            if a._level is not None and (top is None or a._level.order > top.order):
                top = a._level
    if top is None:
        return eager(prim, args, params)  # no tracers: an ordinary (taped) operation
    return top.process(prim, args, params)
