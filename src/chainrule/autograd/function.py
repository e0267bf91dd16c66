"""User-defined derivatives: ``Function`` with PyTorch's contract, as a user-defined primitive.

A ``Function`` subclass gives ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` (and
optionally ``jvp(ctx, *tangents)``), like a table entry in ``chainrule.ops`` gives an
implementation, VJP rules and JVP rules. ``Function.apply`` turns one call into exactly that: a
``Primitive`` named after the class (so ``grad_fn`` reads ``LegendreBackward``) whose

- implementation runs ``forward`` on the innermost arrays, once, under ``no_grad``;
- VJP rule for input ``i`` calls ``backward`` once per cotangent (cached across the inputs) and
  returns its ``i``-th gradient;
- JVP rule for input ``i`` calls ``jvp`` with that input's tangent and zeros elsewhere (the
  JVP is linear in the tangents, so the level's sum over inputs is the full ``J t``);
- batching rule (``vmap``) runs ``forward`` on the batched values themselves, as PyTorch's
  ``generate_vmap_rule=True`` does.

Because it is an ordinary primitive, the tape, ``autograd.grad``, gradcheck and every function
transform treat it like a built-in op: saved inputs and outputs are version-checked by the same
code (they are the primitive's ``saves``), a second backward without ``retain_graph`` is
refused, and ``backward`` written in chainrule ops is differentiated again for higher orders.

Several outputs are packed into one flat primitive output (outputs are slices of it), so the
engine's one-output nodes carry them; a cotangent is unpacked before ``backward`` sees it.

The same machinery (``CustomCall``) serves ``chainrule.func.custom_vjp``/``custom_jvp``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE, no_grad
from chainrule.ops._primitive import Primitive, bind
from chainrule.ops.shape import concat, getitem, reshape_to, sum_to_shape, to, zeros_like
from chainrule.tensor import Tensor, version_cell, wrap

# --- the per-call primitive -------------------------------------------------------------------


def traced(x: Any) -> bool:
    """Whether ``x`` carries another derivative: a live transform level, or the tape."""
    return x._level is not None or (x.requires_grad and STATE.grad_enabled)


class CustomCall:
    """One application of a user-defined rule: forward once, then rules on demand.

    Subclasses define ``run_forward(inputs)`` (returns the outputs, a Tensor or a tuple),
    ``cotangents(g_list, out_list, inputs)`` (one gradient per tensor input, or None) and
    ``tangent(i, t, out_list, inputs)`` (the outputs' tangents from input ``i``'s tangent).
    """

    name = "custom"

    def __init__(self, n_inputs: int) -> None:
        self.n = n_inputs
        self.out_spec: list[tuple[tuple[int, ...], Any]] = []  # (shape, dtype) per packed output
        self.tuple_out = False
        self.outputs: list[Any] = []  # the forward's outputs (non-differentiable ones returned)
        self.diff: list[bool] = []  # which outputs are differentiable (packed)
        self._cache: tuple[Any, Any] | None = None  # (g, cotangents): backward runs once per g
        prim = Primitive(self.name, _call_impl)
        prim.backward_name = f"{self.name}Backward"
        prim.defvjp(*[self._vjp_rule(i) for i in range(n_inputs)])
        prim.defjvp(*[self._jvp_rule(i) for i in range(n_inputs)])
        prim.batch = _call_batch
        self.prim = prim

    def full(self, tensors: Sequence[Any], fill: Callable[[Any], Any] | None = None) -> list:
        """The call's arguments with the tensor inputs (at ``self.positions``) replaced by
        ``tensors``, and every other argument by ``fill(arg)`` when given."""
        full = [fill(a) if fill is not None else a for a in self.args]
        for k, t in zip(self.positions, tensors):
            full[k] = t
        return full

    # -- forward -----------------------------------------------------------------------------

    def run_forward(self, inputs: list[Any]) -> Any:
        raise NotImplementedError

    def non_differentiable(self, outputs: list[Any]) -> list[bool]:
        return [False] * len(outputs)

    def check_batchable(self) -> None:
        """Raise if the rules cannot run on batched values (see ``Function``)."""

    def after_forward(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Called once the forward ran (``Function`` resolves what ctx saved here)."""

    def forward(self, inputs: list[Any]) -> Any:
        """Run the user's forward on ``inputs`` and return the packed differentiable output."""
        result = self.run_forward(inputs)
        self.tuple_out = isinstance(result, (tuple, list))
        outs = list(result) if self.tuple_out else [result]
        for k, o in enumerate(outs):
            if not isinstance(o, Tensor):
                raise TypeError(
                    f"{self.name}.forward must return Tensors, but output {k} is a "
                    f"{type(o).__name__}"
                )
        marked = self.non_differentiable(outs)
        self.diff = [_backend.is_float(o.dtype) and not m for o, m in zip(outs, marked)]
        self.outputs = outs
        self.out_spec = [(tuple(o.shape), o.dtype) for o, d in zip(outs, self.diff) if d]
        self.after_forward(inputs, outs)
        packed = [o for o, d in zip(outs, self.diff) if d]
        if len(packed) == 1:
            return packed[0]
        if not packed:
            return wrap(xp.zeros((0,), dtype=_backend.default_float))
        dtype = xp.result_type(*[p.dtype for p in packed])
        return concat([to(reshape_to(p, (-1,)), dtype) for p in packed], 0)

    def unpack(self, packed: Any) -> list[Any]:
        """The differentiable outputs as views of the packed one (the caller's order)."""
        if len(self.out_spec) == 1:
            return [packed]
        pieces, start = [], 0
        for shape, dtype in self.out_spec:
            size = math.prod(shape)
            piece = reshape_to(getitem(packed, slice(start, start + size)), shape)
            pieces.append(to(piece, dtype) if piece.dtype != dtype else piece)
            start += size
        return pieces

    def pack(self, values: list[Any]) -> Any:
        """Tangents or cotangents of the differentiable outputs as one packed value."""
        if len(values) == 1:
            return values[0]
        dtype = xp.result_type(*[d for _, d in self.out_spec])
        return concat([to(reshape_to(v, (-1,)), dtype) for v in values], 0)

    def results(self, packed: Any) -> Any:
        """What ``apply`` returns: the outputs, differentiable ones taken from ``packed``."""
        pieces = iter(self.unpack(packed))
        outs = [next(pieces) if d else o for o, d in zip(self.outputs, self.diff)]
        return tuple(outs) if self.tuple_out else outs[0]

    # -- rules -------------------------------------------------------------------------------

    def cotangents(self, gs: list[Any], outs: list[Any], inputs: tuple) -> Sequence[Any]:
        raise NotImplementedError

    def tangent(self, i: int, t: Any, outs: list[Any], inputs: tuple) -> list[Any]:
        raise NotImplementedError

    def _vjp_rule(self, i: int) -> Callable[..., Any]:
        def rule(g: Any, out: Any, *inputs: Any, call: CustomCall) -> Any:
            cache = self._cache
            if cache is None or cache[0] is not g:  # once per cotangent, not once per input
                outs = [None] * len(self.out_spec) if out is None else self.unpack(out)
                gx = self.cotangents(self.unpack(g), outs, inputs)
                self._cache = cache = (g, gx)
            gx = cache[1][i]
            if gx is None:
                return None
            return _conform(gx, inputs[i], self.name, i)

        return rule

    def _jvp_rule(self, i: int) -> Callable[..., Any]:
        def rule(t: Any, out: Any, *inputs: Any, call: CustomCall) -> Any:
            tangents = self.tangent(i, t, self.unpack(out), inputs)  # (JVP rules get out)
            for k, (tk, (shape, _)) in enumerate(zip(tangents, self.out_spec)):
                if tk is None:
                    tangents[k] = wrap(xp.zeros(shape, dtype=out.dtype))
                elif tuple(tk.shape) != shape:
                    raise RuntimeError(
                        f"{self.name}: the jvp rule returned a tangent of shape "
                        f"{tuple(tk.shape)} for output {k} of shape {shape}"
                    )
            return self.pack(tangents)

        return rule


