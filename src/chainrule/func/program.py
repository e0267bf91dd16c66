"""``make_program``: trace a function once and write down the primitives it binds.

A program level is one more ``Level`` (see ``chainrule.func.levels``): while it is live, every
primitive that reaches it is computed (on the concrete values, so shapes and dtypes are known)
and appended to a flat list of equations, the Wengert list of the lesson's tape. Other
transforms compose with it as with each other: ``make_program(grad(loss))(w, x)`` traces the
gradient, whose backward sweep binds the VJP rules, so the program is the backward pass
written out as ops; ``make_program(hvp_fn)`` is the forward-over-reverse program.

Python runs once, at trace time: branches on a traced value's *contents* (``if loss > 0``,
``x.item()``, ``float(x)``) cannot be recorded, and raise ``TraceError`` naming the line.
Shapes and dtypes are known while tracing, so branching on them is fine.

Tensors that are not inputs (a module's parameters, a constant made inside ``f``) enter the
program as constants *by reference*: ``cr.compile`` reads them through the real tensor each
call. Effects outside the returned values are recorded too, in order: a gradient assigned to
a leaf's ``.grad`` by ``backward()``, an optimizer's ``step()``/``zero_grad()`` (recorded as a
call to the real method, which is NumPy already), an in-place update of a tensor that is not
traced (``w -= lr * w.grad`` under ``no_grad``), and dropout masks (fresh numbers each time
the program runs). Other random draws inside a traced function are refused.
"""

from __future__ import annotations

import functools
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import _random, creation
from chainrule import tensor as tensor_module
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.func.levels import Level, Tracer, lower, traced
from chainrule.func.pytree import flatten, unflatten
from chainrule.ops import _primitive as primitive_module
from chainrule.ops import pool as pool_module
from chainrule.ops._primitive import Primitive, bind, record
from chainrule.tensor import Tensor, wrap

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_local = threading.local()


class TraceError(RuntimeError):
    """A traced function needed a value that only exists when the program runs."""


def active() -> ProgramLevel | None:
    """The innermost live program level of this thread (None outside ``make_program``)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


# --- the program ------------------------------------------------------------------------------

_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32",
          "bool": "bool", "int8": "i8", "uint8": "u8", "int16": "i16"}  # fmt: skip


class Var:
    """One value of a program: an input, an op's result, or a constant (a tensor by
    reference, read when the program runs)."""

    __slots__ = ("dtype", "kind", "name", "shape", "tensor")

    def __init__(self, name: str, shape: tuple, dtype: Any, kind: str, tensor: Any = None):
        self.name, self.shape, self.dtype, self.kind, self.tensor = name, shape, dtype, kind, tensor

    def type_str(self) -> str:
        dt = _SHORT.get(str(self.dtype), str(self.dtype))
        return f"{dt}[{','.join(str(n) for n in self.shape)}]"

    def __str__(self) -> str:
        return f"{self.name}:{self.type_str()}"

    __repr__ = __str__


class Lit:
    """A fixed item of a parameter that also holds traced arrays."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _plain_param(p: Any) -> Any:
    if isinstance(p, _Placeholder):
        return p.view(xp.ndarray)
    if isinstance(p, tuple):
        return tuple(_plain_param(q) for q in p)
    return p


def dyn_vars(e: Any) -> list[Var]:
    """The Vars an equation's dynamic parameters read."""
    out: list[Var] = []
    for d in (e.dyn or {}).values() if isinstance(e, Eqn) else ():
        out.extend([d] if isinstance(d, Var) else [i for i in d if isinstance(i, Var)])
    return out


class Eqn:
    """``out = prim(*ins, **params)``."""

    __slots__ = ("dyn", "fresh", "ins", "out", "params", "prim")

    def __init__(self, prim: Primitive, ins: list[Var], params: dict, out: Var) -> None:
        self.prim, self.ins, self.params, self.out = prim, ins, params, out
        self.dyn: dict[str, Any] | None = None  # array params computed from traced values
        self.fresh = False  # the result was a new array when traced

    def __str__(self) -> str:
        params = ""
        lits = getattr(self.prim, "literals", None)
        shown_params = dict(self.params)
        if lits:
            shown_params.update({f"arg{i}": v for i, v in lits.items()})
        for k, v in (self.dyn or {}).items():
            shown_params[k] = (
                v.name
                if isinstance(v, Var)
                else "(" + ", ".join(i.name if isinstance(i, Var) else "..." for i in v) + ")"
            )
        if shown_params:
            shown = ", ".join(
                f"{k}={v if isinstance(v, str) else _short(v)}" for k, v in shown_params.items()
            )
            params = f"[{shown}]"
        args = ", ".join(str(v) for v in self.ins)
        return f"{self.out} = {self.prim.name}{params} {args}".rstrip()


