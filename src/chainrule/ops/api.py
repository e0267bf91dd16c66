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

import functools
import inspect
from collections.abc import Callable
from typing import Any

from chainrule import _backend
from chainrule.autograd import engine
from chainrule.ops import (
    conv,
    decomp,
    elementwise,
    inplace,
    linalg,
    loss,
    nn,
    pool,
    random,
    reduce,
    shape,
)
from chainrule.ops._primitive import EXPORTS
from chainrule.tensor import _UFUNC_OPS, Tensor

FAMILIES = (
    shape,
    elementwise,
    reduce,
    linalg,
    decomp,
    nn,
    conv,
    pool,
    loss,
    random,
    inplace,
    engine,
)

# --- PyTorch's keyword spellings --------------------------------------------------------------


def _write_out(out: Any, result: Any, name: str) -> Any:
    """PyTorch's ``out=``: the result written into ``out`` (resized if needed), which is
    returned. As in PyTorch, this is not recorded by autograd."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}: out= must be a tuple of {len(result)} tensors here")
        return type(result)(*[_write_out(o, r, name) for o, r in zip(out, result)])
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out= must be a Tensor, got {type(out).__name__}")
    if out.requires_grad and engine.STATE.grad_enabled:
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad"
        )
    data = result.data if isinstance(result, Tensor) else result
    if out.data.shape == data.shape and out.data.dtype == data.dtype:
        out.data[...] = data
    else:
        out.data = data.astype(out.data.dtype, copy=True)  # PyTorch resizes out to fit
    out._bump()
    return out


def _torch_keywords(fn: Callable[..., Any], params: list[str]) -> Callable[..., Any]:
    """``fn`` that also takes PyTorch's keyword names: ``input=``/``other=`` for the first
    two operands, ``keepdims=`` for ``keepdim=`` and ``axis=`` for ``dim=`` (NumPy's, which
    PyTorch accepts too), and ``out=``. Plain calls pay one frame."""
    # PyTorch's operand names -> this function's: the first two tensor operands (after the
    # condition, for ``where``)
    skip = 1 if params[:1] == ["condition"] else 0
    aliases = dict(zip(("input", "other"), params[skip : skip + 2]))

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            return fn(*args)
        out = kwargs.pop("out", None)
        for torch_name, own in aliases.items():
            if torch_name in kwargs and torch_name not in params:
                kwargs[own] = kwargs.pop(torch_name)
        if "keepdims" in kwargs and "keepdims" not in params:
            kwargs["keepdim"] = kwargs.pop("keepdims")
        if "axis" in kwargs and "axis" not in params and "dim" in params:
            kwargs["dim"] = kwargs.pop("axis")  # NumPy's name (np.sum(t) calls t.sum(axis=...))
        for key in [k for k, v in kwargs.items() if v is None and k not in params]:
            del kwargs[key]  # NumPy passes dtype=None, out=None to a tensor's sum/mean
        result = fn(*args, **kwargs)
        return result if out is None else _write_out(out, result, fn.__name__)

    return call


def _params(fn: Callable[..., Any]) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


# --- the functions: chainrule.<name> and nn.functional.<name> ---------------------------------

_PORTED: dict[str, Callable[..., Any]] = {
    e.name: _torch_keywords(e.fn, _params(e.fn)) for e in EXPORTS if e.toplevel or e.functional
}
OPS: dict[str, Callable[..., Any]] = {e.name: e.fn for e in EXPORTS}
globals().update({e.name: _PORTED[e.name] for e in EXPORTS if e.toplevel})
__all__ = sorted(e.name for e in EXPORTS if e.toplevel)
FUNCTIONAL: dict[str, Callable[..., Any]] = {
    e.name: _PORTED[e.name] for e in EXPORTS if e.functional
}

# --- the Tensor methods ----------------------------------------------------------------------

for _e in EXPORTS:
    # a plain function: x.exp() calls exp(x); reductions also take ``keepdims=`` (NumPy's
    # spelling, which PyTorch accepts), at the cost of one frame
    _fn = _e.fn
    if "keepdim" in _params(_e.fn):  # (a method only, as linalg's, is not in _PORTED)
        _fn = _PORTED.get(_e.name) or _torch_keywords(_e.fn, _params(_e.fn))
    for _method in _e.methods:
        setattr(Tensor, _method, _fn)

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

# NumPy ufuncs with a tensor operand (``array * t``) call these ops (Tensor.__array_ufunc__)
_UFUNC_OPS.update(
    {
        "add": E.add,
        "subtract": E.sub,
        "multiply": E.mul,
        "true_divide": E.div,
        "divide": E.div,
        "power": E.pow,
        "matmul": linalg.matmul,
        "negative": E.neg,
        "absolute": E.abs,
        "exp": E.exp,
        "log": E.log,
        "log10": E.log10,
        "log2": E.log2,
        "log1p": E.log1p,
        "sqrt": E.sqrt,
        "sin": E.sin,
        "cos": E.cos,
        "tanh": E.tanh,
        "maximum": E.maximum,
        "minimum": E.minimum,
        "equal": E.eq,
        "not_equal": E.ne,
        "less": E.lt,
        "less_equal": E.le,
        "greater": E.gt,
        "greater_equal": E.ge,
        "logaddexp": E.logaddexp,
    }
)
