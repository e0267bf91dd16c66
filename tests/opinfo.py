"""The op table: one entry per public op, and every op-level test is parametrized over it.

An entry (``OpInfo``) says how to call the op on tensors (``op(*tensors)``, with its
non-tensor parameters fixed), which input shapes to try (``samples``), how to draw each input
(``domains``: positives for log, values away from kinks and ties for relu/abs/max/clamp),
which inputs are differentiable, the tolerances, and the references: a NumPy function
(``ref``, on arrays) and a PyTorch one (``torch_fn``, on torch tensors; ``None`` means the
op itself, written in Tensor-method style, runs on torch tensors as is).

Adding an op means its family file (``chainrule.ops.*``) plus one entry here:
``test_ops_grad`` (gradcheck, gradgradcheck, the VJP dot-product identity, no mutation, no
aliasing, and gradcheck again with non-leaf inputs under every requires-grad pattern, which
tests what each node saves), ``test_func_ops`` (JVP, second order in both modes,
jacfwd == jacrev without the batching loop) and ``test_ops_torch`` (forward, backward and
double backward against PyTorch) pick it up; ``test_every_primitive_is_reached_by_the_op_table``
fails for a primitive that no entry reaches.

Hook for further checks over the same table (the forward-mode JVP tests, once
``chainrule.func.jvp`` exists): ``iter_samples()`` yields ``(info, inputs)`` for every entry
and sample; ``info.diff_fn(inputs)`` closes over the non-differentiable inputs and returns
``(fn, primals)``; ``numerical_jvp`` gives ``J u`` by central differences. For example::

    @pytest.mark.parametrize("info", GRAD_OPS, ids=str)
    def test_jvp(info):
        rng = np.random.default_rng(0)
        for _, xs in iter_samples([info]):
            fn, primals = info.diff_fn(xs)
            tangents = [rng.standard_normal(p.shape) for p in primals]
            _, t_out = cr.func.jvp(fn, tuple(primals), tuple(cr.tensor(t) for t in tangents))
            for t, expected in zip(as_tuple(t_out), numerical_jvp(fn, primals, tangents)):
                np.testing.assert_allclose(t.data, expected, rtol=1e-6, atol=1e-8)
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import chainrule as cr

Shape = tuple[int, ...]
Domain = Callable[[np.random.Generator, Shape], np.ndarray]

# --- domains: how to draw one input -----------------------------------------------------------


def real(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.standard_normal(shape)


def positive(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """For log, sqrt, pow's base: well inside (0, inf)."""
    return rng.uniform(0.5, 2.0, shape)