class Effect:
    """A change outside the returned values, in program order: ``setgrad`` (``target.grad =
    ins[0]``), ``assign`` (``target``'s buffer takes ``ins[0]``) or ``call`` (``fn(target,
    *args, **kwargs)``, an optimizer's step or zero_grad)."""

    __slots__ = ("args", "fn", "ins", "kind", "label", "target")

    def __init__(self, kind: str, target: Any, ins: list[Var], label: str, fn: Any = None,
                 args: tuple = (), kwargs: dict | None = None) -> None:  # fmt: skip
        self.kind, self.target, self.ins, self.label = kind, target, ins, label
        self.fn, self.args = fn, (args, kwargs or {})

    def __str__(self) -> str:
        if self.kind == "setgrad":
            return f"{self.label}.grad <- {self.ins[0]}"
        if self.kind == "assign":
            return f"{self.label} <- {self.ins[0]}"
        if self.kind == "assume":
            return f"assume {self.label}"
        return f"call {self.label}"


def _short(v: Any) -> str:
    if isinstance(v, xp.ndarray):
        return f"array{list(v.shape)}"
    if isinstance(v, (xp.dtype, type)):
        return _SHORT.get(str(xp.dtype(v)), str(v))
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


class Program:
    """The flat list of primitives a function bound, with its inputs and outputs.

    ``print(program)`` shows it as a Wengert list: the inputs, one line per operation
    (``c:f32[32,10] = addmm b:f32[10], a:f32[32,32], w:f32[32,10]``), then the outputs.
    ``body`` holds the equations and effects in order; ``consts`` the constants.
    """

    def __init__(self, invars: list[Var], body: list[Any], outs: list[Any], out_spec: Any,
                 consts: list[Var], name: str = "f") -> None:  # fmt: skip
        self.invars, self.body, self.outs, self.out_spec = invars, body, outs, out_spec
        self.consts, self.name = consts, name

    @property
    def eqns(self) -> list[Eqn]:
        return [e for e in self.body if isinstance(e, Eqn)]

    def __str__(self) -> str:
        lines = [f"{self.name}({', '.join(str(v) for v in self.invars)}):"]
        used = {id(v) for e in self.body for v in e.ins} | {id(o) for o in self.outs}
        consts = [c for c in self.consts if id(c) in used]
        if consts:
            lines.append("  consts " + ", ".join(str(c) for c in consts))
        lines += ["  " + str(e) for e in self.body]
        outs = ", ".join(str(o) if isinstance(o, Var) else repr(o) for o in self.outs)
        lines.append(f"  return {outs}")
        return "\n".join(lines)

    __repr__ = __str__

    def bind_run(self, args: Sequence[Any]) -> Any:
        """Run the program by binding its primitives on ``args`` (Tensors or tracers of live
        transforms): how a compiled function runs inside ``grad``/``jvp`` or on tensors that
        require grad, so that the outer transform (or the tape) sees every operation."""
        env: dict[int, Any] = {id(v): a for v, a in zip(self.invars, args)}

        def get(v: Var) -> Any:
            if v.kind == "const":
                return v.tensor
            return env[id(v)]

        for e in self.body:
            if isinstance(e, Eqn):
                params = e.params
                if e.dyn:
                    params = dict(params)
                    for k, d in e.dyn.items():
                        if isinstance(d, Var):
                            params[k] = get(d).data
                        else:
                            params[k] = tuple(
                                get(i).data if isinstance(i, Var) else i.value for i in d
                            )
                env[id(e.out)] = bind(e.prim, tuple(get(v) for v in e.ins), params)
            else:
                run_effect(e, [get(v) for v in e.ins])
        outs = [get(o) if isinstance(o, Var) else o for o in self.outs]
        return unflatten(self.out_spec, outs)


def run_effect(e: Effect, values: list[Any]) -> None:
    """Apply an effect with ``values`` (Tensors or arrays) for its inputs."""
    if e.kind == "assume":
        v = values[0]
        if (v.data if isinstance(v, Tensor) else v).item() != e.target:
            raise AssumptionFailed(e.label)
    elif e.kind == "setgrad":
        v = values[0]
        e.target.grad = v if isinstance(v, Tensor) else wrap(v)
    elif e.kind == "assign":
        v = values[0]
        e.target.data[...] = v.data if isinstance(v, Tensor) else v
        e.target._bump()
    else:
        args, kwargs = e.args
        e.fn(e.target, *args, **kwargs)


