"""Function transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd``, ``hessian``, ``hvp`` — composable to any order (see ``levels`` for how)."""

from chainrule.func.api import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp
from chainrule.func.program import Program, TraceError, make_program

__all__ = [
    "Program",
    "TraceError",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "make_program",
    "value_and_grad",
    "vjp",
]
