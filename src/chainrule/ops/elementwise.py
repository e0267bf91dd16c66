"""Elementwise primitives: the derivative table for unary and binary pointwise ops.

Unary ops give their derivative once, as ``deriv(x, out)``; ``unary`` derives both rules from
it (VJP ``g * d``, JVP ``t * d``). Binary ops broadcast: the engine sums each cotangent back to
its input's shape, so the rules below never mention broadcasting.

Each op is defined here once: primitive, forward, derivative, what it saves, its batching rule
(every pointwise primitive has one: vmap batches primals) and, below the table, its
public function with the signature and docstring users see. ``chainrule.ops.api`` publishes
those as ``chainrule.<name>``, Tensor methods and ``nn.functional`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import _backend
from chainrule._backend import erf as _erf_impl
from chainrule._backend import xp
from chainrule.ops._primitive import Primitive, bind, public
from chainrule.ops.shape import align, batch_rank, broadcast_batch, constant_op, to
from chainrule.tensor import Tensor, wrap


def _silent(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an implementation whose inf/nan are values, as in PyTorch: no NumPy warnings."""

    def impl(*args: Any, **params: Any) -> Any:
        with xp.errstate(all="ignore"):
            return fn(*args, **params)

    impl.__name__ = getattr(fn, "__name__", "impl")
    return impl


def unary(
    name: str,
    impl: Callable[..., Any],
    deriv: Callable[[Any, Any], Any],
    *,
    uses: str = "x",
) -> Primitive:
    """A pointwise primitive from its derivative: VJP ``g * deriv``, JVP ``t * deriv``.

    ``uses`` says what ``deriv(x, out)`` reads ("x", "out" or "x,out"), so that only that is
    saved for backward and version-checked.
    """
    reads = {part.strip() for part in uses.split(",")}
    if not reads <= {"x", "out"}:
        raise ValueError(f"unary {name}: uses={uses!r}; expected 'x', 'out' or 'x, out'")
    prim = Primitive(name, impl, saves=(0,) if "x" in reads else (), saves_out="out" in reads)
    prim.defvjp(lambda g, out, x, **p: g * deriv(x, out, **p))
    prim.defjvp(lambda t, out, x, **p: t * deriv(x, out, **p))
    prim.batch = broadcast_batch  # pointwise: the batch axis is one more broadcast dim
    return prim


def _scaled(deriv: Any) -> Callable[[Any, Any, Any, Any], Any]:
    """``v * deriv(x, y, out)`` for a cotangent or tangent ``v``: the chain rule at a pointwise
    op. A constant derivative costs no op (1: v itself, -1: -v)."""
    if deriv == 1:
        return lambda v, out, x, y: v
    if deriv == -1:
        return lambda v, out, x, y: -v
    return lambda v, out, x, y: v * deriv(x, y, out)


def binary(
    name: str,
    impl: Callable[..., Any],
    dx: Any,
    dy: Any,
    *,
    saves: Any = (),
    saves_out: Any = False,
    linear: bool = False,
) -> Primitive:
    """A broadcasting pointwise primitive from one derivative per input, ``dx(x, y, out)`` and
    ``dy(x, y, out)`` (or the constants 1 and -1): VJP ``g * d``, JVP ``t * d`` for each input,
    as ``unary`` does. ``saves`` states, per input, what its derivative reads."""
    prim = Primitive(name, impl, broadcasts=True, linear=linear, saves=saves, saves_out=saves_out)
    prim.defvjp(_scaled(dx), _scaled(dy))
    if not linear:  # a linear op's JVP is the op applied to the tangents
        prim.defjvp(_scaled(dx), _scaled(dy))
    prim.batch = broadcast_batch  # pointwise: the batch axis is one more broadcast dim
    return prim


# --- binary, broadcasting -------------------------------------------------------------------

