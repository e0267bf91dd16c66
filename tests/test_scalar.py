"""Tests of the scalar engine, chainrule.scalar: every op against central finite differences in
float64, DAG accumulation, random expression graphs (hypothesis), a million-node chain, error
messages, micrograd compatibility and the micrograd-style nn.

The random-program machinery (``programs``, ``run_value``, ``run_float``) is also used by
tests/test_scalar_torch.py, which checks the same programs against PyTorch.
"""

from __future__ import annotations

import gc
import math
import operator
import random
import time

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule.scalar import ScalarZeroDivisionError, Value, topological_sort
from chainrule.scalar.nn import MLP, Layer, Module, Neuron

# --- helpers -------------------------------------------------------------------------------


def central_diff(f, xs: list[float], i: int, h: float = 1e-6) -> float:
    """(f(x + h e_i) - f(x - h e_i)) / 2h, with h scaled to the size of x_i."""
    step = h * max(1.0, abs(xs[i]))
    up = list(xs)
    down = list(xs)
    up[i] += step
    down[i] -= step
    return (f(up) - f(down)) / (up[i] - down[i])


def check_op(fv, ff, xs: list[float], rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """fv on Values against ff on floats: the value, and every grad against central diffs."""
    vals = [Value(x) for x in xs]
    out = fv(*vals)
    assert out.data == pytest.approx(ff(*xs), rel=1e-12, abs=1e-12)
    out.backward()
    for i, v in enumerate(vals):
        fd = central_diff(lambda p: ff(*p), xs, i)
        assert v.grad == pytest.approx(fd, rel=rtol, abs=atol), (i, xs)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# One entry per op: name, the op on Values, the same op on floats, points inside its domain
# and away from kinks. Reflected and Value-exponent forms are separate entries.
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [(1.5, -2.0), (0.0, 3.0)]),
    ("radd", lambda a: 2.5 + a, lambda a: 2.5 + a, [(1.5,), (-3.0,)]),
    ("add_const", lambda a: a + 2.5, lambda a: a + 2.5, [(1.5,)]),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, [(1.5, -2.0)]),
    ("rsub", lambda a: 1 - a, lambda a: 1 - a, [(1.5,), (-0.3,)]),
    ("sub_const", lambda a: a - 4, lambda a: a - 4, [(1.5,)]),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, [(1.5, -2.0), (0.0, 3.0)]),
    ("rmul", lambda a: 2 * a, lambda a: 2 * a, [(1.5,)]),
    ("mul_const", lambda a: a * -0.5, lambda a: a * -0.5, [(1.5,)]),
    ("div", lambda a, b: a / b, lambda a, b: a / b, [(1.5, -2.0), (-3.0, 0.7)]),
    ("rdiv", lambda a: 1 / a, lambda a: 1 / a, [(1.5,), (-0.4,)]),
    ("div_const", lambda a: a / 4, lambda a: a / 4, [(1.5,)]),
    ("neg", lambda a: -a, lambda a: -a, [(1.5,)]),
    ("pow2", lambda a: a**2, lambda a: a**2, [(1.5,), (-2.0,), (0.0,)]),
    ("pow3", lambda a: a**3, lambda a: a**3, [(-1.5,)]),
    ("pow_neg", lambda a: a**-2, lambda a: a**-2, [(1.5,), (-0.7,)]),
    ("pow_half", lambda a: a**0.5, lambda a: a**0.5, [(2.0,)]),
    ("pow_float", lambda a: a**2.5, lambda a: a**2.5, [(1.3,)]),
    ("pow_value", lambda a, b: a**b, lambda a, b: a**b, [(1.5, 2.3), (0.7, -1.2)]),
    ("rpow", lambda a: 2**a, lambda a: 2**a, [(1.5,), (-0.5,)]),
    ("rpow_float", lambda a: 0.3**a, lambda a: 0.3**a, [(1.5,)]),
    ("relu", lambda a: a.relu(), lambda a: max(a, 0.0), [(1.5,), (-1.5,)]),
    (
        "leaky_relu",
        lambda a: a.leaky_relu(),
        lambda a: a if a > 0 else 0.01 * a,
        [(1.5,), (-1.5,)],
    ),
    (
        "leaky_relu_slope",
        lambda a: a.leaky_relu(0.2),
        lambda a: a if a > 0 else 0.2 * a,
        [(-1.5,)],
    ),
    ("tanh", lambda a: a.tanh(), math.tanh, [(0.3,), (-2.0,)]),
    ("sigmoid", lambda a: a.sigmoid(), sigmoid, [(0.3,), (-2.0,), (30.0,), (-30.0,)]),
    ("exp", lambda a: a.exp(), math.exp, [(0.3,), (-2.0,)]),
    ("log", lambda a: a.log(), math.log, [(0.3,), (20.0,)]),
    ("sqrt", lambda a: a.sqrt(), math.sqrt, [(0.3,), (20.0,)]),
    (
        "sum",
        lambda a, b, c: Value.sum([a, b, c, 2.0, a]),
        lambda a, b, c: a + b + c + 2.0 + a,
        [(1.0, -2.0, 0.5)],
    ),
    (
        "dot",
        lambda a, b, c, d: Value.dot([a, b], [c, d], 0.5),
        lambda a, b, c, d: 0.5 + a * c + b * d,
        [(1.0, -2.0, 0.5, 3.0)],
    ),
    (
        "dot_float_xs",
        lambda a, b, c: Value.dot([a, b], [2.0, -1.0], c),
        lambda a, b, c: c + 2.0 * a - b,
        [(1.0, -2.0, 0.5)],
    ),
    (
        "dot_mixed",
        lambda a, b, c: Value.dot([a, 3.0], [b, c], a),
        lambda a, b, c: a + a * b + 3.0 * c,
        [(1.0, -2.0, 0.5)],
    ),
    (
        "dot_self",  # the same Value on both sides: d/da a.a = 2a
        lambda a, b: Value.dot([a, b], [a, b]),
        lambda a, b: a * a + b * b,
        [(1.5, -0.5)],
    ),
]