# --- tracing ----------------------------------------------------------------------------------


def _user_line() -> str:
    """``file:line: code`` of the innermost frame outside chainrule (the user's line)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE + os.sep):
            return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return "<unknown>"


_OWN = (os.path.join(_PACKAGE, "tensor.py"), os.path.abspath(__file__))


def _from_library() -> bool:
    """Whether the value read comes from chainrule's own code (a check such as "targets are
    in range" in cross_entropy), not the user's: the first frame outside this module and
    ``tensor.py`` is inside the package."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = os.path.abspath(frame.filename)
        if path in _OWN:
            continue
        return path.startswith(_PACKAGE + os.sep)
    return False


class AssumptionFailed(Exception):
    """A value that chainrule's own code branched on while tracing differs on this call."""


def _trace_error(t: Tensor, what: str) -> TraceError:
    return TraceError(
        f"{what} needs the value of a traced tensor of shape {tuple(t.shape)} ({t.dtype}), "
        f"which is not known while tracing (cr.compile / cr.func.make_program run the Python "
        f"code once, on placeholders), at {_user_line()}. Use cr.where(cond, a, b) for a "
        "choice that depends on values, or pass the value as a static argument "
        "(cr.compile(f, static_argnums=...)); return it instead of printing it."
    )


def _numpy_primitive(fn: Any, method: str, arity: int, literals: dict, kwargs: dict) -> Primitive:
    """A (non-differentiable) primitive for a NumPy call made on a traced value's array: a
    comparison's ``x.data <= 0`` (relu's kink), ``np.where`` on data... ``literals`` are the
    positional arguments that were not arrays (fixed), by position."""
    call = fn if method == "__call__" else getattr(fn, method)
    n = arity + len(literals)

    def impl(*arrays: Any) -> Any:
        it = iter(arrays)
        return call(*[literals[i] if i in literals else next(it) for i in range(n)], **kwargs)

    name = getattr(fn, "__name__", "numpy_call") + ("" if method == "__call__" else "." + method)
    prim = NumpyPrimitive(name, impl)
    prim.defvjp(*[None] * arity)
    prim.defjvp(*[None] * arity)
    prim.literals = literals
    prim.call, prim.arity, prim.kwargs = call, n, kwargs
    return prim


class NumpyPrimitive(Primitive):
    """A NumPy call (``call``) with ``arity`` positional arguments, some fixed (``literals``,
    by position), the others the equation's inputs, in order; then ``kwargs``."""

    __slots__ = ("arity", "call", "kwargs", "literals")


