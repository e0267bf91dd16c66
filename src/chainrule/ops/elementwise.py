"""Elementwise primitives: the derivative table for unary and binary pointwise ops.

Unary ops give their derivative once, as ``deriv(x, out)``; ``unary`` derives both rules from
it (VJP ``g * d``, JVP ``t * d``). Binary ops broadcast: the engine sums each cotangent back to
its input's shape, so the rules below never mention broadcasting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule._backend import erf as _erf_impl
from chainrule._backend import xp
from chainrule.ops import functions as F  # rules use the public ops (cycle: resolved at call)
from chainrule.ops._primitive import Primitive


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
    return prim


# --- binary, broadcasting -------------------------------------------------------------------

add_p = Primitive("add", xp.add, broadcasts=True, linear=True)
add_p.defvjp(lambda g, out, x, y: g, lambda g, out, x, y: g)  # d/dx (x + y) = 1, d/dy = 1

sub_p = Primitive("sub", xp.subtract, broadcasts=True, linear=True)
sub_p.defvjp(lambda g, out, x, y: g, lambda g, out, x, y: -g)  # d/dx (x - y) = 1, d/dy = -1

mul_p = Primitive("mul", xp.multiply, broadcasts=True, saves=((1,), (0,)))
mul_p.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)  # d/dx = y, d/dy = x
mul_p.defjvp(lambda t, out, x, y: t * y, lambda t, out, x, y: x * t)

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
    return y * F.where(y == 0, 1.0, x) ** (y - 1)


def _pow_dy(out: Any, x: Any) -> Any:
    # d/dy x**y = x**y * log(x). At x == 0 (with y >= 0) PyTorch defines it as 0, not nan.
    return out * F.log(F.where(x == 0, 1.0, x))


pow_p = Primitive(
    "pow", _silent(xp.power), broadcasts=True, saves=((0, 1), (0,)), saves_out=(False, True)
)
pow_p.defvjp(lambda g, out, x, y: g * _pow_dx(x, y), lambda g, out, x, y: g * _pow_dy(out, x))
pow_p.defjvp(lambda t, out, x, y: t * _pow_dx(x, y), lambda t, out, x, y: t * _pow_dy(out, x))


def _pow_scalar_dx(g: Any, x: Any, exponent: float) -> Any:
    # d/dx x**c = c * x**(c-1), spelled so that common exponents cost one op: c = 2 gives
    # 2x, c = 1 gives 1, and c = 0 gives 0 (not 0 * x**-1, which is nan at x = 0)
    if exponent == 0:
        return g * 0.0
    if exponent == 1:
        return g
    if exponent == 2:
        return g * (x * 2.0)
    return g * (F.pow(x, exponent - 1) * exponent)


pow_scalar_p = Primitive(  # x ** c for a Python number c: the common case, kept cheap
    "pow_scalar", _silent(lambda x, exponent: x**exponent), saves=(0,)
)
pow_scalar_p.backward_name = "PowBackward0"  # PyTorch's names: Tensor ** Scalar is 0,
pow_p.backward_name = "PowBackward1"  # Tensor ** Tensor is 1
pow_scalar_p.defvjp(lambda g, out, x, exponent: _pow_scalar_dx(g, x, exponent))
pow_scalar_p.defjvp(lambda t, out, x, exponent: _pow_scalar_dx(t, x, exponent))


def _maximum_mask(x: Any, y: Any) -> Any:
    # d/dx max(x, y) = 1 where x > y, 1/2 on ties (PyTorch splits the gradient evenly), else 0
    return F.where(x > y, 1.0, F.where(x == y, 0.5, 0.0)).to(x.dtype)


maximum_p = Primitive("maximum", xp.maximum, broadcasts=True, saves=(0, 1))
maximum_p.defvjp(
    lambda g, out, x, y: g * _maximum_mask(x, y), lambda g, out, x, y: g * _maximum_mask(y, x)
)
maximum_p.defjvp(
    lambda t, out, x, y: t * _maximum_mask(x, y), lambda t, out, x, y: t * _maximum_mask(y, x)
)

minimum_p = Primitive("minimum", xp.minimum, broadcasts=True, saves=(0, 1))
minimum_p.defvjp(
    lambda g, out, x, y: g * _maximum_mask(y, x), lambda g, out, x, y: g * _maximum_mask(x, y)
)
minimum_p.defjvp(
    lambda t, out, x, y: t * _maximum_mask(y, x), lambda t, out, x, y: t * _maximum_mask(x, y)
)

where_p = Primitive("where", xp.where, broadcasts=True, saves=(0,))
# d/dx where(c, x, y) = c, d/dy = not c; the condition is not differentiable
where_p.defvjp(
    None, lambda g, out, c, x, y: mask(g, c.data), lambda g, out, c, x, y: mask(g, ~c.data)
)
where_p.defjvp(
    None, lambda t, out, c, x, y: mask(t, c.data), lambda t, out, c, x, y: mask(t, ~c.data)
)

# --- unary ----------------------------------------------------------------------------------

neg_p = Primitive("neg", xp.negative, linear=True)
neg_p.defvjp(lambda g, out, x: -g)  # d/dx (-x) = -1

clone_p = Primitive("clone", lambda x: x.copy(), linear=True)
clone_p.defvjp(lambda g, out, x: g)  # d/dx copy(x) = 1

cast_p = Primitive("to_copy", lambda x, dtype: x.astype(dtype), linear=True)
cast_p.defvjp(lambda g, out, x, dtype: F.to(g, x.dtype))  # the cotangent goes back to x's dtype

exp_p = unary("exp", _silent(xp.exp), lambda x, out: out, uses="out")  # d/dx e^x = e^x
log_p = unary("log", _silent(xp.log), lambda x, out: 1.0 / x)  # d/dx log x = 1/x
log1p_p = unary("log1p", _silent(xp.log1p), lambda x, out: 1.0 / (x + 1.0))  # 1/(1+x)
sqrt_p = unary("sqrt", _silent(xp.sqrt), lambda x, out: 0.5 / out, uses="out")  # 1/(2 sqrt x)
sin_p = unary("sin", xp.sin, lambda x, out: F.cos(x))  # d/dx sin x = cos x
cos_p = unary("cos", xp.cos, lambda x, out: -F.sin(x))  # d/dx cos x = -sin x
tanh_p = unary("tanh", xp.tanh, lambda x, out: 1.0 - out * out, uses="out")  # 1 - tanh(x)**2
abs_p = unary("abs", xp.abs, lambda x, out: F.sign(x))  # d/dx |x| = sign(x), 0 at 0 as PyTorch
erf_p = unary(  # d/dx erf(x) = 2/sqrt(pi) * exp(-x**2)
    "erf", _erf_impl, lambda x, out: 1.1283791670955126 * F.exp(-(x * x))
)


def _sigmoid_impl(x: Any) -> Any:
    # 1/(1+e^-x) overflows for x << 0; with e = e^-|x| <= 1 both branches are exact and stable
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


sigmoid_p = unary(  # d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x))
    "sigmoid", _sigmoid_impl, lambda x, out: out * (1.0 - out), uses="out"
)


def _softplus_impl(x: Any, beta: float, threshold: float) -> Any:
    # log(1 + e^(bx))/b = (log1p(e^-|bx|) + max(bx, 0))/b: no overflow at |x| = 1000.
    # Like PyTorch, the function is the identity where b*x > threshold.
    bx = x * beta
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)


softplus_p = unary(  # d/dx softplus(x) = sigmoid(beta x) (1 above the threshold)
    "softplus",
    _softplus_impl,
    lambda x, out, beta, threshold: F.where(x * beta > threshold, 1.0, F.sigmoid(x * beta)),
)

mask_p = Primitive("mask", lambda g, mask: g * mask, linear=True)
# g where mask else 0, for a fixed boolean mask (a kink's side, a condition): linear in g, so
# its VJP and JVP are the same masking. One op where ``where(mask, g, 0.0)`` costs three.
mask_p.defvjp(lambda g, out, x, mask: F.E.mask(g, mask))


def mask(g: Any, mask: Any) -> Any:
    """``g`` where the boolean array ``mask`` holds, else 0."""
    return mask_p(g, mask=mask)


relu_p = Primitive("relu", lambda x: xp.maximum(x, 0).astype(x.dtype, copy=False), saves=(0,))
# d/dx relu(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch)
relu_p.defvjp(lambda g, out, x: mask(g, x.data > 0))
relu_p.defjvp(lambda t, out, x: mask(t, x.data > 0))

leaky_relu_p = Primitive(
    "leaky_relu",
    lambda x, slope: xp.where(x > 0, x, x * slope).astype(x.dtype, copy=False),
    saves=(0,),
)
# d/dx leaky_relu(x) = 1 if x > 0 else slope (slope at the kink, as PyTorch)
leaky_relu_p.defvjp(lambda g, out, x, slope: F.where(x > 0, g, g * slope))
leaky_relu_p.defjvp(lambda t, out, x, slope: F.where(x > 0, t, t * slope))

clamp_p = Primitive("clamp", lambda x, lo, hi: xp.clip(x, lo, hi), saves=(0,))


def _clamp_pass(x: Any, lo: float | None, hi: float | None) -> Any:
    # d/dx clamp(x, lo, hi) = 1 where lo <= x <= hi (bounds included, as PyTorch), else 0
    inside = None if lo is None else x >= lo
    if hi is not None:
        inside = (x <= hi) if inside is None else F.logical_and(inside, x <= hi)
    return inside


clamp_p.defvjp(lambda g, out, x, lo, hi: mask(g, _clamp_pass(x, lo, hi).data))
clamp_p.defjvp(lambda t, out, x, lo, hi: mask(t, _clamp_pass(x, lo, hi).data))

# Public functions (operand conversion, promotion) live in chainrule.ops.functions.
