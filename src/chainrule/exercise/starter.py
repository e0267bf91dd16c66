"""``chainrule exercise init``: the starter ``solution.py`` and the task's README.

The starter is a skeleton with micrograd's attribute names and a docstring per method that
says what the method must do, with no answers: every method the learner writes raises
``NotImplementedError`` until they do, which ``chainrule check`` reports as "not implemented
yet".

>>> "class Value" in SOLUTION_TEMPLATE and "NotImplementedError" in SOLUTION_TEMPLATE
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["README_TEMPLATE", "SOLUTION_TEMPLATE", "ExistsError", "init_exercise"]

SOLUTION_TEMPLATE = '''\
"""My scalar autodiff engine: a Value class that supports +, * and relu with backward().

Grade it with:  chainrule check solution.py
"""


class Value:
    """One number in a computation graph, and the gradient of the output with respect to it.

    Attributes (the names micrograd uses; the grader reads .data and .grad):
        data:      the number computed in the forward pass (a float).
        grad:      d(output)/d(this node), filled in by backward(); starts at 0.0.
        _prev:     the Values this one was computed from (empty for an input).
        _op:       a short name of the operation that made this Value ('+', '*', 'relu').
        _backward: a function of no arguments that passes this node's grad on to _prev,
                   multiplied by the local derivative (the chain rule for one node).
    """

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None  # an input has nobody to pass its gradient to
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        """Return a new Value holding self.data + other.data.

        Its _backward must add d(out)/d(self) * out.grad to self.grad, and the same for other.
        Think about what happens when self and other are the same Value (x + x), and when a
        Value is used by several operations: a gradient must never overwrite another.
        """
        raise NotImplementedError("Value.__add__")

    def __mul__(self, other):
        """Return a new Value holding self.data * other.data, with its _backward.

        The local derivative of a product with respect to one factor is the other factor.
        """
        raise NotImplementedError("Value.__mul__")

    def relu(self):
        """Return a new Value holding max(0, self.data), with its _backward.

        relu passes the gradient where its output is positive and blocks it elsewhere
        (at exactly 0 the convention is to block it, as in PyTorch).
        """
        raise NotImplementedError("Value.relu")

    def backward(self):
        """Fill in .grad of every Value this one depends on.

        1. Order the graph so that each node comes after every node it was computed from
           (a topological order of the nodes reachable through _prev).
        2. Seed: d(self)/d(self) = 1.
        3. Call _backward on each node, from this one back towards the inputs, so that a node
           passes its gradient on only after it has received all of it.

        It must work on graphs that are thousands of nodes deep.
        """
        raise NotImplementedError("Value.backward")

    # Optional, once the above pass: v + 1, 1 + v, 2 * v (plain numbers as operands),
    # and -, /, ** with a number exponent, tanh, exp, log.

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
'''

README_TEMPLATE = """\
# Exercise: implement a minimal autograd

Write a `Value` class (in `solution.py`) that supports addition, multiplication and ReLU with
a correct backward pass. It must handle the DAG case, a node used more than once, by
accumulating gradients.

    chainrule check solution.py          # grade it; --json for a machine-readable report

The grader imports your file in a sandbox (no files, programs or network: your code needs
none of them) and checks, each with a verdict and, on failure, what it computed, what it
expected and how the expectation was derived:

- construction, and the forward values of `+`, `*` and `relu`;
- the local gradient of each operation, including relu at negative, zero and positive inputs
  (relu'(0) = 0, PyTorch's convention);
- `backward()` seeding the output with 1.0, accumulation (`+=`) when a node is used twice,
  reverse topological order, a second backward after zeroing the grads;
- a chain 5,000 nodes deep: a recursive topological sort hits Python's recursion limit;
- random graphs compared with chainrule's own engine, and a tiny MLP whose loss must decrease;
- optional: `v + 1`, `1 + v`, `2 * v`, and `-`, `/`, `**`, `tanh`, `exp`, `log`.

The exit code is 0 when every required check passes. Optional checks never change it.
"""


class ExistsError(FileExistsError):
    """solution.py exists and ``force`` was not given."""


def init_exercise(directory: str | Path = ".", force: bool = False) -> list[Path]:
    """Write ``solution.py`` and ``README.md`` into ``directory``; return the files written.

    An existing ``solution.py`` is never overwritten unless ``force`` is true (it may hold the
    learner's work); an existing README.md is left alone in the same way.

    Raises:
        ExistsError: ``solution.py`` exists and ``force`` is false.
    """
    directory = Path(directory)
    solution = directory / "solution.py"
    if solution.exists() and not force:
        raise ExistsError(f"{solution} already exists; use --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    solution.write_text(SOLUTION_TEMPLATE)
    written = [solution]
    readme = directory / "README.md"
    if force or not readme.exists():
        readme.write_text(README_TEMPLATE)
        written.append(readme)
    return written