@pytest.mark.parametrize(
    ("fv", "ff", "xs"),
    [pytest.param(fv, ff, xs, id=f"{name}-{xs}") for name, fv, ff, pts in OPS for xs in pts],
)
def test_op_value_and_grad(fv, ff, xs):
    check_op(fv, ff, list(xs))


# --- kinks and special points --------------------------------------------------------------


def test_relu_kink_is_zero_like_pytorch():
    x = Value(0.0)
    y = x.relu()
    y.backward()
    assert (y.data, x.grad) == (0.0, 0.0)


def test_leaky_relu_kink_is_slope():
    x = Value(0.0)
    x.leaky_relu(0.3).backward()
    assert x.grad == 0.3


def test_sqrt_at_zero_has_infinite_slope():
    x = Value(0.0)
    y = x.sqrt()
    y.backward()
    assert y.data == 0.0 and x.grad == math.inf


def test_pow_zero_base_positive_exponent():
    x = Value(0.0)
    (x**0.5).backward()
    assert x.grad == math.inf
    x = Value(0.0)
    (x**0).backward()
    assert x.grad == 0.0
    x = Value(0.0)
    (x**3).backward()
    assert x.grad == 0.0


def test_sigmoid_is_stable_for_large_inputs():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


# --- the graph: DAGs, order, accumulation --------------------------------------------------


def test_lesson_reuse_x_in_two_branches():
    x = Value(3.0)
    a = x * 2
    b = x + 1
    c = a + b
    c.backward()
    assert x.grad == 3.0


