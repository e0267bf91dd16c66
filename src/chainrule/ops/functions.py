"""The public functional API: operand conversion, dtype promotion and argument checks around
the primitives, plus the compositions (mean, var, std, gelu, silu, stack, split, ...).

Everything a user calls (``cr.exp(x)``, ``x.exp()``, ``x + 1``) lands here, then in ``bind``.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.ops import elementwise as E
from chainrule.ops import linalg as L
from chainrule.ops import nn as N
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops._primitive import bind, wrap

Tensor: Any = None  # set by chainrule.tensor once the class exists (breaks an import cycle)


# --- operands -------------------------------------------------------------------------------


def _scalar_operand(value: Any, like: Any) -> Any:
    """A Python number used with a tensor takes the tensor's dtype (PyTorch's weak scalars);
    a float meeting an integer tensor gives the default float dtype."""
    dtype = like.data.dtype
    if isinstance(value, float) and dtype.kind != "f":
        dtype = _backend.default_float
    elif isinstance(value, bool) and dtype.kind == "b":
        pass
    elif isinstance(value, int) and dtype.kind == "b":
        dtype = _backend.int64
    return wrap(xp.asarray(value, dtype=dtype))


def _operand(value: Any, like: Any, op: str) -> Any:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float, bool)):
        return _scalar_operand(value, like)
    if isinstance(value, (xp.ndarray, xp.generic, list, tuple)):
        return Tensor(value)
    raise TypeError(
        f"{op}: unsupported operand of type {type(value).__name__}; expected a Tensor, a "
        "NumPy array or a Python number"
    )


def _binary_operands(x: Any, y: Any, op: str) -> tuple[Any, Any]:
    if not isinstance(x, Tensor):
        if not isinstance(y, Tensor):
            y = Tensor(y)
        x = _operand(x, y, op)
    elif not isinstance(y, Tensor):
        y = _operand(y, x, op)
    dx, dy = x.data.dtype, y.data.dtype
    if dx != dy:
        target = _backend.result_dtype(x.data, y.data)
        if dx != target:
            x = to(x, target)
        if dy != target:
            y = to(y, target)
    return x, y


def _binary(prim: Any, x: Any, y: Any, op: str) -> Any:
    # Fast path: two tensors of one dtype go straight to bind. Shape errors are reported by
    # bind (it catches NumPy's broadcasting error and names the op and both shapes).
    try:
        same = x.data.dtype is y.data.dtype
    except AttributeError:
        same = False
    if not same:
        x, y = _binary_operands(x, y, op)
    return bind(prim, (x, y), {})


def to(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype``; gradients flow back converted to ``x``'s dtype."""
    dtype = xp.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    if dtype.kind != "f":  # integers and bools carry no gradient: a constant, as in PyTorch
        return wrap(x.data.astype(dtype))
    return bind(E.cast_p, (x,), {"dtype": dtype})


# --- binary arithmetic ----------------------------------------------------------------------


def add(x: Any, y: Any, alpha: float = 1) -> Any:
    """x + alpha * y, broadcasting.   d/dx = 1, d/dy = alpha."""
    if alpha != 1:
        y = mul(y, alpha)
    try:  # the fast path of _binary, inlined for the most common ops
        if x.data.dtype is y.data.dtype:
            return bind(E.add_p, (x, y), {})
    except AttributeError:
        pass
    return _binary(E.add_p, x, y, "add")


def sub(x: Any, y: Any, alpha: float = 1) -> Any:
    """x - alpha * y, broadcasting.   d/dx = 1, d/dy = -alpha."""
    if alpha != 1:
        y = mul(y, alpha)
    return _binary(E.sub_p, x, y, "sub")


def mul(x: Any, y: Any) -> Any:
    """x * y, broadcasting.   d/dx = y, d/dy = x."""
    try:
        if x.data.dtype is y.data.dtype:
            return bind(E.mul_p, (x, y), {})
    except AttributeError:
        pass
    return _binary(E.mul_p, x, y, "mul")