def _conform(gx: Any, x: Any, name: str, i: int) -> Any:
    """A user's gradient for input ``i``: the input's shape (summed down from a broadcast
    shape, as PyTorch accepts) and dtype, or an error naming the function and the shapes."""
    if not isinstance(gx, Tensor):
        raise TypeError(f"{name}Backward returned a {type(gx).__name__} for input {i}")
    if tuple(gx.shape) != tuple(x.shape):
        try:
            xp.broadcast_shapes(tuple(x.shape), tuple(gx.shape))
            ok = len(gx.shape) >= len(x.shape)
        except ValueError:
            ok = False
        if not ok or xp.broadcast_shapes(tuple(x.shape), tuple(gx.shape)) != tuple(gx.shape):
            raise RuntimeError(
                f"Function {name}Backward returned an invalid gradient at index {i} - got "
                f"shape {tuple(gx.shape)} but expected shape compatible with {tuple(x.shape)}"
            )
        gx = sum_to_shape(gx, tuple(x.shape))
    if gx.dtype != x.dtype:
        gx = to(gx, x.dtype)
    return gx


def _call_impl(*arrays: Any, call: CustomCall) -> Any:
    # innermost: the forward on plain tensors, not recorded (backward is the user's)
    with no_grad():
        out = call.forward([wrap(a) for a in arrays])
    data = out.data
    if any(xp.may_share_memory(data, a) for a in arrays):
        data = data.copy()  # an output that is an input (identity): never alias it
    return data


