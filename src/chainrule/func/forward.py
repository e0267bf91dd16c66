"""Forward mode: JVP tracers carry a tangent through each primitive's JVP rule.

One forward pass computes ``J t``, the derivative along the input direction ``t``: no graph,
no reverse sweep. A linear primitive's JVP is the primitive applied to the tangents; the
others sum one rule per input that has a tangent. Broadcasting is undone in one place, here,
by expanding the tangent to the output's shape.
"""

from __future__ import annotations

from typing import Any

from chainrule.func.levels import Level, Tracer
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.shape import expand, to, zeros_like


class JVPTracer(Tracer):
    """A primal with its tangent at one forward-mode level."""

    def __init__(self, level: Level, primal: Any, tangent: Any) -> None:
        self._level = level
        self.primal = primal
        self.tangent = tangent

    def _become_constant(self, value: Any) -> None:
        self.primal, self.tangent = value, zeros_like(value)


class JVPLevel(Level):
    """One ``jvp`` call."""

    def __init__(self) -> None:
        super().__init__("jvp")

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        primals = tuple(a.primal if a._level is self else a for a in args)
        out = bind(prim, primals, params)  # older levels see the op next
        tangent = None
        if prim.linear:
            # J t of a linear map is the map applied to t; absent tangents are zeros
            if any(a._level is self for a in args):
                tangents = tuple(
                    a.tangent if a._level is self else zeros_like(p) for a, p in zip(args, primals)
                )
                tangent = bind(prim, tangents, params)
        else:
            for i, a in enumerate(args):
                if a._level is not self:
                    continue
                rule = prim.jvps[i]
                if rule is None:
                    continue  # not differentiable in this input (a condition, an index)
                part = rule(a.tangent, out, *primals, **params)
                tangent = part if tangent is None else tangent + part
            if tangent is not None and tangent.shape != out.shape:
                tangent = expand(tangent, out.shape)  # an input that was broadcast
        if tangent is None:
            return out  # a symbolic zero tangent: out is a constant to this level
        if tangent.dtype != out.dtype:
            tangent = to(tangent, out.dtype)
        return JVPTracer(self, out, tangent)
