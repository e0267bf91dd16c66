"""``Tensor``: a backend array plus the autograd metadata that PyTorch users expect.

``data`` is the backend (NumPy) array itself. ``requires_grad``, ``grad``, ``grad_fn`` and the
version counter are class-level defaults until set, so that making a tensor (which every op
does) costs one attribute write. Operators and methods call the functions in
``chainrule.ops.functions``; nothing here computes a derivative.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.ops import _primitive


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __array_priority__ = 1000  # NumPy defers to our reflected operators: array * tensor -> Tensor

    # Defaults live on the class: a fresh tensor only writes ``data``.
    requires_grad: bool = False
    grad: Tensor | None = None
    grad_fn: Any = None
    _vc: list[int] | None = None  # version counter, shared with views; created when needed
    _view_src: Any = None  # (base, primitive, params) when data aliases another tensor's
    _viewed: bool = False  # some view aliases this tensor's data
    _view_hist: int | None = None  # history version this alias is consistent with (see _vc)
    _hooks: list | None = None  # gradient hooks of a leaf
    _level: Any = None  # the transform level of a tracer (chainrule.func); None for tensors

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        try:
            self.data = _backend.as_array(data, None if dtype is None else xp.dtype(dtype))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"tensor: cannot make a tensor from {type(data).__name__} {data!r:.60}: {err}. "
                "Pass numbers, (nested) lists of numbers or a NumPy array."
            ) from None
        if self.data.dtype.kind not in "biuf":
            raise TypeError(
                f"tensor: unsupported dtype {self.data.dtype} (from {type(data).__name__}); "
                "chainrule tensors hold bool, integer or floating-point numbers"
            )
        if requires_grad:
            self.requires_grad_()

    # --- metadata -----------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (their ``.grad`` is filled)."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        """All dims reversed (a matrix transpose for 2-D)."""
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        """The last two dims swapped (batched matrix transpose)."""
        return F.transpose(self, -2, -1)

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --- autograd -----------------------------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf so that operations on it are recorded and ``.grad`` is filled."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating point tensors can require gradients, got a {self.data.dtype} "
                f"tensor of shape {tuple(self.shape)}; convert it first with .float() or "
                "create it with a float dtype"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad_(False) only works on leaf tensors; use .detach() to get a "
                "tensor without history"
            )
        self.requires_grad = requires_grad
        return self

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf this depends on.

        ``gradient`` is the cotangent of ``self`` (needed unless ``self`` has one element).
        The graph's saved tensors are freed unless ``retain_graph`` (default: ``create_graph``).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn, so there is "
                "nothing to differentiate. Create the inputs with requires_grad=True and do not "
                "compute it under no_grad()."
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, but "
                    f"this tensor has shape {tuple(self.shape)}. Reduce it first (.sum(), "
                    ".mean()) or pass gradient= of the same shape."
                )
            g = _wrap(_backend.full(self.shape, 1, self.data.dtype))
        else:
            g = gradient if isinstance(gradient, Tensor) else Tensor(gradient)
            if g.shape != self.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {tuple(g.shape)} but the output has shape "
                    f"{tuple(self.shape)}; they must match"
                )
            g = F.to(g, self.data.dtype)
        if retain_graph is None:
            retain_graph = create_graph
        root = self.grad_fn if self.grad_fn is not None else self
        run_backward([root], [g], retain_graph=retain_graph, create_graph=create_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError(
                "register_hook: cannot register a hook on a tensor that does not require grad"
            )
        if self.grad_fn is not None:
            hooks = self.grad_fn.hooks
            if hooks is None:
                hooks = self.grad_fn.hooks = []
        else:
            hooks = self._hooks
            if hooks is None:
                hooks = self._hooks = []
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: cannot retain the grad of a tensor without grad")
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        node = self.grad_fn
        return node is not None and node.retained is not None and node.retained() is self

    def detach(self) -> Tensor:
        """The same data (shared, with the same version counter) without history."""
        t = _wrap(self.data)
        t._vc = _primitive.version_cell(self)
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradient flows back unchanged)."""
        return F.E.clone_p(self)

    def contiguous(self) -> Tensor:
        return self

    # --- conversion ---------------------------------------------------------------------------

    def numpy(self) -> Any:
        """The data as a NumPy array (shared, not copied)."""
        if self.requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; use "
                "tensor.detach().numpy() instead"
            )
        return xp.asarray(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self) -> Any:
        if self.numel() != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to Python scalars, this one "
                f"has shape {tuple(self.shape)}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.numel()} elements is ambiguous; use "
                ".any() or .all()"
            )
        return bool(self.item())

    def to(self, dtype: Any) -> Tensor:
        return F.to(self, dtype)

    def type(self, dtype: Any) -> Tensor:
        return F.to(self, dtype)

    def float(self) -> Tensor:
        return F.to(self, _backend.float32)

    def double(self) -> Tensor:
        return F.to(self, _backend.float64)

    def half(self) -> Tensor:
        return F.to(self, _backend.float16)

    def long(self) -> Tensor:
        return F.to(self, _backend.int64)

    def int(self) -> Tensor:
        return F.to(self, _backend.int32)

    def bool(self) -> Tensor:
        return _wrap(self.data.astype(bool))

    def any(self) -> Tensor:
        return _wrap(xp.any(self.data))

    def all(self) -> Tensor:
        return _wrap(xp.all(self.data))

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return _format(self)

    __hash__ = object.__hash__  # == is elementwise, so hashing is by identity (as PyTorch)

    # --- indexing -----------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        """Basic and advanced indexing.   VJP: g scattered (added) back into zeros."""
        index = _normalize_index(index, self)
        return F.S.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, recorded as an in-place change (bumps the version)."""
        index = _normalize_index(index, self)
        if not isinstance(value, Tensor):
            value = F._operand(value, self, "setitem")
        value = F.to(value, self.data.dtype)
        if not self._record_inplace(value):
            try:
                self.data[index] = value.data
            except ValueError as err:
                raise _inplace_error("setitem", self, value, err) from None
            self._bump()
            return
        self._inplace_recorded("setitem", lambda s: F.S.index_put(s, value, index))

    # --- in-place operations ------------------------------------------------------------------

    def _bump(self, history: bool = False) -> None:
        cell = _primitive.version_cell(self)
        cell[0] += 1
        if history:  # a recorded change: other aliases' histories are now stale
            cell[1] += 1
            if self._view_hist is not None:
                self._view_hist = cell[1]  # ...but this one's history is the new one

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
        if self._view_hist is not None and self._vc[1] != self._view_hist:
            raise _primitive.stale_view_error(self)
        src = self._view_src
        rebase = src is not None and src[1] is F.S.getitem_p
        if rebase:
            base = src[0]
            if base._view_hist is not None and base._vc[1] != base._view_hist:
                raise _primitive.stale_view_error(base)
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
        snapshot = _wrap(self.data.copy())  # the pre-change value, for rules that saved it
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
            cell = _primitive.version_cell(self)
            new.grad_fn.saved = tuple(
                (i, cell, cell[0]) if i < 0 else (i, c, v) for i, c, v in new.grad_fn.saved
            )
        if rebase:
            self._rebase_base()
        return self

    def _rebase_base(self) -> None:
        """After an in-place change of this indexing view, give its base the history
        ``index_put(base, view, index)`` (the data is shared, so only the graph changes), and
        so on up a chain of indexing views."""
        view = self
        while view._view_src is not None and view._view_src[1] is F.S.getitem_p:
            base, _, params = view._view_src
            old = _wrap(base.data)
            old.grad_fn, old.requires_grad = base.grad_fn, base.requires_grad
            part = _wrap(view.data)
            part.grad_fn, part.requires_grad = view.grad_fn, view.requires_grad
            new_base = F.S.index_put(old, part, params["index"])
            base.grad_fn, base.requires_grad = new_base.grad_fn, new_base.requires_grad
            if base._view_hist is not None:
                base._view_hist = base._vc[1]  # its history is current again
            view = base

    def _inplace_binary(self, op: str, ufunc: Any, other: Any, fn: Callable) -> Tensor:
        other_t = other if isinstance(other, Tensor) else F._operand(other, self, op)
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
            other = F.mul(other, alpha) if isinstance(other, Tensor) else other * alpha
        return self._inplace_binary("add_", xp.add, other, F.add)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """self -= alpha * other, in place."""
        if alpha != 1:
            other = F.mul(other, alpha) if isinstance(other, Tensor) else other * alpha
        return self._inplace_binary("sub_", xp.subtract, other, F.sub)

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        return self._inplace_binary("mul_", xp.multiply, other, F.mul)

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        return self._inplace_binary("div_", xp.true_divide, other, F.div)

    def zero_(self) -> Tensor:
        """Fill with zeros, in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value``, in place."""
        if self._record_inplace(value if isinstance(value, Tensor) else None):
            v = value if isinstance(value, Tensor) else F._operand(value, self, "fill_")
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
            return self._inplace_recorded("clamp_", lambda s: F.clamp(s, min, max))
        xp.clip(self.data, min, max, out=self.data)
        self._bump()
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with samples of N(mean, std**2) from chainrule's generator, in place."""
        from chainrule.creation import _rng

        # through copy_: a recorded non-leaf gets the history of a constant (zero gradient to
        # what it was before), as PyTorch's normal_ does
        return self.copy_(_wrap(_rng().normal(mean, std, self.shape).astype(self.dtype)))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with samples of U(a, b) from chainrule's generator, in place."""
        from chainrule.creation import _rng

        return self.copy_(_wrap(_rng().uniform(a, b, self.shape).astype(self.dtype)))


