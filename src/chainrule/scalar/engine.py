"""The scalar engine: micrograd's ``Value``, complete, fast and safe on deep graphs.

A ``Value`` wraps one number. Every arithmetic operation on Values builds a new Value and
remembers where it came from, so the whole computation becomes a graph that we can walk
backwards to apply the chain rule. This is the engine the lesson describes:

- ``data`` is the number computed in the forward pass, stored as a Python float.
- ``grad`` is d(output)/d(this node), filled in by ``backward()``; it starts at 0.0.
- ``_prev`` is the set of nodes this node was computed from (micrograd's name, kept for
  compatibility). Sets are unordered, so the engine itself walks ``_parents``, the same nodes
  as an ordered tuple: backward order, drawings and error messages are then reproducible.
- ``_op`` names the operation that made the node ('+', '*', 'tanh', ...), for drawing.
- ``_backward`` applies the chain rule for one node: each parent receives
  ``local_derivative * self.grad``. micrograd builds a fresh closure for this in every
  operation; a closure that refers to its own output node is a reference cycle, so only the
  cycle collector can free the graph, and it ends up dominating the run time. Here each node
  instead stores its *local derivatives* as floats in ``_local`` (computed during the forward
  pass, when all the inputs are at hand), and ``_backward`` is an ordinary method:

      for p, d in zip(self._parents, self._local): p.grad += d * self.grad

- ``backward()`` sorts the graph topologically (an iterative depth-first search, so a chain
  of a million nodes cannot overflow the call stack), seeds ``self.grad = 1.0`` (dx/dx = 1) and
  visits the nodes from the output back to the inputs, so that every node's grad is complete
  before it is passed on to its parents.
- Gradients are *accumulated* with ``+=``: a node used twice receives a contribution along
  each path, as the multivariable chain rule says. With ``=`` the second path would overwrite
  the first (x used in both ``x * 2`` and ``x + 1`` would get 1.0 instead of 3.0).

>>> x = Value(3.0)
>>> c = x * 2 + (x + 1)          # dc/dx = 2 + 1
>>> c.backward()
>>> x.grad
3.0

Differences from micrograd, all deliberate:

- Plain numbers in an expression (``x * 2``) are folded into the node as constants instead of
  being wrapped in a Value of their own: the graph is smaller and backward faster. ``_prev``
  therefore holds only the Value operands.
- ``-`` and ``/`` are single nodes (micrograd composes them from ``+``, ``*`` and ``**``);
  ``**`` also accepts a Value exponent; ``leaky_relu``, ``sigmoid``, ``exp``, ``log`` and
  ``sqrt`` are built in.
- ``Value.sum`` and ``Value.dot`` are fused n-ary nodes, much cheaper than chains of ``+``/``*``.
- ``backward()`` skips the edges of a node whose grad is exactly 0 (a dead ReLU, a satisfied
  margin): they would only add zeros. PyTorch forms ``0 * d`` instead, which differs only when
  a local derivative d is infinite (sqrt or ``x ** 0.5`` at 0): there PyTorch gives NaN, this
  engine 0.
- Inputs outside an op's domain (``log(0)``, ``sqrt(-1)``, ``(-2) ** 0.5``, division by zero)
  raise an error that names the op and the value instead of producing NaN, complex numbers or
  a bare Python error.
- ``bool`` is rejected as data and as an operand: ``Value(x > 0)`` is almost always a bug.
  Write ``float(flag)`` to mean it.
- Kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = slope, sqrt'(0) = inf.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from operator import mul as _mul
from typing import Any, TypeAlias

__all__ = ["ScalarZeroDivisionError", "Value", "topological_sort"]

# What may appear beside a Value in an expression: a real number.
Scalar: TypeAlias = "Value | int | float"

# object.__new__ skips __init__ (and its input checks): operations build their output nodes
# with it, because their data is a float they just computed. About a quarter faster per node.
_new = object.__new__

# Local derivatives that are the same for every node of an op are shared, not reallocated.
_ONE = (1.0,)
_ONE_ONE = (1.0, 1.0)
_ONE_MINUS_ONE = (1.0, -1.0)
_MINUS_ONE = (-1.0,)
_ZERO = (0.0,)

# Type sets for the fast paths of Value.dot (set == frozenset compares by contents).
_ONLY_FLOAT = frozenset((float,))


class ScalarZeroDivisionError(ZeroDivisionError, ValueError):
    """Division by zero in the scalar engine.

    It is both a ZeroDivisionError (what Python raises for ``1 / 0``) and a ValueError (what
    the other domain errors raise), so either ``except`` clause catches it.
    """


def _describe(x: Any) -> str:
    """'str 'abc'' style text for error messages: the type and a short repr."""
    text = repr(x)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(x).__name__} {text}"


def _bool_error(x: Any, where: str) -> TypeError:
    return TypeError(
        f"{where}: received {_describe(x)}; bool is not accepted as a number, so that a "
        f"comparison result is not used as data by mistake. Pass float({x!r}) if you mean it."
    )


def _to_float(x: Any, where: str) -> float | None:
    """Convert a real number to float; None when ``x`` is not one (the caller decides)."""
    t = type(x)
    if t is float:
        return x
    if t is int:
        return float(x)
    if t is bool or t.__name__ in ("bool", "bool_"):  # Python bool, NumPy's bool scalar
        raise _bool_error(x, where)
    if isinstance(x, numbers.Real):  # float/int subclasses, Fraction, NumPy real scalars
        return float(x)
    # A 0-d NumPy array of a real dtype (e.g. X[i, j] of a NumPy matrix of arrays).
    if getattr(x, "shape", None) == () and getattr(getattr(x, "dtype", None), "kind", "") in (
        "f",
        "i",
        "u",
    ):
        return float(x)
    return None


def _const(x: Any, op: str) -> float | None:
    """The float value of a non-Value operand of ``op``; None for types that are not numbers."""
    return _to_float(x, f"Value {op}")


def _zero_div(op: str, expr: str, fix: str) -> ScalarZeroDivisionError:
    return ScalarZeroDivisionError(f"{op}: got {expr}, a division by zero. {fix}")


def _pow_float(base: float, exponent: float, expr: str) -> float:
    """base ** exponent for floats, with errors that name the op instead of NaN/complex."""
    if base < 0.0 and not float(exponent).is_integer():
        raise ValueError(
            f"pow: got {expr}; a negative base needs an integer exponent (the real result is "
            "undefined: Python would return a complex number, NumPy NaN). Use abs(x) ** y, "
            "or keep the base positive (e.g. x.exp() or x * x)."
        )
    if base == 0.0 and exponent < 0:
        raise _zero_div(
            "pow", expr, "Zero to a negative power is 1 / 0. Keep the base away from 0 (x + eps)."
        )
    try:
        return base**exponent
    except OverflowError:
        raise OverflowError(f"pow: {expr} is too large for a float.") from None


def topological_sort(root: Value) -> list[Value]:
    """All nodes that ``root`` depends on, each after its parents (``root`` comes last).

    An iterative depth-first search over the ordered ``_parents``, so the order is
    deterministic and graphs of any depth work (micrograd's recursive ``build_topo`` raises
    RecursionError at about 1,000 nodes). It visits parents in the same order as the
    recursive version would.

    Args:
        root: the node to start from (usually the loss).

    Returns:
        A list of Values in topological order: every node appears after all its parents.

    >>> a = Value(1.0, label="a"); b = Value(2.0, label="b")
    >>> [v.label or v._op for v in topological_sort(a * b + a)]
    ['a', 'b', '*', '+']
    """
    topo: list[Value] = []
    # placed[node] is False while the node's parents are being explored, True once the node
    # is in `topo`. One dict instead of (node, flag) tuples on the stack: no allocation per
    # node, which matters for a million nodes.
    placed: dict[Value, bool] = {}
    state = placed.get
    stack = [root]
    push = stack.append
    pop = stack.pop
    while stack:
        node = pop()
        s = state(node)
        if s is None:  # first visit
            parents = node._parents
            if parents:
                placed[node] = False
                push(node)  # popped again after all its parents: post-order
                # Reversed, so the first parent is popped (and placed) first, as in recursion.
                # Filtering here (not at pop time) keeps shared leaves such as weights, which
                # have many children, off the stack.
                for p in reversed(parents):
                    if p not in placed:
                        push(p)
            else:  # a leaf is placed at once
                placed[node] = True
                topo.append(node)
        elif s is False:  # the second visit: every parent is placed
            placed[node] = True
            topo.append(node)
        # s is True: reached again through another path, already placed. (In a DAG a node
        # can never be met while s is False from below: that would be a cycle.)
    return topo


class Value:
    """A scalar in a computational graph: its ``data`` and, after backward, its ``grad``.

    Args:
        data: a real number (int, float, or a NumPy real scalar); stored as a Python float.
            bool is rejected (see the module docstring).
        _children: the Values this one was computed from (micrograd's signature, for custom
            ops: set ``out._backward`` to a function that accumulates into their grads).
        _op: the name of the op that made this node, for drawing.
        label: an optional name, for drawing.

    >>> a = Value(2.0)
    >>> b = a * a + 1
    >>> b
    Value(data=5.0, grad=0.0)
    >>> b.backward()
    >>> a.grad            # d/da (a*a + 1) = 2*a
    4.0
    """

    # __slots__: no per-node __dict__ (less memory, faster attribute access). `_label` and
    # `_fn` are set only when used; `label` and `_backward` read them with a default.
    __slots__ = ("_fn", "_label", "_local", "_op", "_parents", "data", "grad")

    # NumPy scalars on the left (np.float64(2) * v) must defer to Value.__rmul__ instead of
    # trying to broadcast a Value as an object array.
    __array_ufunc__ = None

    def __init__(
        self, data: float, _children: Iterable[Value] = (), _op: str = "", label: str = ""
    ) -> None:
        value = _to_float(data, "Value()") if type(data) is not float else data
        if value is None:
            if isinstance(data, Value):
                raise TypeError(
                    f"Value() expects a real number (int, float, or NumPy real scalar); "
                    f"received a Value ({data!r}). Use the Value itself, or Value(v.data) "
                    "for a detached copy."
                )
            raise TypeError(
                "Value() expects a real number (int, float, or NumPy real scalar); "
                f"received {_describe(data)}."
            )
        self.data = value
        self.grad = 0.0
        self._op = _op
        if label:
            self._label = label
        parents = tuple(_children)
        self._parents = parents
        if parents:
            # A micrograd-style custom op: the caller supplies `out._backward` as a closure.
            # _local = None tells backward() to call it instead of using local derivatives.
            self._local = None
            self._fn = None
        else:
            self._local = ()

    # --- micrograd-compatible views -----------------------------------------------------

    @property
    def _prev(self) -> set[Value]:
        """The set of parent nodes (micrograd's name); the engine itself walks ``_parents``."""
        return set(self._parents)

    @property
    def label(self) -> str:
        """An optional name for drawing; '' when not set."""
        try:
            return self._label
        except AttributeError:
            return ""

    @label.setter
    def label(self, text: str) -> None:
        self._label = text

    @property
    def _backward(self) -> Callable[[], None]:
        """The chain rule for this node: add ``d(self)/d(parent) * self.grad`` to each parent.

        A bound method, created on access, so no node stores a reference cycle. Assigning a
        function (micrograd-style custom op) replaces it for this node.

        >>> x = Value(3.0); y = x.tanh()
        >>> y.grad = 1.0; y._backward()
        >>> round(x.grad, 6) == round(1 - math.tanh(3.0) ** 2, 6)
        True
        """
        if self._local is None:
            return self._fn or _noop
        return self._apply_local

    @_backward.setter
    def _backward(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._local = None

    def _apply_local(self) -> None:
        # += because a parent may feed several nodes: each contributes its own path.
        g = self.grad
        for p, d in zip(self._parents, self._local):
            p.grad += d * g

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # --- binary arithmetic --------------------------------------------------------------
    # Each op computes the output and its local derivatives now, while the inputs are at
    # hand, and stores them as floats; backward() only multiplies and adds.

    def __add__(self, other: Scalar) -> Value:
        """self + other.
        d/dself = 1, d/dother = 1.

        >>> (Value(2.0) + 3).data
        5.0
        """
        out = _new(Value)
        out.grad = 0.0
        out._op = "+"
        if isinstance(other, Value):
            out.data = self.data + other.data
            out._parents = (self, other)
            out._local = _ONE_ONE
            return out
        c = _const(other, "+")
        if c is None:
            return NotImplemented
        out.data = self.data + c
        out._parents = (self,)
        out._local = _ONE
        return out

    __radd__ = __add__  # other + self == self + other

    def __sub__(self, other: Scalar) -> Value:
        """self - other.
        d/dself = 1, d/dother = -1.

        >>> (Value(2.0) - 3).data
        -1.0
        """
        out = _new(Value)
        out.grad = 0.0
        out._op = "-"
        if isinstance(other, Value):
            out.data = self.data - other.data
            out._parents = (self, other)
            out._local = _ONE_MINUS_ONE
            return out
        c = _const(other, "-")
        if c is None:
            return NotImplemented
        out.data = self.data - c
        out._parents = (self,)
        out._local = _ONE
        return out

    def __rsub__(self, other: Scalar) -> Value:
        """other - self, for a number on the left.
        d/dself (c - self) = -1.

        >>> (1 - Value(3.0)).data
        -2.0
        """
        c = _const(other, "-")
        if c is None:
            return NotImplemented
        out = _new(Value)
        out.data = c - self.data
        out.grad = 0.0
        out._parents = (self,)
        out._local = _MINUS_ONE
        out._op = "-"
        return out

    def __mul__(self, other: Scalar) -> Value:
        """self * other.
        d/dself = other, d/dother = self.

        >>> (Value(2.0) * 3).data
        6.0
        """
        out = _new(Value)
        out.grad = 0.0
        out._op = "*"
        if isinstance(other, Value):
            a = self.data
            b = other.data
            out.data = a * b
            out._parents = (self, other)
            out._local = (b, a)
            return out
        c = _const(other, "*")
        if c is None:
            return NotImplemented
        out.data = self.data * c
        out._parents = (self,)
        out._local = (c,)
        return out

    __rmul__ = __mul__  # other * self == self * other

    def __truediv__(self, other: Scalar) -> Value:
        """self / other.
        d/dself = 1 / other, d/dother = -self / other**2.

        Raises ScalarZeroDivisionError (a ZeroDivisionError and a ValueError) when other is 0.

        >>> (Value(3.0) / 2).data
        1.5
        """
        a = self.data
        if isinstance(other, Value):
            b = other.data
            if b == 0.0:
                raise _zero_div(
                    "div", f"{a!r} / {b!r}", "Keep the denominator away from 0 (e.g. y + eps)."
                )
            out = _new(Value)
            out.data = a / b
            out._parents = (self, other)
            out._local = (1.0 / b, -a / (b * b))
        else:
            c = _const(other, "/")
            if c is None:
                return NotImplemented
            if c == 0.0:
                raise _zero_div("div", f"{a!r} / {c!r}", "The constant denominator is 0.")
            out = _new(Value)
            out.data = a / c
            out._parents = (self,)
            out._local = (1.0 / c,)
        out.grad = 0.0
        out._op = "/"
        return out

    def __rtruediv__(self, other: Scalar) -> Value:
        """other / self, for a number on the left.
        d/dself (c / self) = -c / self**2.

        >>> (1 / Value(4.0)).data
        0.25
        """
        c = _const(other, "/")
        if c is None:
            return NotImplemented
        b = self.data
        if b == 0.0:
            raise _zero_div(
                "div", f"{c!r} / {b!r}", "Keep the denominator away from 0 (e.g. y + eps)."
            )
        out = _new(Value)
        out.data = c / b
        out.grad = 0.0
        out._parents = (self,)
        out._local = (-c / (b * b),)
        out._op = "/"
        return out

    def __pow__(self, other: Scalar) -> Value:
        """self ** other, with a number or a Value exponent.
        d/dself = other * self**(other - 1), d/dother = self**other * log(self).

        Raises ValueError for a negative base with a non-integer exponent and, with a Value
        exponent, for a base <= 0 (log(self) is needed); 0 ** negative raises
        ScalarZeroDivisionError. d/dself at self == 0 with 0 < other < 1 is inf, as in PyTorch.

        >>> (Value(3.0) ** 2).data
        9.0
        >>> (Value(2.0) ** Value(3.0)).data
        8.0
        """
        a = self.data
        if isinstance(other, Value):
            b = other.data
            if a <= 0.0:
                raise ValueError(
                    f"pow: got {a!r} ** Value(data={b!r}); with a Value exponent the base must "
                    "be > 0, because d/dy x**y = x**y * log(x) needs log(x). Use a number "
                    "exponent, or keep the base positive (e.g. abs(x) + eps, or exp(y * log(x)))."
                )
            out = _new(Value)
            y = _pow_float(a, b, f"{a!r} ** {b!r}")
            out.data = y
            out._parents = (self, other)
            out._local = (b * _pow_float(a, b - 1.0, f"{a!r} ** {b - 1.0!r}"), y * math.log(a))
            out._op = "**"
        else:
            n = _const(other, "**")
            if n is None:
                return NotImplemented
            expr = f"{a!r} ** {other!r}"
            y = _pow_float(a, n, expr)
            if n == 2.0:  # the common square: skip the second pow
                d = 2.0 * a
            elif a == 0.0 and n < 1.0:
                # 0 ** (n - 1) is 1 / 0 here; the slope of x**n at 0 is vertical (n in (0,1))
                # or flat (n == 0). PyTorch gives inf and 0 as well.
                d = 0.0 if n == 0.0 else math.inf
            else:
                d = n * _pow_float(a, n - 1.0, expr)
            out = _new(Value)
            out.data = y
            out._parents = (self,)
            out._local = (d,)
            out._op = f"**{other}"
        out.grad = 0.0
        return out

    def __rpow__(self, other: Scalar) -> Value:
        """other ** self, for a number base.
        d/dself c**self = c**self * log(c); the base c must be > 0.

        >>> (2 ** Value(3.0)).data
        8.0
        """
        c = _const(other, "**")
        if c is None:
            return NotImplemented
        b = self.data
        if c <= 0.0:
            raise ValueError(
                f"pow: got {c!r} ** Value(data={b!r}); with a Value exponent the base must be "
                "> 0, because d/dy c**y = c**y * log(c) needs log(c). Use a positive base."
            )
        y = _pow_float(c, b, f"{c!r} ** {b!r}")
        out = _new(Value)
        out.data = y
        out.grad = 0.0
        out._parents = (self,)
        out._local = (y * math.log(c),)
        out._op = f"{other}**"
        return out

    def __neg__(self) -> Value:
        """-self.
        d/dself (-self) = -1.

        >>> (-Value(2.0)).data
        -2.0
        """
        out = _new(Value)
        out.data = -self.data
        out.grad = 0.0
        out._parents = (self,)
        out._local = _MINUS_ONE
        out._op = "neg"
        return out

    # --- unary functions ----------------------------------------------------------------

    def relu(self) -> Value:
        """max(self, 0).
        d/dx relu(x) = 1 if x > 0 else 0  (0 at the kink x == 0, as in PyTorch).

        >>> Value(-2.0).relu().data, Value(3.0).relu().data
        (0.0, 3.0)
        """
        a = self.data
        out = _new(Value)
        out.grad = 0.0
        out._parents = (self,)
        out._op = "ReLU"
        if a > 0.0:
            out.data = a
            out._local = _ONE
        else:
            out.data = 0.0
            out._local = _ZERO
        return out

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """self if self > 0 else slope * self.
        d/dx leaky_relu(x) = 1 if x > 0 else slope  (slope at the kink x == 0, as in PyTorch).

        >>> Value(-2.0).leaky_relu(0.1).data
        -0.2
        """
        a = self.data
        out = _new(Value)
        out.grad = 0.0
        out._parents = (self,)
        out._op = "LeakyReLU"
        if a > 0.0:
            out.data = a
            out._local = _ONE
        else:
            s = float(slope)
            out.data = s * a
            out._local = (s,)
        return out

    def tanh(self) -> Value:
        """tanh(self).
        d/dx tanh(x) = 1 - tanh(x)**2.

        >>> round(Value(0.5).tanh().data, 6)
        0.462117
        """
        t = math.tanh(self.data)
        out = _new(Value)
        out.data = t
        out.grad = 0.0
        out._parents = (self,)
        out._local = (1.0 - t * t,)
        out._op = "tanh"
        return out

    def sigmoid(self) -> Value:
        """1 / (1 + exp(-self)).
        d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x)).

        >>> Value(0.0).sigmoid().data
        0.5
        """
        a = self.data
        # Two forms so that exp never overflows: exp(-a) for a >= 0, exp(a) otherwise.
        if a >= 0.0:
            s = 1.0 / (1.0 + math.exp(-a))
        else:
            e = math.exp(a)
            s = e / (1.0 + e)
        out = _new(Value)
        out.data = s
        out.grad = 0.0
        out._parents = (self,)
        out._local = (s * (1.0 - s),)
        out._op = "sigmoid"
        return out

    def exp(self) -> Value:
        """e ** self.
        d/dx exp(x) = exp(x).

        >>> Value(0.0).exp().data
        1.0
        """
        a = self.data
        try:
            e = math.exp(a)
        except OverflowError:
            raise OverflowError(
                f"exp: exp({a!r}) is too large for a float (the limit is about exp(709.78)). "
                "Scale the input down, or use a stable form (e.g. sigmoid, log-sum-exp)."
            ) from None
        out = _new(Value)
        out.data = e
        out.grad = 0.0
        out._parents = (self,)
        out._local = (e,)
        out._op = "exp"
        return out

    def log(self) -> Value:
        """The natural logarithm of self; self must be > 0.
        d/dx log(x) = 1 / x.

        >>> Value(1.0).log().data
        0.0
        """
        a = self.data
        if a <= 0.0:
            raise ValueError(
                f"log: got log({a!r}); the logarithm is defined only for positive numbers "
                "(NumPy would give -inf or NaN). Keep the input positive, e.g. "
                "(x + 1e-12).log() for x >= 0, or find where a non-positive value came from."
            )
        out = _new(Value)
        out.data = math.log(a)
        out.grad = 0.0
        out._parents = (self,)
        out._local = (1.0 / a,)
        out._op = "log"
        return out

    def sqrt(self) -> Value:
        """The square root of self; self must be >= 0.
        d/dx sqrt(x) = 1 / (2 * sqrt(x))  (inf at x == 0, as in PyTorch).

        >>> Value(9.0).sqrt().data
        3.0
        """
        a = self.data
        if a < 0.0:
            raise ValueError(
                f"sqrt: got sqrt({a!r}); the square root is defined only for numbers >= 0 "
                "(NumPy would give NaN). Keep the input non-negative, e.g. (x * x).sqrt() or "
                "abs(x).sqrt(), or find where the negative value came from."
            )
        s = math.sqrt(a)
        out = _new(Value)
        out.data = s
        out.grad = 0.0
        out._parents = (self,)
        out._local = (0.5 / s if s > 0.0 else math.inf,)
        out._op = "sqrt"
        return out

    # --- fused n-ary nodes --------------------------------------------------------------

    @staticmethod
    def sum(values: Iterable[Scalar]) -> Value:
        """values[0] + values[1] + ... as ONE node (n parents) instead of a chain of n - 1.
        d/dvalues[i] = 1.

        Plain numbers among the values are added as constants. A Value that appears twice is
        a parent twice, and its grad receives both contributions.

        Args:
            values: Values and/or numbers.

        Returns:
            A Value whose ``_parents`` are the Value items, in order.

        >>> a, b = Value(1.0), Value(2.0)
        >>> s = Value.sum([a, b, a, 3])
        >>> s.data
        7.0
        >>> s.backward(); a.grad, b.grad
        (2.0, 1.0)
        """
        parents = []
        total = 0.0
        for v in values:
            if isinstance(v, Value):
                parents.append(v)
                total += v.data
            else:
                c = _const(v, "sum")
                if c is None:
                    raise TypeError(
                        f"Value.sum: expected Values or real numbers; received {_describe(v)}."
                    )
                total += c
        out = _new(Value)
        out.data = total
        out.grad = 0.0
        out._parents = tuple(parents)
        out._local = (1.0,) * len(parents)
        out._op = "sum"
        return out

    @staticmethod
    def dot(ws: Sequence[Scalar], xs: Sequence[Scalar], bias: Scalar = 0.0) -> Value:
        """bias + ws[0] * xs[0] + ws[1] * xs[1] + ... as ONE node.
        d/dws[i] = xs[i], d/dxs[i] = ws[i], d/dbias = 1.

        This is a neuron's pre-activation ``w . x + b``. Plain numbers (in either sequence, or
        as bias) are constants. The parents are the Value items of ``ws``, then of ``xs``,
        then ``bias``. The products are added in order starting from bias, like the unfused
        ``sum((w * x for w, x in zip(ws, xs)), bias)`` (Python >= 3.12 sums floats with
        compensation, so the last bits can differ from the unfused chain there).

        Args:
            ws: weights, Values and/or numbers.
            xs: inputs, Values and/or numbers, as many as ``ws``.
            bias: a Value or number added to the result.

        Returns:
            A Value with one parent per Value among ws, xs and bias.

        >>> w = [Value(1.0), Value(2.0)]
        >>> b = Value(0.5)
        >>> y = Value.dot(w, [3.0, 4.0], b)
        >>> y.data
        11.5
        >>> y.backward(); [wi.grad for wi in w], b.grad
        ([3.0, 4.0], 1.0)
        """
        if len(ws) != len(xs):
            raise ValueError(
                f"Value.dot: ws has {len(ws)} items but xs has {len(xs)}; they must match."
            )
        out = _new(Value)
        out.grad = 0.0
        out._op = "dot"
        # Fast paths for a neuron: ws are Values (weights), bias is a Value, and xs are all
        # Values (a hidden layer) or all floats (the network's inputs). set(map(type, ...))
        # checks the types at C speed.
        if type(bias) is Value and set(map(type, ws)) == _ONLY_VALUE:
            wd = [w.data for w in ws]
            x_types = set(map(type, xs))
            if x_types == _ONLY_VALUE:
                xd = [x.data for x in xs]
                out.data = sum(map(_mul, wd, xd), bias.data)
                out._parents = (*ws, *xs, bias)
                out._local = (*xd, *wd, 1.0)
                return out
            if x_types == _ONLY_FLOAT:
                out.data = sum(map(_mul, wd, xs), bias.data)
                out._parents = (*ws, bias)
                out._local = (*xs, 1.0)
                return out
        # The general case: any mix of Values and numbers.
        wd, xd, wp, wl, xp, xl = [], [], [], [], [], []
        for w, x in zip(ws, xs):
            wv = w.data if isinstance(w, Value) else _dot_const(w, "ws")
            xv = x.data if isinstance(x, Value) else _dot_const(x, "xs")
            wd.append(wv)
            xd.append(xv)
            if isinstance(w, Value):
                wp.append(w)
                wl.append(xv)
            if isinstance(x, Value):
                xp.append(x)
                xl.append(wv)
        parents = wp + xp
        local = wl + xl
        if isinstance(bias, Value):
            start = bias.data
            parents.append(bias)
            local.append(1.0)
        else:
            start = _dot_const(bias, "bias")
        out.data = sum(map(_mul, wd, xd), start)
        out._parents = tuple(parents)
        out._local = tuple(local)
        return out

    # --- the backward pass --------------------------------------------------------------

    def backward(self) -> None:
        """Fill in ``grad`` of every node this one depends on: grad = d(self)/d(node).

        Seeds ``self.grad = 1.0`` (d self / d self), then walks the graph in reverse
        topological order, so a node's grad is complete before it is passed to its parents.
        Gradients accumulate (``+=``) across calls, like micrograd and PyTorch: call
        ``zero_grad()`` (or set ``grad = 0``) between steps. Iterative: any depth works.

        >>> x = Value(2.0)
        >>> y = (x * x).tanh()
        >>> y.backward()
        >>> round(x.grad, 6)    # d/dx tanh(x*x) = (1 - tanh(x*x)**2) * 2*x
        0.005364
        """
        topo = topological_sort(self)
        self.grad = 1.0
        # The hot loop, inlined (no method call per node): each node passes
        # local_derivative * grad to each of its parents.
        for node in reversed(topo):
            local = node._local
            if not local:
                if local is None:  # a micrograd-style custom op: run its closure
                    fn = node._fn
                    if fn is not None:
                        fn()
                continue  # () : a leaf, nothing to pass on
            g = node.grad
            if g == 0.0:
                # A zero cotangent contributes nothing to any parent, so skip its edges: dead
                # ReLUs and satisfied margins cost nothing here. (PyTorch would form 0 * d;
                # that differs only for an infinite local derivative d, where it gives NaN.)
                continue
            if len(local) == 1:  # unary ops and constants folded in: most nodes
                node._parents[0].grad += local[0] * g
            else:
                for p, d in zip(node._parents, local):
                    p.grad += d * g


_ONLY_VALUE = frozenset((Value,))


def _noop() -> None:
    """The backward of a custom node that has no ``_backward`` assigned yet."""


def _dot_const(x: Any, where: str) -> float:
    c = _const(x, "dot")
    if c is None:
        raise TypeError(f"Value.dot: {where} must hold Values or real numbers; got {_describe(x)}.")
    return c
