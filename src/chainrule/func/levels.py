"""Levels and tracers: how nested transforms keep their perturbations apart.

Each call of a transform (``jvp``, ``grad``, ``vjp``...) opens one ``Level``. Its ``order``
comes from a global counter and is never reused, and levels are compared by identity, so a
value can only ever be taken for a tracer of the transform that made it (JAX's identity check,
with HIPS autograd's data-directed dispatch).

Inside a transform, values are tracers: ``Tensor`` subclasses that carry ``_level`` and a
``primal`` (a Tensor, or a tracer of an older level) plus either a tangent (forward mode) or a
graph node (reverse mode). ``bind`` sends an operation to ``dispatch``
(``chainrule.ops._primitive``) when any level is live:

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
from chainrule.ops._primitive import Primitive, lower
from chainrule.tensor import Tensor

_orders = itertools.count(1)


class Level:
    """One transform call. ``order`` grows monotonically: newer levels handle ops first."""

    __slots__ = ("adopted", "alive", "ghosts", "kind", "order")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.order = next(_orders)
        self.alive = True
        self.adopted: list[Tensor] | None = None  # plain tensors that took a traced value
        # id(t) -> (t, t's tracer state at exit), for the transform's own output handling
        self.ghosts: dict[int, tuple[Tensor, Tracer]] = {}

    def adopt(self, t: Tensor, value: Tracer) -> None:
        """Make the plain tensor ``t`` *be* the tracer ``value`` of this level until it exits
        (``y[0] = x`` into a tensor ``y`` that is not traced). At exit ``t`` becomes its
        primal again: a tracer must never outlive its level in a user's variable."""
        t.__class__ = type(value)
        t.__dict__.clear()
        t.__dict__.update(value.__dict__)
        if self.adopted is None:
            self.adopted = []
        self.adopted.append(t)

    def _release_adopted(self) -> None:
        for t in self.adopted or ():
            if t._level is not self:
                continue  # adopted again by a newer level, or changed since
            # the transform may still read t as its output (jvp/vjp unwrap after the exit):
            # it finds the traced state here (see ``traced``), the user's t is plain again
            ghost = object.__new__(type(t))
            ghost.__dict__.update(t.__dict__)
            self.ghosts[id(t)] = (t, ghost)
            value = lower(t.primal)
            t.__class__ = type(value)
            t.__dict__.clear()
            t.__dict__.update(value.__dict__)
            if value._level is not None:  # still traced by an outer, live level
                value._level.adopt(t, value)
        self.adopted = None

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Level:
        STATE.levels += 1  # bind now sends ops to dispatch (chainrule.ops._primitive)
        return self

    def __exit__(self, *exc: object) -> None:
        self.alive = False  # its tracers become constants from now on
        if self.adopted is not None:
            self._release_adopted()
        STATE.levels -= 1

    def __repr__(self) -> str:
        return f"<{self.kind} level {self.order}{'' if self.alive else ' (exited)'}>"


class Tracer(Tensor):
    """A value inside a transform: a Tensor whose ``data`` is its innermost primal's data."""

    primal: Any

    @property  # type: ignore[override]
    def data(self) -> Any:
        return self.primal.data

    # The shape is the primal's, not the innermost array's: under a vmap (a batch level
    # older than this one) the array has the batch axis, the value seen here does not.
    @property  # type: ignore[override]
    def shape(self) -> tuple[int, ...]:
        return self.primal.shape

    @property  # type: ignore[override]
    def ndim(self) -> int:
        return self.primal.ndim

    def _record_inplace(self, other: Any = None) -> bool:
        return True  # a traced value changes in place by taking over the out-of-place result

    def _inplace_recorded(self, op: str, compute: Any) -> Tensor:
        """``x.add_(y)`` on a tracer: compute ``x + y`` out of place, then make this object
        *be* the result (its primal and tangent or node), as ``x = x + y`` would."""
        snapshot = object.__new__(type(self))
        snapshot.__dict__.update(self.__dict__)
        new = compute(snapshot)
        aliases = self._vc, self._view_src, self._viewed, self._view_hist
        if type(new) is type(self) and new._level is self._level:
            self.__dict__.update(new.__dict__)
        else:  # the new value does not depend on this level's inputs: a constant to it
            self._become_constant(new)
        self._vc, self._view_src, self._viewed, self._view_hist = aliases
        self._bump(history=True)  # aliases made earlier now hold a stale value
        return self

    def _become_constant(self, value: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._level!r}, primal={self.primal!r})"


def traced(x: Any, level: Level) -> Any:
    """``x`` as ``level`` traced it: an adopted tensor (see ``Level.adopt``) that became plain
    again at the level's exit is looked up in the level's ghosts."""
    entry = level.ghosts.get(id(x)) if level.ghosts else None
    return entry[1] if entry is not None and entry[0] is x else x
