"""Reverse mode for transforms: VJP tracers record graph nodes; the sweep reuses the engine.

A VJP level records a ``Node`` per primitive like the eager tape does, except that the node
keeps the *traced* output (``out_tensor``) and its inputs are the unwrapped primals, which may
be tracers of older levels. ``chainrule.autograd.engine.run_backward`` then runs the VJP rules
on those primals, so an enclosing ``jvp`` differentiates the backward pass itself
(forward-over-reverse).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.node import Node
from chainrule.func.levels import Level, Tracer
from chainrule.ops._primitive import Primitive, bind, saved_versions


class VJPTracer(Tracer):
    """A primal with the graph node that produced it at one reverse-mode level."""

    def __init__(self, level: Level, primal: Any, node: Node | None) -> None:
        self._level = level
        self.primal = primal
        self._node = node  # None for the transform's inputs: they are this level's leaves
        # An input's leaf identity is fixed when it is made. ``x.mul_(2)`` inside ``f`` turns
        # the object ``x`` into the product (``Tracer._inplace_recorded``), but the nodes that
        # read ``x`` before, and the product's own node (through a snapshot of ``x`` that
        # copies this attribute), must still send their cotangents to the original input:
        # the gradient is with respect to the value ``f`` was called with, as ``jvp`` sees it.
        self._leaf = self if node is None else None

    _constant = False  # set when an in-place change made it independent of the inputs

    @property
    def edge(self) -> Any:
        """Where a cotangent for this value goes: its node, the input it is for an input, or
        nowhere (None) for a value that no longer depends on the inputs."""
        if self._constant:
            return None
        return self._node if self._node is not None else self._leaf

    def _become_constant(self, value: Any) -> None:
        self.primal, self._node, self._constant = value, None, True


class VJPLevel(Level):
    """One ``vjp``/``grad`` call."""

    def __init__(self) -> None:
        super().__init__("vjp")

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        primals = tuple(a.primal if a._level is self else a for a in args)
        out = bind(prim, primals, params)  # older levels see the op next
        vjps = prim.vjps
        edges = tuple(
            a.edge if a._level is self and vjps[i] is not None else None for i, a in enumerate(args)
        )
        node = Node(prim, primals, params, None)
        node.edges = edges
        if prim.saves:  # saved inputs changed in place later must be caught, as on the tape
            node.saved = tuple(saved_versions(primals, prim.saves))
        node.out_tensor = out  # rules read the traced output, not a bare array
        return VJPTracer(self, out, node)
