"""Batching: run one computation over a stack of tangents or cotangents at once.

``jacfwd`` needs ``J e_k`` for every basis vector ``e_k`` and ``jacrev`` needs ``e_k^T J``.
Doing one Python-level pass per basis vector costs the interpreter overhead ``n`` times; a
*batch level* instead carries all of them in one array with a leading batch axis, and each
primitive is applied once to the stack (what JAX's ``vmap`` does). Values of the batch level
are ``BatchTracer``s: ``shape`` is the per-example shape, the wrapped ``value`` has the batch
axis first.

Each primitive that a stacked value can reach carries its batching rule (``prim.batch``, set
in its family file next to its derivatives): elementwise ops align ranks and broadcast, ``sum``
shifts its ``dim`` by one, shape ops prepend the batch axis to their shape argument, matmul
aligns its operands' batch dims. Only tangents and cotangents are ever batched here (the primal
computation runs once), so only the ops they flow through need a rule: the linear and
multilinear ones. The comparisons and nonlinear ops in rules read primals and never see a
batch tracer. A primitive without a rule falls back to a loop over the batch (correct, just
slower); ``tests/test_func_ops.py`` checks that the op table never takes that path.
"""

from __future__ import annotations

from typing import Any

from chainrule.func.levels import Level, Tracer
from chainrule.ops._primitive import Primitive
from chainrule.ops.shape import loop_batch


class BatchTracer(Tracer):
    """A stack of values at one batch level: ``value`` has shape ``(size, *shape)``."""

    def __init__(self, level: BatchLevel, value: Any) -> None:
        self._level = level
        self.primal = value  # the stacked value; lowering a dead batch tracer yields it

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.primal.shape[1:]

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.primal.ndim - 1


class BatchLevel(Level):
    """One batched evaluation over ``size`` examples."""

    def __init__(self, size: int) -> None:
        super().__init__("batch")
        self.size = size

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        values = [a.primal if a._level is self else a for a in args]
        batched = [a._level is self for a in args]
        rule = prim.batch or loop_batch
        return BatchTracer(self, rule(self, prim, values, batched, params))

    def wrap(self, value: Any) -> BatchTracer:
        return BatchTracer(self, value)
