"""In-place operations and the graph surgery they need: ``x.add_(y)``, ``x[i] = v``, ...

An in-place change of a tensor that is part of a graph is recorded as the out-of-place op
(``x + y``, ``index_put(x, v, i)``) whose result is written back into the same buffer; the
tensor then takes the result's history (PyTorch's "rebase"). Views of the tensor share its
version counter (``Tensor._vc``): saved values check it in backward, and aliases whose history
went stale are refused when used. An indexing view changed in place rebases its base too
(PyTorch's CopySlices).

``TensorInplace`` is a mixin of methods: ``chainrule.ops.api`` copies them onto ``Tensor``
(tracers override ``_record_inplace`` and ``_inplace_recorded``, see ``chainrule.func.levels``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule._random import rng
from chainrule.autograd.grad_mode import STATE
from chainrule.ops._primitive import stale_view_error
from chainrule.ops.elementwise import _operand, add, clamp, div, mul, sub
from chainrule.ops.shape import getitem_p, index_put, normalize_index, to
from chainrule.tensor import Tensor, version_cell, wrap


class TensorInplace:
    """The in-place methods of ``Tensor`` (copied onto it by ``chainrule.ops.api``)."""

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, recorded as an in-place change (bumps the version)."""
        index = normalize_index(index, self)
        if not isinstance(value, Tensor):
            value = _operand(value, self, "setitem")
        value = to(value, self.data.dtype)
        if not self._record_inplace(value):
            try:
                self.data[index] = value.data
            except ValueError as err:
                raise _inplace_error("setitem", self, value, err) from None
            self._bump()
            return
        self._inplace_recorded("setitem", lambda s: index_put(s, value, index))

    def _record_inplace(self, other: Any = None) -> bool:
        """Whether an in-place op must be recorded (and is allowed)."""
        if not STATE.grad_enabled:
            return False
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(
                f"a leaf tensor that requires grad (shape {tuple(self.shape)}) is being used "
                "in an in-place operation. Do parameter updates inside `with cr.no_grad():` "
                "(as optimizers do), or use the out-of-place op."
            )
        if isinstance(other, Tensor) and (other.requires_grad or other._level is not None):
            return True  # the new value carries a gradient (or a transform's tracer)
        return self.requires_grad

    def _inplace_recorded(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Run ``compute`` out of place on a snapshot of self, write the result into self's
        buffer, and give self the new history (PyTorch's "rebase").

        When self is an indexing view of a base tensor, the base's history is rebased too:
        it becomes ``index_put(base, view, index)``, so ``y[0:2] += 1`` and
        ``y[0].mul_(3)`` differentiate correctly (PyTorch's CopySlices).
        """
        if self._view_hist is not None and self._vc.history != self._view_hist:
            raise stale_view_error(self)
        src = self._view_src
        rebase = src is not None and src[1] is getitem_p
        if rebase:
            base = src[0]
            if base._view_hist is not None and base._vc.history != base._view_hist:
                raise stale_view_error(base)
            if base.requires_grad and base.grad_fn is None:
                raise RuntimeError(
                    f"{op}: a view of a leaf tensor that requires grad (shape "
                    f"{tuple(base.shape)}) is being changed in place. Do it inside "
                    "`with cr.no_grad():`, or clone() the leaf first."
                )
        elif (src is not None or self._viewed) and not self.requires_grad:
            raise RuntimeError(
                f"{op}: this tensor (shape {tuple(self.shape)}) shares memory with another "
                "(a view, or a tensor with views) and does not require grad, so writing a value "
                "that does into it in place would leave the other alias without a gradient "
                "path. clone() it first, or build the result out of place (cat, where)."
            )
        snapshot = wrap(self.data.copy())  # the pre-change value, for rules that saved it
        snapshot.grad_fn, snapshot.requires_grad = self.grad_fn, self.requires_grad
        new = compute(snapshot)
        if new._level is not None:
            # a traced value written into a plain tensor inside a transform (y = zeros(3);
            # y[0] = x): the tensor becomes a tracer of that value, as `y = ...` would, for as
            # long as the level lives; the level turns it back into a plain tensor holding
            # the value when it exits, so no tracer leaks out (see Level.adopt)
            new._level.adopt(self, new)
            return self
        try:
            xp.copyto(self.data, new.data, casting="same_kind")
        except (TypeError, ValueError) as err:
            raise _inplace_error(op, self, new, err) from None
        self._bump(history=True)
        self.grad_fn, self.requires_grad = new.grad_fn, new.requires_grad
        if new.grad_fn is not None and new.grad_fn.out_data is not None:
            # the node's output is now this buffer: tie it to this tensor's version counter
            new.grad_fn.out_data = self.data
            cell = version_cell(self)
            new.grad_fn.saved = tuple(
                (i, cell, cell.data) if i < 0 else (i, c, v) for i, c, v in new.grad_fn.saved
            )
        if rebase:
            self._rebase_base()
        return self

    def _rebase_base(self) -> None:
        """After an in-place change of this indexing view, give its base the history
        ``index_put(base, view, index)`` (the data is shared, so only the graph changes), and
        so on up a chain of indexing views."""
        view = self
        while view._view_src is not None and view._view_src[1] is getitem_p:
            base, _, params = view._view_src
            old = wrap(base.data)
            old.grad_fn, old.requires_grad = base.grad_fn, base.requires_grad
            part = wrap(view.data)
            part.grad_fn, part.requires_grad = view.grad_fn, view.requires_grad
            new_base = index_put(old, part, params["index"])
            base.grad_fn, base.requires_grad = new_base.grad_fn, new_base.requires_grad
            if base._view_hist is not None:
                base._view_hist = base._vc.history  # its history is current again
            view = base

    def _inplace_binary(self, op: str, ufunc: Any, other: Any, fn: Callable) -> Tensor:
        other_t = other if isinstance(other, Tensor) else _operand(other, self, op)
        if not self._record_inplace(other_t):
            try:
                ufunc(self.data, other_t.data, out=self.data, casting="same_kind")
            except (TypeError, ValueError) as err:
                raise _inplace_error(op, self, other_t, err) from None
            self._bump()
            return self
        return self._inplace_recorded(op, lambda s: fn(s, other_t))

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """self += alpha * other, in place."""
        if alpha != 1:
            other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
        return self._inplace_binary("add_", xp.add, other, add)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """self -= alpha * other, in place."""
        if alpha != 1:
            other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
        return self._inplace_binary("sub_", xp.subtract, other, sub)

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        return self._inplace_binary("mul_", xp.multiply, other, mul)

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        return self._inplace_binary("div_", xp.true_divide, other, div)

    def zero_(self) -> Tensor:
        """Fill with zeros, in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value``, in place."""
        if self._record_inplace(value if isinstance(value, Tensor) else None):
            v = value if isinstance(value, Tensor) else _operand(value, self, "fill_")
            return self._inplace_recorded("fill_", lambda s: _overwrite(s, v))
        self.data[...] = value.data if isinstance(value, Tensor) else value
        self._bump()
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast) into self, in place."""
        src = src if isinstance(src, Tensor) else Tensor(src)
        if self._record_inplace(src):
            return self._inplace_recorded("copy_", lambda s: _overwrite(s, src))
        xp.copyto(self.data, src.data, casting="unsafe")
        self._bump()
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        if self._record_inplace():
            return self._inplace_recorded("clamp_", lambda s: clamp(s, min, max))
        xp.clip(self.data, min, max, out=self.data)
        self._bump()
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of N(mean, std**2) from ``generator`` (else the default stream)."""
        # through copy_: a recorded non-leaf gets the history of a constant (zero gradient to
        # what it was before), as PyTorch's normal_ does
        draws = rng(generator).normal(mean, std, self.shape)
        return self.copy_(wrap(draws.astype(self.dtype)))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of U(a, b) from ``generator`` (else the default stream)."""
        return self.copy_(wrap(rng(generator).uniform(a, b, self.shape).astype(self.dtype)))


def _overwrite(s: Tensor, value: Tensor) -> Tensor:
    """``s`` with every entry replaced by ``value`` (broadcast), out of place: the recorded
    form of fill_/copy_/zero_. Written as ``index_put(s, value, ...)``, not ``s * 0 + value``,
    so that an inf or NaN in the old value does not turn into NaN (inf * 0); the gradient to
    the old value is exactly zero, to ``value`` the (summed) cotangent."""
    return index_put(s, to(value, s.data.dtype), Ellipsis)


def _inplace_error(op: str, t: Tensor, other: Any, err: Exception) -> Exception:
    other_desc = (
        f"{tuple(other.shape)} {other.data.dtype}" if isinstance(other, Tensor) else repr(other)
    )
    if not t.data.flags.writeable:
        hint = "this tensor is an expanded (broadcast) view; clone() it before changing it"
    else:
        hint = "an in-place result must keep the tensor's shape and dtype; use the out-of-place op"
    return RuntimeError(
        f"{op}: cannot write a result computed from {other_desc} into a tensor of shape "
        f"{tuple(t.shape)} and dtype {t.data.dtype} ({err}); {hint}"
    )