class _HookHandle:
    def __init__(self, hooks: list, hook: Callable) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


_wrap = _primitive.wrap


def _overwrite(s: Tensor, value: Tensor) -> Tensor:
    """``s`` with every entry replaced by ``value`` (broadcast), out of place: the recorded
    form of fill_/copy_/zero_. Written as ``index_put(s, value, ...)``, not ``s * 0 + value``,
    so that an inf or NaN in the old value does not turn into NaN (inf * 0); the gradient to
    the old value is exactly zero, to ``value`` the (summed) cotangent."""
    return F.S.index_put(s, F.to(value, s.data.dtype), Ellipsis)


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


def _normalize_index(index: Any, x: Tensor) -> Any:
    """Turn tensors and lists inside an index into arrays, checking that they are integers or
    booleans (float indices are an error, as in PyTorch)."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = xp.asarray(item)
        if isinstance(item, xp.ndarray) and item.dtype.kind not in "biu":
            raise IndexError(
                f"index: tensors used as indices must be integer or bool, got {item.dtype} "
                f"(indexing a tensor of shape {tuple(x.shape)})"
            )
        out.append(item)
    normalized = tuple(out) if isinstance(index, tuple) else out[0]
    try:  # validate bounds here, so the error names our op and shape rather than NumPy's
        xp.empty(x.shape, dtype=bool)[normalized]
    except IndexError as err:
        raise IndexError(f"index: {err} (tensor of shape {tuple(x.shape)})") from None
    return normalized


def _format(t: Tensor) -> str:
    data = t.data
    if data.dtype.kind == "f" and data.size:
        finite = data[xp.isfinite(data)]
        integral = finite.size == 0 or bool(xp.all(finite == xp.round(finite)))
        body = xp.array2string(
            data,
            separator=", ",
            prefix="tensor(",
            precision=4,
            floatmode="maxprec" if integral else "fixed",
            threshold=1000,
            edgeitems=3,
        )
    else:
        body = xp.array2string(data, separator=", ", prefix="tensor(", threshold=1000)
    extras = []
    if data.dtype not in (_backend.float32, _backend.int64, _backend.bool_):
        extras.append(f"dtype={data.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body, *extras]) + ")"


_primitive._Tensor = Tensor

from chainrule.autograd.engine import run_backward  # noqa: E402
from chainrule.ops import functions as F  # noqa: E402

F.Tensor = Tensor


def _reflected(fn: Callable) -> Callable:
    def method(self: Tensor, other: Any) -> Any:
        return fn(other, self)

    return method


# Operators call the functions directly (no wrapper frame) on the hot path.
Tensor.__add__ = F.add  # type: ignore[assignment]
Tensor.__radd__ = _reflected(F.add)  # type: ignore[assignment]
Tensor.__sub__ = F.sub  # type: ignore[assignment]
Tensor.__rsub__ = _reflected(F.sub)  # type: ignore[assignment]
Tensor.__mul__ = F.mul  # type: ignore[assignment]
Tensor.__rmul__ = _reflected(F.mul)  # type: ignore[assignment]
Tensor.__truediv__ = F.div  # type: ignore[assignment]
Tensor.__rtruediv__ = _reflected(F.div)  # type: ignore[assignment]
Tensor.__pow__ = F.pow  # type: ignore[assignment]
Tensor.__rpow__ = _reflected(F.pow)  # type: ignore[assignment]
Tensor.__matmul__ = F.matmul  # type: ignore[assignment]
Tensor.__rmatmul__ = _reflected(F.matmul)  # type: ignore[assignment]
Tensor.__neg__ = F.neg  # type: ignore[assignment]
Tensor.__abs__ = F.abs  # type: ignore[assignment]
Tensor.__eq__ = F.eq  # type: ignore[assignment]
Tensor.__ne__ = F.ne  # type: ignore[assignment]
Tensor.__lt__ = F.lt  # type: ignore[assignment]
Tensor.__le__ = F.le  # type: ignore[assignment]
Tensor.__gt__ = F.gt  # type: ignore[assignment]
Tensor.__ge__ = F.ge  # type: ignore[assignment]
Tensor.__and__ = F.logical_and  # type: ignore[assignment]
Tensor.__or__ = F.logical_or  # type: ignore[assignment]
Tensor.__xor__ = F.logical_xor  # type: ignore[assignment]
Tensor.__invert__ = F.logical_not  # type: ignore[assignment]
Tensor.__iadd__ = Tensor.add_  # type: ignore[assignment]
Tensor.__isub__ = Tensor.sub_  # type: ignore[assignment]
Tensor.__imul__ = Tensor.mul_  # type: ignore[assignment]
Tensor.__itruediv__ = Tensor.div_  # type: ignore[assignment]

for _name in (
    "add sub mul div pow matmul neg abs exp log log1p sqrt sin cos tanh sigmoid relu "
    "leaky_relu softplus gelu silu erf clamp maximum minimum sum mean var std max min amax amin "
    "logsumexp softmax log_softmax argmax argmin reshape flatten permute transpose squeeze "
    "unsqueeze expand split chunk eq ne lt le gt ge take_along_dim logical_and logical_or "
    "logical_xor logical_not"
).split():
    setattr(Tensor, _name, getattr(F, _name))  # a plain function: x.exp() calls F.exp(x)
Tensor.view = Tensor.reshape  # type: ignore[attr-defined]
Tensor.expand_as = lambda self, other: F.expand(self, other.shape)  # type: ignore[attr-defined]
Tensor.view_as = lambda self, other: F.reshape(self, other.shape)  # type: ignore[attr-defined]
Tensor.type_as = lambda self, other: F.to(self, other.dtype)  # type: ignore[attr-defined]
Tensor.masked_fill = lambda self, mask, value: F.where(mask, value, self)  # type: ignore[attr-defined]
del _name