def test_lesson_doubling_twice():
    a = Value(5.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0


def test_diamond():
    x = Value(0.7)
    a = x.tanh()
    b = x.exp()
    y = a * b  # x -> a, x -> b, both -> y
    y.backward()
    t, e = math.tanh(0.7), math.exp(0.7)
    assert x.grad == pytest.approx((1 - t * t) * e + t * e, rel=1e-14)


def test_node_used_many_times():
    x = Value(1.5)
    y = Value.sum([x * k for k in range(1, 101)])  # d/dx = 1 + 2 + ... + 100
    z = x
    for _ in range(50):
        z = z + x  # z = 51 x
    out = y + z
    out.backward()
    assert x.grad == 5050 + 51


def test_value_used_twice_in_one_op():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    x = Value(3.0)
    (x / x).backward()
    assert x.grad == 0.0
    x = Value(3.0)
    (x - x).backward()
    assert x.grad == 0.0
    x = Value(2.0)
    (x**x).backward()
    assert x.grad == pytest.approx(4 * (1 + math.log(2)), rel=1e-14)


def test_grads_accumulate_across_backward_calls_like_micrograd():
    x = Value(2.0)
    y = x * 3
    y.backward()
    (x * 4).backward()
    assert x.grad == 7.0


def test_parents_are_ordered_prev_is_a_set():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    assert c._parents == (a, b)
    assert c._prev == {a, b}
    assert isinstance(c._prev, set)
    assert (b - a)._parents == (b, a)
    assert c._op == "*"
    assert (a + 1)._parents == (a,)  # constants are folded into the node


def test_topological_order_is_deterministic_and_parents_first():
    def build():
        xs = [Value(float(i), label=f"x{i}") for i in range(5)]
        y = Value.sum([xs[3] * xs[1], xs[0].tanh(), xs[4] + xs[2], xs[1].exp()])
        return y, topological_sort(y)

    y, topo = build()
    pos = {id(v): i for i, v in enumerate(topo)}
    for v in topo:
        for p in v._parents:
            assert pos[id(p)] < pos[id(v)]
    assert topo[-1] is y
    assert len({id(v) for v in topo}) == len(topo)
    # Same expression, same order (labels and ops), independent of memory addresses.
    again = build()[1]
    assert [(v.label, v._op) for v in topo] == [(v.label, v._op) for v in again]
    assert [v.label for v in topo if v.label] == ["x3", "x1", "x0", "x4", "x2"]


def test_backward_of_a_leaf():
    x = Value(2.0)
    x.backward()
    assert x.grad == 1.0


# --- deep graphs -----------------------------------------------------------------------------


def _chain(x: Value, links: int) -> Value:
    v = x
    for _ in range(links):
        v = v * 1.0001 + 0.0
    return v


def test_deep_chain_100k_nodes():
    x = Value(1.0)
    out = _chain(x, 50_000)
    out.backward()
    assert x.grad == pytest.approx(1.0001**50_000, rel=1e-9)


def test_deep_chain_one_million_nodes():
    # About 3 s on a quiet 2-core machine (building the nodes; backward itself ~1 s), so not
    # marked slow.
    x = Value(1.0)
    out = _chain(x, 500_000)  # two nodes per link
    t0 = time.perf_counter()
    out.backward()
    elapsed = time.perf_counter() - t0
    assert x.grad == pytest.approx(1.0001**500_000, rel=1e-9)
    print(f"backward through 1,000,001 nodes: {elapsed:.2f} s")  # no assert on time


def test_deep_chain_of_unary_ops():
    x = Value(0.5)
    v = x
    for _ in range(20_000):
        v = v.tanh() * 1.0  # deep, and a different node mix
    v.backward()
    assert math.isfinite(x.grad)


# --- micrograd compatibility ---------------------------------------------------------------


def test_repr_like_micrograd():
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    a = Value(3)
    assert isinstance(a.data, float) and a.data == 3.0


def test_manual_backward_like_micrograd():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    c.grad = 1.0
    c._backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)
    d = c.tanh()
    d.grad = 1.0
    d._backward()
    assert c.grad == pytest.approx(1.0 + (1 - math.tanh(-6.0) ** 2))
    # Leaves have a callable _backward that does nothing.
    a._backward()
    assert a.grad == -3.0