add_p = binary("add", xp.add, 1, 1, linear=True)  # d/dx (x + y) = 1, d/dy = 1
sub_p = binary("sub", xp.subtract, 1, -1, linear=True)  # d/dx (x - y) = 1, d/dy = -1
# d/dx (x * y) = y, d/dy = x: the rule for x reads y only, and the one for y reads x only
mul_p = binary("mul", xp.multiply, lambda x, y, out: y, lambda x, y, out: x, saves=((1,), (0,)))

# d/dx (x / y) = 1 / y;  d/dy (x / y) = -x / y**2. Written with x rather than out (= -out / y),
# as PyTorch does, so that div saves no output: x.div_(y) followed by another in-place op on
# x stays legal, as in PyTorch (a saved output would be the buffer that op overwrites).
div_p = Primitive("div", _silent(xp.true_divide), broadcasts=True, saves=((1,), (0, 1)))
# (x / y) / y rather than x / (y * y): y * y under- or overflows for |y| beyond 1e+-154.
div_p.defvjp(lambda g, out, x, y: g / y, lambda g, out, x, y: -(g * (x / y / y)))
div_p.defjvp(lambda t, out, x, y: t / y, lambda t, out, x, y: -(t * (x / y / y)))


def _pow_dx(x: Any, y: Any) -> Any:
    # d/dx x**y = y * x**(y-1); 0 where y == 0 (x**0 is constant), as PyTorch, even at x = 0
    # where the formula is 0 * inf. Replacing x by 1 there keeps nan out of higher orders too.
    return y * where(y == 0, 1.0, x) ** (y - 1)


def _pow_dy(out: Any, x: Any, y: Any) -> Any:
    # d/dy x**y = x**y * log(x). At x == 0 with y >= 0 PyTorch defines it as 0, not nan; with
    # y < 0 it keeps the formula, inf * log(0) = -inf.
    return out * log(where((x == 0) & (y >= 0), 1.0, x))


pow_p = binary(
    "pow",
    _silent(xp.power),
    lambda x, y, out: _pow_dx(x, y),
    lambda x, y, out: _pow_dy(out, x, y),
    saves=((0, 1), (0, 1)),
    saves_out=(False, True),
)


def _pow_scalar_dx(g: Any, x: Any, exponent: float) -> Any:
    # d/dx x**c = c * x**(c-1): one fused node, pow_backward(g, x) = c g x**(c-1), whose own
    # rules are pow_backward again (below), so second order costs one node per input too.
    # c = 1 gives g itself, and c = 0 gives 0 (not 0 * x**-1, which is nan at x = 0).
    if exponent == 0:
        return g * 0.0
    if exponent == 1:
        return g
    return pow_backward(g, x, exponent - 1, exponent)


def _pow_backward_impl(g: Any, x: Any, power: float, coef: float) -> Any:
    # coef * g * x**power, spelled so that the common powers cost no call to power():
    # c = 2 (power 1) gives g * 2x, and c = 0.5 (power -0.5) gives g * 0.5/sqrt(x), which is
    # -inf at x = -0.0 as PyTorch (sqrt(-0.0) = -0.0; (-0.0)**-0.5 would be +inf).
    if coef == 0:  # a zero derivative, not 0 * x**power (nan at x = 0 for power < 0)
        return g * 0.0 + xp.zeros_like(x)
    if power == 0:
        return g * coef + xp.zeros_like(x)
    if power == 1:
        return g * (x * coef)
    with xp.errstate(all="ignore"):  # inf at x = 0 for power < 0 is a value, as PyTorch
        if power == -0.5:
            return g * (coef / xp.sqrt(x))
        return g * (x**power * coef)


