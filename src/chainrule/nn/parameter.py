"""``Parameter``: a Tensor that a ``Module`` registers as trainable when it is assigned."""

from __future__ import annotations

from typing import Any

from chainrule._backend import xp
from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` that modules collect in ``parameters()``.

    The data is shared, not copied, when a Tensor or an array is given (as PyTorch). Ops on
    a Parameter return plain Tensors.

    >>> import chainrule as cr
    >>> p = Parameter(cr.zeros(2))
    >>> p
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    >>> (p * 2).requires_grad, type(p * 2).__name__
    (True, 'Tensor')
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = xp.empty((0,), dtype=xp.float32)
        super().__init__(data)
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        new = Parameter(self.data.copy(), self.requires_grad)
        if self.grad is not None:
            new.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:  # copy.copy / pickle keep the type
        return (Parameter, (self.data, self.requires_grad))