def test_manual_backward_through_nary_nodes():
    a, b = Value(2.0), Value(-3.0)
    s = Value.dot([a, b], [4.0, 5.0], 1.0)
    s.grad = 2.0
    s._backward()
    assert (a.grad, b.grad) == (8.0, 10.0)


def test_no_closure_stored_per_node():
    # The point of the design: a node holds no function (and so no reference cycle).
    a = Value(1.0)
    b = (a * 2).tanh()
    assert not hasattr(b, "__dict__")
    assert b._backward.__self__ is b  # a bound method made on access, not stored


def test_graphs_are_freed_without_the_cycle_collector():
    # No closures, no cycles: reference counting alone frees a used graph, so the cyclic
    # garbage collector finds nothing (micrograd's closures leave every graph to it).
    random.seed(0)
    gc.collect()
    gc.disable()
    try:
        for fused in (False, True):
            model = MLP(2, [4, 1], fused=fused)
            loss = Value.sum([model([0.5, -1.0]) ** 2, model([1.0, 2.0]).tanh()])
            loss.backward()
            del loss, model
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_micrograd_style_custom_op():
    # Custom ops written for micrograd: Value(data, children, op) + an assigned _backward.
    def cube(self: Value) -> Value:
        out = Value(self.data**3, (self,), "cube")

        def _backward() -> None:
            self.grad += 3 * self.data**2 * out.grad

        out._backward = _backward
        return out

    x = Value(2.0)
    y = cube(x * 1.0) + x
    y.backward()
    assert x.grad == 13.0
    assert y._parents[0]._op == "cube"


def test_micrograd_engine_test_from_its_repo():
    # micrograd's test_sanity_check and test_more_ops, with the expected values that
    # PyTorch gives (copied from micrograd's tests).
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert (y.data, x.grad) == (-20.0, 46.0)

    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    tol = 1e-6
    assert abs(g.data - 24.70408163265306) < tol
    assert abs(a.grad - 138.83381924198252) < tol
    assert abs(b.grad - 645.5772594752186) < tol


def test_numpy_scalars_interoperate():
    x = Value(np.float64(2.0))
    assert type(x.data) is float
    assert Value(np.float32(1.5)).data == 1.5
    assert Value(np.int64(3)).data == 3.0
    assert Value(np.array(2.5)).data == 2.5
    y = np.float64(3.0) * x + np.float32(1.0)  # NumPy on the left defers to Value
    assert isinstance(y, Value) and y.data == 7.0
    y.backward()
    assert x.grad == 3.0


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("abc", "str 'abc'"), (None, "NoneType None"), ([1, 2], "list [1, 2]"), (1 + 2j, "complex")],
)
def test_value_rejects_non_numbers(bad, shown):
    with pytest.raises(TypeError) as info:
        Value(bad)
    msg = str(info.value)
    assert shown in msg
    assert "real number" in msg and "int, float" in msg


def test_value_rejects_bool_and_says_why():
    for flag in (True, np.bool_(False)):
        with pytest.raises(TypeError, match=r"bool .*float\("):
            Value(flag)
    with pytest.raises(TypeError, match="bool"):
        Value(1.0) * True


def test_value_of_a_value_is_rejected():
    with pytest.raises(TypeError, match=r"received a Value.*Value\(v.data\)"):
        Value(Value(1.0))


def test_unsupported_operand_types_raise_type_error():
    with pytest.raises(TypeError):
        Value(1.0) + "a"
    with pytest.raises(TypeError):
        [1.0] * Value(2.0)
    with pytest.raises(TypeError, match=r"Value\.sum.*str"):
        Value.sum([Value(1.0), "x"])
    with pytest.raises(ValueError, match=r"Value\.dot: ws has 2 items but xs has 1"):
        Value.dot([Value(1.0), Value(2.0)], [1.0])