def above_minus_half(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """For log1p: inside (-1, inf), away from the pole."""
    return rng.uniform(-0.5, 2.0, shape)


def nonzero(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """|x| in [0.2, 2]: away from the kink of abs/relu/leaky_relu and the pole of 1/x."""
    mag = rng.uniform(0.2, 2.0, shape)
    return np.where(rng.random(shape) < 0.5, -mag, mag)


def _grid(rng: np.random.Generator, shape: Shape, offset: float, lo: int, hi: int) -> np.ndarray:
    k = rng.integers(lo, hi + 1, shape)
    return 0.2 * k + offset + rng.uniform(-0.02, 0.02, shape)


def grid_a(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Near multiples of 0.2. With ``grid_b`` (near odd multiples of 0.1) every pair differs by
    at least 0.06: no ties for maximum/minimum, no values on clamp's bounds."""
    return _grid(rng, shape, 0.0, -10, 10)


def grid_b(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return _grid(rng, shape, 0.1, -10, 10)


def lower_bound(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """A tensor clamp bound in [-1.5, -0.1] (below every ``upper_bound``)."""
    return _grid(rng, shape, 0.1, -8, -1)


def upper_bound(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return _grid(rng, shape, 0.1, 0, 7)


def distinct(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Values at least 0.06 apart: max/min/amax have a unique argmax, with no ties."""
    n = math.prod(shape)
    vals = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)
    return vals.reshape(shape)


def boolean(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.random(shape) < 0.5


# --- the entry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpInfo:
    """One op under test. ``samples`` lists, per sample, the shape of every tensor input."""

    name: str
    op: Callable[..., Any]
    samples: Sequence[Sequence[Shape]]
    #: one per input; the last one repeats for inputs beyond the list
    domains: Sequence[Domain] = (real,)
    #: which inputs are differentiable (None: every floating input)
    diff: Sequence[bool] | None = None
    #: False for ops without a gradient (argmax, comparisons): values are checked only
    grad: bool = True
    ref: Callable[..., Any] | None = None
    torch_fn: Callable[..., Any] | None = None
    atol: float = 1e-5
    rtol: float = 1e-3
    eps: float = 1e-6
    #: elementwise binary op that broadcasts all its inputs (test_broadcast draws shapes)
    broadcasts: bool = False

    def domain(self, i: int) -> Domain:
        return self.domains[min(i, len(self.domains) - 1)]

    def diff_mask(self, inputs: Sequence[Any]) -> list[bool]:
        if not self.grad:
            return [False] * len(inputs)
        if self.diff is not None:
            return list(self.diff)
        return [x.dtype.kind == "f" for x in inputs]

    def diff_fn(self, inputs: Sequence[Any]) -> tuple[Callable[..., Any], list[Any]]:
        """``(fn, primals)``: the op as a function of its differentiable inputs only, the
        others (conditions, bounds marked non-differentiable) fixed to their sample values."""
        mask = self.diff_mask(inputs)
        primals = [x for x, d in zip(inputs, mask) if d]

        def fn(*ps: Any) -> Any:
            it = iter(ps)
            return self.op(*[next(it) if d else x for x, d in zip(inputs, mask)])

        return fn, primals

    def torch(self, *xs: Any) -> Any:
        return (self.torch_fn or self.op)(*xs)

    def __repr__(self) -> str:
        return self.name


def make_inputs(
    info: OpInfo,
    shapes: Sequence[Shape],
    rng: np.random.Generator,
    dtype: Any = np.float64,
    requires_grad: bool = True,
) -> list[cr.Tensor]:
    """Fresh tensors for one sample; floating domains are cast to ``dtype``."""
    arrays = [info.domain(i)(rng, tuple(s)) for i, s in enumerate(shapes)]
    arrays = [np.asarray(a, dtype=dtype) if a.dtype.kind == "f" else a for a in arrays]
    xs = [cr.tensor(a) for a in arrays]
    if requires_grad:
        for x, d in zip(xs, info.diff_mask(xs)):
            if d:
                x.requires_grad_()
    return xs


def iter_samples(
    entries: Sequence[OpInfo] | None = None,
    dtype: Any = np.float64,
    seed: int = 0,
    grad_only: bool = False,
) -> Iterator[tuple[OpInfo, list[cr.Tensor]]]:
    """Every (entry, inputs) pair of the table: the hook for checks over all ops (e.g. the
    forward-mode JVP checks)."""
    for info in OPS if entries is None else entries:
        if grad_only and not info.grad:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(info.name.encode())])  # stable per entry
        for shapes in info.samples:
            yield info, make_inputs(info, shapes, rng, dtype)


def as_tuple(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def numerical_jvp(
    fn: Callable[..., Any], inputs: Sequence[Any], tangents: Sequence[Any], eps: float = 1e-6
) -> list[np.ndarray]:
    """``J u`` of every output of ``fn`` by central differences along the direction ``u``
    (``tangents``: one array or None per input)."""
    plus, minus = [], []
    for sign, store in ((1.0, plus), (-1.0, minus)):
        shifted = [
            x if t is None else cr.tensor(x.data + sign * eps * t) for x, t in zip(inputs, tangents)
        ]
        with cr.no_grad():
            store.extend(np.asarray(o.data, dtype=np.float64) for o in as_tuple(fn(*shifted)))
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


def _take(x: Any, idx: Any) -> Any:
    from chainrule.ops.shape import take

    return take(x, idx)


def _t() -> Any:
    import torch

    return torch


def _tt(a: Any) -> Any:
    """A NumPy index array as a torch tensor."""
    return _t().as_tensor(np.asarray(a))


# --- sample shapes ------------------------------------------------------------------------

UNARY = [((3, 4),), ((),), ((1, 5),), ((2, 1, 3),)]
BINARY = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((4,), (2, 3, 4)),
    ((2, 1, 3), (4, 1)),
    ((1,), ()),
]
TERNARY = [
    ((3, 4), (3, 4), (3, 4)),
    ((3, 1), (1, 4), (3, 4)),
    ((2, 3), (), (1, 3)),
    ((4,), (2, 1, 4), (3, 1)),
]
M2 = [((3, 4),), ((2, 3, 4),)]  # reductions and shape ops
M3 = [((2, 3, 4),)]

# --- the table ----------------------------------------------------------------------------

C = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])  # a NumPy operand for reflected ops


def _binary(name: str, op: Callable, ref: Callable, domains: Sequence[Domain] = (real,), **kw: Any):
    return OpInfo(name, op, BINARY, domains, ref=ref, broadcasts=True, **kw)


def _unary(name: str, op: Callable, ref: Callable | None = None, domain: Domain = real, **kw: Any):
    return OpInfo(name, op, UNARY, (domain,), ref=ref, **kw)


def _gelu_ref(x: np.ndarray) -> np.ndarray:
    from math import erf

    return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def _softplus_ref(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    return np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)


def _np_var(a: np.ndarray, axis: Any, keepdims: bool, correction: int) -> np.ndarray:
    return np.var(a, axis=axis, keepdims=keepdims, ddof=correction)


def _np_std(a: np.ndarray, axis: Any, keepdims: bool, correction: int) -> np.ndarray:
    return np.std(a, axis=axis, keepdims=keepdims, ddof=correction)


def _np_logsumexp(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_ELEMENTWISE = [
    # binary arithmetic, broadcasting
    _binary("add", lambda x, y: x + y, np.add),
    _binary("sub", lambda x, y: x - y, np.subtract),
    _binary("mul", lambda x, y: x * y, np.multiply),
    _binary("div", lambda x, y: x / y, np.divide, (real, nonzero)),
    _binary("pow", lambda x, y: x**y, np.power, (positive, real)),
    _binary(
        "add_alpha",
        lambda x, y: cr.add(x, y, alpha=-2.5),
        lambda x, y: x - 2.5 * y,
        torch_fn=lambda x, y: _t().add(x, y, alpha=-2.5),
    ),
    _binary(
        "maximum",
        cr.maximum,
        np.maximum,
        (grid_a, grid_b),
        torch_fn=lambda x, y: _t().maximum(x, y),
    ),
    _binary(
        "minimum",
        cr.minimum,
        np.minimum,
        (grid_a, grid_b),
        torch_fn=lambda x, y: _t().minimum(x, y),
    ),
    OpInfo(
        "where",
        cr.where,
        TERNARY,
        (boolean, real),
        diff=(False, True, True),
        ref=np.where,
        torch_fn=lambda c, x, y: _t().where(c, x, y),
        broadcasts=True,
    ),
    OpInfo(
        "mul_self",  # one tensor used twice: the two contributions must add up
        lambda x: x * x,
        UNARY,
        ref=lambda x: x * x,
    ),
    OpInfo("add_self", lambda x: x + x - x * 0.5, UNARY, ref=lambda x: 1.5 * x),
    # reflected operators and Python-scalar operands
    _unary("radd", lambda x: 2.5 + x, lambda x: 2.5 + x),
    _unary("rsub", lambda x: 2.5 - x, lambda x: 2.5 - x),
    _unary("rmul", lambda x: 2.5 * x, lambda x: 2.5 * x),
    _unary("rdiv", lambda x: 2.5 / x, lambda x: 2.5 / x, nonzero),
    _unary("rpow", lambda x: 2.0**x, lambda x: 2.0**x),
    _unary("add_scalar", lambda x: x + 1, lambda x: x + 1),
    _unary("sub_scalar", lambda x: x - 0.5, lambda x: x - 0.5),
    _unary("div_scalar", lambda x: x / 4.0, lambda x: x / 4.0),
    _unary("pow_0", lambda x: x**0, lambda x: x**0),
    _unary("pow_1", lambda x: x**1, lambda x: x**1),
    _unary("pow_2", lambda x: x**2, lambda x: x**2),
    _unary("pow_3", lambda x: x**3, lambda x: x**3),
    _unary("pow_half", lambda x: x**0.5, np.sqrt, positive),
    _unary("pow_neg", lambda x: x**-1.5, lambda x: x**-1.5, positive),
    OpInfo(
        "rmul_ndarray",  # NumPy array on the left must give a Tensor (__array_priority__)
        lambda x: C * x,
        [((2, 3),), ((3,),), ((),)],
        ref=lambda x: C * x,
        torch_fn=lambda x: _tt(C) * x,
    ),
    OpInfo(
        "radd_ndarray",
        lambda x: C + x,
        [((2, 3),), ((1, 3),)],
        ref=lambda x: C + x,
        torch_fn=lambda x: _tt(C) + x,
    ),
    # unary
    _unary("neg", lambda x: -x, np.negative),
    _unary("neg_fn", cr.neg, np.negative, torch_fn=lambda x: _t().neg(x)),
    _unary("abs", lambda x: x.abs(), np.abs, nonzero),
    _unary("abs_op", abs, np.abs, nonzero),
    _unary("exp", lambda x: x.exp(), np.exp),
    _unary("log", lambda x: x.log(), np.log, positive),
    _unary("log1p", lambda x: x.log1p(), np.log1p, above_minus_half),
    _unary("log10", lambda x: x.log10(), np.log10, positive),
    _unary("log2", lambda x: cr.log2(x), np.log2, positive, torch_fn=lambda x: _t().log2(x)),
    _unary("norm", lambda x: x.norm(), lambda a: np.sqrt(np.sum(a * a)), nonzero),
    _unary(
        "norm_p1_dim",
        lambda x: cr.norm(x, 1, dim=-1),
        lambda a: np.sum(np.abs(a), axis=-1),
        nonzero,
        torch_fn=lambda x: _t().norm(x, 1, dim=-1),
    ),
    _unary(
        "norm_p3_keepdim",
        lambda x: x.norm(p=3, dim=0, keepdim=True),
        lambda a: np.sum(np.abs(a) ** 3, axis=0, keepdims=True) ** (1 / 3),
        nonzero,
    ),
    _unary("sqrt", lambda x: x.sqrt(), np.sqrt, positive),
    _unary("sin", lambda x: x.sin(), np.sin),
    _unary("cos", lambda x: x.cos(), np.cos),
    _unary("tanh", lambda x: x.tanh(), np.tanh),
    _unary("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    # the fused VJPs, called directly (g, y): their own rules make second order one node each
    OpInfo(
        "tanh_backward",
        lambda g, y: _ops("elementwise").tanh_backward(g, y),
        [((3, 4), (3, 4)), ((2, 3, 4), (3, 4))],
        ref=lambda g, y: g * (1 - y * y),
        torch_fn=lambda g, y: g * (1 - y * y),
    ),
    OpInfo(
        "sigmoid_backward",
        lambda g, y: _ops("elementwise").sigmoid_backward(g, y),
        [((3, 4), (3, 4)), ((2, 3, 4), (3, 4))],
        ref=lambda g, y: g * y * (1 - y),
        torch_fn=lambda g, y: g * y * (1 - y),
    ),
    *[
        OpInfo(
            f"pow_backward[p={p},k={k}]",
            lambda g, x, p=p, k=k: _ops("elementwise").pow_backward(g, x, p, k),
            [((3, 4), (3, 4))],
            (real, positive),
            ref=lambda g, x, p=p, k=k: k * g * x**p,
            torch_fn=lambda g, x, p=p, k=k: k * g * x**p,
        )
        for p, k in ((1, 2.0), (-0.5, 0.5), (2, 3.0), (0, 1.0), (-2.5, -1.5))
    ],
    _unary("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), nonzero),
    _unary(
        "leaky_relu",
        lambda x: cr.leaky_relu(x, 0.1),
        lambda x: np.where(x > 0, x, 0.1 * x),
        nonzero,
        torch_fn=lambda x: _t().nn.functional.leaky_relu(x, 0.1),
    ),
    _unary(
        "gelu",
        lambda x: cr.gelu(x),
        _gelu_ref,
        torch_fn=lambda x: _t().nn.functional.gelu(x),
    ),
    _unary(
        "gelu_tanh",
        lambda x: cr.gelu(x, approximate="tanh"),
        torch_fn=lambda x: _t().nn.functional.gelu(x, approximate="tanh"),
    ),
    _unary(
        "silu",
        lambda x: cr.silu(x),
        lambda x: x / (1 + np.exp(-x)),
        torch_fn=lambda x: _t().nn.functional.silu(x),
    ),
    _unary(
        "softplus",
        lambda x: cr.softplus(x),
        _softplus_ref,
        torch_fn=lambda x: _t().nn.functional.softplus(x),
    ),
    _unary(
        "softplus_beta",
        lambda x: cr.softplus(x * 3, beta=2.0, threshold=5.0),
        lambda x: _softplus_ref(x * 3, 2.0, 5.0),
        torch_fn=lambda x: _t().nn.functional.softplus(x * 3, beta=2.0, threshold=5.0),
    ),
    _unary("erf", lambda x: x.erf(), torch_fn=lambda x: _t().erf(x)),
    _unary(
        "elu",
        lambda x: cr.elu(x, 0.7),
        lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
        nonzero,
        torch_fn=lambda x: _t().nn.functional.elu(x, 0.7),
    ),
    _binary("logaddexp", lambda x, y: x.logaddexp(y), np.logaddexp),
    _unary("clamp", lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), grid_a),
    _unary("clamp_min", lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), grid_a),
    _unary("clamp_max", lambda x: x.clamp(max=-0.3), lambda x: np.minimum(x, -0.3), grid_a),
    OpInfo(
        "clamp_tensor",
        lambda x, lo, hi: cr.clamp(x, lo, hi),
        [((3, 4), (3, 4), (3, 4)), ((3, 4), (1, 4), (3, 1)), ((5,), (), ())],
        (grid_a, lower_bound, upper_bound),
        ref=np.clip,
        torch_fn=lambda x, lo, hi: _t().clamp(x, lo, hi),
    ),
    OpInfo(
        "clamp_tensor_min",
        lambda x, lo: cr.clamp(x, min=lo),
        [((3, 4), (3, 4)), ((3, 4), (4,))],
        (grid_a, lower_bound),
        ref=np.maximum,
        torch_fn=lambda x, lo: _t().clamp(x, min=lo),
    ),
    # dtype conversion: float32 round trips lose precision, so use a coarse finite difference
    _unary(
        "to_float32",
        lambda x: x.to(cr.float32),
        lambda x: x.astype(np.float32),
        torch_fn=lambda x: x.to(_t().float32),
        eps=1e-3,
        atol=1e-3,
        rtol=1e-3,
    ),
    _unary(
        "float_double",
        lambda x: x.float().double() * 3.0,
        lambda x: x.astype(np.float32).astype(np.float64) * 3,
        eps=1e-3,
        atol=1e-3,
        rtol=1e-3,
    ),
    _unary("double", lambda x: x.double(), lambda x: x),
]


def _reduction_entries() -> list[OpInfo]:
    out = []
    dims: list[Any] = [None, 1, -1, (0, 2), (2, 0)]
    for dim in dims:
        for keepdim in (False, True):
            tag = f"dim={dim},keepdim={keepdim}"
            samples = M3 if isinstance(dim, tuple) else M2
            if dim is None:
                samples = [*M2, ((),)]
            torch_dim = {} if dim is None else {"dim": dim}
            out += [
                OpInfo(
                    f"sum[{tag}]",
                    lambda x, d=dim, k=keepdim: x.sum(d, keepdim=k),
                    samples,
                    ref=lambda a, d=dim, k=keepdim: np.sum(a, axis=d, keepdims=k),
                    torch_fn=lambda x, td=torch_dim, k=keepdim: (
                        x.sum(**td, keepdim=k)
                        if td
                        else (x.sum().reshape((1,) * x.ndim) if k else x.sum())
                    ),
                ),
                OpInfo(
                    f"mean[{tag}]",
                    lambda x, d=dim, k=keepdim: x.mean(d, keepdim=k),
                    samples,
                    ref=lambda a, d=dim, k=keepdim: np.mean(a, axis=d, keepdims=k),
                    torch_fn=lambda x, td=torch_dim, k=keepdim: (
                        x.mean(**td, keepdim=k)
                        if td
                        else (x.mean().reshape((1,) * x.ndim) if k else x.mean())
                    ),
                ),
                OpInfo(
                    f"amax[{tag}]",
                    lambda x, d=dim, k=keepdim: x.amax(d, keepdim=k),
                    samples,
                    (distinct,),
                    ref=lambda a, d=dim, k=keepdim: np.amax(a, axis=d, keepdims=k),
                    torch_fn=lambda x, d=dim, k=keepdim: x.amax(() if d is None else d, k),
                ),
                OpInfo(
                    f"amin[{tag}]",
                    lambda x, d=dim, k=keepdim: cr.amin(x, d, keepdim=k),
                    samples,
                    (distinct,),
                    ref=lambda a, d=dim, k=keepdim: np.amin(a, axis=d, keepdims=k),
                    torch_fn=lambda x, d=dim, k=keepdim: x.amin(() if d is None else d, k),
                ),
            ]
            if dim is not None:
                out.append(
                    OpInfo(
                        f"logsumexp[{tag}]",
                        lambda x, d=dim, k=keepdim: x.logsumexp(d, keepdim=k),
                        samples,
                        ref=lambda a, d=dim, k=keepdim: _np_logsumexp(a, d, k),
                        torch_fn=lambda x, d=dim, k=keepdim: x.logsumexp(d, keepdim=k),
                    )
                )
            for corr in (0, 1, 2) if dim != 1 and dim != -1 else (0, 1):
                if dim is None and corr == 2:
                    samples_v = M2
                else:
                    samples_v = [s for s in samples if s != ((),)]
                for fname, npf in (("var", _np_var), ("std", _np_std)):
                    out.append(
                        OpInfo(
                            f"{fname}[{tag},correction={corr}]",
                            lambda x, d=dim, k=keepdim, c=corr, f=fname: getattr(x, f)(
                                d, keepdim=k, correction=c
                            ),
                            samples_v,
                            ref=lambda a, d=dim, k=keepdim, c=corr, f=npf: f(a, d, k, c),
                            torch_fn=lambda x, d=dim, k=keepdim, c=corr, f=fname: getattr(x, f)(
                                dim=d, keepdim=k, correction=c
                            ),
                        )
                    )
    # whole-tensor logsumexp (torch needs a dim: flatten first)
    out.append(
        OpInfo(
            "logsumexp[dim=None]",
            lambda x: cr.logsumexp(x),
            [*M2, ((),)],
            ref=_np_logsumexp,
            torch_fn=lambda x: x.reshape(-1).logsumexp(0),
        )
    )
    # max/min: without dim a scalar; with dim a (values, indices) namedtuple
    for name, npf, npa in (("max", np.max, np.argmax), ("min", np.min, np.argmin)):
        out.append(
            OpInfo(
                f"{name}",
                lambda x, n=name: getattr(x, n)(),
                [*M2, ((),)],
                (distinct,),
                ref=npf,
            )
        )
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                tag = f"dim={dim},keepdim={keepdim}"
                out.append(
                    OpInfo(
                        f"{name}[{tag}].values",
                        lambda x, n=name, d=dim, k=keepdim: getattr(x, n)(d, keepdim=k).values,
                        M2,
                        (distinct,),
                        ref=lambda a, f=npf, d=dim, k=keepdim: f(a, axis=d, keepdims=k),
                        torch_fn=lambda x, n=name, d=dim, k=keepdim: (
                            getattr(x, n)(dim=d, keepdim=k).values
                        ),
                    )
                )
                out.append(
                    OpInfo(
                        f"{name}[{tag}].indices",
                        lambda x, n=name, d=dim, k=keepdim: getattr(x, n)(d, keepdim=k).indices,
                        M2,
                        (distinct,),
                        grad=False,
                        ref=lambda a, f=npa, d=dim, k=keepdim: f(a, axis=d, keepdims=k),
                        torch_fn=lambda x, n=name, d=dim, k=keepdim: (
                            getattr(x, n)(dim=d, keepdim=k).indices
                        ),
                    )
                )
    # softmax family: a single dim
    for dim in (0, 1, -1):
        out += [
            OpInfo(
                f"softmax[dim={dim}]",
                lambda x, d=dim: x.softmax(d),
                M2,
                ref=lambda a, d=dim: _np_softmax(a, d),
                torch_fn=lambda x, d=dim: x.softmax(d),
            ),
            OpInfo(
                f"log_softmax[dim={dim}]",
                lambda x, d=dim: cr.log_softmax(x, dim=d),
                M2,
                ref=lambda a, d=dim: np.log(_np_softmax(a, d)),
                torch_fn=lambda x, d=dim: x.log_softmax(d),
            ),
        ]
    out += [
        OpInfo(
            "softmax[0-d]",
            lambda x: cr.softmax(x, 0),
            [((),)],
            ref=lambda a: np.ones_like(a),
            torch_fn=lambda x: x.softmax(0),
        ),
        OpInfo(
            "log_softmax[0-d]",
            lambda x: cr.log_softmax(x, -1),
            [((),)],
            ref=lambda a: np.zeros_like(a),
            torch_fn=lambda x: x.log_softmax(-1),
        ),
    ]
    return out


def _no_grad_entries() -> list[OpInfo]:
    out = []
    for name, npf in (("argmax", np.argmax), ("argmin", np.argmin)):
        for dim, keepdim in ((None, False), (1, False), (-1, True), (0, False)):
            out.append(
                OpInfo(
                    f"{name}[dim={dim},keepdim={keepdim}]",
                    lambda x, n=name, d=dim, k=keepdim: getattr(x, n)(d, keepdim=k),
                    M2,
                    (distinct,),
                    grad=False,
                    ref=lambda a, f=npf, d=dim, k=keepdim: f(a, axis=d, keepdims=k),
                    torch_fn=lambda x, n=name, d=dim, k=keepdim: getattr(x, n)(d, keepdim=k),
                )
            )
    for sym, fn, npf in (
        ("==", lambda x, y: x == y, np.equal),
        ("!=", lambda x, y: x != y, np.not_equal),
        ("<", lambda x, y: x < y, np.less),
        ("<=", lambda x, y: x <= y, np.less_equal),
        (">", lambda x, y: x > y, np.greater),
        (">=", lambda x, y: x >= y, np.greater_equal),
    ):
        # one_of_three makes equal entries common, so == and <= are really exercised
        out.append(OpInfo(f"cmp{sym}", fn, BINARY, (one_of_three,), grad=False, ref=npf))
        out.append(
            OpInfo(
                f"cmp{sym}_scalar",
                lambda x, f=fn: f(x, 1.0),
                UNARY,
                (one_of_three,),
                grad=False,
                ref=lambda a, f=npf: f(a, 1.0),
            )
        )
    out.append(
        OpInfo(
            "long",
            lambda x: x.long(),
            UNARY,
            grad=False,
            ref=lambda a: a.astype(np.int64),
        )
    )
    # the derivative-free primitives that comparisons, signs and arg-extremes of traced
    # values (inside vmap) go through, called directly
    out.append(
        OpInfo(
            "constant_op[greater]",
            lambda x, y: _shape().constant_op(np.greater, x, y),
            BINARY,
            (one_of_three,),
            grad=False,
            ref=np.greater,
            torch_fn=lambda x, y: x > y,
        )
    )
    out.append(
        OpInfo(
            "arg_extreme[argmax,dim=1]",
            lambda x: _shape().arg_extreme(np.argmax, x, 1, False),
            M2,
            (distinct,),
            grad=False,
            ref=lambda a: np.argmax(a, axis=1),
            torch_fn=lambda x: x.argmax(1),
        )
    )
    return out


def _shape() -> Any:
    from chainrule.ops import shape

    return shape


def one_of_three(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.integers(0, 3, shape).astype(np.float64)


# --- shape ops ----------------------------------------------------------------------------

IDX_REPEAT = [0, 2, 0, 0]
IDX_2D = np.array([[0, 1], [1, 0], [2, 2]])
ROWS = np.array([0, 2, 2, 1])
COLS = np.array([3, 0, 3, 1])
MASK = np.array(
    [[True, False, True, True], [False, False, False, True], [True, True, False, False]]
)
ROW_MASK = np.array([True, False, True])
TAKE_IDX = np.array([[0, 3], [2, 2], [1, 0]])
TAKE_IDX0 = np.array([[0, 2, 1, 1], [2, 2, 0, 1]])
LABELS = np.array([1, 0, 3, 3, 2])


def _np_chunk(a: np.ndarray, chunks: int) -> tuple[np.ndarray, ...]:
    step = -(-len(a) // chunks)  # PyTorch: chunks of ceil(n / chunks), the last one shorter
    return tuple(np.split(a, range(step, len(a), step)))


def _setitem(x: Any, v: Any, index: Any) -> Any:
    """``y = x * 1; y[index] = v``: an in-place write into a non-leaf, differentiable in both."""
    y = x * 1.0
    y[index] = v
    return y


def _np_setitem(a: np.ndarray, b: Any, index: Any) -> np.ndarray:
    y = a.copy()
    y[index] = b
    return y


def _inplace_chain(x: Any, y: Any) -> Any:
    """Every in-place arithmetic op on a non-leaf, chained."""
    z = x * 1.0
    z.mul_(y)
    z.add_(y)
    z.sub_(x)
    z.div_(y)
    z *= 2.0
    return z


def _inplace_fill_copy_zero(x: Any, v: Any, w: Any) -> Any:
    """fill_ with a tensor, copy_ (broadcasting), zero_ and add_, on non-leaves."""
    a = x * 1.0
    a.fill_(v)  # a = v everywhere
    b = x * 3.0
    b.copy_(w)  # b = w, broadcast
    c = x * 5.0
    c.zero_()
    c.add_(x)  # c = x
    return a + b * 2.0 + c


def _index(name: str, index: Any, shapes: Sequence[Sequence[Shape]] = ((3, 4),), **kw: Any):
    """An indexing entry ``x[index]``; NumPy's indexing is the reference."""
    samples = [s if isinstance(s[0], tuple) else (s,) for s in shapes]
    return OpInfo(f"index[{name}]", lambda x: x[index], samples, ref=lambda a: a[index], **kw)


_SHAPE = [
    OpInfo(
        "unbind",
        lambda x: cr.stack(cr.unbind(x, 1)[::-1], 0),
        M2,
        ref=lambda a: np.stack([a[:, i] for i in range(a.shape[1])][::-1], 0),
        torch_fn=lambda x: _t().stack(_t().unbind(x, 1)[::-1], 0),
    ),
    OpInfo(
        "flip",
        lambda x: cr.flip(x, (0, -1)),
        M2,
        ref=lambda a: np.flip(a, (0, -1)),
        torch_fn=lambda x: _t().flip(x, (0, -1)),
    ),
    OpInfo("tril", lambda x: x.tril(), M2, ref=lambda a: np.tril(a)),
    OpInfo(
        "triu_1",
        lambda x: cr.triu(x, 1),
        M2,
        ref=lambda a: np.triu(a, 1),
        torch_fn=lambda x: _t().triu(x, 1),
    ),
    OpInfo(
        "sort_desc",
        lambda x: cr.sort(x, 1, descending=True)[0],
        M2,
        (distinct,),
        ref=lambda a: -np.sort(-a, axis=1),
        torch_fn=lambda x: _t().sort(x, 1, descending=True)[0],
    ),
    OpInfo(
        "topk",
        lambda x: x.topk(2, dim=-1).values,
        M2,
        (distinct,),
        ref=lambda a: -np.sort(-a, axis=-1)[..., :2],
    ),
    OpInfo(
        "reshape", lambda x: x.reshape(2, 6), [((3, 4),), ((12,),)], ref=lambda a: a.reshape(2, 6)
    ),
    OpInfo(
        "reshape_neg1",
        lambda x: x.reshape(-1, 2),
        [((3, 4),), ((2, 3, 2),)],
        ref=lambda a: a.reshape(-1, 2),
    ),
    OpInfo(
        "reshape_tuple",
        lambda x: cr.reshape(x, (4, 3)),
        [((3, 4),)],
        ref=lambda a: a.reshape(4, 3),
        torch_fn=lambda x: x.reshape((4, 3)),
    ),
    OpInfo(
        "reshape_0d", lambda x: x.reshape(()), [((1,),), ((1, 1),)], ref=lambda a: a.reshape(())
    ),
    OpInfo("view", lambda x: x.view(4, 3), [((3, 4),), ((2, 6),)], ref=lambda a: a.reshape(4, 3)),
    OpInfo(
        "view_as",
        lambda x, y: x.view_as(y),
        [((3, 4), (6, 2))],
        diff=(True, False),
        ref=lambda a, b: a.reshape(b.shape),
    ),
    OpInfo(
        "transpose",
        lambda x: x.transpose(0, 1),
        [((3, 4),), ((2, 3, 4),)],
        ref=lambda a: np.swapaxes(a, 0, 1),
    ),
    OpInfo(
        "transpose_neg",
        lambda x: cr.transpose(x, -1, -3),
        M3,
        ref=lambda a: np.swapaxes(a, -1, -3),
        torch_fn=lambda x: x.transpose(-1, -3),
    ),
    OpInfo("permute", lambda x: x.permute(2, 0, 1), M3, ref=lambda a: a.transpose(2, 0, 1)),
    OpInfo(
        "permute_tuple",
        lambda x: cr.permute(x, (1, 2, 0)),
        M3,
        ref=lambda a: a.transpose(1, 2, 0),
        torch_fn=lambda x: x.permute((1, 2, 0)),
    ),
    OpInfo(
        "T",
        lambda x: x.T,
        [((3, 4),), ((4,),)],
        ref=lambda a: a.T,
        torch_fn=lambda x: x.permute(*range(x.ndim - 1, -1, -1)),  # torch deprecates 1-D .T
    ),
    OpInfo(
        "T_3d", lambda x: x.T, M3, ref=lambda a: a.T, torch_fn=lambda x: x.permute(2, 1, 0)
    ),  # torch deprecates .T beyond 2-D
    OpInfo("mT", lambda x: x.mT, [((3, 4),), ((2, 3, 4),)], ref=lambda a: np.swapaxes(a, -1, -2)),
    OpInfo("squeeze", lambda x: x.squeeze(), [((1, 3, 1, 4),), ((1,),), ((3, 4),)], ref=np.squeeze),
    OpInfo(
        "squeeze_dim",
        lambda x: x.squeeze(0),
        [((1, 3, 1, 4),), ((3, 1),)],
        ref=lambda a: np.squeeze(a, 0) if a.shape[0] == 1 else a,
    ),
    OpInfo(
        "squeeze_neg", lambda x: x.squeeze(-2), [((1, 3, 1, 4),)], ref=lambda a: np.squeeze(a, -2)
    ),
    OpInfo(
        "unsqueeze0",
        lambda x: x.unsqueeze(0),
        [((3, 4),), ((),)],
        ref=lambda a: np.expand_dims(a, 0),
    ),
    OpInfo(
        "unsqueeze_neg",
        lambda x: x.unsqueeze(-1),
        [((3, 4),), ((),)],
        ref=lambda a: np.expand_dims(a, -1),
    ),
    OpInfo(
        "unsqueeze1",
        lambda x: cr.unsqueeze(x, 1),
        [((3, 4),)],
        ref=lambda a: np.expand_dims(a, 1),
        torch_fn=lambda x: x.unsqueeze(1),
    ),
    OpInfo(
        "expand",
        lambda x: x.expand(2, 3, 4),
        [((3, 1),), ((1, 4),), ((),), ((2, 1, 4),)],
        ref=lambda a: np.broadcast_to(a, (2, 3, 4)),
    ),
    OpInfo(
        "expand_neg1",
        lambda x: x.expand(-1, 5),
        [((3, 1),)],
        ref=lambda a: np.broadcast_to(a, (3, 5)),
    ),
    OpInfo(
        "expand_as",
        lambda x, y: x.expand_as(y),
        [((3, 1), (2, 3, 4))],
        diff=(True, False),
        ref=lambda a, b: np.broadcast_to(a, b.shape),
    ),
    OpInfo(
        "flatten",
        lambda x: x.flatten(),
        [((3, 4),), ((2, 3, 4),), ((),)],
        ref=lambda a: a.reshape(-1),
    ),
    OpInfo("flatten_1", lambda x: x.flatten(1), M3, ref=lambda a: a.reshape(2, -1)),
    OpInfo(
        "flatten_0_1",
        lambda x: cr.flatten(x, 0, 1),
        M3,
        ref=lambda a: a.reshape(6, 4),
        torch_fn=lambda x: x.flatten(0, 1),
    ),
    OpInfo(
        "cat0",
        lambda x, y: cr.cat([x, y]),
        [((2, 3), (4, 3)), ((1,), (3,))],
        ref=lambda a, b: np.concatenate([a, b]),
        torch_fn=lambda x, y: _t().cat([x, y]),
    ),
    OpInfo(
        "cat1_three",
        lambda x, y, z: cr.cat([x, y, z], dim=1),
        [((2, 1), (2, 3), (2, 2)), ((2, 3, 1), (2, 1, 1), (2, 2, 1))],
        ref=lambda a, b, c: np.concatenate([a, b, c], 1),
        torch_fn=lambda x, y, z: _t().cat([x, y, z], dim=1),
    ),
    OpInfo(
        "cat_neg",
        lambda x, y: cr.cat((x, y), dim=-1),
        [((2, 3, 2), (2, 3, 1))],
        ref=lambda a, b: np.concatenate([a, b], -1),
        torch_fn=lambda x, y: _t().cat([x, y], dim=-1),
    ),
    OpInfo(
        "cat_self",
        lambda x: cr.cat([x, x * 2, x], dim=0),
        [((2, 3),)],
        ref=lambda a: np.concatenate([a, a * 2, a]),
        torch_fn=lambda x: _t().cat([x, x * 2, x]),
    ),
    OpInfo(
        "cat_one",
        lambda x: cr.cat([x], dim=1),
        [((2, 3),)],
        ref=lambda a: np.concatenate([a], 1),
        torch_fn=lambda x: _t().cat([x], dim=1),
    ),
    OpInfo(
        "stack_one",
        lambda x: cr.stack([x]),
        [((2, 3),), ((),)],
        ref=lambda a: np.stack([a]),
        torch_fn=lambda x: _t().stack([x]),
    ),
    OpInfo(
        "stack0",
        lambda x, y: cr.stack([x, y]),
        [((2, 3), (2, 3)), ((), ())],
        ref=lambda a, b: np.stack([a, b]),
        torch_fn=lambda x, y: _t().stack([x, y]),
    ),
    OpInfo(
        "stack_neg",
        lambda x, y, z: cr.stack([x, y, z], dim=-1),
        [((2, 3),) * 3],
        ref=lambda a, b, c: np.stack([a, b, c], -1),
        torch_fn=lambda x, y, z: _t().stack([x, y, z], dim=-1),
    ),
    OpInfo(
        "stack1",
        lambda x, y: cr.stack([x, y], dim=1),
        [((2, 3), (2, 3))],
        ref=lambda a, b: np.stack([a, b], 1),
        torch_fn=lambda x, y: _t().stack([x, y], dim=1),
    ),
    OpInfo(
        "split",
        lambda x: x.split(2, dim=1),
        [((3, 5),)],
        ref=lambda a: tuple(np.split(a, [2, 4], axis=1)),
    ),
    OpInfo(
        "split_sizes",
        lambda x: cr.split(x, [1, 3], dim=0),
        [((4, 2),)],
        ref=lambda a: tuple(np.split(a, [1], axis=0)),
        torch_fn=lambda x: _t().split(x, [1, 3], dim=0),
    ),
    OpInfo("chunk", lambda x: x.chunk(3), [((7, 2),), ((6,),)], ref=lambda a: _np_chunk(a, 3)),
    *[
        OpInfo(
            f"chunk[{i}]",
            lambda x, i=i: cr.chunk(x, 3, dim=-1)[i],
            [((2, 7),)],
            ref=lambda a, i=i: np.split(a, [3, 6], axis=-1)[i],
            torch_fn=lambda x, i=i: x.chunk(3, dim=-1)[i],
        )
        for i in range(3)
    ],
    *[
        OpInfo(
            f"split[{i}]",
            lambda x, i=i: x.split(2)[i],
            [((5, 2),)],
            ref=lambda a, i=i: np.split(a, [2, 4])[i],
        )
        for i in range(3)
    ],
    OpInfo(
        "take_along_dim",
        lambda x: cr.take_along_dim(x, cr.tensor(TAKE_IDX), dim=1),
        [((3, 4),)],
        ref=lambda a: np.take_along_axis(a, TAKE_IDX, 1),
        torch_fn=lambda x: _t().take_along_dim(x, _tt(TAKE_IDX), dim=1),
    ),
    OpInfo(
        "take_along_dim0",
        lambda x: cr.take_along_dim(x, TAKE_IDX0, dim=0),
        [((3, 4),)],
        ref=lambda a: np.take_along_axis(a, TAKE_IDX0, 0),
        torch_fn=lambda x: _t().take_along_dim(x, _tt(TAKE_IDX0), dim=0),
    ),
    OpInfo(
        "take_along_dim_broadcast",  # the non-gathered dims broadcast, as in PyTorch
        lambda x: cr.take_along_dim(x, TAKE_IDX[:1], dim=1),
        [((3, 4),), ((1, 4),)],
        ref=lambda a: np.take_along_axis(a, TAKE_IDX[:1], 1),
        torch_fn=lambda x: _t().take_along_dim(x, _tt(TAKE_IDX[:1]), dim=1),
    ),
    OpInfo(
        "take_along_dim_broadcast_x",
        lambda x: cr.take_along_dim(x, TAKE_IDX, dim=-1),
        [((1, 4),)],
        ref=lambda a: np.take_along_axis(np.broadcast_to(a, (3, 4)), TAKE_IDX, 1),
        torch_fn=lambda x: _t().take_along_dim(x, _tt(TAKE_IDX), dim=-1),
    ),
    # indexing: basic
    _index("int", 1),
    _index("neg_int", -1),
    _index("int_int", (2, -3)),
    _index("slice", slice(1, 3)),
    _index("slice_step", (slice(None), slice(0, 4, 2))),
    _index("neg_step", slice(None, None, -1), torch_fn=lambda x: x.flip(0)),
    _index("neg_step2", (slice(None), slice(None, None, -2)), torch_fn=lambda x: x.flip(1)[:, ::2]),
    _index("neg_step_partial", (slice(2, 0, -1), 1), torch_fn=lambda x: x[1:3, 1].flip(0)),
    _index("none", None),
    _index("none_mid", (slice(None), None, slice(1, None))),
    _index("ellipsis", (Ellipsis, 0), [((3, 4),), ((2, 3, 4),)]),
    _index("ellipsis_none", (1, Ellipsis, None), [((3, 4),), ((2, 3, 4),)]),
    _index("0d_ellipsis", Ellipsis, [((),)]),
    # indexing: advanced (gathers; backward must scatter-ADD repeated indices)
    _index("int_list_repeats", IDX_REPEAT, torch_fn=lambda x: x[IDX_REPEAT]),
    _index("int_array_2d", IDX_2D, torch_fn=lambda x: x[_tt(IDX_2D)]),
    _index("rows_cols", (ROWS, COLS), torch_fn=lambda x: x[_tt(ROWS), _tt(COLS)]),
    _index(
        "slice_then_array",
        (slice(None), np.array([1, 1, 3])),
        torch_fn=lambda x: x[:, _tt(np.array([1, 1, 3]))],
    ),
    _index("bool_mask", MASK, torch_fn=lambda x: x[_tt(MASK)]),
    _index("bool_row_mask", ROW_MASK, torch_fn=lambda x: x[_tt(ROW_MASK)]),
    _index("tensor_index", cr.tensor(IDX_REPEAT), torch_fn=lambda x: x[_tt(IDX_REPEAT)]),
    OpInfo(
        "index[arange,labels]",
        lambda x: x[cr.arange(5), cr.tensor(LABELS)],
        [((5, 4),)],
        ref=lambda a: a[np.arange(5), LABELS],
        torch_fn=lambda x: x[_t().arange(5), _tt(LABELS)],
    ),
    OpInfo(
        "index_chain",  # a view of a view: both backward rules compose
        lambda x: x[1:][:, ::2][0],
        [((3, 4),)],
        ref=lambda a: a[1:][:, ::2][0],
    ),
    # setitem (recorded as index_put on a non-leaf) and other in-place ops
    OpInfo(
        "setitem_slice",  # v (4,) broadcasts into the (2, 4) block
        lambda x, v: _setitem(x, v, slice(1, 3)),
        [((3, 4), (4,)), ((3, 4), ())],
        ref=lambda a, b: _np_setitem(a, b, slice(1, 3)),
    ),
    OpInfo(
        "setitem_int_array",
        lambda x, v: _setitem(x, v, [2, 0]),
        [((3, 4), (2, 4)), ((3, 4), (1, 4))],
        ref=lambda a, b: _np_setitem(a, b, [2, 0]),
        torch_fn=lambda x, v: _setitem(x, v, _tt([2, 0])),
    ),
    OpInfo(
        "setitem_mask",
        lambda x, v: _setitem(x, v, MASK),
        [((3, 4), (6,)), ((3, 4), ())],
        ref=lambda a, b: _np_setitem(a, b, MASK),
        torch_fn=lambda x, v: _setitem(x, v, _tt(MASK)),
    ),
    OpInfo(
        "setitem_constant",
        lambda x: _setitem(x, 0.5, (0, slice(None, None, 2))),
        [((3, 4),)],
        ref=lambda a: _np_setitem(a, 0.5, (0, slice(None, None, 2))),
        torch_fn=lambda x: _setitem(x, 0.5, (0, slice(None, None, 2))),
    ),
    OpInfo(
        "inplace_chain",
        _inplace_chain,
        [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3), ())],
        (real, nonzero),
        ref=lambda a, b: ((a * 1.0 * b + b - a) / b) * 2.0,
    ),
    OpInfo(
        "masked_fill",
        lambda x: x.masked_fill(cr.tensor(MASK), -1.5),
        [((3, 4),)],
        ref=lambda a: np.where(MASK, -1.5, a),
        torch_fn=lambda x: x.masked_fill(_tt(MASK), -1.5),
    ),
    OpInfo("clone", lambda x: x.clone(), UNARY, ref=lambda a: a.copy()),
    OpInfo(
        # rows picked by an index operand (what x[i] uses for per-example indices under vmap)
        "take_rows",
        lambda x: _take(x, cr.tensor(np.array([[2, 0], [2, 1]]))),
        [((3, 4),), ((3,),)],
        ref=lambda a: a[np.array([[2, 0], [2, 1]])],
        torch_fn=lambda x: x[_tt([[2, 0], [2, 1]])],
    ),
    OpInfo(
        "inplace_fill_copy_zero",
        _inplace_fill_copy_zero,
        [((3, 4), (), (4,)), ((2,), (), (1,))],
        ref=lambda a, b, c: np.broadcast_to(c, a.shape) * 2 + b + a,
    ),
    OpInfo(
        "inplace_clamp",
        lambda x: (x * 1.0).clamp_(-0.5, 0.5),
        UNARY,
        (grid_a,),
        ref=lambda a: np.clip(a, -0.5, 0.5),
    ),
]


# --- matmul ---------------------------------------------------------------------------------

_MATMUL = [
    OpInfo(
        "matmul",
        lambda x, y: x @ y,
        [
            ((3, 4), (4, 2)),  # 2-D @ 2-D
            ((4,), (4, 2)),  # 1-D @ 2-D
            ((3, 4), (4,)),  # 2-D @ 1-D
            ((4,), (4,)),  # 1-D @ 1-D (a 0-d result)
            ((2, 3, 4), (4, 2)),  # batched @ 2-D (broadcast)
            ((2, 3, 4), (2, 4, 5)),  # batched @ batched
            ((2, 1, 3, 4), (3, 4, 2)),  # batch dims broadcast against each other
            ((4,), (2, 4, 3)),  # 1-D @ batched
            ((2, 3, 4), (4,)),  # batched @ 1-D
            ((1, 3), (3, 1)),
        ],
        ref=np.matmul,
    ),
    OpInfo(
        "matmul_fn",
        cr.matmul,
        [((3, 4), (4, 2)), ((2, 3, 4), (1, 4, 2))],
        ref=np.matmul,
        torch_fn=lambda x, y: _t().matmul(x, y),
    ),
    OpInfo("matmul_self", lambda x: x @ x.T, [((3, 4),)], ref=lambda a: a @ a.T),
    OpInfo(
        "rmatmul_ndarray",
        lambda x: C @ x,
        [((3, 2),), ((3,),)],
        ref=lambda a: C @ a,
        torch_fn=lambda x: _tt(C) @ x.double(),  # torch does not promote in matmul
    ),
]


# --- the fused nn primitives: dense layer, convolution, pooling, cross-entropy -----------------
# Each primitive gets an entry, also the backward primitives (conv2d's two gradients, the
# pool's scatter, mm_tn, the cross-entropy VJP), so that they too get second order, forward
# mode, forward-over-reverse and jacfwd == jacrev.


def _ops(name: str) -> Any:
    import importlib

    return importlib.import_module(f"chainrule.ops.{name}")


POOL_IN = (2, 3, 5, 4)  # (N, C, H, W) of the pooled input the fixed positions refer to
POOL_INDEX = np.random.default_rng(5).integers(0, 20, (2, 3, 2, 2))  # positions in each plane
CE_TARGET = np.array([1, 0, 3, 3, 2])


def _t_scatter(g: Any) -> Any:
    torch = _t()
    out = torch.zeros((2, 3, 20), dtype=g.dtype)
    return out.scatter_add(2, _tt(POOL_INDEX).reshape(2, 3, 4), g.reshape(2, 3, 4)).reshape(POOL_IN)


def _t_ce_backward(g: Any, z: Any) -> Any:
    torch = _t()
    onehot = torch.nn.functional.one_hot(_tt(CE_TARGET), 4).to(z.dtype)
    return (torch.softmax(z, 1) - onehot) * (g * 0.2)


def _np_ce(z: np.ndarray) -> np.ndarray:
    logp = z - _np_logsumexp(z, 1, True)
    return -logp[np.arange(5), CE_TARGET].mean()


_NN = [
    OpInfo(
        "linear",  # addmm
        lambda x, w, b: cr.nn.functional.linear(x, w, b),
        [((4, 3), (5, 3), (5,)), ((2, 4, 3), (5, 3), (5,))],
        ref=lambda x, w, b: x @ w.T + b,
        torch_fn=lambda x, w, b: _t().nn.functional.linear(x, w, b),
    ),
    OpInfo(
        "linear_no_bias",
        lambda x, w: cr.nn.functional.linear(x, w),
        [((4, 3), (5, 3))],
        ref=lambda x, w: x @ w.T,
        torch_fn=lambda x, w: _t().nn.functional.linear(x, w),
    ),
    OpInfo(
        "mm_tn",  # a^T b: the dense layer's weight gradient
        lambda a, b: _ops("linalg").outer_mm_p(a, b),
        [((4, 3), (4, 5))],
        ref=lambda a, b: a.T @ b,
        torch_fn=lambda a, b: a.T @ b,
    ),
    OpInfo(
        "conv2d",  # convolution
        lambda x, w: cr.nn.functional.conv2d(x, w, stride=2, padding=1),
        [((2, 3, 6, 5), (4, 3, 3, 3))],
        torch_fn=lambda x, w: _t().nn.functional.conv2d(x, w, stride=2, padding=1),
    ),
    OpInfo(
        "conv2d_input_grad",
        lambda g, w: _ops("conv").conv2d_input_grad(g, w, (2, 3, 6, 5), (2, 2), (1, 1)),
        [((2, 4, 3, 3), (4, 3, 3, 3))],
        torch_fn=lambda g, w: _t().nn.grad.conv2d_input((2, 3, 6, 5), w, g, 2, 1),
    ),
    OpInfo(
        "conv2d_weight_grad",
        lambda x, g: _ops("conv").conv2d_weight_grad(x, g, (4, 3, 3, 3), (2, 2), (1, 1)),
        [((2, 3, 6, 5), (2, 4, 3, 3))],
        torch_fn=lambda x, g: _t().nn.grad.conv2d_weight(x, (4, 3, 3, 3), g, 2, 1),
    ),
    OpInfo(
        "max_pool2d",  # max_pool2d_with_indices
        lambda x: cr.nn.functional.max_pool2d(x, 2, 2, 1),
        [((2, 3, 5, 4),)],
        (distinct,),
        torch_fn=lambda x: _t().nn.functional.max_pool2d(x, 2, 2, 1),
    ),
    OpInfo(
        "max_pool2d_backward",
        lambda g: _ops("pool").pool_scatter(g, POOL_INDEX, POOL_IN, True),
        [((2, 3, 2, 2),)],
        torch_fn=_t_scatter,
    ),
    OpInfo(
        "cross_entropy",  # nll_loss
        lambda z: cr.nn.functional.cross_entropy(z, cr.tensor(CE_TARGET)),
        [((5, 4),)],
        ref=_np_ce,
        torch_fn=lambda z: _t().nn.functional.cross_entropy(z, _tt(CE_TARGET)),
    ),
    OpInfo(
        "softmax_backward",  # y (g - sum(g y)): softmax's VJP as one node
        lambda g, y: _ops("nn").softmax_backward(g, y, -1),
        [((3, 4), (3, 4)), ((2, 3, 4), (3, 4))],  # a stacked g broadcasts against y
        ref=lambda g, y: y * (g - (g * y).sum(-1, keepdims=True)),
        torch_fn=lambda g, y: y * (g - (g * y).sum(-1, keepdim=True)),
    ),
    OpInfo(
        "cross_entropy_backward",  # nll_loss_backward
        lambda g, z: _ops("loss").cross_entropy_backward(g, z, CE_TARGET, 0.2, 0.0, None, True),
        [((), (5, 4))],
        torch_fn=_t_ce_backward,
    ),
]


# --- linear algebra (chainrule.linalg; references: numpy.linalg and torch.linalg) ----------


def _shift(x: Any, lib: str) -> Any:
    """x + 3 I: well conditioned for the solves (x standard normal, n <= 3)."""
    eye = np.eye(x.shape[-1])
    return x + 3.0 * (cr.tensor(eye) if lib == "cr" else _tt(eye)).to(x.dtype)


def _spd(x: Any, lib: str) -> Any:
    """x x^T + I: symmetric positive definite."""
    eye = np.eye(x.shape[-1])
    return x @ x.mT + (cr.tensor(eye) if lib == "cr" else _tt(eye)).to(x.dtype)


def _sym_np(a: np.ndarray) -> np.ndarray:
    return a + np.swapaxes(a, -1, -2)


def _tl() -> Any:
    return _t().linalg


SQUARE = [((3, 3),), ((2, 3, 3),), ((1, 1),)]
TALL = [((4, 3),), ((3, 3),), ((2, 4, 2),)]

_LINALG = [
    OpInfo(
        "linalg_solve",
        lambda a, b: cr.linalg.solve(_shift(a, "cr"), b),
        [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 2)), ((3, 3), (3,)), ((2, 3, 3), (3, 1))],
        ref=lambda a, b: (
            np.linalg.solve(a + 3 * np.eye(a.shape[-1]), b[..., None])[..., 0]
            if b.ndim == 1
            else np.linalg.solve(a + 3 * np.eye(a.shape[-1]), b)
        ),
        torch_fn=lambda a, b: _tl().solve(_shift(a, "t"), b),
    ),
    OpInfo(
        "linalg_solve_triangular_lower",
        lambda a, b: cr.linalg.solve_triangular(_shift(a, "cr"), b, upper=False),
        [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 4))],
        ref=lambda a, b: np.linalg.solve(np.tril(a + 3 * np.eye(3)), b),
        torch_fn=lambda a, b: _tl().solve_triangular(_shift(a, "t"), b, upper=False),
    ),
    OpInfo(
        "linalg_solve_triangular_upper_right_unit",
        lambda a, b: cr.linalg.solve_triangular(
            _shift(a, "cr"), b, upper=True, left=False, unitriangular=True
        ),
        [((3, 3), (2, 3))],
        torch_fn=lambda a, b: _tl().solve_triangular(
            _shift(a, "t"), b, upper=True, left=False, unitriangular=True
        ),
    ),
    OpInfo(
        "linalg_inv",
        lambda a: cr.linalg.inv(_shift(a, "cr")),
        SQUARE,
        ref=lambda a: np.linalg.inv(a + 3 * np.eye(a.shape[-1])),
        torch_fn=lambda a: _tl().inv(_shift(a, "t")),
    ),
    OpInfo(
        "linalg_det",
        cr.linalg.det,
        SQUARE,
        ref=np.linalg.det,
        torch_fn=lambda a: _tl().det(a),
    ),
    OpInfo(
        "linalg_slogdet",  # the log |det| (the sign has no gradient: tests/test_linalg.py)
        lambda a: cr.linalg.slogdet(a)[1],
        SQUARE,
        ref=lambda a: np.linalg.slogdet(a)[1],
        torch_fn=lambda a: _tl().slogdet(a)[1],
    ),
    OpInfo(
        "linalg_cholesky",
        lambda a: cr.linalg.cholesky(_spd(a, "cr")),
        SQUARE,
        ref=lambda a: np.linalg.cholesky(a @ np.swapaxes(a, -1, -2) + np.eye(a.shape[-1])),
        torch_fn=lambda a: _tl().cholesky(_spd(a, "t")),
    ),
    OpInfo(
        "linalg_cholesky_upper",
        lambda a: cr.linalg.cholesky(_spd(a, "cr"), upper=True),
        [((3, 3),)],
        torch_fn=lambda a: _tl().cholesky(_spd(a, "t"), upper=True),
    ),
    OpInfo(
        # eigenvectors are unique up to sign: compare Q**2 (columns' signs drop out)
        "linalg_eigh",
        lambda a: (lambda w, q: (w, q**2))(*cr.linalg.eigh(a + a.mT)),
        SQUARE,
        ref=lambda a: (lambda w, q: (w, q**2))(*np.linalg.eigh(_sym_np(a))),
        torch_fn=lambda a: (lambda w, q: (w, q**2))(*_tl().eigh(a + a.mT)),
    ),
    OpInfo(
        "linalg_eigvalsh",
        lambda a: cr.linalg.eigvalsh(a + a.mT),
        SQUARE,
        ref=lambda a: np.linalg.eigvalsh(_sym_np(a)),
        torch_fn=lambda a: _tl().eigvalsh(a + a.mT),
    ),
    OpInfo(
        # Q's columns and R's rows are unique up to a shared sign: compare squares
        "linalg_qr",
        lambda a: (lambda q, r: (q**2, r**2, q @ r))(*cr.linalg.qr(a)),
        TALL,
        torch_fn=lambda a: (lambda q, r: (q**2, r**2, q @ r))(*_tl().qr(a)),
    ),
    OpInfo(
        # singular vectors are unique up to a shared sign per pair: compare U**2, Vh**2, U Vh
        "linalg_svd",
        lambda a: (lambda u, s, vh: (u**2, s, vh**2, u @ vh))(*cr.linalg.svd(a)),
        [((4, 3),), ((3, 4),), ((3, 3),), ((2, 4, 2),)],
        torch_fn=lambda a: (lambda u, s, vh: (u**2, s, vh**2, u @ vh))(
            *_tl().svd(a, full_matrices=False)
        ),
    ),
    OpInfo(
        "linalg_svdvals",
        cr.linalg.svdvals,
        [((4, 3),), ((2, 3, 5),)],
        ref=lambda a: np.linalg.svd(a, compute_uv=False),
        torch_fn=lambda a: _tl().svdvals(a),
    ),
    OpInfo(
        "linalg_norm",
        lambda x: cr.linalg.norm(x),
        [((3, 4),), ((5,),), ((2, 3, 2),)],
        ref=np.linalg.norm,
        torch_fn=lambda x: _tl().norm(x),
    ),
    OpInfo(
        "linalg_vector_norm_ord_dim",
        lambda x: (
            cr.linalg.vector_norm(x, 2, dim=1),
            cr.linalg.vector_norm(x, 1, dim=(0, 1), keepdim=True),
            cr.linalg.vector_norm(x, 3.0, dim=-1),
            cr.linalg.vector_norm(x, float("inf"), dim=0),
            cr.linalg.vector_norm(x, float("-inf")),
        ),
        [((3, 4),)],
        (distinct,),
        torch_fn=lambda x: (
            _tl().vector_norm(x, 2, dim=1),
            _tl().vector_norm(x, 1, dim=(0, 1), keepdim=True),
            _tl().vector_norm(x, 3.0, dim=-1),
            _tl().vector_norm(x, float("inf"), dim=0),
            _tl().vector_norm(x, float("-inf")),
        ),
    ),
    OpInfo(
        "linalg_matrix_norm",
        lambda x: tuple(
            cr.linalg.matrix_norm(x, o) for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)
        ),
        [((3, 4),), ((2, 3, 3),)],
        (distinct,),
        torch_fn=lambda x: tuple(
            _tl().matrix_norm(x, o) for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)
        ),
    ),
]


