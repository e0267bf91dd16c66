"""Primitives: every differentiable operation, defined once with its VJP and JVP side by side.

A ``Primitive`` holds the forward implementation (on backend arrays), one VJP rule and one JVP
rule per differentiable input (HIPS autograd's ``defvjp``/``defjvp``), and flags:

- ``broadcasts``: the engine reduces each input's cotangent with ``sum_to_shape`` and expands
  each input's tangent to the output's shape, so no rule undoes broadcasting itself;
- ``linear``: the op is linear in its single differentiable input, so its JVP is the op
  applied to the tangent;
- ``multilinear``: the op is linear in each input separately (``x * y``, ``x @ y``, a
  convolution), so the JVP for input i is the op with the tangent in slot i (HIPS's
  ``def_linear``); only the VJPs (the adjoints) are written out;
- ``saves`` / ``saves_out``: which inputs (and whether the output) the VJP rules read at
  backward time, either for every rule (``saves=(0,)``) or per differentiable input
  (``saves=((1,), (0,))`` for ``x * y``: the VJP for x reads y, the one for y reads x). A node
  saves only what the VJPs that will run read, decided at record time from which inputs need
  a gradient, as PyTorch does: ``x * w`` with ``w`` constant saves ``w`` only. Saved values
  are version-checked against in-place changes and freed after backward; the others are kept
  as their shape and dtype (``SavedMeta``), which name the op if a rule reads them.
- ``view``: the output may alias the input's memory (reshape, permute, basic indexing), so it
  shares the input's version counter.

Rule signatures use the shared vocabulary: ``vjp(g, out, *inputs, **params)`` returns the
cotangent of one input given ``g``, the cotangent of ``out``; ``jvp(t, out, *inputs,
**params)`` returns the tangent of ``out`` contributed by ``t``, one input's tangent. Rules are
written in chainrule ops, so they can be differentiated again (``create_graph``, ``hvp``).
``out`` is ``None`` in VJP rules of primitives that do not save it.

``bind`` is the single entry point of every op. With no function transform live it takes the
eager path: run the implementation, and record a ``Node`` when grad mode is on and some input
requires grad. Inside transforms (``chainrule.func``) it hands over to ``dispatch``, which
passes the op to the newest live level among its arguments (``Level.process``).

``public`` declares a family file's public function next to its primitive; ``chainrule.ops.api``
turns the ``EXPORTS`` list into ``chainrule.<name>``, Tensor methods and ``nn.functional``.
This module imports only the layers below it (``tensor``, ``autograd.node``,
``autograd.grad_mode``): nothing is injected into it after import.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import Node, SavedMeta, Version
from chainrule.tensor import Tensor, version_cell, wrap

Rule = Callable[..., Any]


Saves = tuple[int, ...]


class Primitive:
    """A differentiable operation: forward implementation plus per-input VJP and JVP rules."""

    __slots__ = (
        "backward_name",
        "batch",
        "broadcasts",
        "impl",
        "jvps",
        "linear",
        "name",
        "saves",
        "saves_by_input",
        "saves_mask",
        "saves_out",
        "saves_table",
        "view",
        "vjps",
    )

    def __init__(
        self,
        name: str,
        impl: Callable[..., Any],
        *,
        broadcasts: bool = False,
        linear: bool = False,
        multilinear: bool = False,
        saves: Saves | tuple[Saves, ...] = (),
        saves_out: bool | tuple[bool, ...] = False,
        view: bool = False,
    ) -> None:
        self.name = name
        self.backward_name = "".join(part.title() for part in name.split("_")) + "Backward0"
        self.impl = impl
        self.broadcasts = broadcasts
        self.linear = linear
        self.view = view
        self.vjps: tuple[Rule | None, ...] = ()
        self.jvps: tuple[Rule | None, ...] = _SlotRules(self) if multilinear else ()
        # how a batch level (jacfwd/jacrev, chainrule.func.batching) applies this primitive to
        # a stack of tangents or cotangents: ``batch(level, prim, values, batched, params)``.
        # Set only where a stacked value can arrive (linear and multilinear primitives: only
        # tangents and cotangents are ever batched); without one, a loop over the stack runs.
        self.batch: Rule | None = None
        self.declare_saves(saves, saves_out)

    def declare_saves(
        self, saves: Saves | tuple[Saves, ...], saves_out: bool | tuple[bool, ...] = False
    ) -> None:
        """What the VJP rules read: for all of them, or one entry per differentiable input.

        ``saves`` and ``saves_out`` keep the union (what transforms and version checks of a
        fully differentiated node use); ``saves_table[mask]`` is what a node saves when the
        inputs in the bit ``mask`` need a gradient (built here once, looked up in ``record``).
        """
        per_input = any(isinstance(s, tuple) for s in saves) or isinstance(saves_out, tuple)
        if not per_input:
            self.saves, self.saves_out = tuple(saves), bool(saves_out)  # type: ignore[arg-type]
            self.saves_mask = sum(1 << i for i in self.saves)
            self.saves_by_input = None
            self.saves_table = None
            return
        n = max(len(saves), len(saves_out) if isinstance(saves_out, tuple) else 0)
        ins = [tuple(saves[i]) if i < len(saves) else () for i in range(n)]  # type: ignore[arg-type]
        outs = [
            (saves_out[i] if i < len(saves_out) else False)
            if isinstance(saves_out, tuple)
            else bool(saves_out)
            for i in range(n)
        ]
        self.saves_by_input = (tuple(ins), tuple(outs))
        self.saves = tuple(sorted({j for s in ins for j in s}))
        self.saves_out = any(outs)
        self.saves_mask = sum(1 << i for i in self.saves)
        table = []
        for mask in range(1 << n):
            need = [i for i in range(n) if mask >> i & 1]
            saved = tuple(sorted({j for i in need for j in ins[i]}))
            table.append((saved, any(outs[i] for i in need), sum(1 << j for j in saved)))
        self.saves_table = tuple(table)

    def defvjp(self, *rules: Rule | None) -> Primitive:
        """Set one VJP rule per positional input (``None``: not differentiable there)."""
        self.vjps = rules
        return self

    def defjvp(self, *rules: Rule | None) -> Primitive:
        """Set one JVP rule per positional input (``None``: not differentiable there)."""
        self.jvps = rules
        return self

    def __call__(self, *args: Any, **params: Any) -> Any:
        return bind(self, args, params)

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


class _SlotRules(tuple):
    """The JVP rules of a multilinear primitive: rule i applies the op with input i replaced
    by its tangent (the derivative of a map linear in that input is the map itself)."""

    def __new__(cls, prim: Primitive) -> _SlotRules:
        rules = super().__new__(cls)
        rules.prim = prim  # type: ignore[attr-defined]
        return rules

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        prim = self.prim  # type: ignore[attr-defined]

        def rule(t: Any, out: Any, *args: Any, **params: Any) -> Any:
            return bind(prim, (*args[:i], t, *args[i + 1 :]), params)

        return rule


def bind(prim: Primitive, args: tuple, params: dict) -> Any:
    """Apply ``prim`` to Tensor ``args``: eagerly, or through the live function transforms."""
    if STATE.levels:
        return dispatch(prim, args, params)
    return eager(prim, args, params)


def bind_constant(prim: Primitive, args: tuple, params: dict) -> Any:
    """``bind`` for a value without derivative (a comparison or an index of traced values):
    batch levels apply their rule, derivative levels pass it on as a constant, and the tape
    records nothing (grad mode off while it runs)."""
    prev = STATE.grad_enabled
    STATE.grad_enabled = False
    try:
        return bind(prim, args, params)
    finally:
        STATE.grad_enabled = prev


def eager(prim: Primitive, args: tuple, params: dict) -> Any:
    """Run the forward implementation; record a node if some input requires grad."""
    try:
        if len(args) == 2:  # the common case, unrolled (and wrap inlined): the hottest path
            x, y = args
            data = prim.impl(x.data, y.data, **params)
            out = _new(Tensor)
            out._data = data if data.__class__ is _ndarray else xp.asarray(data)
            if STATE.grad_enabled and (x.requires_grad or y.requires_grad):
                record(prim, args, params, out)
            return out
        if len(args) == 1:
            x = args[0]
            out = wrap(prim.impl(x.data, **params))
            if prim.view and out.data.base is not None and xp.may_share_memory(out.data, x.data):
                mark_view(x, out, prim, params)  # NumPy sets .base on some copies too
            if STATE.grad_enabled and x.requires_grad:
                record(prim, args, params, out)
            return out
        out = wrap(prim.impl(*[a.data for a in args], **params))
    except ValueError as err:
        raise _forward_error(prim, args, err) from None
    if STATE.grad_enabled:
        for a in args:
            if a.requires_grad:
                record(prim, args, params, out)
                break
    return out


def _forward_error(prim: Primitive, args: tuple, err: Exception) -> Exception:
    shapes = " and ".join(str(tuple(a.shape)) for a in args)
    if prim.broadcasts and "broadcast" in str(err):
        return ValueError(
            f"{prim.name}: shapes {shapes} cannot be broadcast together (trailing dimensions "
            "must be equal or 1). Reshape or unsqueeze an operand so that they line up."
        )
    return ValueError(f"{prim.name}: invalid input of shape {shapes}: {err}")


def record(prim: Primitive, args: tuple, params: dict, out: Any) -> Node:
    """Attach a new graph node to ``out``: edges, saved versions, optional forward stack."""
    edges = []
    need = 0  # bit i set: input i needs a gradient, so its VJP will run
    made = 0  # bit i set: input i is an intermediate (made by a recorded op)
    bit = 1
    for a in args:
        if a._view_hist is not None and a._vc.history != a._view_hist:
            raise stale_view_error(a)
        fn = a.grad_fn
        if fn is not None:
            edges.append(fn)
            need |= bit
            made |= bit
        elif a.requires_grad:
            edges.append(a)
            need |= bit
        else:
            edges.append(None)
        bit <<= 1
    table = prim.saves_table
    if table is None:
        saves, saves_out = prim.saves, prim.saves_out
        drop = made & ~prim.saves_mask  # intermediates no rule reads
    else:  # only what the VJPs that will run read (PyTorch: x * 2.0 saves nothing of x)
        saves, saves_out, mask = table[need]
        drop = ((1 << len(args)) - 1) & ~mask  # every input no rule that will run reads
    kept = None  # args, with the inputs in ``drop`` replaced by their shapes
    if drop:
        # Holding an intermediate the rules do not need would keep its memory alive until
        # backward (x @ w in x @ w + b); PyTorch frees it, so do we.
        kept = list(args)
        for i, a in enumerate(args):
            if drop >> i & 1:
                kept[i] = SavedMeta(a.data.shape, a.data.dtype, prim, i)
    node = Node(prim, args if kept is None else tuple(kept), params, None)
    if saves_out:
        node.out_data = out.data
    # Edges are fixed now: a later in-place op that gives an input new history must not
    # re-route this node's gradient.
    node.edges = tuple(edges)
    if saves or saves_out:
        saved = saved_versions(args, saves)
        if saves_out:
            cell = out._vc = Version()  # a fresh output: nobody shares its counter yet
            saved.append((-1, cell, 0))
        node.saved = tuple(saved)
    if STATE.anomaly:
        node.stack = traceback.format_stack()[:-3]  # drop chainrule's own frames
    out.grad_fn = node
    out.requires_grad = True
    return node


def saved_versions(args: tuple, saves: tuple[int, ...]) -> list[tuple[int, Version, int]]:
    """``(index, version cell, version now)`` for each saved input: what backward checks."""
    out = []
    for i in saves:
        cell = version_cell(args[i])
        out.append((i, cell, cell.data))
    return out


def mark_view(base: Any, view: Any, prim: Primitive, params: dict) -> None:
    """``view``'s data aliases ``base``'s: share the version cell, remember the history
    version both are consistent with."""
    cell = version_cell(base)
    view._vc = cell
    view._view_src = (base, prim, params)
    view._view_hist = cell.history
    base._viewed = True
    if base._view_hist is None:
        base._view_hist = cell.history


def stale_view_error(t: Any) -> RuntimeError:
    kind = "a view" if t._view_src is not None else "a tensor with views"
    return RuntimeError(
        f"a tensor of shape {tuple(t.shape)} is {kind}, and its memory was changed in place "
        "(through another alias) by an operation that was recorded for autograd after this "
        "alias was made, so its history is stale and its gradient would be wrong. Take the "
        "view again after the in-place change, or use out-of-place ops."
    )


_new = object.__new__
_ndarray = xp.ndarray


# --- inside function transforms -------------------------------------------------------------


def lower(x: Any) -> Any:
    """Strip the tracers of exited levels: what is left is a constant to every live level."""
    while x._level is not None and not x._level.alive:
        x = x.primal
    return x


#: ``claim(args, params) -> level | None``, asked when no argument is a tracer: a program trace
#: (``chainrule.func.program``) claims plain tensors made from its traced arrays
CLAIMS: list[Callable[[tuple, dict], Any]] = []


def dispatch(prim: Primitive, args: tuple, params: dict) -> Any:
    """``bind`` inside transforms: the newest live level among the arguments handles ``prim``
    (see ``chainrule.func.levels``; a level's ``process`` is looked up on the object, so this
    bottom layer imports no transform)."""
    top = None
    stale = False
    for a in args:
        level = a._level
        if level is not None:
            if not level.alive:
                stale = True
            elif top is None or level.order > top.order:
                top = level
    if stale:
        args = tuple(lower(a) for a in args)
        top = None
        for a in args:
            if a._level is not None and (top is None or a._level.order > top.order):
                top = a._level
    if top is None:
        for claim in CLAIMS:  # a plain tensor may hold a traced value (wrap(x.data > 0))
            top = claim(args, params)
            if top is not None:
                break
        else:
            return eager(prim, args, params)  # no tracers: an ordinary (taped) operation
    for a in args:
        if a._view_hist is not None and a._vc.history != a._view_hist:
            raise stale_view_error(a)
    out = top.process(prim, args, params)
    if prim.view and out._level is not None:
        mark_view(args[0], out, prim, params)  # as eager views: stale aliases are refused
    return out


# --- the public API, declared where each op is defined ------------------------------------


class Export:
    """One public function of a family file, and where ``chainrule.ops.api`` publishes it."""

    __slots__ = ("fn", "functional", "methods", "name", "toplevel")

    def __init__(
        self, fn: Callable[..., Any], name: str, methods: tuple[str, ...], toplevel: bool,
        functional: bool,
    ) -> None:  # fmt: skip
        self.fn, self.name, self.methods = fn, name, methods
        self.toplevel, self.functional = toplevel, functional


EXPORTS: list[Export] = []  # filled as the family files load, in definition order


def public(
    *,
    method: bool | str | tuple[str, ...] = True,
    toplevel: bool = True,
    functional: bool = False,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a function as public API, next to its primitive.

    ``method``: also a Tensor method (``x.exp()``), under the function's name or the given
    name(s); ``toplevel``: exported as ``chainrule.<name>``; ``functional``: re-exported by
    ``chainrule.nn.functional``. Nothing is attached here: ``chainrule.ops.api`` reads
    ``EXPORTS`` once, above every family, so no family module imports another upward.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        public_name = name or fn.__name__
        if method is True:
            methods: tuple[str, ...] = (public_name,)
        elif method is False:
            methods = ()
        elif isinstance(method, str):
            methods = (method,)
        else:
            methods = tuple(method)
        EXPORTS.append(Export(fn, public_name, methods, toplevel, functional))
        return fn

    return register