@pytest.mark.parametrize(
    ("make", "exc", "parts"),
    [
        (lambda: Value(0.0).log(), ValueError, ["log", "log(0.0)", "positive"]),
        (lambda: Value(-1.0).log(), ValueError, ["log", "log(-1.0)", "positive"]),
        (lambda: Value(-1.0).sqrt(), ValueError, ["sqrt", "sqrt(-1.0)", ">= 0"]),
        (lambda: Value(-2.0) ** 0.5, ValueError, ["pow", "-2.0 ** 0.5", "integer exponent"]),
        (lambda: Value(0.0) ** -1, ValueError, ["pow", "0.0 ** -1", "division by zero"]),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, ["pow", "0.0 ** -1"]),
        (lambda: Value(-2.0) ** Value(2.0), ValueError, ["pow", "-2.0 ** Value", "> 0"]),
        (lambda: Value(0.0) ** Value(2.0), ValueError, ["pow", "0.0 ** Value", "log(x)"]),
        (lambda: (-2) ** Value(2.0), ValueError, ["pow", "-2.0 ** Value", "> 0"]),
        (lambda: Value(1.0) / Value(0.0), ZeroDivisionError, ["div", "1.0 / 0.0"]),
        (lambda: Value(1.0) / 0, ValueError, ["div", "1.0 / 0.0", "division by zero"]),
        (lambda: 1 / Value(0.0), ZeroDivisionError, ["div", "1.0 / 0.0"]),
        (lambda: Value(1000.0).exp(), OverflowError, ["exp", "exp(1000.0)"]),
    ],
)
def test_domain_errors_name_the_op_and_value(make, exc, parts):
    with pytest.raises(exc) as info:
        make()
    for part in parts:
        assert part in str(info.value)


def test_zero_division_is_both_kinds():
    with pytest.raises(ScalarZeroDivisionError):
        Value(1.0) / 0.0
    assert issubclass(ScalarZeroDivisionError, ZeroDivisionError)
    assert issubclass(ScalarZeroDivisionError, ValueError)


def test_negative_base_with_integer_exponent_is_fine():
    x = Value(-2.0)
    y = x**3.0
    y.backward()
    assert (y.data, x.grad) == (-8.0, 12.0)


# --- random expression graphs ----------------------------------------------------------------
# A program is a list of (op, args, const) steps over a growing list of nodes that starts with
# the inputs. Hypothesis draws the steps; a step is kept only if, at the drawn point, it is
# well inside its op's domain and away from kinks, so that central differences are valid.
# run_float also records the side of every kink and domain test; the check re-runs the
# program at the perturbed points and rejects the example if a side changes.

UNARY = ["neg", "relu", "leaky_relu", "tanh", "sigmoid", "exp", "log", "sqrt"]
WITH_CONST = ["add_c", "radd", "sub_c", "rsub", "mul_c", "rmul", "div_c", "rdiv", "pow_c", "rpow"]
BINARY = ["add", "sub", "mul", "div", "pow_v"]
NARY = ["sum", "dot"]
ALL_OPS = UNARY + WITH_CONST + BINARY + NARY
POW_EXPONENTS = [-2, -1, 0.5, 1.5, 2, 3, 2.5, 0.7]


class SideChanged(Exception):
    """A perturbed input crossed a kink or domain boundary: finite differences are invalid."""


def _unary_float(op: str, a: float, c: float) -> float:
    if op == "neg":
        return -a
    if op == "relu":
        return max(a, 0.0)
    if op == "leaky_relu":
        return a if a > 0 else c * a
    if op == "tanh":
        return math.tanh(a)
    if op == "sigmoid":
        return sigmoid(a)
    if op == "exp":
        return math.exp(a)
    if op == "log":
        return math.log(a)
    if op == "sqrt":
        return math.sqrt(a)
    if op == "add_c" or op == "radd":
        return a + c
    if op == "sub_c":
        return a - c
    if op == "rsub":
        return c - a
    if op in ("mul_c", "rmul"):
        return a * c
    if op == "div_c":
        return a / c
    if op == "rdiv":
        return c / a
    if op == "pow_c":
        return a**c
    if op == "rpow":
        return c**a
    raise AssertionError(op)


