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
import operator
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from chainrule import _backend, _device
from chainrule._backend import xp
from chainrule.autograd.grad_mode import is_grad_enabled
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

    # NumPy defers to our reflected operators (array * tensor -> Tensor); __array_ufunc__
    # below handles the ufunc calls that binary operators and in-place updates make.
    __array_priority__ = 1000

    # Defaults live on the class: a fresh tensor only writes ``data``.
    requires_grad: bool = False
    _grad: Tensor | None = None
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
            self._data = _backend.as_array(data, None if dtype is None else xp.dtype(dtype))
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

    # --- data and grad: checked on assignment, as PyTorch checks them ---------------------------

    # Reading ``t.data`` is a C-level attribute fetch (ops read it on every call); assigning
    # goes through ``_set_data``, so ``p.data = 0.5`` fails at once, not in a later op.
    def _set_data(self, value: Any) -> None:
        if value.__class__ is not _ndarray:
            if isinstance(value, Tensor):
                value = value.data  # PyTorch's ``p.data = other_tensor``: take its array
            elif not isinstance(value, _ndarray):
                raise TypeError(
                    f"Tensor.data must be a NumPy array (or a Tensor), got "
                    f"{type(value).__name__}; to change the values in place write "
                    "t.data[...] = value or t.data += value"
                )
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"Tensor.data: unsupported dtype {value.dtype}; chainrule tensors hold bool, "
                "integer or floating-point numbers"
            )
        if self.requires_grad and value.dtype.kind != "f":
            raise TypeError(
                f"Tensor.data: a tensor that requires grad must hold floating-point data, got "
                f"{value.dtype}"
            )
        self._data = value

    data = property(operator.attrgetter("_data"), _set_data, doc="The NumPy array itself.")

    def _get_grad(self) -> Tensor | None:
        return self._grad

    def _set_grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)}, the "
                    f"tensor has {tuple(self.shape)}"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: {value.dtype}, the tensor "
                    f"is {self.dtype}"
                )
        self._grad = value

    grad = property(_get_grad, _set_grad, doc="The accumulated gradient (a Tensor) or None.")

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
        """The shape as a ``Size`` (a tuple), or one dimension's length."""
        return Size(self.shape) if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.shape)

    nelement = numel

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def element_size(self) -> int:
        return self.data.itemsize

    def stride(self, dim: int | None = None) -> Any:
        """Strides in elements (NumPy's are in bytes), as PyTorch reports them."""
        strides = tuple(s // self.data.itemsize for s in self.data.strides)
        return strides if dim is None else strides[dim]

    def data_ptr(self) -> int:
        return int(self.data.ctypes.data)

    def _new(self, data: Any, dtype: Any, requires_grad: bool) -> Tensor:
        t = Tensor(data if dtype is None else data.astype(dtype, copy=False))
        return t.requires_grad_() if requires_grad else t

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (unless ``dtype``)."""
        return self._new(xp.zeros(_size(size), self.dtype), dtype, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return self._new(xp.ones(_size(size), self.dtype), dtype, requires_grad)

    def new_full(
        self, size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new(xp.full(_size((size,)), fill_value, self.dtype), dtype, requires_grad)

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` with this tensor's dtype (unless ``dtype``)."""
        arr = xp.array(data.data if isinstance(data, Tensor) else data, dtype=dtype or self.dtype)
        return self._new(arr, None, requires_grad)

    @property
    def device(self) -> Any:
        """Where the data lives: always ``device('cpu')`` in this NumPy build."""
        return _device.CPU

    @property
    def is_cuda(self) -> bool:
        return False

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
        """``np.asarray(t)``: the data itself (no copy) unless a dtype change or ``copy=True``
        asks for one."""
        data = self.data
        if dtype is not None and xp.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"cannot convert a {data.dtype} tensor to {dtype} without a copy")
            return data.astype(dtype)
        return data.copy() if copy else data

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on tensors (``array + t``, ``np.exp(t)``, ``arr += t``).

        With ``out=`` NumPy arrays (``p.data += -lr * p.grad``: NumPy's in-place add), the
        result is computed on the arrays and written into ``out``, which NumPy returns: the
        array is updated in place and stays an array. Otherwise the answer is a Tensor, as
        PyTorch users expect of ``array * t``; ufuncs that chainrule has as ops go through the
        op (so gradients flow), others run on the data without history.
        """
        out = kwargs.get("out")
        if out is not None or method != "__call__":
            if any(isinstance(o, Tensor) for o in out or ()):
                return NotImplemented  # np.add(a, b, out=tensor): use the tensor's add_
            args = [x.data if isinstance(x, Tensor) else x for x in inputs]
            return getattr(ufunc, method)(*args, **kwargs)
        op = _UFUNC_OPS.get(ufunc.__name__)
        if op is not None and not kwargs:
            return op(*inputs)
        if is_grad_enabled() and any(
            isinstance(x, Tensor) and x.requires_grad for x in inputs
        ):  # running it on the arrays would drop the gradient without a word
            raise TypeError(
                f"numpy.{ufunc.__name__} on a tensor that requires grad: chainrule has no op "
                "for it, so its gradient would be lost. Use chainrule's ops, or call it on "
                "t.detach() (as PyTorch refuses numpy() on such tensors)."
            )
        args = [x.data if isinstance(x, Tensor) else x for x in inputs]
        result = getattr(ufunc, method)(*args, **kwargs)
        if isinstance(result, tuple):
            return tuple(_wrap(xp.asarray(r)) for r in result)
        return _wrap(xp.asarray(result))

    def __dlpack__(self, **kwargs: Any) -> Any:
        """Export the data by DLPack (zero copy): ``torch.from_dlpack(t)``, ``jax.dlpack``."""
        if self.requires_grad:
            raise RuntimeError(
                "__dlpack__: can't export a tensor that requires grad; use t.detach() first"
            )
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.data.__dlpack_device__()

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

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return _format(self)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's value, as PyTorch does."""
        if self.ndim == 0 or (spec and self.numel() == 1):
            return format(self.item(), spec)
        return format(repr(self), spec)

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


def is_tensor(obj: Any) -> bool:
    """True for chainrule tensors (PyTorch's ``is_tensor``)."""
    return isinstance(obj, Tensor)


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


class Size(tuple):
    """A tensor's shape, as ``x.size()`` returns it: a tuple of ints (PyTorch's ``Size``)."""

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self) -> str:
        return f"{self.__class__.__module__.split('.')[0]}.Size({list(self)})"


# NumPy ufunc name -> the chainrule op (filled by chainrule.ops.api), for ``array + tensor``
_UFUNC_OPS: dict[str, Callable[..., Any]] = {}

_new = object.__new__
_ndarray = xp.ndarray


def wrap(data: Any) -> Tensor:
    """A new Tensor around a backend array: the cheapest constructor (one attribute write)."""
    t = _new(Tensor)
    # NumPy gives scalars (np.float32, ...), not 0-d arrays, for 0-d results (x.sum(), 0-d
    # ufuncs); those are immutable, so in-place ops and grad.zero_() on 0-d tensors would fail.
    t._data = data if data.__class__ is _ndarray or data.__class__ in KEEP else xp.asarray(data)
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
