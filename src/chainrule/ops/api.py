"""The public op namespace, generated from the family files' declarations in one place.

Each family file (``shape``, ``elementwise``, ``reduce``, ``linalg``, ``nn``, ...) defines an op
once: its primitive and rules, and its public function marked ``@public(...)`` (see
``chainrule.ops._primitive.public``). This module sits above all of them and the engine, and
from that one list (``EXPORTS``):

- attaches the Tensor methods (``x.exp()``, ``x.backward()``, ``x.add_(y)``) and operators
  (``x + y``), so that ``chainrule.tensor`` imports no op;
- defines ``__all__``, the names ``chainrule`` exports (``cr.exp``), and ``FUNCTIONAL``, the
  ones ``chainrule.nn.functional`` re-exports (``F.relu``).

Adding an op therefore means its family file plus one line in ``tests/opinfo.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import _backend
from chainrule.autograd import engine
from chainrule.ops import conv, decomp, elementwise, inplace, linalg, loss, nn, pool, reduce, shape
from chainrule.ops._primitive import EXPORTS
from chainrule.tensor import Tensor

FAMILIES = (shape, elementwise, reduce, linalg, decomp, nn, conv, pool, loss, inplace, engine)

# --- the functions: chainrule.<name> and nn.functional.<name> ---------------------------------

OPS: dict[str, Callable[..., Any]] = {e.name: e.fn for e in EXPORTS}
globals().update({e.name: e.fn for e in EXPORTS if e.toplevel})
__all__ = sorted(e.name for e in EXPORTS if e.toplevel)
FUNCTIONAL: dict[str, Callable[..., Any]] = {e.name: e.fn for e in EXPORTS if e.functional}

# --- the Tensor methods ----------------------------------------------------------------------

for _e in EXPORTS:
    for _method in _e.methods:
        setattr(Tensor, _method, _e.fn)  # a plain function: x.exp() calls exp(x)

for _name, _fn in vars(inplace.TensorInplace).items():
    if callable(_fn):  # add_, mul_, ..., __setitem__ and the surgery they share
        setattr(Tensor, _name, _fn)


def _reflected(fn: Callable) -> Callable:
    def method(self: Tensor, other: Any) -> Any:
        return fn(other, self)

    return method


E, R = elementwise, reduce
# Operators call the functions directly (no wrapper frame) on the hot path.
_OPERATORS: dict[str, Callable[..., Any]] = {
    "__add__": E.add,
    "__radd__": _reflected(E.add),
    "__sub__": E.sub,
    "__rsub__": _reflected(E.sub),
    "__mul__": E.mul,
    "__rmul__": _reflected(E.mul),
    "__truediv__": E.div,
    "__rtruediv__": _reflected(E.div),
    "__pow__": E.pow,
    "__rpow__": _reflected(E.pow),
    "__matmul__": linalg.matmul,
    "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": E.neg,
    "__abs__": E.abs,
    "__eq__": E.eq,
    "__ne__": E.ne,
    "__lt__": E.lt,
    "__le__": E.le,
    "__gt__": E.gt,
    "__ge__": E.ge,
    "__and__": E.logical_and,
    "__or__": E.logical_or,
    "__xor__": E.logical_xor,
    "__invert__": E.logical_not,
    "__iadd__": inplace.TensorInplace.add_,
    "__isub__": inplace.TensorInplace.sub_,
    "__imul__": inplace.TensorInplace.mul_,
    "__itruediv__": inplace.TensorInplace.div_,
}
# Aliases and conversions: PyTorch's spellings of the ops above.
_SUGAR: dict[str, Any] = {
    "T": property(lambda self: shape.permute(self, tuple(range(self.ndim - 1, -1, -1)))),
    "mT": property(lambda self: shape.transpose(self, -2, -1)),
    "float": lambda self: shape.to(self, _backend.float32),
    "double": lambda self: shape.to(self, _backend.float64),
    "half": lambda self: shape.to(self, _backend.float16),
    "long": lambda self: shape.to(self, _backend.int64),
    "int": lambda self: shape.to(self, _backend.int32),
    "view": shape.reshape,
    "expand_as": lambda self, other: shape.expand(self, other.shape),
    "view_as": lambda self, other: shape.reshape(self, other.shape),
    "type_as": lambda self, other: shape.to(self, other.dtype),
    "masked_fill": lambda self, mask, value: E.where(mask, value, self),
}
for _name, _fn in {**_OPERATORS, **_SUGAR}.items():
    setattr(Tensor, _name, _fn)
del _e, _method, _name, _fn