def _binary_float(op: str, a: float, b: float) -> float:
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    return a**b  # pow_v


def _valid(op: str, vals: list[float], c) -> bool:
    """Is the step well inside its domain at these operand values?"""
    a = vals[0]
    if op in ("relu", "leaky_relu"):
        return abs(a) > 1e-3
    if op in ("log", "sqrt"):
        return a > 0.05
    if op == "exp":
        return a < 4.0
    if op == "rdiv":
        return abs(a) > 0.1
    if op == "pow_c":
        if float(c).is_integer():
            return c > 0 or abs(a) > 0.1
        return a > 0.05
    if op == "rpow":
        return abs(a) < 5.0
    if op == "div":
        return abs(vals[1]) > 0.1
    if op == "pow_v":
        return a > 0.1 and abs(vals[1]) < 3.0
    return True


def _sides(op: str, vals: list[float]) -> tuple:
    """What must not change between the drawn point and the perturbed points."""
    if op in ("relu", "leaky_relu"):
        return (vals[0] > 0,)
    return ()


@st.composite
def programs(draw, max_inputs: int = 3, max_steps: int = 12):
    """(inputs, program): a random DAG of ops over a few inputs, valid near the inputs."""
    n_in = draw(st.integers(1, max_inputs))
    point = st.floats(-2.0, 2.0, allow_nan=False).filter(lambda v: abs(v) > 0.05)
    inputs = [draw(point) for _ in range(n_in)]
    vals = list(inputs)
    prog: list[tuple] = []
    for _ in range(draw(st.integers(1, max_steps))):
        op = draw(st.sampled_from(ALL_OPS))
        node = st.integers(0, len(vals) - 1)
        if op in UNARY or op in WITH_CONST:
            args = (draw(node),)
            if op == "leaky_relu":
                const = draw(st.sampled_from([0.01, 0.2]))
            elif op == "pow_c":
                const = draw(st.sampled_from(POW_EXPONENTS))
            elif op == "rpow":
                const = draw(st.sampled_from([0.5, 2.0, 3.0]))
            elif op in ("div_c",):
                const = draw(st.sampled_from([-2.0, 0.5, 3.0]))
            else:
                const = draw(st.sampled_from([-1.5, 0.5, 2.0, 3]))
        elif op in BINARY:
            args = (draw(node), draw(node))
            const = None
        elif op == "sum":
            args = tuple(draw(st.lists(node, min_size=1, max_size=5)))
            const = draw(st.sampled_from([0.0, 1.5]))
        else:  # dot: ws are nodes; xs mix nodes (int) and constants (float); bias node/const
            k = draw(st.integers(1, 4))
            ws = tuple(draw(node) for _ in range(k))
            xs = tuple(draw(st.one_of(node, st.sampled_from([-1.0, 0.5, 2.0]))) for _ in ws)
            bias = draw(st.one_of(node, st.sampled_from([0.0, 0.25])))
            args = (ws, xs, bias)
            const = None
        step = (op, args, const)
        if op not in NARY and not _valid(op, [vals[i] for i in args], const):
            continue
        try:
            value = _step_float(step, vals, check=None)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if not math.isfinite(value) or abs(value) > 1e3:
            continue
        vals.append(value)
        prog.append(step)
    assume(prog)
    return inputs, prog


def _step_float(step: tuple, vals: list[float], check: list | None) -> float:
    op, args, const = step
    if op in NARY:
        if op == "sum":
            return sum(vals[i] for i in args) + const
        ws, xs, bias = args
        total = vals[bias] if type(bias) is int else bias
        for w, x in zip(ws, xs):
            total += vals[w] * (vals[x] if type(x) is int else x)
        return total
    operands = [vals[i] for i in args]
    if check is not None:
        check.append(_sides(op, operands))
    if op in BINARY:
        return _binary_float(op, *operands)
    return _unary_float(op, operands[0], const)