# b(g, x) = k g x**p, the VJP of x**c (p = c - 1, k = c). Linear in g; d/dx = k p g x**(p-1),
# which is b again with (p - 1, k p): the family is closed under differentiation.
pow_backward_p = Primitive(
    "pow_backward", _pow_backward_impl, broadcasts=True, saves=((1,), (0, 1))
)
pow_backward_p.defvjp(
    lambda h, out, g, x, power, coef: pow_backward(h, x, power, coef),
    lambda h, out, g, x, power, coef: pow_backward(h * g, x, power - 1, coef * power),
)
pow_backward_p.defjvp(
    lambda t, out, g, x, power, coef: pow_backward(t, x, power, coef),
    lambda t, out, g, x, power, coef: pow_backward(t * g, x, power - 1, coef * power),
)


def pow_backward(g: Any, x: Any, power: float, coef: float) -> Any:
    """``coef * g * x**power`` (the VJP of ``x**c`` with ``power = c - 1``, ``coef = c``)."""
    return bind(pow_backward_p, (g, x), {"power": power, "coef": coef})


pow_scalar_p = Primitive(  # x ** c for a Python number c: the common case, kept cheap
    "pow_scalar", _silent(lambda x, exponent: x**exponent), saves=(0,)
)
pow_scalar_p.backward_name = "PowBackward0"  # PyTorch's names: Tensor ** Scalar is 0,
pow_p.backward_name = "PowBackward1"  # Tensor ** Tensor is 1
pow_scalar_p.defvjp(lambda g, out, x, exponent: _pow_scalar_dx(g, x, exponent))
pow_scalar_p.defjvp(lambda t, out, x, exponent: _pow_scalar_dx(t, x, exponent))


def _maximum_mask(x: Any, y: Any) -> Any:
    # d/dx max(x, y) = 1 where x > y, 1/2 on ties (PyTorch splits the gradient evenly), else
    # 0; where either is NaN (neither x < y nor x == y) both get 1, as in PyTorch
    return where(x < y, 0.0, where(x == y, 0.5, 1.0)).to(x.dtype)


maximum_p = binary(
    "maximum",
    xp.maximum,
    lambda x, y, out: _maximum_mask(x, y),
    lambda x, y, out: _maximum_mask(y, x),
    saves=(0, 1),
)
minimum_p = binary(
    "minimum",
    xp.minimum,
    lambda x, y, out: _maximum_mask(y, x),
    lambda x, y, out: _maximum_mask(x, y),
    saves=(0, 1),
)

where_p = Primitive("where", xp.where, broadcasts=True, saves=(0,))
# d/dx where(c, x, y) = c, d/dy = not c; the condition is not differentiable
where_p.defvjp(
    None, lambda g, out, c, x, y: gate(g, c), lambda g, out, c, x, y: gate(g, c, negate=True)
)
where_p.defjvp(
    None, lambda t, out, c, x, y: gate(t, c), lambda t, out, c, x, y: gate(t, c, negate=True)
)

# --- unary ----------------------------------------------------------------------------------

neg_p = Primitive("neg", xp.negative, linear=True)
neg_p.defvjp(lambda g, out, x: -g)  # d/dx (-x) = -1

clone_p = Primitive("clone", lambda x: x.copy(), linear=True)
clone_p.defvjp(lambda g, out, x: g)  # d/dx copy(x) = 1

exp_p = unary("exp", _silent(xp.exp), lambda x, out: out, uses="out")  # d/dx e^x = e^x
log_p = unary("log", _silent(xp.log), lambda x, out: 1.0 / x)  # d/dx log x = 1/x
log10_p = unary("log10", _silent(xp.log10), lambda x, out: 0.4342944819032518 / x)  # 1/(x ln 10)
log2_p = unary("log2", _silent(xp.log2), lambda x, out: 1.4426950408889634 / x)  # 1/(x ln 2)
log1p_p = unary("log1p", _silent(xp.log1p), lambda x, out: 1.0 / (x + 1.0))  # 1/(1+x)
sqrt_p = unary("sqrt", _silent(xp.sqrt), lambda x, out: 0.5 / out, uses="out")  # 1/(2 sqrt x)
sin_p = unary("sin", xp.sin, lambda x, out: cos(x))  # d/dx sin x = cos x
cos_p = unary("cos", xp.cos, lambda x, out: -sin(x))  # d/dx cos x = -sin x
tanh_p = unary("tanh", xp.tanh, lambda x, out: 1.0 - out * out, uses="out")  # 1 - tanh(x)**2
abs_p = unary("abs", xp.abs, lambda x, out: sign(x))  # d/dx |x| = sign(x), 0 at 0 as PyTorch
erf_p = unary(  # d/dx erf(x) = 2/sqrt(pi) * exp(-x**2)
    "erf", _erf_impl, lambda x, out: 1.1283791670955126 * exp(-(x * x))
)


