"""Shape and layout primitives: reshape, permute, expand, sum_to_shape, cat, indexing, and the
dtype conversion ``to``. Also the batching helpers that every family's batching rules share.

All are linear, so their JVP is the op applied to the tangent, and their VJPs only need the
input's shape: nothing is saved for backward. ``sum_to_shape`` is the one place where
broadcasting is undone; its VJP is ``expand`` and vice versa.

This is the lowest family: it imports no other. The ``*_to`` binders (``reshape_to``,
``permute_to``, ``expand_to``, ``concat``) take already-checked arguments, for rules; the public
functions (``reshape``, ``permute``, ...) check what a user passed first.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

from chainrule import _backend, _device
from chainrule._backend import xp
from chainrule.ops._primitive import Primitive, bind, bind_constant, public
from chainrule.tensor import Tensor, wrap

# --- dtype conversion -----------------------------------------------------------------------

cast_p = Primitive("to_copy", lambda x, dtype: x.astype(dtype), linear=True)
cast_p.defvjp(lambda g, out, x, dtype: to(g, x.dtype))  # the cotangent goes back to x's dtype


@public(method=("to", "type"), toplevel=False)
def to(x: Any, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False,
       non_blocking: bool = False) -> Any:  # fmt: skip
    """``x`` converted to ``dtype``; gradients flow back converted to ``x``'s dtype.

    PyTorch's forms all work: ``x.to(float64)``, ``x.to("cpu")``, ``x.to(device, dtype)``,
    ``x.to(other)`` (other's dtype and device). A device is checked (only the CPU exists in
    this build); moving to the device the tensor is on returns it unchanged, as PyTorch does.
    """
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.data.dtype
        elif isinstance(a, str) and a.partition(":")[0] not in _device.KNOWN:
            dtype = a  # a NumPy dtype name ("float64"), which chainrule has always taken
        elif isinstance(a, (str, _device.device)):
            device = a
        elif a is not None:
            dtype = a
    if device is not None:
        _device.check(device)
    if dtype is None:
        return clone_copy(x) if copy else x
    dtype = xp.dtype(dtype)
    if x.data.dtype == dtype:
        return clone_copy(x) if copy else x
    if dtype.kind != "f":  # integers and bools carry no gradient: a constant, as in PyTorch
        if x._level is not None:  # (batched under vmap: see constant_op)
            return constant_op(lambda a: a.astype(dtype), x)
        return wrap(x.data.astype(dtype))
    return bind(cast_p, (x,), {"dtype": dtype})


def clone_copy(x: Any) -> Any:
    """``x.to(..., copy=True)``: a copy in the graph (the cast primitive to the same dtype)."""
    return bind(cast_p, (x,), {"dtype": x.data.dtype})


def _device_method(name: str) -> Any:
    def move(x: Any, device: Any = None, non_blocking: bool = False) -> Any:
        _device.check(name if device is None or name == "cpu" else device)
        return x

    move.__name__ = name
    move.__doc__ = f"``x.{name}()``: checked; the CPU is the only device in this build."
    return public(toplevel=False)(move)


cpu = _device_method("cpu")
cuda = _device_method("cuda")


def zeros_like(x: Any, dtype: Any = None) -> Any:
    return wrap(xp.zeros(x.shape, dtype=dtype or x.data.dtype))


def ones_like(x: Any, dtype: Any = None) -> Any:
    return wrap(xp.ones(x.shape, dtype=dtype or x.data.dtype))


# --- primitives -----------------------------------------------------------------------------

reshape_p = Primitive("reshape", lambda x, shape: x.reshape(shape), linear=True, view=True)
reshape_p.defvjp(lambda g, out, x, shape: reshape_to(g, x.shape))  # move entries back

permute_p = Primitive("permute", lambda x, dims: x.transpose(dims), linear=True, view=True)
# the inverse permutation sends each axis of g back where it came from
permute_p.defvjp(lambda g, out, x, dims: permute_to(g, tuple(xp.argsort(dims).tolist())))

expand_p = Primitive(
    "expand", lambda x, shape: _backend.broadcast_to(x, shape), linear=True, view=True
)
expand_p.defvjp(lambda g, out, x, shape: sum_to_shape(g, x.shape))  # copies' grads add up


def _sum_to_shape_impl(x: Any, shape: tuple[int, ...]) -> Any:
    lead = x.ndim - len(shape)
    inner = tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    if inner:
        x = x.sum(axis=inner, keepdims=True)
    # the leading (broadcast-added) axes summed away, not kept and reshaped: the result is a
    # fresh array, not a view, so a leaf's .grad can adopt it without a copy (a bias's g.sum(0))
    return x.sum(axis=tuple(range(lead))) if lead else x


sum_to_shape_p = Primitive("sum_to_shape", _sum_to_shape_impl, linear=True)
sum_to_shape_p.defvjp(lambda g, out, x, shape: expand_to(g, x.shape))


def _getitem_impl(x: Any, index: Any) -> Any:
    return x[index]


getitem_p = Primitive("index", _getitem_impl, linear=True, view=True)
getitem_p.defvjp(lambda g, out, x, index: index_add(g, index, x.shape))


def _index_add_impl(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    out = xp.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        xp.add.at(out, index, g)  # repeated indices must add up, not overwrite
    else:
        out[index] = g
    return out


def _has_int_array(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, xp.ndarray) and i.dtype.kind in "iu" for i in items)


index_add_p = Primitive("index_add", _index_add_impl, linear=True)
index_add_p.defvjp(lambda g, out, x, index, shape: getitem(g, index))  # the adjoint gathers


def _index_put_impl(x: Any, v: Any, index: Any) -> Any:
    out = x.copy()
    out[index] = v
    return out


index_put_p = Primitive("index_put", _index_put_impl, linear=True, broadcasts=True)
# out = x with out[index] = v:  x's entries at index were overwritten (zero gradient),
# v's gradient is g at index (the engine sums it down if v was broadcast).
index_put_p.defvjp(
    lambda g, out, x, v, index: index_put(g, zeros_like(getitem(g, index)), index),
    lambda g, out, x, v, index: getitem(g, index),
)


def _cat_impl(*xs: Any, dim: int) -> Any:
    return xp.concatenate(xs, axis=dim)


cat_p = Primitive("cat", _cat_impl, linear=True)


def _cat_vjp(i: int) -> Any:
    def rule(g: Any, out: Any, *xs: Any, dim: int) -> Any:
        start = sum(x.shape[dim] for x in xs[:i])
        index = (slice(None),) * (dim % g.ndim) + (slice(start, start + xs[i].shape[dim]),)
        return getitem(g, index)

    return rule


class _CatRules(tuple):
    """Cat is n-ary: rule i slices the i-th block out of g, for any number of inputs."""

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        return _cat_vjp(i)


cat_p.vjps = _CatRules()


def reshape_to(x: Any, shape: tuple[int, ...]) -> Any:
    return bind(reshape_p, (x,), {"shape": tuple(shape)})


def permute_to(x: Any, dims: tuple[int, ...]) -> Any:
    return bind(permute_p, (x,), {"dims": tuple(dims)})


def expand_to(x: Any, shape: tuple[int, ...]) -> Any:
    if tuple(shape) == x.shape:
        return x
    return bind(expand_p, (x,), {"shape": tuple(shape)})


def sum_to_shape(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``x.shape``."""
    if tuple(shape) == x.shape:
        return x
    return bind(sum_to_shape_p, (x,), {"shape": tuple(shape)})


