"""Function transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd``, ``hessian``, ``hvp``, ``vmap`` — composable to any order (see ``levels`` for how) —
and ``custom_vjp``/``custom_jvp`` for functions with their own derivative rules."""

from chainrule.func.api import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp
from chainrule.func.custom import custom_jvp, custom_vjp
from chainrule.func.program import Program, TraceError, make_program
from chainrule.func.vmap import vmap

__all__ = [
    "Program",
    "TraceError",
    "custom_jvp",
    "custom_vjp",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "make_program",
    "value_and_grad",
    "vjp",
    "vmap",
]