def _sigmoid_impl(x: Any) -> Any:
    # 1/(1+e^-x) overflows for x << 0; with e = e^-|x| <= 1 both branches are exact and stable
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


sigmoid_p = unary(  # d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x))
    "sigmoid", _sigmoid_impl, lambda x, out: out * (1.0 - out), uses="out"
)

# --- fused VJPs: the backward of tanh and sigmoid as primitives of their own ----------------
# Composed, tanh's VJP g * (1 - y*y) is three nodes, and forward-over-reverse (hvp) takes the
# JVP of each; fused, it is one node whose rules are written once here (PyTorch's
# tanh_backward / sigmoid_backward). Both are linear in g; y is the forward's output.

# b(g, y) = g (1 - y^2):  d/dg = 1 - y^2 (b itself on the tangent),  d/dy = -2 g y, which is
# pow_backward(t g, y) with power 1 and coefficient -2: two nodes rather than three
tanh_backward_p = Primitive(
    "tanh_backward", lambda g, y: g * (1.0 - y * y), broadcasts=True, saves=((1,), (0, 1))
)
tanh_backward_p.defvjp(
    lambda h, out, g, y: tanh_backward(h, y), lambda h, out, g, y: pow_backward(h * g, y, 1, -2.0)
)
tanh_backward_p.defjvp(
    lambda t, out, g, y: tanh_backward(t, y), lambda t, out, g, y: pow_backward(t * g, y, 1, -2.0)
)

# b(g, y) = g y (1 - y):  d/dg = y (1 - y) (b itself on the tangent),  d/dy = g (1 - 2y)
sigmoid_backward_p = Primitive(
    "sigmoid_backward", lambda g, y: g * (y * (1.0 - y)), broadcasts=True, saves=((1,), (0, 1))
)
sigmoid_backward_p.defvjp(
    lambda h, out, g, y: sigmoid_backward(h, y),
    lambda h, out, g, y: (h * g) * (1.0 - y * 2.0),
)
sigmoid_backward_p.defjvp(
    lambda t, out, g, y: sigmoid_backward(t, y),
    lambda t, out, g, y: (t * g) * (1.0 - y * 2.0),
)


def tanh_backward(g: Any, y: Any) -> Any:
    """``g * (1 - y**2)``: the VJP of ``y = tanh(x)``, one node."""
    return bind(tanh_backward_p, (g, y), {})


def sigmoid_backward(g: Any, y: Any) -> Any:
    """``g * y * (1 - y)``: the VJP of ``y = sigmoid(x)``, one node."""
    return bind(sigmoid_backward_p, (g, y), {})


# tanh and sigmoid's VJPs are those nodes; their JVPs the same nodes on the tangent (the
# derivative is symmetric: a pointwise scale). log's is one division, g / x.
tanh_p.defvjp(lambda g, out, x: tanh_backward(g, out))
tanh_p.defjvp(lambda t, out, x: tanh_backward(t, out))
sigmoid_p.defvjp(lambda g, out, x: sigmoid_backward(g, out))
sigmoid_p.defjvp(lambda t, out, x: sigmoid_backward(t, out))
log_p.defvjp(lambda g, out, x: g / x)
log_p.defjvp(lambda t, out, x: t / x)


