"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule.optim.optimizer import Optimizer, check_non_negative
from chainrule.tensor import Tensor


class Adam(Optimizer):
    """Adam, step for step PyTorch's formulas (t the step count):

        g = g + weight_decay * p                      (AdamW instead: p = p * (1 - lr * wd))
        m = m + (1 - beta1) * (g - m)                 (a lerp towards g)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)  and use it for v        (amsgrad)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()                    # the first step moves each entry by ~lr
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    _decoupled = False

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative(learning_rate=lr, epsilon_value=eps)
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid beta parameters: {betas}")
        check_non_negative(weight_decay_value=weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        extra = ("max_exp_avg_sq",) if group["amsgrad"] else ()
        return ("step", "exp_avg", "exp_avg_sq", *extra)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            amsgrad = group["amsgrad"]
            for p, g in self._gradients(group):
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {
                        "step": 0,
                        "exp_avg": Tensor(xp.zeros_like(p.data)),
                        "exp_avg_sq": Tensor(xp.zeros_like(p.data)),
                    }
                    if amsgrad:
                        state["max_exp_avg_sq"] = Tensor(xp.zeros_like(p.data))
                if weight_decay != 0:
                    if self._decoupled:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                state["step"] += 1
                step = state["step"]
                m, v = state["exp_avg"].data, state["exp_avg_sq"].data
                m += (1 - beta1) * (g - m)
                v *= beta2
                v += (1 - beta2) * (g * g)
                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = math.sqrt(1 - beta2**step)
                if amsgrad:
                    v_max = state["max_exp_avg_sq"].data
                    xp.maximum(v_max, v, out=v_max)
                    v = v_max
                denom = xp.sqrt(v)
                denom /= bias_correction2_sqrt
                denom += eps
                update = xp.divide(m, denom, out=denom)  # reuse the buffer: one temporary
                update *= step_size
                p.data -= update
                p._bump()  # an in-place change: graphs that saved p must notice
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p = p * (1 - lr * weight_decay)`` before the Adam
    step, instead of adding ``weight_decay * p`` to the gradient (default weight_decay 0.01)."""

    _decoupled = True

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