def div(x: Any, y: Any) -> Any:
    """x / y, broadcasting; integer inputs give floats.   d/dx = 1/y, d/dy = -x/y**2."""
    try:
        same = x.data.dtype is y.data.dtype and x.data.dtype.kind == "f"
    except AttributeError:
        same = False
    if not same:
        x, y = _binary_operands(x, y, "div")
        if x.data.dtype.kind != "f":
            x, y = to(x, _backend.default_float), to(y, _backend.default_float)
    return bind(E.div_p, (x, y), {})


def pow(x: Any, y: Any) -> Any:
    """x ** y, broadcasting.   d/dx = y * x**(y-1), d/dy = x**y * log(x)."""
    if type(y) in (int, float) and isinstance(x, Tensor):
        if isinstance(y, float) and x.data.dtype.kind != "f":
            x = to(x, _backend.default_float)  # int tensor ** 0.5 is a float, as in PyTorch
        return bind(E.pow_scalar_p, (x,), {"exponent": y})
    return _binary(E.pow_p, x, y, "pow")


def maximum(x: Any, y: Any) -> Any:
    """Elementwise max.   d/dx = 1 where x > y (1/2 on ties), else 0."""
    return _binary(E.maximum_p, x, y, "maximum")


def minimum(x: Any, y: Any) -> Any:
    """Elementwise min.   d/dx = 1 where x < y (1/2 on ties), else 0."""
    return _binary(E.minimum_p, x, y, "minimum")