def _softplus_impl(x: Any, beta: float, threshold: float) -> Any:
    # log(1 + e^(bx))/b = (log1p(e^-|bx|) + max(bx, 0))/b: no overflow at |x| = 1000.
    # Like PyTorch, the function is the identity where b*x > threshold.
    bx = x * beta
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)


softplus_p = unary(  # d/dx softplus(x) = sigmoid(beta x) (1 above the threshold)
    "softplus",
    _softplus_impl,
    lambda x, out, beta, threshold: where(x * beta > threshold, 1.0, sigmoid(x * beta)),
)

mask_p = Primitive("mask", lambda g, mask: g * mask, linear=True)
# g where mask else 0, for a fixed boolean mask (a kink's side, a condition): linear in g, so
# its VJP and JVP are the same masking. One op where ``where(mask, g, 0.0)`` costs three.
mask_p.defvjp(lambda g, out, x, mask: mask_fn(g, mask))


def mask(g: Any, mask: Any) -> Any:
    """``g`` where the boolean array ``mask`` holds, else 0."""
    return mask_p(g, mask=mask)


mask_fn = mask  # (inside rules whose parameter is also called mask)


def gate(g: Any, c: Any, negate: bool = False) -> Any:
    """``g`` where the bool tensor ``c`` holds (``negate``: where it does not), else 0.

    A plain condition becomes ``mask``'s array parameter (the fast path). A traced one (inside
    ``vmap`` the condition of a batched primal is itself batched) must stay an operand, so
    that the batch level lines it up with ``g``: then it is ``where(c, g, 0)``.
    """
    if c._level is None:
        return mask(g, ~c.data if negate else c.data)
    return where(c, 0.0, g) if negate else where(c, g, 0.0)


def _mask_batch(level: Any, prim: Primitive, values: list, batched: list, params: dict):
    # the mask (a parameter) broadcasts like an operand: align g's dims with it too
    rank = max(batch_rank(values[0], batched[0]), params["mask"].ndim)
    return bind(prim, tuple(align(values, batched, rank)), params)


mask_p.batch = _mask_batch


relu_p = Primitive("relu", lambda x: xp.maximum(x, 0).astype(x.dtype, copy=False), saves=(0,))
# d/dx relu(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch); 1 at NaN (PyTorch zeroes only
# where x <= 0). Traced (vmap), the mask is the batched operand ``x <= 0``, negated.
relu_p.defvjp(
    lambda g, out, x: mask(g, ~(x.data <= 0)) if x._level is None else gate(g, x <= 0, negate=True)
)
relu_p.defjvp(
    lambda t, out, x: mask(t, ~(x.data <= 0)) if x._level is None else gate(t, x <= 0, negate=True)
)

leaky_relu_p = Primitive(
    "leaky_relu",
    lambda x, slope: xp.where(x > 0, x, x * slope).astype(x.dtype, copy=False),
    saves=(0,),
)
# d/dx leaky_relu(x) = 1 if x > 0 else slope (slope at the kink, as PyTorch)
leaky_relu_p.defvjp(lambda g, out, x, slope: where(x > 0, g, g * slope))
leaky_relu_p.defjvp(lambda t, out, x, slope: where(x > 0, t, t * slope))

clamp_p = Primitive("clamp", lambda x, lo, hi: xp.clip(x, lo, hi), saves=(0,))


def _clamp_pass(x: Any, lo: float | None, hi: float | None) -> Any:
    # d/dx clamp(x, lo, hi) = 1 where lo <= x <= hi (bounds included, as PyTorch), else 0
    inside = None if lo is None else x >= lo
    if hi is not None:
        inside = (x <= hi) if inside is None else logical_and(inside, x <= hi)
    return inside


clamp_p.defvjp(lambda g, out, x, lo, hi: gate(g, _clamp_pass(x, lo, hi)))
clamp_p.defjvp(lambda t, out, x, lo, hi: gate(t, _clamp_pass(x, lo, hi)))