class _Placeholder(xp.ndarray):
    """What ``.data`` of a traced value is: its array, viewed so that NumPy calls on it are
    recorded (``mask(g, x.data <= 0)`` in a rule) and value reads raise, rather than being
    frozen into the program. Arrays derived by methods that are not recorded (``astype``,
    indexing) are untracked: using them raises too."""

    _var: Var | None = None
    _program: ProgramLevel | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._var = None
        level = self._program = getattr(obj, "_program", None)
        if level is not None:  # derived without being recorded: refused if it is used
            level.poisoned.add(_address(self))

    def _record(self, fn: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
        level = self._program
        if level is None or not level.alive:  # the trace is over: an ordinary array
            plain = [x.view(xp.ndarray) if isinstance(x, _Placeholder) else x for x in inputs]
            call = fn if method == "__call__" else getattr(fn, method)
            return call(*plain, **kwargs)
        ins, arrays, literals = [], [], {}
        for i, x in enumerate(inputs):
            if isinstance(x, _Placeholder):
                if x._var is None:
                    raise _untracked(fn)
                ins.append(x._var)
                arrays.append(x.view(xp.ndarray))
            elif isinstance(x, xp.ndarray):
                ins.append(level.const(wrap(x)))
                arrays.append(x)
            elif isinstance(x, (list, tuple)) and any(isinstance(y, xp.ndarray) for y in x):
                raise _untracked(fn)
            else:
                literals[i] = x
        if "out" in kwargs:
            raise TraceError(
                f"an in-place update with a traced value ({getattr(fn, '__name__', fn)} with "
                f"out=, at {_user_line()}), such as `w -= lr * w.grad` under no_grad(), "
                "is not supported inside cr.compile: use an optimizer (cr.optim.SGD) in the "
                "compiled step, or return the new value"
            )
        if any(isinstance(v, xp.ndarray) for v in kwargs.values()):
            raise _untracked(fn)
        prim = _numpy_primitive(fn, method, len(arrays), literals, kwargs)
        out = prim.impl(*arrays)
        if not isinstance(out, (xp.ndarray, xp.generic)):
            raise _untracked(fn)
        out = wrap(out)
        var = level.new_var(out, "op")
        level.body.append(Eqn(prim, ins, {}, var))
        return level.placeholder(out.data, var)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method not in ("__call__", "reduce", "accumulate") or ufunc.nout != 1:
            raise _untracked(ufunc)
        return self._record(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return self._record(func, "__call__", args, kwargs)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _trace_error(self, "a Python branch or value read (if/bool/item/float)")

    def _dead(self) -> bool:
        return self._program is None or not self._program.alive

    def _read(self) -> Any:
        """The value, for a read that must be concrete: after the trace, or while tracing
        when chainrule's own code reads it (a check such as "indices in range"): then the
        value is recorded as an assumption, re-checked on every run (another value: the
        compiled function retraces). A read by the user's code is refused."""
        value = self.view(xp.ndarray)
        if self._dead():
            return value
        if self._var is None or value.size != 1 or not _from_library():
            self._refuse()
        self._program.assume(self._var, value)  # type: ignore[union-attr]
        return value

    def item(self, *args: Any) -> Any:
        return self._read().item(*args)

    def tolist(self) -> Any:
        return self.view(xp.ndarray).tolist() if self._dead() else self._refuse()

    def __float__(self) -> float:
        return float(self._read())

    def __int__(self) -> int:
        return int(self._read())

    def __index__(self) -> int:
        return self._read().__index__()

    def __bool__(self) -> bool:
        return bool(self._read())

    def copy(self, order: str = "C") -> Any:  # type: ignore[override]
        if self._dead():
            return self.view(xp.ndarray).copy(order)
        return self._record(_METHODS["copy"], "__call__", (self,), {})

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self._dead():
            return self.view(xp.ndarray).astype(dtype, *args, **kwargs)
        return self._record(_METHODS["astype"], "__call__", (self, dtype, *args), kwargs)

    def reshape(self, *shape: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self._dead():
            return self.view(xp.ndarray).reshape(*shape, **kwargs)
        return self._record(_METHODS["reshape"], "__call__", (self, *shape), kwargs)

    def __getitem__(self, index: Any) -> Any:
        if self._var is None or self._dead():
            return self.view(xp.ndarray)[index]  # (NumPy's own printing of the array)
        return self._record(_METHODS["getitem"], "__call__", (self, index), {})


def _method(name: str, attr: str) -> Callable[..., Any]:
    def call(a: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(xp.ndarray, attr)(a, *args, **kwargs)

    call.__name__ = name
    return call


_METHODS = {
    "copy": _method("copy", "copy"),
    "astype": _method("astype", "astype"),
    "reshape": _method("reshape", "reshape"),
    "getitem": _method("getitem", "__getitem__"),
}


def _bounds(a: Any) -> tuple[int, int]:
    return xp.lib.array_utils.byte_bounds(a)


def _strided_view_impl(x: Any, shape: tuple, strides: tuple, layout: tuple) -> Any:
    if x.strides != layout:  # another memory layout than when traced: trace again
        raise AssumptionFailed("the memory layout of an array changed")
    return xp.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


#: a view of a traced array rebuilt from its shape and strides (see ``traced_array``)
strided_view_p = Primitive("strided_view", _strided_view_impl)
strided_view_p.defvjp(None)
strided_view_p.defjvp(None)


tensor_module.KEEP.add(_Placeholder)  # wrap(x.data > 0) keeps the traced array's class


def _address(a: Any) -> tuple:
    return (a.__array_interface__["data"][0], a.shape, a.dtype.str, a.strides)


def _untracked(fn: Any) -> TraceError:
    return TraceError(
        f"{getattr(fn, '__name__', fn)} on the NumPy array of a traced value (at "
        f"{_user_line()}) cannot be recorded into the program (only plain calls of NumPy "
        "functions on such arrays are); use chainrule ops on the tensors, or pass the value "
        "as a static argument"
    )


class ProgramTracer(Tracer):
    """A value being traced into a program: its concrete primal and its program variable."""

    def __init__(self, level: ProgramLevel, primal: Any, var: Var) -> None:
        self._level = level
        self.primal = primal
        self._pvar = var
        self._ph: Any = None

    @property  # type: ignore[override]
    def data(self) -> Any:
        """The array, as a placeholder: NumPy calls on it are recorded, value reads raise."""
        ph = self._ph
        if ph is None or ph._var is not self._pvar:
            ph = self._ph = self._level.placeholder(self.primal.data, self._pvar)
        return ph

    def _become_constant(self, value: Any) -> None:
        self.primal, self._pvar = value, self._level.const(value)

    def detach(self) -> Tensor:
        """The same traced value, without autograd history."""
        return ProgramTracer(self._level, self.primal.detach(), self._pvar)

    def __bool__(self) -> bool:
        raise _trace_error(self, "a Python branch (bool() of a tensor, e.g. `if x > 0:`)")

    def item(self) -> Any:
        raise _trace_error(self, "item()")

    def tolist(self) -> Any:
        raise _trace_error(self, "tolist()")

    def __float__(self) -> float:
        raise _trace_error(self, "float()")

    def __int__(self) -> int:
        raise _trace_error(self, "int()")

    def __index__(self) -> int:
        raise _trace_error(self, "using a tensor as a Python index")

    def numpy(self) -> Any:
        raise _trace_error(self, "numpy()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise _trace_error(self, "converting to a NumPy array")


def _refuse_draw(generator: Any) -> None:
    """The trace's draw check (``_random.DRAW_CHECKS``): a draw would be frozen into the
    program (the same numbers every call), so it is refused, from any generator; dropout has
    its own op."""
    which = "the default generator" if generator is None else "a cr.Generator"
    raise TraceError(
        f"random numbers drawn from {which} inside a traced function "
        f"(at {_user_line()}) would be the same on every call of the compiled program. "
        "Draw them outside and pass them as an argument; dropout (nn.Dropout, "
        "F.dropout) is supported and draws fresh masks each call."
    )


def _dropout_mask_impl(shape: tuple, p: float, dtype: Any, rng: Any = None) -> Any:
    keep = (rng or creation._rng()).random(shape) >= p
    return keep.astype(dtype) * xp.dtype(dtype).type(1.0 / (1.0 - p))


#: dropout's mask as an op without inputs: each run of the program draws fresh numbers
dropout_mask_p = Primitive("dropout_mask", _dropout_mask_impl)
dropout_mask_p.defvjp()


class ProgramLevel(Level):
    """One ``make_program`` trace: records each primitive that reaches it."""

    def __init__(self) -> None:
        super().__init__("program")
        self.body: list[Any] = []
        self.consts: dict[int, Var] = {}
        self.keep: list[Any] = []  # the constants' tensors, so that their ids stay unique
        self.count = 0
        self.zeroed: set[int] = set()  # params whose grad an optimizer set to None here
        self.sight_grads: dict[int, tuple[Tensor, Any]] = {}  # param -> its .grad at sight
        self.originals: dict[int, tuple[Tensor, Any]] = {}  # adopted tensor -> its buffer
        self.in_call = False
        self.by_address: dict[tuple, Var] = {}
        self.by_start: dict[int, tuple[Var, Any]] = {}  # first byte -> traced array
        self.ranges: list[tuple[int, int]] = []  # the traced arrays' byte ranges
        self.computing = False
        self.poisoned: set[tuple] = set()  # arrays derived from traced ones, not recorded

    def name(self) -> str:
        n, self.count = self.count, self.count + 1
        letters = ""
        while True:
            letters = chr(ord("a") + n % 26) + letters
            n = n // 26 - 1
            if n < 0:
                return letters

    def new_var(self, t: Tensor, kind: str, tensor: Any = None) -> Var:
        return Var(self.name(), tuple(t.shape), t.dtype, kind, tensor)

    def dynamic_param(self, p: Any, prim: Primitive) -> Any:
        """A parameter that holds traced arrays: the Var (an array), or a tuple of Vars and
        ``Lit``s (an index such as ``(rows, cols)``); None for a fixed parameter."""
        if isinstance(p, xp.ndarray):
            var = p._var if isinstance(p, _Placeholder) else self.traced_array(p)
            if var is None and (isinstance(p, _Placeholder) or _address(p) in self.poisoned):
                raise _untracked(prim)
            return var
        if isinstance(p, tuple) and any(isinstance(q, xp.ndarray) for q in p):
            items = [self.dynamic_param(q, prim) for q in p]
            if any(isinstance(i, Var) for i in items):
                return tuple(i if isinstance(i, Var) else Lit(q) for i, q in zip(items, p))
        return None

    def placeholder(self, data: Any, var: Var) -> _Placeholder:
        data = xp.asarray(data)
        ph = data.view(_Placeholder)
        ph._var, ph._program = var, self
        self.by_address[_address(data)] = var
        lo, hi = _bounds(data)
        if data.size and lo not in self.by_start:
            self.by_start[lo] = (var, data)
            self.ranges.append((lo, hi))
        self.keep.append(data)  # alive: its address is not reused while tracing
        return ph

    def traced_array(self, data: Any, create: bool = True) -> Var | None:
        """The variable whose array ``data`` is (same memory, shape, dtype and strides): NumPy
        hands back plain arrays for the placeholders' results. A view that starts where a
        traced array starts (``broadcast_to``, ``expand_dims`` of a plain copy of it) becomes
        a recorded strided view of that array. Other arrays that overlap a traced one are
        refused: their values would be frozen."""
        if not self.by_address:
            return None
        key = _address(data)
        var = self.by_address.get(key)
        if var is not None or not create:
            return var
        lo, hi = _bounds(data)
        base = self.by_start.get(lo)
        if base is not None and base[1].dtype == data.dtype and data.size:
            bvar, barr = base
            params = {"shape": data.shape, "strides": data.strides, "layout": barr.strides}
            var = self.new_var(wrap(data), "op")
            self.body.append(Eqn(strided_view_p, [bvar], params, var))
            self.by_address[key] = var
            return var
        for a_lo, a_hi in self.ranges:
            if lo < a_hi and a_lo < hi:
                raise _untracked(xp.ndarray)
        return None

    def assume(self, var: Var, data: Any) -> Any:
        """chainrule's own code branched on a traced value: record the value it saw; a run
        of the program that sees another value stops (``AssumptionFailed``) and the
        compiled function retraces for that call."""
        value = data.item()
        self.body.append(Effect("assume", value, [var], f"{var.name} == {value!r}"))
        return value

    def claim(self, args: tuple, params: dict) -> ProgramLevel | None:
        """Plain tensors whose arrays are traced values (or derived from them) are this
        level's: their op is recorded (or refused), never run as a constant."""
        if not self.alive or self.computing:
            return None
        arrays = [a.data for a in args]
        for p in params.values():
            if isinstance(p, xp.ndarray):
                arrays.append(p)
            elif isinstance(p, tuple):
                arrays.extend(q for q in p if isinstance(q, xp.ndarray))
        for data in arrays:
            key = _address(data)
            if key in self.by_address or key in self.poisoned or isinstance(data, _Placeholder):
                return self
            lo, hi = _bounds(data)
            if any(lo < a_hi and a_lo < hi for a_lo, a_hi in self.ranges):
                return self
        return None

    def check_read(self, data: Any) -> None:
        """``Tensor.item()``/``tolist()`` (so ``if``, ``float``): refuse a traced value."""
        var = self.traced_array(data)
        if var is not None and data.size == 1 and _from_library():
            self.assume(var, data)
            return
        if var is not None or isinstance(data, _Placeholder):
            raise _trace_error(
                wrap(xp.asarray(data)),
                "a Python branch or value read (if / bool() / item() / float() of a tensor)",
            )

    def const(self, t: Tensor) -> Var:
        v = self.consts.get(id(t))
        if v is None:
            var = self.traced_array(t.data) if t._level is None else None
            if var is not None:
                return var  # a tensor made from a traced array (wrap(x.data <= 0))
            if isinstance(t.data, _Placeholder) or (
                self.poisoned and _address(t.data) in self.poisoned
            ):
                raise _untracked(Tensor)
            v = self.consts[id(t)] = self.new_var(t, "const", t)
            self.keep.append(t)
            if t.requires_grad and t.grad_fn is None and id(t) not in self.zeroed:
                self.sight_grads[id(t)] = (t, t.grad)
        return v

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        ins, primals = [], []
        for a in args:
            if a._level is self:
                ins.append(a._pvar)
                primals.append(a.primal)
            else:
                ins.append(self.const(a))
                data = a.data
                primals.append(wrap(data.view(xp.ndarray)) if type(data) is _Placeholder else a)
        dyn = None
        for k, p in params.items():
            entry = self.dynamic_param(p, prim)
            if entry is not None:  # an array parameter computed from traced values
                dyn = dyn or {}
                dyn[k] = entry
        if dyn:
            params = {k: (_plain_param(v) if k in dyn else v) for k, v in params.items()}
        grad = STATE.grad_enabled
        STATE.grad_enabled = False  # the tape, if any, is kept on the tracers (below)
        self.computing = True  # the concrete values: not claimed again (see ``claim``)
        try:
            out = bind(prim, tuple(primals), params)
        finally:
            STATE.grad_enabled = grad
            self.computing = False
        tracer = ProgramTracer(self, out, self.new_var(out, "op"))
        eqn = Eqn(prim, ins, dict(params), tracer._pvar)
        eqn.dyn = dyn
        data = out.data
        # a new array, sharing memory with no input (not a view, not an input handed back):
        # the replay may later write into it (cr.compile's buffer reuse)
        eqn.fresh = bool(data.flags.owndata) and not any(
            xp.may_share_memory(data, p.data) for p in primals
        )
        self.body.append(eqn)
        if grad and any(a.requires_grad for a in args):
            # backward() inside the trace: the node keeps the traced inputs and output, so
            # the VJP rules that the sweep runs are recorded too
            node = record(prim, args, params, tracer)
            node.out_tensor = tracer
            node.out_data = None
        return tracer

    def adopt(self, t: Tensor, value: Tracer) -> None:
        if id(t) not in self.originals and t._level is None:
            self.originals[id(t)] = (t, t.data)  # its buffer: the program writes into it
        super().adopt(t, value)

    def random_mask(self, shape: tuple, p: float, dtype: Any) -> ProgramTracer:
        params = {"shape": tuple(shape), "p": float(p), "dtype": xp.dtype(dtype)}
        out = wrap(_dropout_mask_impl(**params, rng=self._rng))  # the real generator
        tracer = ProgramTracer(self, out, self.new_var(out, "op"))
        self.body.append(Eqn(dropout_mask_p, [], params, tracer._pvar))
        return tracer

    # --- effects --------------------------------------------------------------------------

    def flush_grads(self, params: Sequence[Tensor]) -> None:
        """Record ``p.grad = <traced value>`` for each ``p`` whose grad is traced here, and
        leave a concrete tensor in its place (what an optimizer called now must read)."""
        for p in params:
            g = p.grad
            if isinstance(g, Tensor) and g._level is self:
                label = f"param{tuple(p.shape)}"
                self.body.append(Effect("setgrad", p, [g._pvar], label))
                p.grad = lower(g.primal)

    def call(self, opt: Any, fn: Callable, name: str, args: tuple, kwargs: dict) -> Any:
        """An optimizer's ``step``/``zero_grad`` inside the trace: flush the gradients it will
        read, record the call, and run it now (it is NumPy on the real buffers already)."""
        if (args or kwargs.get("closure") is not None) and name == "step":
            raise TraceError(
                "cr.compile: opt.step(closure) inside a compiled step is not "
                "supported; call loss.backward() and opt.step() instead"
            )
        params = [p for g in opt.param_groups for p in g["params"]]
        for p in params:
            if p._level is not None:
                raise TraceError(
                    "cr.compile: a parameter was changed in place by traced code before the "
                    "optimizer's step in the same compiled function; this is not supported"
                )
        self.flush_grads(params)
        self.body.append(Effect("call", opt, [], f"{type(opt).__name__}.{name}", fn, args, kwargs))
        if name == "zero_grad" and kwargs.get("set_to_none", args[0] if args else True):
            self.zeroed.update(id(p) for p in params)
        self.in_call = True
        try:
            return fn(opt, *args, **kwargs)
        finally:
            self.in_call = False

    def __enter__(self) -> ProgramLevel:
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(self)
        self._rng = _random.default_generator.np  # the real stream, for dropout's masks
        _random.DRAW_CHECKS.append(_refuse_draw)
        tensor_module.READ_CHECKS.append(self.check_read)
        primitive_module.CLAIMS.append(self.claim)
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        _random.DRAW_CHECKS.remove(_refuse_draw)
        _local.stack.pop()
        tensor_module.READ_CHECKS.remove(self.check_read)
        primitive_module.CLAIMS.remove(self.claim)
        if exc[0] is None:
            # gradients left in .grad, and in-place updates of untraced tensors: effects
            self.flush_grads([t for t, _ in self.sight_grads.values()])
            for t, _buf in self.originals.values():
                if t._level is self:
                    self.body.append(Effect("assign", t, [t._pvar], f"tensor{tuple(t.shape)}"))
        else:
            for t, _ in self.sight_grads.values():
                if isinstance(t.grad, Tensor) and t.grad._level is self:
                    t.grad = lower(t.grad.primal)
        super().__exit__(*exc)
        for t, buf in self.originals.values():
            if t._level is None and t.data is not buf:
                # the value that took over t lives in a new array: put it back into t's own
                # buffer, so that views of t and the program (which writes there) agree
                buf[...] = t.data
                t.data = buf


def optimizer_hook(opt: Any, fn: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    """Called by ``Optimizer.step``/``zero_grad`` while transforms are live."""
    level = active()
    if level is None or not level.alive or level.in_call:
        return fn(opt, *args, **kwargs)
    return level.call(opt, fn, name, args, kwargs)


def trace(
    f: Callable[..., Any], args: tuple, static_argnums: Sequence[int] = (), name: str = "f"
) -> tuple[Program, Any]:
    """Trace ``f(*args)`` into a ``Program``; returns it with ``f``'s (concrete) result.

    Tensor and NumPy-array leaves of the non-static arguments are the program's inputs; other
    leaves (numbers, strings) are baked in, as static arguments are.
    """
    level = ProgramLevel()
    args = list(args)
    invars: list[Var] = []
    with level:
        for n, a in enumerate(args):
            if n in static_argnums:
                continue
            leaves, spec = flatten(a)
            new = []
            for leaf in leaves:
                if isinstance(leaf, (Tensor, xp.ndarray)):
                    t = leaf if isinstance(leaf, Tensor) else wrap(leaf)
                    if t._level is not None:
                        t = wrap(xp.asarray(t.data))  # the innermost value: a plain input
                    tr = ProgramTracer(level, t, level.new_var(t, "in"))
                    invars.append(tr._pvar)
                    new.append(tr)
                else:
                    new.append(leaf)
            args[n] = unflatten(spec, new)
        out = f(*args)
        leaves, out_spec = flatten(out)
        outs: list[Any] = []
        for o in leaves:
            o = traced(o, level)
            if isinstance(o, Tensor) and o._level is level:
                outs.append(o._pvar)
            elif isinstance(o, Tensor):
                outs.append(level.const(o))
            else:
                outs.append(o)
    result = []
    for o in leaves:
        o = traced(o, level)
        if isinstance(o, Tensor) and o._level is level:
            o = lower(o.primal)
        elif isinstance(o, Tensor) and isinstance(o.data, _Placeholder):
            o = wrap(o.data.view(xp.ndarray))  # made from a traced array: now a plain one
        result.append(o)
    consts = list(level.consts.values())
    program = Program(invars, level.body, outs, out_spec, consts, name)
    program.sight_grads = list(level.sight_grads.values())  # type: ignore[attr-defined]
    # outputs with a graph (a compiled forward, before the user's backward()) are replayed
    # on the tape; a program that ran backward itself (a training step) returns plain values
    ran_backward = any(isinstance(e, Effect) and e.kind == "setgrad" for e in level.body)
    program.needs_tape = not ran_backward and any(  # type: ignore[attr-defined]
        isinstance(traced(o, level), Tensor) and traced(o, level).grad_fn is not None
        for o in leaves
    )
    return program, unflatten(out_spec, result)


def _opaque(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A NumPy helper of chainrule's (not a primitive) that computes on arrays: while a
    program is traced, a call on traced arrays is recorded whole, as one equation."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        for a in args:
            if isinstance(a, _Placeholder) and not a._dead():
                return a._record(fn, "__call__", args, kwargs)
        return fn(*args, **kwargs)

    return call


# max_pool2d's window search runs in NumPy on the input's array, with out= buffers
pool_module.max_pool2d_indices = _opaque(pool_module.max_pool2d_indices)


def make_program(
    f: Callable[..., Any], static_argnums: int | Sequence[int] = ()
) -> Callable[..., Program]:
    """``make_program(f)(*args)``: the ``Program`` of the primitives ``f`` binds on inputs of
    ``args``' shapes and dtypes (``f`` runs once, on tracers). Transforms compose:
    ``make_program(cr.func.grad(loss))(w, x)`` is the gradient's program.

    >>> import chainrule as cr
    >>> w = cr.ones(3)
    >>> print(cr.func.make_program(lambda w: (w * w).sum())(w))
    f(a:f32[3]):
      b:f32[3] = mul a:f32[3], a:f32[3]
      c:f32[] = sum[dim=None, keepdim=False] b:f32[3]
      return c:f32[]
    """
    statics = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def build(*args: Any) -> Program:
        name = getattr(f, "__name__", "f")
        # (the transforms return functions named "wrapped": "f" reads better)
        name = name if name.isidentifier() and name != "wrapped" else "f"
        program, _ = trace(f, args, statics, name)
        return program

    return build
