"""RMSprop (Hinton's lecture 6e), with optional momentum and centering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule.optim.optimizer import Optimizer, check_non_negative
from chainrule.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop, step for step PyTorch's formulas:

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        a = sqrt(s - m * m) + eps with m = m + (1 - alpha) * (g - m)   (centered)
        a = sqrt(s) + eps                                               (otherwise)
        b = momentum * b + g / a;  p = p - lr * b                       (momentum > 0)
        p = p - lr * g / a                                              (otherwise)

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()                    # first step: lr * g / sqrt(0.01 g^2) = 10 lr * sign(g)
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative(
            learning_rate=lr,
            epsilon_value=eps,
            momentum_value=momentum,
            weight_decay_value=weight_decay,
            alpha_value=alpha,
        )
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        momentum = ("momentum_buffer",) if group["momentum"] > 0 else ()
        centered = ("grad_avg",) if group["centered"] else ()
        return ("step", "square_avg", *momentum, *centered)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            weight_decay, momentum, centered = (
                group["weight_decay"],
                group["momentum"],
                group["centered"],
            )
            for p, g in self._gradients(group):
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {
                        "step": 0,
                        "square_avg": Tensor(xp.zeros_like(p.data)),
                    }
                    if momentum > 0:
                        state["momentum_buffer"] = Tensor(xp.zeros_like(p.data))
                    if centered:
                        state["grad_avg"] = Tensor(xp.zeros_like(p.data))
                state["step"] += 1
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                square_avg = state["square_avg"].data
                square_avg *= alpha
                square_avg += (1 - alpha) * (g * g)
                if centered:
                    grad_avg = state["grad_avg"].data
                    grad_avg += (1 - alpha) * (g - grad_avg)
                    avg = xp.sqrt(square_avg - grad_avg * grad_avg)
                else:
                    avg = xp.sqrt(square_avg)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"].data
                    buf *= momentum
                    buf += g / avg
                    p.data -= lr * buf
                else:
                    update = xp.divide(g, avg, out=avg)
                    update *= lr
                    p.data -= update
                p._bump()  # an in-place change: graphs that saved p must notice
        return loss