# Batching: every pointwise op broadcasts the batch axis like any other leading dim (vmap
# batches primals, jacfwd/jacrev tangents and cotangents; the unary and binary ops get it in
# ``unary`` and ``binary``).
for _p in (div_p, where_p, neg_p, clone_p, pow_scalar_p, relu_p, leaky_relu_p, clamp_p):
    _p.batch = broadcast_batch
# the fused VJPs are linear in g, a cotangent or tangent that may be stacked
for _p in (pow_backward_p, tanh_backward_p, sigmoid_backward_p):
    _p.batch = broadcast_batch


# --- public functions: operand conversion, dtype promotion, checks ----------------------------


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
        # the tensors, not their arrays: a traced value's ndim is the per-example one (under
        # vmap its array has batch axes), so a per-example 0-d tensor keeps its low priority
        target = _backend.result_dtype(x, y)
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


@public()
def add(x: Any, y: Any, alpha: float = 1) -> Any:
    """x + alpha * y, broadcasting.   d/dx = 1, d/dy = alpha."""
    if alpha != 1:
        y = mul(y, alpha)
    try:  # the fast path of _binary, inlined for the most common ops
        if x.data.dtype is y.data.dtype:
            return bind(add_p, (x, y), {})
    except AttributeError:
        pass
    return _binary(add_p, x, y, "add")


@public()
def sub(x: Any, y: Any, alpha: float = 1) -> Any:
    """x - alpha * y, broadcasting.   d/dx = 1, d/dy = -alpha."""
    if alpha != 1:
        y = mul(y, alpha)
    return _binary(sub_p, x, y, "sub")


@public()
def mul(x: Any, y: Any) -> Any:
    """x * y, broadcasting.   d/dx = y, d/dy = x."""
    try:
        if x.data.dtype is y.data.dtype:
            return bind(mul_p, (x, y), {})
    except AttributeError:
        pass
    return _binary(mul_p, x, y, "mul")


@public()
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
    return bind(div_p, (x, y), {})


@public()
def pow(x: Any, y: Any) -> Any:
    """x ** y, broadcasting.   d/dx = y * x**(y-1), d/dy = x**y * log(x)."""
    if type(y) in (int, float) and isinstance(x, Tensor):
        if isinstance(y, float) and x.data.dtype.kind != "f":
            x = to(x, _backend.default_float)  # int tensor ** 0.5 is a float, as in PyTorch
        return bind(pow_scalar_p, (x,), {"exponent": y})
    return _binary(pow_p, x, y, "pow")


@public()
def maximum(x: Any, y: Any) -> Any:
    """Elementwise max.   d/dx = 1 where x > y (1/2 on ties), else 0."""
    return _binary(maximum_p, x, y, "maximum")


@public()
def minimum(x: Any, y: Any) -> Any:
    """Elementwise min.   d/dx = 1 where x < y (1/2 on ties), else 0."""
    return _binary(minimum_p, x, y, "minimum")