def _call_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict) -> Any:
    # vmap: run the forward on the batched values themselves (PyTorch's generate_vmap_rule)
    call: CustomCall = params["call"]
    call.check_batchable()
    inputs = [level.wrap(v) if b else v for v, b in zip(values, batched)]
    out = call.forward(inputs)
    if out._level is level:
        return out.primal
    return bind_expand(out, level.size)


def bind_expand(x: Any, size: int) -> Any:
    """``x`` repeated along a new leading batch axis of ``size``."""
    from chainrule.ops.shape import expand_to

    return expand_to(reshape_to(x, (1, *x.shape)), (size, *x.shape))


def apply_call(call: CustomCall, tensors: list[Any]) -> Any:
    """Bind the call's primitive to its tensor inputs and return the user-visible outputs."""
    packed = bind(call.prim, tuple(tensors), {"call": call})
    return call.results(packed)


# --- Function: PyTorch's contract --------------------------------------------------------------


class FunctionCtx:
    """``ctx``: what ``forward`` (or ``setup_context``) leaves for ``backward`` and ``jvp``."""

    def __init__(self, name: str, needs_input_grad: tuple[bool, ...]) -> None:
        self._name = name
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save: tuple[Any, ...] = ()
        self._non_diff: list[Any] = []
        # how each saved tensor is found when a rule runs: ("in", k), ("out", j) or
        # ("const", tensor, version cell, version at save)
        self._saved_spec: list[tuple] | None = None
        self._resolve: tuple[tuple, list[Any]] | None = None  # (inputs, outputs) of the rule

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (inputs, outputs or intermediates, or None) for ``backward``."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward: only Tensors or None can be saved, got "
                    f"{type(t).__name__} (keep other values as ctx attributes)"
                )
        self._to_save = tensors

    save_for_forward = save_for_backward  # jvp reads ctx.saved_tensors too

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """Outputs that get no gradient (indices, masks): ``backward`` sees zeros for them."""
        self._non_diff.extend(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` gets None (not zeros) for outputs given no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Any) -> None:
        raise NotImplementedError(
            f"{self._name}: in-place forward functions (ctx.mark_dirty) are not supported; "
            "return a new tensor instead"
        )

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The saved tensors, as the rule now running sees them: inputs and outputs are the
        values of that rule's level (so ``backward`` can be differentiated again); an
        intermediate is checked against in-place changes since it was saved."""
        if self._saved_spec is None or self._resolve is None:
            raise RuntimeError(
                f"{self._name}: ctx.saved_tensors is only available in backward and jvp"
            )
        inputs, outs = self._resolve
        result = []
        for entry in self._saved_spec:
            if entry[0] == "in":
                result.append(inputs[entry[1]])
            elif entry[0] == "out":
                result.append(outs[entry[1]])
            elif entry[0] == "none":
                result.append(None)
            else:
                _, t, cell, version = entry
                if cell.data != version:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been "
                        f"modified by an inplace operation: {self._name}Backward saved a "
                        f"tensor of shape {tuple(t.shape)} at version {version}, and it is "
                        f"now at version {cell.data}. Clone it before changing it in place."
                    )
                result.append(t)
        return tuple(result)


class _FunctionCall(CustomCall):
    """One ``Function.apply``: adapts PyTorch's ctx protocol to ``CustomCall``."""

    def __init__(self, cls: type, args: tuple, positions: list[int]) -> None:
        self.name = cls.__name__
        self.cls = cls
        self.args = args
        self.positions = positions  # positional index of each tensor input in args
        needs = tuple(
            isinstance(a, Tensor) and _backend.is_float(a.dtype) and traced(a) for a in args
        )
        self.ctx = FunctionCtx(self.name, needs)
        super().__init__(len(positions))

    def run_forward(self, inputs: list[Any]) -> Any:
        cls, ctx = self.cls, self.ctx
        full = self.full(inputs)
        if _uses_setup_context(cls):  # PyTorch 2 style: forward(*args), then setup_context
            out = cls.forward(*full)
            cls.setup_context(ctx, tuple(full), out)
            return out
        return cls.forward(ctx, *full)

    def non_differentiable(self, outputs: list[Any]) -> list[bool]:
        return [any(o is m for m in self.ctx._non_diff) for o in outputs]

    def check_batchable(self) -> None:
        if not getattr(self.cls, "generate_vmap_rule", False):
            raise RuntimeError(
                f"{self.name}: to use an autograd.Function under vmap, set "
                f"generate_vmap_rule = True on the class (as in PyTorch). Its forward, "
                "backward and jvp then run on batched values, so they must be written in "
                "chainrule ops (not on .data or NumPy arrays)."
            )

    def after_forward(self, inputs: list[Any], outputs: list[Any]) -> None:
        spec: list[tuple] = []
        saves_in: list[int] = []
        saves_out = False
        diff_index = {id(o): j for j, o in enumerate(o for o, d in zip(outputs, self.diff) if d)}
        for t in self.ctx._to_save:
            if t is None:
                spec.append(("none",))
                continue
            k = next((k for k, x in enumerate(inputs) if x is t), None)
            if k is not None:
                spec.append(("in", k))
                saves_in.append(k)
            elif id(t) in diff_index and any(t is o for o in outputs):
                spec.append(("out", diff_index[id(t)]))
                saves_out = True
            else:  # an intermediate (or a non-differentiable output): a constant to rules
                cell = version_cell(t)
                spec.append(("const", t, cell, cell.data))
        self.ctx._saved_spec = spec
        # the primitive keeps (and version-checks) exactly what ctx saved, as built-ins do
        self.prim.declare_saves(tuple(sorted(set(saves_in))), saves_out)

    def _with_resolve(self, inputs: tuple, outs: list[Any], fn: Callable[[], Any]) -> Any:
        prev = self.ctx._resolve
        self.ctx._resolve = (inputs, outs)
        try:
            return fn()
        finally:
            self.ctx._resolve = prev

    def cotangents(self, gs: list[Any], outs: list[Any], inputs: tuple) -> Sequence[Any]:
        it = iter(gs)
        grads = []
        for o, d in zip(self.outputs, self.diff):
            if d:
                grads.append(next(it))
            else:  # a non-differentiable output: zeros (PyTorch), or None
                grads.append(zeros_like(o) if self.ctx.materialize_grads else None)
        result = self._with_resolve(inputs, outs, lambda: self.cls.backward(self.ctx, *grads))
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != len(self.args):
            raise RuntimeError(
                f"function {self.name}Backward returned an incorrect number of gradients "
                f"(expected {len(self.args)}, got {len(result)}): one per forward argument, "
                "None for arguments that need no gradient"
            )
        for k, (a, r) in enumerate(zip(self.args, result)):
            if r is not None and not isinstance(a, Tensor):
                raise RuntimeError(
                    f"function {self.name}Backward returned a gradient for argument {k}, "
                    f"which is a {type(a).__name__}, not a Tensor; return None for it"
                )
        return [result[k] for k in self.positions]

    def tangent(self, i: int, t: Any, outs: list[Any], inputs: tuple) -> list[Any]:
        jvp = getattr(self.cls, "jvp", None)
        if jvp is None:
            raise RuntimeError(
                f"{self.name}: forward-mode differentiation (jvp, jacfwd, hessian) needs a "
                f"jvp rule; define the staticmethod {self.name}.jvp(ctx, *tangents) next to "
                "backward"
            )
        tangents = [zeros_like(x) for x in inputs]
        tangents[i] = t
        full = self.full(tangents, fill=lambda a: None)
        result = self._with_resolve(inputs, outs, lambda: jvp(self.ctx, *full))
        result = list(result) if isinstance(result, (tuple, list)) else [result]
        return [r for r, d in zip(result, self.diff) if d]


def _uses_setup_context(cls: type) -> bool:
    return getattr(cls, "setup_context", None) is not getattr(Function, "setup_context", None)


class Function:
    """A differentiable function with hand-written derivatives (PyTorch's contract).

    Subclass it with static methods ``forward(ctx, *args)`` and ``backward(ctx, *grads)``
    (one gradient per forward argument, ``None`` where none is needed), and optionally
    ``jvp(ctx, *tangents)`` for forward mode. Or, PyTorch 2 style, ``forward(*args)`` plus
    ``setup_context(ctx, inputs, output)``. Call it with ``MyFunction.apply(*args)``.

    ``backward`` computes ``d/dx_i`` contracted with the output cotangents, ``g^T J_i``;
    ``jvp`` computes ``J t``. Written in chainrule ops, both are differentiated again for
    higher orders (unless decorated with ``once_differentiable``). Under ``vmap`` the class
    needs ``generate_vmap_rule = True`` (then all three run on batched values), as in PyTorch.

    >>> import chainrule as cr
    >>> class Cube(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * 3 * x ** 2          # d/dx x^3 = 3x^2
    >>> x = cr.tensor([2.0], requires_grad=True)
    >>> y = Cube.apply(x)
    >>> y.grad_fn
    <CubeBackward>
    >>> y.sum().backward(); x.grad
    tensor([12.])
    """

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Function subclasses must define a forward staticmethod")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        raise NotImplementedError  # only overridden in the PyTorch 2 style

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError("Function subclasses must define a backward staticmethod")

    jvp: Any = None
    #: True: vmap runs forward/backward/jvp on batched values (they must use chainrule ops)
    generate_vmap_rule: bool = False

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record the user's derivatives for the result."""
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only")
        if cls.backward is Function.backward:
            raise NotImplementedError(f"{cls.__name__} must define a backward staticmethod")
        positions = [k for k, a in enumerate(args) if isinstance(a, Tensor)]
        call = _FunctionCall(cls, args, positions)
        return apply_call(call, [args[k] for k in positions])


# --- once_differentiable --------------------------------------------------------------------


def _refuse_twice(*args: Any, **params: Any) -> Any:
    raise RuntimeError(
        "trying to differentiate twice a function that was marked with @once_differentiable: "
        "its backward is not differentiable. Remove the decorator and write backward in "
        "chainrule ops to get higher-order derivatives."
    )


# ``r`` tied to ``g``: the value of r, but any derivative through it is refused
_once_p = Primitive("once_differentiable", lambda r, g: r.copy())
_once_p.defvjp(None, _refuse_twice)
_once_p.defjvp(None, _refuse_twice)


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a ``backward`` as not differentiable: it runs on plain values, and taking a
    derivative of its result (double backward, forward-over-reverse) raises an error."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        # what a derivative of the result would flow back to: the cotangents and the inputs
        sources = list(grads) + list(ctx._resolve[0] if ctx._resolve is not None else ())
        traced = [g for g in sources if isinstance(g, Tensor) and (g._level or g.requires_grad)]
        with no_grad():
            plain = [g.detach() if isinstance(g, Tensor) else g for g in grads]
            saved = ctx._resolve
            if saved is not None:  # saved inputs and outputs as plain values too
                ins, outs = saved
                ctx._resolve = (
                    tuple(_plain(x) for x in ins),
                    [_plain(o) for o in outs],
                )
            try:
                result = backward(ctx, *plain)
            finally:
                ctx._resolve = saved
        if not traced or not (STATE.grad_enabled or traced[0]._level is not None):
            return result
        single = not isinstance(result, tuple)
        items = (result,) if single else result
        tied = tuple(None if r is None else bind(_once_p, (r, traced[0]), {}) for r in items)
        return tied[0] if single else tied

    return wrapper


def _plain(x: Any) -> Any:
    return x.detach() if isinstance(x, Tensor) else x