OPS: list[OpInfo] = [
    *_ELEMENTWISE,
    *_reduction_entries(),
    *_no_grad_entries(),
    *_SHAPE,
    *_MATMUL,
    *_NN,
    *_LINALG,
]
GRAD_OPS = [o for o in OPS if o.grad]
BROADCASTING = [o for o in OPS if o.broadcasts]

# Reductions for the property tests: fn(x, dim, keepdim), NumPy reference, domain.
REDUCTIONS: dict[str, tuple[Callable, Callable, Domain]] = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda a, d, k: np.sum(a, d, keepdims=k), real),
    "mean": (
        lambda x, d, k: x.mean(d, keepdim=k),
        lambda a, d, k: np.mean(a, d, keepdims=k),
        real,
    ),
    "var": (
        lambda x, d, k: x.var(d, keepdim=k, correction=0),
        lambda a, d, k: np.var(a, d, keepdims=k),
        real,
    ),
    "amax": (
        lambda x, d, k: x.amax(d, keepdim=k),
        lambda a, d, k: np.amax(a, d, keepdims=k),
        distinct,
    ),
    "amin": (
        lambda x, d, k: x.amin(d, keepdim=k),
        lambda a, d, k: np.amin(a, d, keepdims=k),
        distinct,
    ),
    "logsumexp": (
        lambda x, d, k: x.logsumexp(d, keepdim=k),
        lambda a, d, k: _np_logsumexp(a, d, k),
        real,
    ),
}

_names = [o.name for o in OPS]
assert len(_names) == len(set(_names)), "duplicate opinfo names"