@public(method=False)
def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` else ``y``, broadcasting.   d/dx = condition, d/dy = not it."""
    if not isinstance(condition, Tensor):
        condition = Tensor(xp.asarray(condition, dtype=bool))
    elif condition.data.dtype != _backend.bool_:
        condition = to(condition, _backend.bool_)  # (a constant; batched under vmap)
    x, y = _binary_operands(x, y, "where")
    return bind(where_p, (condition, x, y), {})


def _float_input(x: Any, op: str) -> Any:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        x = to(x, _backend.default_float)  # exp(int tensor) is float, as in PyTorch
    return x


def _unary(prim: Any, op: str, doc: str, functional: bool = False) -> Any:
    def fn(x: Any) -> Any:
        return bind(prim, (_float_input(x, op),), {})

    fn.__name__, fn.__doc__ = op, doc
    return public(functional=functional)(fn)


exp = _unary(exp_p, "exp", "e**x.   d/dx exp(x) = exp(x).")


log = _unary(log_p, "log", "Natural log (nan below 0, -inf at 0, as PyTorch).   d/dx log(x) = 1/x.")


log10 = _unary(log10_p, "log10", "Base-10 log.   d/dx log10(x) = 1/(x ln 10).")


log2 = _unary(log2_p, "log2", "Base-2 log.   d/dx log2(x) = 1/(x ln 2).")


log1p = _unary(log1p_p, "log1p", "log(1 + x), accurate near 0.   d/dx log1p(x) = 1/(1 + x).")


sqrt = _unary(sqrt_p, "sqrt", "Square root.   d/dx sqrt(x) = 1/(2*sqrt(x)).")


sin = _unary(sin_p, "sin", "Sine.   d/dx sin(x) = cos(x).")


cos = _unary(cos_p, "cos", "Cosine.   d/dx cos(x) = -sin(x).")


tanh = _unary(tanh_p, "tanh", "Hyperbolic tangent.   d/dx tanh(x) = 1 - tanh(x)**2.", True)


sigmoid = _unary(
    sigmoid_p,
    "sigmoid",
    "1/(1 + e**-x), stable for |x| = 1000.   d/dx = sigmoid(x)*(1 - sigmoid(x)).",
    functional=True,
)


erf = _unary(erf_p, "erf", "The error function.   d/dx erf(x) = 2/sqrt(pi) * exp(-x**2).")


@public()
def neg(x: Any) -> Any:
    """-x.   d/dx (-x) = -1."""
    return bind(neg_p, (x,), {})


@public()
def abs(x: Any) -> Any:
    """|x|.   d/dx |x| = sign(x), 0 at 0 (PyTorch's convention)."""
    return bind(abs_p, (x,), {})


@public(functional=True)
def relu(x: Any) -> Any:
    """max(x, 0).   d/dx relu(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch)."""
    return bind(relu_p, (_float_input(x, "relu"),), {})


@public(functional=True)
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x if x > 0 else slope * x.   d/dx = 1 if x > 0 else slope."""
    return bind(leaky_relu_p, (_float_input(x, "leaky_relu"),), {"slope": negative_slope})


@public(functional=True)
def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """log(1 + e**(beta x)) / beta, the identity where beta*x > threshold (as PyTorch).

    d/dx softplus(x) = sigmoid(beta * x).
    """
    params = {"beta": float(beta), "threshold": float(threshold)}
    return bind(softplus_p, (_float_input(x, "softplus"),), params)


@public(functional=True)
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


@public(functional=True)
def silu(x: Any) -> Any:
    """x * sigmoid(x) (swish).   d/dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))."""
    x = _float_input(x, "silu")
    return x * sigmoid(x)


@public()
def clamp(x: Any, min: Any = None, max: Any = None) -> Any:
    """Clip to [min, max].   d/dx = 1 inside the bounds (inclusive, as PyTorch), else 0.

    Tensor bounds are differentiable too: ``clamp`` is then ``minimum(maximum(x, lo), hi)``.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    return bind(clamp_p, (x,), {"lo": min, "hi": max})


def _sign_impl(x: Any) -> Any:
    # xp.sign is NaN at NaN; PyTorch's sign is 0 there
    return xp.where(x != x, 0, xp.sign(x)).astype(x.dtype, copy=False)


@public()
def sign(x: Any) -> Any:
    """-1, 0 or 1 (not differentiable: a constant); 0 at NaN, as PyTorch."""
    if x._level is not None:
        return constant_op(_sign_impl, x)
    return wrap(_sign_impl(x.data))


def _compare(fn: Any, name: str, toplevel: bool = True) -> Any:
    def compare(x: Any, y: Any) -> Any:
        x, y = _binary_operands(x, y, name)
        if x._level is not None or y._level is not None:
            return constant_op(fn, x, y)
        return wrap(fn(x.data, y.data))

    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} as a bool tensor (not differentiable)."
    return public(toplevel=toplevel)(compare)


eq = _compare(xp.equal, "eq")


ne = _compare(xp.not_equal, "ne")


lt = _compare(xp.less, "lt")


le = _compare(xp.less_equal, "le")


gt = _compare(xp.greater, "gt")


ge = _compare(xp.greater_equal, "ge")


logical_and = _compare(xp.logical_and, "logical_and", toplevel=False)


logical_or = _compare(xp.logical_or, "logical_or", toplevel=False)


logical_xor = _compare(xp.logical_xor, "logical_xor", toplevel=False)


@public(toplevel=False)
def logical_not(x: Any) -> Any:
    """Elementwise not, as a bool tensor (not differentiable)."""
    if x._level is not None:
        return constant_op(xp.logical_not, x)
    return wrap(xp.logical_not(x.data))


@public(toplevel=False)
def clone(x: Any) -> Any:
    """A copy of the data that stays in the graph (gradient flows back unchanged)."""
    return clone_p(x)


# --- elu: x if x > 0 else alpha * (e^x - 1) ----------------------------------------------------


def _elu_impl(x: Any, alpha: float) -> Any:
    # expm1 keeps e^x - 1 accurate near 0; the positive branch's expm1 may overflow: ignored
    with xp.errstate(over="ignore"):
        return xp.where(x > 0, x, alpha * xp.expm1(x)).astype(x.dtype, copy=False)


# d/dx elu(x) = 1 if x > 0 else alpha * e^x = out + alpha (1 at the kink's right only, as PyTorch)
elu_p = unary("elu", _elu_impl, lambda x, out, alpha: where(x > 0, 1.0, out + alpha), uses="x, out")


@public(functional=True)
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x if x > 0 else alpha * (exp(x) - 1).   d/dx elu(x) = 1 if x > 0 else elu(x) + alpha."""
    return bind(elu_p, (_float_input(x, "elu"),), {"alpha": float(alpha)})


# --- logaddexp: log(e^x + e^y), stable -------------------------------------------------------

# d/dx log(e^x + e^y) = e^(x - out), d/dy = e^(y - out) (the softmax of the pair)
logaddexp_p = binary(
    "logaddexp",
    _silent(xp.logaddexp),
    lambda x, y, out: exp(x - out),
    lambda x, y, out: exp(y - out),
    saves=((0,), (1,)),
    saves_out=True,
)


@public()
def logaddexp(x: Any, y: Any) -> Any:
    """log(exp(x) + exp(y)), broadcasting, stable.   d/dx = exp(x - out), d/dy = exp(y - out)."""
    x, y = _binary_operands(x, y, "logaddexp")
    return bind(logaddexp_p, (_float_input(x, "logaddexp"), _float_input(y, "logaddexp")), {})


# --- closeness (no gradient) -----------------------------------------------------------------


@public()
def isclose(
    x: Any, y: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Any:
    """|x - y| <= atol + rtol * |y|, elementwise, as a bool tensor (not differentiable)."""
    x, y = _binary_operands(x, y, "isclose")

    def close(a: Any, b: Any) -> Any:
        return xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)

    if x._level is not None or y._level is not None:  # traced: batched under vmap
        return constant_op(close, x, y)
    return wrap(close(x.data, y.data))


@public()
def allclose(
    x: Any, y: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """True when every pair is close (``isclose``); a Python bool, as in PyTorch."""
    return bool(xp.all(isclose(x, y, rtol, atol, equal_nan).data))


@public()
def equal(x: Any, y: Any) -> bool:
    """True when ``x`` and ``y`` have the same shape and the same values (a Python bool)."""
    x, y = _binary_operands(x, y, "equal")
    return x.shape == y.shape and bool(xp.array_equal(x.data, y.data))