def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` else ``y``, broadcasting.   d/dx = condition, d/dy = not it."""
    if not isinstance(condition, Tensor):
        condition = Tensor(xp.asarray(condition, dtype=bool))
    elif condition.data.dtype != _backend.bool_:
        condition = Tensor(condition.data.astype(bool))
    x, y = _binary_operands(x, y, "where")
    return bind(E.where_p, (condition, x, y), {})


def matmul(x: Any, y: Any) -> Any:
    """Matrix product with NumPy's rules for 1-D and batched operands.

    d/dx (x @ y) = g @ y^T,  d/dy = x^T @ g  (batch dims broadcast and are summed back).
    """
    x, y = _binary_operands(x, y, "matmul")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least one dimension, got shapes {tuple(x.shape)} "
            f"and {tuple(y.shape)}; use * for scaling by a scalar"
        )
    k_x = x.shape[-1]
    k_y = y.shape[0] if y.ndim == 1 else y.shape[-2]
    if k_x != k_y:
        raise ValueError(
            f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} are not aligned: x has "
            f"{k_x} columns but y has {k_y} rows. Transpose an operand (x.T / x.mT) or reshape."
        )
    return bind(L.matmul_p, (x, y), {})


# --- unary ----------------------------------------------------------------------------------


def _float_input(x: Any, op: str) -> Any:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        x = to(x, _backend.default_float)  # exp(int tensor) is float, as in PyTorch
    return x


def _unary(prim: Any, op: str, doc: str) -> Any:
    def fn(x: Any) -> Any:
        return bind(prim, (_float_input(x, op),), {})

    fn.__name__, fn.__doc__ = op, doc
    return fn


exp = _unary(E.exp_p, "exp", "e**x.   d/dx exp(x) = exp(x).")
log = _unary(
    E.log_p, "log", "Natural log (nan below 0, -inf at 0, as PyTorch).   d/dx log(x) = 1/x."
)
log1p = _unary(E.log1p_p, "log1p", "log(1 + x), accurate near 0.   d/dx log1p(x) = 1/(1 + x).")
sqrt = _unary(E.sqrt_p, "sqrt", "Square root.   d/dx sqrt(x) = 1/(2*sqrt(x)).")
sin = _unary(E.sin_p, "sin", "Sine.   d/dx sin(x) = cos(x).")
cos = _unary(E.cos_p, "cos", "Cosine.   d/dx cos(x) = -sin(x).")
tanh = _unary(E.tanh_p, "tanh", "Hyperbolic tangent.   d/dx tanh(x) = 1 - tanh(x)**2.")
sigmoid = _unary(
    E.sigmoid_p,
    "sigmoid",
    "1/(1 + e**-x), stable for |x| = 1000.   d/dx = sigmoid(x)*(1 - sigmoid(x)).",
)
erf = _unary(E.erf_p, "erf", "The error function.   d/dx erf(x) = 2/sqrt(pi) * exp(-x**2).")


def neg(x: Any) -> Any:
    """-x.   d/dx (-x) = -1."""
    return bind(E.neg_p, (x,), {})


def abs(x: Any) -> Any:
    """|x|.   d/dx |x| = sign(x), 0 at 0 (PyTorch's convention)."""
    return bind(E.abs_p, (x,), {})


def relu(x: Any) -> Any:
    """max(x, 0).   d/dx relu(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch)."""
    return bind(E.relu_p, (_float_input(x, "relu"),), {})


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x if x > 0 else slope * x.   d/dx = 1 if x > 0 else slope."""
    return bind(E.leaky_relu_p, (_float_input(x, "leaky_relu"),), {"slope": negative_slope})


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """log(1 + e**(beta x)) / beta, the identity where beta*x > threshold (as PyTorch).

    d/dx softplus(x) = sigmoid(beta * x).
    """
    params = {"beta": float(beta), "threshold": float(threshold)}
    return bind(E.softplus_p, (_float_input(x, "softplus"),), params)


def gelu(x: Any, approximate: str = "none") -> Any:
    """x * Phi(x) (Phi the normal CDF), or its tanh approximation with ``approximate='tanh'``.

    d/dx gelu(x) = Phi(x) + x * phi(x); composed from erf (or tanh), so it differentiates
    to any order.
    """
    x = _float_input(x, "gelu")
    if approximate == "none":
        return x * (0.5 + 0.5 * erf(x * 0.7071067811865476))
    if approximate == "tanh":
        inner = (x + 0.044715 * x * x * x) * 0.7978845608028654  # sqrt(2/pi)
        return 0.5 * x * (1.0 + tanh(inner))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Any) -> Any:
    """x * sigmoid(x) (swish).   d/dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))."""
    x = _float_input(x, "silu")
    return x * sigmoid(x)


def clamp(x: Any, min: Any = None, max: Any = None) -> Any:
    """Clip to [min, max].   d/dx = 1 inside the bounds (inclusive, as PyTorch), else 0.

    Tensor bounds are differentiable too: ``clamp`` is then ``minimum(maximum(x, lo), hi)``.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    return bind(E.clamp_p, (x,), {"lo": min, "hi": max})


def sign(x: Any) -> Any:
    """-1, 0 or 1 (not differentiable: a constant); 0 at NaN, as PyTorch."""
    return wrap(xp.where(x.data != x.data, 0, xp.sign(x.data)).astype(x.data.dtype, copy=False))


# --- comparisons and arg-reductions (no gradient) --------------------------------------------


def _compare(fn: Any, name: str) -> Any:
    def compare(x: Any, y: Any) -> Any:
        x, y = _binary_operands(x, y, name)
        return wrap(fn(x.data, y.data))

    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} as a bool tensor (not differentiable)."
    return compare


eq = _compare(xp.equal, "eq")
ne = _compare(xp.not_equal, "ne")
lt = _compare(xp.less, "lt")
le = _compare(xp.less_equal, "le")
gt = _compare(xp.greater, "gt")
ge = _compare(xp.greater_equal, "ge")


logical_and = _compare(xp.logical_and, "logical_and")
logical_or = _compare(xp.logical_or, "logical_or")
logical_xor = _compare(xp.logical_xor, "logical_xor")


def logical_not(x: Any) -> Any:
    """Elementwise not, as a bool tensor (not differentiable)."""
    return wrap(xp.logical_not(x.data))


def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the maximum (flattened when ``dim`` is None). Integer result: no gradient."""
    _check_arg_reduction(x, dim, "argmax")
    return wrap(xp.argmax(x.data, axis=dim, keepdims=keepdim))


def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """Index of the minimum (flattened when ``dim`` is None). Integer result: no gradient."""
    _check_arg_reduction(x, dim, "argmin")
    return wrap(xp.argmin(x.data, axis=dim, keepdims=keepdim))


def _check_arg_reduction(x: Any, dim: Any, op: str) -> None:
    """An index of nothing does not exist: PyTorch's IndexError, not NumPy's ValueError."""
    d = _dims(x, dim, op)
    if (x.numel() == 0 and d is None) or (d and x.shape[d[0]] == 0):
        raise IndexError(
            f"{op}: cannot take the {op} of an empty {'tensor' if d is None else 'dim'} "
            f"(shape {tuple(x.shape)}{'' if d is None else f', dim {dim}'})"
        )


# --- reductions -----------------------------------------------------------------------------


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


def sum(x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    """Sum over ``dim`` (all dims when None).   d/dx_i sum(x) = 1."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if dtype is not None:
        x = to(x, dtype)
    elif x.data.dtype.kind in "bi":
        x = to(x, _backend.int64)
    return bind(R.sum_p, (x,), {"dim": _dims(x, dim, "sum"), "keepdim": keepdim})


def _count(x: Any, dims: tuple[int, ...] | None) -> int:
    shape = x.shape
    return math.prod(shape) if dims is None else math.prod(shape[d] for d in dims)


def mean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Mean over ``dim``.   d/dx_i mean(x) = 1/n."""
    if x.data.dtype.kind != "f":
        raise TypeError(
            f"mean: expected a floating point tensor, got {x.data.dtype}; use x.float().mean()"
        )
    dims = _dims(x, dim, "mean")
    n = _count(x, dims)
    return sum(x, dims, keepdim) * (1.0 / n if n else math.nan)  # empty: nan, as PyTorch


def var(
    x: Any, dim: Any = None, keepdim: bool = False, *, correction: float = 1, unbiased: Any = None
) -> Any:
    """Variance with Bessel's ``correction`` (1 by default, as PyTorch).

    var = sum((x - mean)**2) / (n - correction);  d/dx_i var = 2 (x_i - mean) / (n - correction).
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _dims(x, dim, "var")
    d = x - mean(x, dims, keepdim=True)
    dof = _count(x, dims) - correction
    if dof <= 0:
        # As PyTorch: warn, and divide by zero (nan or inf) rather than raise.
        warnings.warn(
            f"var: degrees of freedom is <= 0 (correction {correction} for {_count(x, dims)} "
            "entries per reduction)",
            UserWarning,
            stacklevel=2,
        )
        return sum(d * d, dims, keepdim) / 0.0
    return sum(d * d, dims, keepdim) * (1.0 / dof)


def std(
    x: Any, dim: Any = None, keepdim: bool = False, *, correction: float = 1, unbiased: Any = None
) -> Any:
    """Standard deviation: sqrt(var(x)).   d/dx_i std = (x_i - mean) / ((n - correction) std),
    and 0 where std is 0 (a constant slice), as PyTorch, rather than 0 * inf = nan."""
    v = var(x, dim, keepdim, correction=correction, unbiased=unbiased)
    zero = wrap(v.data == 0)  # sqrt'(0) is inf: take sqrt of 1 there and put 0 back
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme(prim: Any, argfn: Any, x: Any, dim: Any, keepdim: bool, op: str) -> Any:
    if x.numel() == 0:
        raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
    if dim is None:
        if x.data.dtype.kind == "f" and xp.isnan(x.data).any():
            # PyTorch: the result is NaN and the gradient is shared by the NaN entries
            return mean(x[wrap(xp.isnan(x.data))])
        return bind(prim, (x,), {"dim": None, "keepdim": False})
    if x.ndim == 0:  # a 0-d tensor is its own max along dim 0 (or -1), at index 0
        _dims(x, dim, op)
        return MaxResult(reshape(x, ()), wrap(xp.zeros((), dtype=_backend.int64)))
    (d,) = _dims(x, dim, op) or (0,)
    # With a dim, PyTorch returns (values, indices) and the gradient goes to that index only.
    indices = xp.expand_dims(argfn(x.data, axis=d), d)
    values = take_along_dim(x, indices, d)
    idx = wrap(indices)
    if not keepdim:
        values = squeeze(values, d)
        idx = wrap(xp.squeeze(indices, d))
    return MaxResult(values, idx)


def max(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Largest entry; with ``dim``, ``(values, indices)`` like PyTorch.

    d/dx max = 1 at the maximum. Without ``dim`` ties share the gradient evenly; with ``dim``
    it goes to the returned index.
    """
    if isinstance(dim, Tensor):  # torch.max(x, y) is the elementwise maximum
        return maximum(x, dim)
    return _extreme(R.amax_p, xp.argmax, x, dim, keepdim, "max")


def min(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Smallest entry; with ``dim``, ``(values, indices)``.   d/dx min = 1 at the minimum."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _extreme(R.amin_p, xp.argmin, x, dim, keepdim, "min")


def amax(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Max over ``dim`` (several allowed); ties share the gradient evenly."""
    return bind(R.amax_p, (x,), {"dim": _dims(x, dim, "amax"), "keepdim": keepdim})


def amin(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Min over ``dim`` (several allowed); ties share the gradient evenly."""
    return bind(R.amin_p, (x,), {"dim": _dims(x, dim, "amin"), "keepdim": keepdim})


def logsumexp(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """log(sum(exp(x))) over ``dim``, stable at |x| = 1000.   d/dx = softmax(x)."""
    x = _float_input(x, "logsumexp")
    return bind(R.logsumexp_p, (x,), {"dim": _dims(x, dim, "logsumexp"), "keepdim": keepdim})


def _one_dim(x: Any, dim: int, op: str) -> int:
    (d,) = _dims(x, dim, op) or (0,)
    return d


def softmax(x: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, stable.   VJP: out * (g - sum(g * out))."""
    x = _float_input(x, "softmax")
    return bind(N.softmax_p, (x,), {"dim": _one_dim(x, dim, "softmax")})


def log_softmax(x: Any, dim: int = -1) -> Any:
    """x - logsumexp(x) along ``dim``, stable.   VJP: g - softmax(x) * sum(g)."""
    x = _float_input(x, "log_softmax")
    return bind(N.log_softmax_p, (x,), {"dim": _one_dim(x, dim, "log_softmax")})


# --- shapes ---------------------------------------------------------------------------------


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


def reshape(x: Any, *shape: Any) -> Any:
    """The same entries in a new shape (one dim may be -1).   VJP: reshape g back."""
    target = _resolve_shape(x, _shape_args(shape), "reshape")
    if target == x.shape:
        return x
    return S.reshape(x, target)


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
    return S.permute(x, dims)


def transpose(x: Any, dim0: int, dim1: int) -> Any:
    """Swap two dims."""
    nd = x.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    dims = list(range(nd))
    a, b = _one_dim(x, dim0, "transpose"), _one_dim(x, dim1, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, tuple(dims))


def squeeze(x: Any, dim: Any = None) -> Any:
    """Drop size-1 dims (only ``dim`` when given, and only if it has size 1)."""
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = _dims(x, dim, "squeeze") or ()
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return reshape(x, shape)


def unsqueeze(x: Any, dim: int) -> Any:
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"unsqueeze: dim {dim} is out of range for a tensor of shape {tuple(x.shape)} "
            f"(valid: {-nd} to {nd - 1}, the result has {nd} dims)"
        )
    d = dim % nd
    return S.reshape(x, x.shape[:d] + (1,) + x.shape[d:])


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
    return S.expand(x, target)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    return expand(x, tuple(shape))


def sum_to_shape(x: Any, shape: Sequence[int]) -> Any:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``x.shape``."""
    return S.sum_to_shape(x, tuple(shape))


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
    return S.cat(tensors, d)  # also for one tensor: cat returns new memory, never an alias


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
        out.append(S.getitem(x, (slice(None),) * d + (slice(start, start + size),)))
        start += size
    return tuple(out)


def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:
    """Split into ``chunks`` pieces of (nearly) equal size, as PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
    n = x.shape[_one_dim(x, dim, "chunk")]
    return split(x, builtins.max(1, -(-n // chunks)), dim)


def take_along_dim(x: Any, indices: Any, dim: int) -> Any:
    """Gather entries of ``x`` at ``indices`` along ``dim``.   VJP: scatter-add g back."""
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
    return S.getitem(x, tuple(grids))


# --- creation helpers used by rules ----------------------------------------------------------


def zeros_like(x: Any, dtype: Any = None) -> Any:
    return wrap(xp.zeros(x.shape, dtype=dtype or x.data.dtype))


def ones_like(x: Any, dtype: Any = None) -> Any:
    return wrap(xp.ones(x.shape, dtype=dtype or x.data.dtype))
