"""``Tensor``: a backend array plus the autograd metadata that PyTorch users expect.

``data`` is the backend (NumPy) array itself. ``requires_grad``, ``grad``, ``grad_fn`` and the
version counter are class-level defaults until set, so that making a tensor (which every op
does) costs one attribute write. Nothing here computes anything: the class holds data and
autograd metadata only, and imports no op. Operators and op methods (``x + y``, ``x.exp()``,
``x.backward()``, ``x.add_(y)``) are attached from above, in one place, by ``chainrule.ops.api``
from the list of public ops that the family files (``chainrule.ops.*``) declare.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.node import Version

#: checks run by ``item()``/``tolist()`` (and so ``bool()``, ``float()``): a program trace
#: (``chainrule.func.program``) refuses values that are only known when the program runs
READ_CHECKS: list[Callable[[Any], None]] = []


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
    _vc: Version | None = None  # version counter, shared with views; created when needed
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
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc.data

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
        t._vc = version_cell(self)
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

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
        if READ_CHECKS:  # inside cr.compile's trace: a traced value is not known yet
            READ_CHECKS[-1](self.data)
        return self.data.item()

    def tolist(self) -> Any:
        if READ_CHECKS:
            READ_CHECKS[-1](self.data)
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

    def _bump(self, history: bool = False) -> None:
        cell = version_cell(self)
        cell.data += 1
        if history:  # a recorded change: other aliases' histories are now stale
            cell.history += 1
            if self._view_hist is not None:
                self._view_hist = cell.history  # ...but this one's history is the new one


class _HookHandle:
    def __init__(self, hooks: list, hook: Callable) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


_new = object.__new__
_ndarray = xp.ndarray


def wrap(data: Any) -> Tensor:
    """A new Tensor around a backend array: the cheapest constructor (one attribute write)."""
    t = _new(Tensor)
    # NumPy gives scalars (np.float32, ...), not 0-d arrays, for 0-d results (x.sum(), 0-d
    # ufuncs); those are immutable, so in-place ops and grad.zero_() on 0-d tensors would fail.
    t.data = data if data.__class__ is _ndarray or data.__class__ in KEEP else xp.asarray(data)
    return t


#: array classes ``wrap`` keeps as they are (cr.compile's traced arrays, see
#: ``chainrule.func.program``); other subclasses become plain arrays
KEEP: set[type] = set()


_wrap = wrap


def version_cell(t: Tensor) -> Version:
    """The tensor's ``Version`` counter (shared with its views), created when first needed."""
    cell = t._vc
    if cell is None:
        cell = t._vc = Version()
    return cell


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