def run_float(inputs: list[float], prog: list[tuple], sides: list | None = None) -> float:
    """The program's output (the sum of all its step results) on floats."""
    vals = list(inputs)
    seen: list = []
    for step in prog:
        vals.append(_step_float(step, vals, seen))
    if sides is not None and seen != sides:
        raise SideChanged
    return sum(vals[len(inputs) :])


def program_sides(inputs: list[float], prog: list[tuple]) -> list:
    vals = list(inputs)
    seen: list = []
    for step in prog:
        vals.append(_step_float(step, vals, seen))
    return seen


# The ops of a program on Values, through the operators (reflected forms included).
VALUE_BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow_v": operator.pow,
}
VALUE_UNARY = {
    "neg": lambda a, c: -a,
    "relu": lambda a, c: a.relu(),
    "leaky_relu": lambda a, c: a.leaky_relu(c),
    "tanh": lambda a, c: a.tanh(),
    "sigmoid": lambda a, c: a.sigmoid(),
    "exp": lambda a, c: a.exp(),
    "log": lambda a, c: a.log(),
    "sqrt": lambda a, c: a.sqrt(),
    "add_c": lambda a, c: a + c,
    "radd": lambda a, c: c + a,
    "sub_c": lambda a, c: a - c,
    "rsub": lambda a, c: c - a,
    "mul_c": lambda a, c: a * c,
    "rmul": lambda a, c: c * a,
    "div_c": lambda a, c: a / c,
    "rdiv": lambda a, c: c / a,
    "pow_c": lambda a, c: a**c,
    "rpow": lambda a, c: c**a,
}


def run_program(inputs, prog, leaf, unary, binary, nsum, ndot):
    """Run a program with the given op tables; returns (output, leaves).

    ``nsum(nodes, const)`` and ``ndot(ws, xs, bias)`` implement the n-ary steps; the output
    is the sum of every step's result (added one by one), so the graph has many shared paths.
    """
    leaves = [leaf(x) for x in inputs]
    nodes = list(leaves)
    for op, args, c in prog:
        if op == "sum":
            out = nsum([nodes[i] for i in args], c)
        elif op == "dot":
            ws, xs, bias = args
            out = ndot(
                [nodes[i] for i in ws],
                [nodes[x] if type(x) is int else x for x in xs],
                nodes[bias] if type(bias) is int else bias,
            )
        elif op in BINARY:
            out = binary[op](*(nodes[i] for i in args))
        else:
            out = unary[op](nodes[args[0]], c)
        nodes.append(out)
    total = nodes[len(inputs)]
    for v in nodes[len(inputs) + 1 :]:
        total = total + v
    return total, leaves


def run_value(inputs: list[float], prog: list[tuple]) -> tuple[Value, list[Value]]:
    """The program on Values, with the fused Value.sum and Value.dot for the n-ary steps."""
    return run_program(
        inputs,
        prog,
        Value,
        VALUE_UNARY,
        VALUE_BINARY,
        lambda nodes, c: Value.sum([*nodes, c]),
        Value.dot,
    )


@settings(max_examples=300, deadline=None)
@given(programs())
def test_random_programs_against_finite_differences(case):
    inputs, prog = case
    sides = program_sides(inputs, prog)
    out, leaves = run_value(inputs, prog)
    expected = run_float(inputs, prog)
    assert out.data == pytest.approx(expected, rel=1e-9, abs=1e-9)
    out.backward()
    for i, leaf in enumerate(leaves):
        try:
            fd = central_diff(lambda p: run_float(p, prog, sides), inputs, i)
        except (SideChanged, ValueError, ZeroDivisionError, OverflowError):
            assume(False)
        assert leaf.grad == pytest.approx(fd, rel=1e-5, abs=1e-5), (i, prog)


