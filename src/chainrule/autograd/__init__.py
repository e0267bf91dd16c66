"""Reverse-mode machinery: nodes, the backward engine, ``grad``, grad mode, anomaly mode and
gradient checking."""

from chainrule.autograd.anomaly import detect_anomaly, set_detect_anomaly
from chainrule.autograd.function import Function, FunctionCtx, once_differentiable
from chainrule.autograd.functional import grad
from chainrule.autograd.grad_mode import enable_grad, no_grad, set_grad_enabled
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

__all__ = [
    "Function",
    "FunctionCtx",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "no_grad",
    "once_differentiable",
    "set_detect_anomaly",
    "set_grad_enabled",
]
