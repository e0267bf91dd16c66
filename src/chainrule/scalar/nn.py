"""A tiny neural-network library on ``Value``: micrograd's Module, Neuron, Layer and MLP.

The constructors match micrograd's, and weights are drawn with Python's ``random`` in the same
order, so ``random.seed(s)`` gives the same network as micrograd with the same seed.

``fused=True`` computes each neuron's ``w . x + b`` as one ``Value.dot`` node instead of a chain
of ``nin`` multiplications and ``nin`` additions: the same numbers, about ten times fewer nodes.

>>> import random
>>> random.seed(0)
>>> model = MLP(2, [16, 16, 1])
>>> len(model.parameters())
337
>>> out = model([1.0, -2.0])
>>> out.backward()
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from chainrule.scalar.engine import Value

__all__ = ["MLP", "Layer", "Module", "Neuron"]


class Module:
    """Base class: something with parameters whose gradients can be zeroed."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0, before the next backward (grads accumulate).

        >>> n = Neuron(2); n([1.0, 2.0]).backward(); n.zero_grad()
        >>> [p.grad for p in n.parameters()]
        [0.0, 0.0, 0.0]
        """
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        """All trainable Values of the module, in a fixed order."""
        return []


class Neuron(Module):
    """One neuron: relu(w . x + b), or w . x + b when ``nonlin`` is False.
    d/dw_i = x_i * relu'(w . x + b),  d/db = relu'(w . x + b).

    Args:
        nin: number of inputs.
        nonlin: apply relu after the weighted sum.
        fused: compute ``w . x + b`` as one ``Value.dot`` node (faster, same numbers).

    >>> import random; random.seed(1)
    >>> n = Neuron(3)
    >>> n
    ReLUNeuron(3)
    >>> len(n.parameters())
    4
    """

    def __init__(self, nin: int, nonlin: bool = True, fused: bool = False) -> None:
        # random.uniform in micrograd's order, so random.seed reproduces micrograd's weights.
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self.fused = fused

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if self.fused:
            act = Value.dot(self.w, x, self.b)
        else:
            # micrograd's form: b + w0*x0 + w1*x1 + ..., 2 * nin nodes.
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons that see the same inputs.

    Args:
        nin: number of inputs.
        nout: number of neurons (outputs).
        **kwargs: passed to each Neuron (``nonlin``, ``fused``).

    Returns (when called): a list of ``nout`` Values, or the single Value when ``nout == 1``
    (micrograd's convention).

    >>> Layer(2, 3)
    Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)]
    """

    def __init__(self, nin: int, nout: int, **kwargs: bool) -> None:
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: relu hidden layers and a linear last layer.

    Args:
        nin: number of inputs.
        nouts: the size of each layer, e.g. ``[16, 16, 1]``.
        fused: build every neuron with ``fused=True`` (one ``Value.dot`` node per neuron).

    >>> MLP(2, [3, 1])
    MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(3)]]
    """

    def __init__(self, nin: int, nouts: Sequence[int], fused: bool = False) -> None:
        sz = [nin, *nouts]
        self.layers = [
            Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1, fused=fused)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