# --- nn ----------------------------------------------------------------------------------------


def test_mlp_has_micrograds_337_parameters():
    model = MLP(2, [16, 16, 1])
    assert len(model.parameters()) == 337
    assert len(MLP(2, [16, 16, 1], fused=True).parameters()) == 337
    assert isinstance(model, Module)


def test_reprs_like_micrograd():
    random.seed(0)
    assert repr(Neuron(3)) == "ReLUNeuron(3)"
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert repr(Layer(2, 1)) == "Layer of [ReLUNeuron(2)]"
    assert repr(MLP(2, [1])) == "MLP of [Layer of [LinearNeuron(2)]]"


def test_zero_grad_zeros_every_parameter():
    random.seed(0)
    model = MLP(3, [4, 1])
    model([1.0, -2.0, 0.5]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def _mlp_pair(seed: int = 7):
    random.seed(seed)
    unfused = MLP(3, [8, 8, 1])
    random.seed(seed)
    fused = MLP(3, [8, 8, 1], fused=True)
    return unfused, fused


def test_fused_and_unfused_mlp_agree():
    unfused, fused = _mlp_pair()
    assert [p.data for p in unfused.parameters()] == [p.data for p in fused.parameters()]
    x = [0.5, -1.2, 2.0]
    for inputs in (x, [Value(v) for v in x]):  # plain floats and Values as inputs
        unfused.zero_grad()
        fused.zero_grad()
        a = unfused(inputs)
        b = fused(inputs)
        assert a.data == pytest.approx(b.data, rel=1e-12, abs=1e-12)
        (a * a).backward()
        (b * b).backward()
        for p, q in zip(unfused.parameters(), fused.parameters()):
            assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-12)
    # The fused network really is smaller.
    assert len(topological_sort(fused(x))) < len(topological_sort(unfused(x))) / 2


def test_mlp_layer_outputs_and_gradients_against_finite_differences():
    random.seed(3)
    model = MLP(2, [4, 3])  # the last layer has 3 outputs: a list
    params = model.parameters()
    x = [0.3, -0.8]

    def loss_at(values: list[float]) -> float:
        saved = [p.data for p in params]
        for p, v in zip(params, values):
            p.data = v
        out = Value.sum(model(x)).data
        for p, v in zip(params, saved):
            p.data = v
        return out

    outs = model(x)
    assert isinstance(outs, list) and len(outs) == 3
    Value.sum(outs).backward()
    point = [p.data for p in params]
    for i in range(0, len(params), 3):
        assert params[i].grad == pytest.approx(central_diff(loss_at, point, i), abs=1e-6)


def test_same_seed_same_network_as_micrograd():
    mg = pytest.importorskip("micrograd.nn")
    mv = pytest.importorskip("micrograd.engine")
    random.seed(42)
    theirs = mg.MLP(2, [16, 16, 1])
    random.seed(42)
    ours = MLP(2, [16, 16, 1])
    assert [p.data for p in theirs.parameters()] == [p.data for p in ours.parameters()]
    x = [0.5, -1.5]
    a = theirs([mv.Value(v) for v in x])
    b = ours([Value(v) for v in x])
    assert a.data == b.data
    a.backward()
    b.backward()
    for p, q in zip(theirs.parameters(), ours.parameters()):
        assert q.grad == pytest.approx(p.grad, rel=1e-12, abs=1e-15)


def test_training_reduces_the_loss():
    random.seed(0)
    model = MLP(2, [8, 1], fused=True)
    data = [([0.0, 1.0], 1.0), ([1.0, 0.0], -1.0), ([1.0, 1.0], 1.0), ([-1.0, -0.5], -1.0)]

    def loss() -> Value:
        return Value.sum([(1 + -y * model(x)).relu() for x, y in data]) * 0.25

    first = loss().data
    for _ in range(30):
        total = loss()
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    assert loss().data < first
