"""``chainrule.nn``: modules, layers, losses, initialisation and gradient utilities, with
PyTorch's names and defaults.

>>> import chainrule as cr
>>> from chainrule import nn
>>> _ = cr.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
>>> sum(p.numel() for p in model.parameters())
2410
>>> loss = nn.functional.cross_entropy(model(cr.randn(8, 64)), cr.randint(0, 10, (8,)))
>>> loss.backward()
>>> model[0].weight.grad.shape
(32, 64)
"""

from chainrule.nn import functional, init, utils
from chainrule.nn.layers import (
    GELU,
    BCEWithLogitsLoss,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ModuleList,
    MSELoss,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = [
    "GELU",
    "BCEWithLogitsLoss",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "utils",
]