def getitem(x: Any, index: Any) -> Any:
    return bind(getitem_p, (x,), {"index": index})


def index_add(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeats accumulate)."""
    return bind(index_add_p, (g,), {"index": index, "shape": tuple(shape)})


def index_put(x: Any, v: Any, index: Any) -> Any:
    """A copy of ``x`` with ``v`` written at ``index`` (``x[index] = v``, out of place)."""
    return bind(index_put_p, (x, v), {"index": index})


def concat(xs: Any, dim: int = 0) -> Any:
    return bind(cat_p, tuple(xs), {"dim": dim})


# --- public functions: argument checks around the primitives ---------------------------------


def _dims(x: Any, dim: Any, op: str) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if not isinstance(dim, (int, xp.integer, Sequence)) or isinstance(dim, (bool, str)):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    dims = (dim,) if isinstance(dim, (int, xp.integer)) else tuple(dim)
    if not dims:  # dim=() or []: every dim, as PyTorch's reductions
        return None
    if not all(isinstance(d, (int, xp.integer)) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    nd = x.ndim
    out = []
    for d in dims:
        if not -builtins.max(nd, 1) <= d < builtins.max(nd, 1):
            raise IndexError(
                f"{op}: dim {d} is out of range for a tensor of shape {tuple(x.shape)} "
                f"(valid: {-nd} to {nd - 1})"
            )
        axis = d % nd if nd else 0
        if axis in out:  # PyTorch refuses it; NumPy would reduce the dim once, silently
            raise RuntimeError(f"{op}: dim {axis} appears multiple times in the list of dims")
        out.append(axis)
    return tuple(sorted(set(out))) if nd else None


def _one_dim(x: Any, dim: int, op: str) -> int:
    (d,) = _dims(x, dim, op) or (0,)
    return d


def _resolve_shape(x: Any, shape: Sequence[int], op: str) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    size = x.numel()
    if shape.count(-1) > 1:
        raise ValueError(
            f"{op}: only one dimension can be -1, got {shape} for a tensor of shape "
            f"{tuple(x.shape)}"
        )
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(
                f"{op}: shape {shape} is invalid for a tensor of shape {tuple(x.shape)} "
                f"({size} elements)"
            )
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ValueError(
            f"{op}: shape {shape} is invalid for a tensor of shape {tuple(x.shape)} "
            f"({size} elements)"
        )
    return shape


def _shape_args(shape: Any) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


@public()
def reshape(x: Any, *shape: Any) -> Any:
    """The same entries in a new shape (one dim may be -1).   VJP: reshape g back."""
    target = _resolve_shape(x, _shape_args(shape), "reshape")
    if target == x.shape:
        return x
    return reshape_to(x, target)


@public()
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Merge dims ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _one_dim(x, start_dim, "flatten"), _one_dim(x, end_dim, "flatten")
    if s > e:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of "
            f"shape {tuple(x.shape)}"
        )
    shape = x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :]
    return reshape(x, shape)


@public()
def permute(x: Any, *dims: Any) -> Any:
    """Reorder dims.   VJP: the inverse permutation applied to g."""
    dims = _shape_args(dims)
    nd = x.ndim
    if any(not -nd <= d < builtins.max(nd, 1) for d in dims) or sorted(
        d % builtins.max(nd, 1) for d in dims
    ) != list(range(nd)):
        raise ValueError(f"permute: {dims} is not a permutation of the {nd} dims of {x.shape}")
    dims = tuple(d % nd for d in dims)
    if dims == tuple(range(nd)):
        return x
    return permute_to(x, dims)


@public()
def t(x: Any) -> Any:
    """Transpose of a tensor with at most 2 dimensions (``x.t()``); 0-d and 1-d unchanged."""
    if x.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got shape {tuple(x.shape)}")
    return x if x.ndim < 2 else transpose(x, 0, 1)


@public()
def transpose(x: Any, dim0: int, dim1: int) -> Any:
    """Swap two dims."""
    nd = x.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    dims = list(range(nd))
    a, b = _one_dim(x, dim0, "transpose"), _one_dim(x, dim1, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, tuple(dims))


@public()
def squeeze(x: Any, dim: Any = None) -> Any:
    """Drop size-1 dims (only ``dim`` when given, and only if it has size 1)."""
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = _dims(x, dim, "squeeze") or ()
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return reshape(x, shape)


@public()
def unsqueeze(x: Any, dim: int) -> Any:
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"unsqueeze: dim {dim} is out of range for a tensor of shape {tuple(x.shape)} "
            f"(valid: {-nd} to {nd - 1}, the result has {nd} dims)"
        )
    d = dim % nd
    return reshape_to(x, x.shape[:d] + (1,) + x.shape[d:])


@public()
def expand(x: Any, *shape: Any) -> Any:
    """Broadcast to ``shape`` without copying (-1 keeps a dim).   VJP: sum_to_shape(g)."""
    shape = _shape_args(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {shape}")
    target = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    try:
        xp.broadcast_shapes(x.shape, target)
    except ValueError:
        raise ValueError(
            f"expand: shape {tuple(x.shape)} cannot be expanded to {target}; only size-1 "
            "dims can grow"
        ) from None
    return expand_to(x, target)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    return expand(x, tuple(shape))


@public(method=False)
def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Concatenate along ``dim``.   VJP: the matching slice of g for each input."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = _one_dim(ref, dim, "cat")
    for k, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d
        ):
            raise ValueError(
                f"cat: tensor {k} has shape {tuple(t.shape)}, incompatible with tensor 0's "
                f"{tuple(ref.shape)} outside dim {dim}"
            )
    dtype = ref.data.dtype
    for t in tensors[1:]:
        dtype = _backend.result_dtype(xp.empty((1,), dtype), t.data)
    tensors = [to(t, dtype) for t in tensors]
    return concat(tensors, d)  # also for one tensor: cat returns new memory, never an alias


@public(method=False)
def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Stack equal-shaped tensors along a new ``dim``."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for k, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(
                f"stack: all tensors must have the same shape; tensor {k} is {tuple(t.shape)} "
                f"but tensor 0 is {tuple(tensors[0].shape)}"
            )
    return cat([unsqueeze(t, dim) for t in tensors], dim)


@public()
def split(x: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Any, ...]:
    """Split into chunks of a given size (or a list of sizes) along ``dim``."""
    d = _one_dim(x, dim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split size must be positive, got {step}")
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} (dim {dim})")
    out, start = [], 0
    for size in sizes:
        out.append(getitem(x, (slice(None),) * d + (slice(start, start + size),)))
        start += size
    return tuple(out)


@public()
def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:
    """Split into ``chunks`` pieces of (nearly) equal size, as PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
    n = x.shape[_one_dim(x, dim, "chunk")]
    return split(x, builtins.max(1, -(-n // chunks)), dim)


@public()
def take_along_dim(x: Any, indices: Any, dim: int) -> Any:
    """Gather entries of ``x`` at ``indices`` along ``dim``.   VJP: scatter-add g back."""
    if batch_traced(indices):
        raise _batched_index_error("take_along_dim")
    idx = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
    d = _one_dim(x, dim, "take_along_dim")
    if idx.ndim != x.ndim or idx.dtype.kind not in "iu":
        raise ValueError(
            f"take_along_dim: indices must be an integer tensor with as many dims as the input; "
            f"got {idx.dtype} indices of shape {tuple(idx.shape)} for an input of shape "
            f"{tuple(x.shape)}"
        )
    # As PyTorch, the other dims broadcast between x and indices.
    try:
        shape = list(
            xp.broadcast_shapes(
                tuple(n for i, n in enumerate(x.shape) if i != d),
                tuple(n for i, n in enumerate(idx.shape) if i != d),
            )
        )
    except ValueError:
        raise ValueError(
            f"take_along_dim: indices of shape {tuple(idx.shape)} do not broadcast with the "
            f"input's shape {tuple(x.shape)} outside dim {dim}"
        ) from None
    x_shape = (*shape[:d], x.shape[d], *shape[d:])
    if x_shape != x.shape:
        x = expand(x, x_shape)
    shape.insert(d, idx.shape[d])
    idx = xp.broadcast_to(idx, shape)
    grids = list(xp.ix_(*[xp.arange(n) for n in shape]))
    grids[d] = idx
    return getitem(x, tuple(grids))


@public(method="__getitem__", toplevel=False)
def index(x: Any, index: Any) -> Any:
    """Basic and advanced indexing, ``x[index]``.   VJP: g scattered (added) back into zeros."""
    if isinstance(index, Tensor) and index.dtype.kind in "iu" and batch_traced(index):
        return take(x, index)  # per-example indices (vmap): an operand, not a parameter
    return getitem(x, normalize_index(index, x))


def _batched_index_error(op: str) -> NotImplementedError:
    return NotImplementedError(
        f"{op}: indices that vmap batches (a different index per example) are not supported "
        "yet; index outside vmap, or use one-hot masks (e.g. (x * (cr.arange(n) == i)).sum())"
    )


def normalize_index(index: Any, x: Any) -> Any:
    """Turn tensors and lists inside an index into arrays, checking that they are integers or
    booleans (float indices are an error, as in PyTorch)."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            if batch_traced(item):
                raise _batched_index_error("index")
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


# --- batching (chainrule.func.batching): the shared helpers, and the shape ops' rules ------
# A batch rule gets the op's values with the batch axis first on the batched ones
# (``batched[i]``) and returns the stacked result. Values are bound with ``bind``, so older
# levels see these ops too.


def batch_rank(v: Any, b: bool) -> int:
    """The per-example rank of a value (the batch axis does not count)."""
    return v.ndim - 1 if b else v.ndim


def align(values: list[Any], batched: list[bool], rank: int) -> list[Any]:
    """Give every stacked value ``rank`` per-example dims (size-1 dims inserted after the
    batch axis), so that NumPy broadcasting lines up per-example dims; unbatched values
    broadcast against the batch axis on their own."""
    out = []
    for v, b in zip(values, batched):
        if b and v.ndim - 1 < rank:
            v = reshape_to(v, (v.shape[0],) + (1,) * (rank - v.ndim + 1) + tuple(v.shape[1:]))
        out.append(v)
    return out


def broadcast_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    """Elementwise ops: align ranks, then the op broadcasts the batch axis itself."""
    rank = max(batch_rank(v, b) for v, b in zip(values, batched))
    return bind(prim, tuple(align(values, batched, rank)), params)


# --- values without a derivative (comparisons, signs, arg-extremes) inside transforms --------
# Outside transforms these are computed on the arrays directly (``wrap(x.data > y.data)``).
# Inside a vmap that would read the stacked array as if it were one example's, so a traced
# operand sends them through a primitive without derivatives: the batch level applies its
# rule, derivative levels pass the value on as a constant.


def is_traced(*xs: Any) -> bool:
    """Whether some operand is a tracer of a function transform."""
    return builtins.any(isinstance(x, Tensor) and x._level is not None for x in xs)


def batch_traced(x: Any) -> bool:
    """Whether a vmap batches ``x`` (some level in its chain of tracers is a batch level)."""
    while isinstance(x, Tensor) and x._level is not None:
        if hasattr(x._level, "size"):
            return True
        x = x.primal
    return False


nondiff_p = Primitive("nondiff", lambda *xs, fn: xp.asarray(fn(*xs)))
nondiff_p.defvjp(None, None, None)  # not differentiable: levels treat the result as constant
nondiff_p.defjvp(None, None, None)
nondiff_p.batch = broadcast_batch  # pointwise functions only


def constant_op(fn: Any, *xs: Any) -> Any:
    """``fn`` (pointwise, on arrays) applied to traced operands, as a value without
    derivative."""
    return bind_constant(nondiff_p, xs, {"fn": fn})


arg_extreme_p = Primitive(
    "arg_extreme", lambda x, fn, dim, keepdim: xp.asarray(fn(x, axis=dim, keepdims=keepdim))
)
arg_extreme_p.defvjp(None)
arg_extreme_p.defjvp(None)


def _arg_extreme_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    if params["dim"] is None:  # over all of an example's entries: flatten them first
        v = reshape_to(v, (v.shape[0], math.prod(v.shape[1:])))
        return bind(prim, (v,), {**params, "dim": 1, "keepdim": False})
    return bind(prim, (v,), {**params, "dim": params["dim"] % (v.ndim - 1) + 1})


arg_extreme_p.batch = _arg_extreme_batch


def arg_extreme(fn: Any, x: Any, dim: Any, keepdim: bool) -> Any:
    """``argmax``/``argmin`` of a traced value (see ``constant_op``)."""
    return bind_constant(arg_extreme_p, (x,), {"fn": fn, "dim": dim, "keepdim": keepdim})


def with_batch(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    return (size, *shape)


def stack_all(level: Any, values: list, batched: list) -> list[Any]:
    """Materialise the batch axis on unbatched values (ops like cat need it explicitly)."""
    out = []
    for v, b in zip(values, batched):
        if not b:
            v = bind(expand_p, (reshape_to(v, (1, *v.shape)),), {"shape": (level.size, *v.shape)})
        out.append(v)
    return out


def loop_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    """Fallback: apply the primitive example by example and stack the results."""
    results = []
    for k in range(level.size):
        args = tuple(getitem(v, k) if b else v for v, b in zip(values, batched))
        r = bind(prim, args, params)
        results.append(reshape_to(r, (1, *r.shape)))
    return concat(results, 0)


def _reshape_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    return bind(prim, (v,), {"shape": with_batch(params["shape"], v.shape[0])})


def _permute_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    return bind(prim, tuple(values), {"dims": (0, *(d + 1 for d in params["dims"]))})


def _expand_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    shape = params["shape"]
    (v,) = align(values, batched, len(shape))
    return bind(prim, (v,), {"shape": with_batch(shape, v.shape[0])})


def _sum_to_shape_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    shape = params["shape"]
    lead = v.ndim - 1 - len(shape)
    if lead:  # per-example leading dims: move them before the batch axis, to be summed away
        v = permute_to(v, (*range(1, lead + 1), 0, *range(lead + 1, v.ndim)))
    return bind(prim, (v,), {"shape": with_batch(shape, v.shape[lead])})


def _batched_index(index: Any) -> Any | None:
    """The index with a leading full slice for the batch axis, or None where NumPy would move
    the advanced-index dims (non-adjacent advanced indices) and the loop must be used."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = any(not isinstance(it, (slice, int, type(None), type(...))) for it in items)
    # with an array present, NumPy treats integers as advanced indices too
    basic = (slice, type(None), type(...)) if arrays else (slice, int, type(None), type(...))
    advanced = [k for k, it in enumerate(items) if not isinstance(it, basic)]
    if advanced and advanced != list(range(advanced[0], advanced[-1] + 1)):
        return None
    return (slice(None), *items)


def _getitem_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return loop_batch(level, prim, values, batched, params)
    return bind(prim, tuple(values), {"index": index})


def _index_add_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return loop_batch(level, prim, values, batched, params)
    (v,) = values
    return bind(prim, (v,), {"index": index, "shape": with_batch(params["shape"], v.shape[0])})


def _index_put_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return loop_batch(level, prim, values, batched, params)
    x, v = values
    if not batched[0]:
        (x,) = stack_all(level, [x], [False])
    if batched[1]:
        # v broadcasts into x[index]: line its per-example dims up with that region's
        region = xp.empty(x.shape[1:], dtype=bool)[params["index"]].ndim
        (v,) = align([v], [True], region)
    return bind(prim, (x, v), {"index": index})


def _cat_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    return bind(prim, tuple(stack_all(level, values, batched)), {"dim": params["dim"] + 1})


cast_p.batch = broadcast_batch
reshape_p.batch = _reshape_batch
permute_p.batch = _permute_batch
expand_p.batch = _expand_batch
sum_to_shape_p.batch = _sum_to_shape_batch
getitem_p.batch = _getitem_batch
index_add_p.batch = _index_add_batch
index_put_p.batch = _index_put_batch
cat_p.batch = _cat_batch


# --- rows picked by an index *operand* (per-example indices under vmap) -------------------
# ``x[i]`` and embeddings take their indices as a parameter (an array), which is right while
# the indices are constants. Indices that vmap batches differ per example, so they must be an
# operand the batch level can see: ``take(x, i)`` = x[i] along dim 0, and its adjoint
# ``scatter_rows(g, i, n)`` (g added into n zero rows at i). Both are linear in their first
# input: d/dx take(x, i) . t = take(t, i);  VJP: scatter_rows(g, i, n).


def _scatter_rows_impl(g: Any, idx: Any, n: int) -> Any:
    out = xp.zeros((n, *g.shape[idx.ndim :]), dtype=g.dtype)
    xp.add.at(out, idx, g)  # repeated indices accumulate
    return out


take_p = Primitive("take_rows", lambda x, idx: x[idx])
scatter_rows_p = Primitive("scatter_rows", _scatter_rows_impl)
take_p.defvjp(lambda g, out, x, idx: bind(scatter_rows_p, (g, idx), {"n": x.shape[0]}), None)
take_p.defjvp(lambda t, out, x, idx: bind(take_p, (t, idx), {}), None)
scatter_rows_p.defvjp(lambda h, out, g, idx, n: bind(take_p, (h, idx), {}), None)
scatter_rows_p.defjvp(lambda t, out, g, idx, n: bind(scatter_rows_p, (t, idx), {"n": n}), None)


def _offset_rows(level: Any, idx: Any, n: int) -> Any:
    """Batched indices into the rows of a (B*n, ...) stack: example k's index plus k*n."""
    size = idx.shape[0]
    offsets = wrap(xp.arange(size).reshape((size,) + (1,) * (idx.ndim - 1)) * n)
    return constant_op(xp.add, idx, offsets)  # integers: no derivative


def _take_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    x, idx = values
    bx, bi = batched
    if not bx:  # shared rows, per-example indices: the stacked indices pick them directly
        return bind(prim, (x, idx), {})
    if not bi:  # per-example rows, shared indices: pick along dim 1, batch axis back first
        moved = bind(prim, (permute_to(x, (1, 0, *range(2, x.ndim))), idx), {})
        k = idx.ndim
        return permute_to(moved, (k, *range(k), *range(k + 1, moved.ndim)))
    b, n = x.shape[:2]  # both: the examples' rows stacked as (B*n, ...), indices offset
    flat = reshape_to(x, (b * n, *x.shape[2:]))
    return bind(prim, (flat, _offset_rows(level, idx, n)), {})


def _scatter_rows_batch(level: Any, prim: Primitive, values: list, batched: list, params):
    g, idx = values
    bg, bi = batched
    n = params["n"]
    if not bi:  # shared indices: scatter with the batch axis moved behind the index dims
        k = idx.ndim
        moved = permute_to(g, (*range(1, k + 1), 0, *range(k + 1, g.ndim)))
        out = bind(prim, (moved, idx), {"n": n})  # (n, B, ...)
        return permute_to(out, (1, 0, *range(2, out.ndim)))
    if not bg:
        (g,) = stack_all(level, [g], [False])
    b = idx.shape[0]
    out = bind(prim, (g, _offset_rows(level, idx, n)), {"n": b * n})
    return reshape_to(out, (b, n, *out.shape[1:]))


take_p.batch = _take_batch
scatter_rows_p.batch = _scatter_rows_batch


def take(x: Any, idx: Any, checked: bool = True) -> Any:
    """``x[idx]`` along dim 0 with ``idx`` an integer Tensor operand (see above).

    ``checked=False`` skips the range check, for indices in range by construction (sort's):
    the check reads the values, which a program trace (cr.compile) cannot do for free."""
    n = x.shape[0]
    if checked and idx.data.size and (int(idx.data.min()) < -n or int(idx.data.max()) >= n):
        raise IndexError(f"index: an index is out of range for dim 0 of size {n}")
    return bind(take_p, (x, idx), {})


# --- compositions PyTorch scripts use (differentiable through index/reshape) ------------------


@public()
def unbind(x: Any, dim: int = 0) -> tuple[Any, ...]:
    """The slices of ``x`` along ``dim``, as a tuple (each without that dim).

    Each slice is basic indexing, so its gradient flows back to its place in ``x``.
    """
    d = _one_dim(x, dim, "unbind")
    lead = (slice(None),) * d
    return tuple(index(x, (*lead, i)) for i in range(x.shape[d]))


@public()
def flip(x: Any, dims: Any) -> Any:
    """``x`` reversed along ``dims``.   VJP: flip g back (a reversed-slice view)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    picks = [slice(None)] * x.ndim
    for dim in dims:
        picks[_one_dim(x, dim, "flip")] = slice(None, None, -1)
    return index(x, tuple(picks))


def _tri(x: Any, diagonal: int, lower: bool, op: str) -> Any:
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expects a tensor with at least 2 dims, got {tuple(x.shape)}")
    rows, cols = x.shape[-2:]
    keep = (xp.tril if lower else xp.triu)(xp.ones((rows, cols), dtype=bool), diagonal)
    if x.data.dtype.kind == "b":
        if x._level is not None:  # traced: a value without derivative, batched under vmap
            return constant_op(lambda a: a & keep, x)
        return wrap(x.data & keep)
    # x times a constant 0/1 mask: d/dx = the mask (mask's dtype follows x: no promotion)
    return x * wrap(keep.astype(x.data.dtype))


@public()
def tril(x: Any, diagonal: int = 0) -> Any:
    """The lower triangle (entries with col - row <= diagonal), zeros elsewhere.
    d/dx = 1 on the kept triangle, 0 elsewhere."""
    return _tri(x, diagonal, True, "tril")


@public()
def triu(x: Any, diagonal: int = 0) -> Any:
    """The upper triangle (entries with col - row >= diagonal), zeros elsewhere.
    d/dx = 1 on the kept triangle, 0 elsewhere."""
    return _tri(x, diagonal, False, "triu")


@public(method=False)
def numel(x: Any) -> int:
    """The number of entries of ``x`` (``torch.numel``)."""
    return x.numel()
