"""chainrule: automatic differentiation you can see and use.

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, 2.0]], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([[2., 4.]])
"""

# The kit sits on top of the tensor engine, so it is imported after it.
from chainrule.ops import api as _ops  # first: attaches the Tensor methods (isort: skip)

from chainrule import autograd, data, func, nn, optim, utils, viz  # viz: no heavy imports
from chainrule._backend import bool_, float16, float32, float64, int32, int64
from chainrule._compile import compile
from chainrule._threads import get_num_threads, set_num_threads
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.creation import (
    arange,
    eye,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.io import load, save
from chainrule.ops.api import *  # noqa: F403  (the ops: generated from the family files)
from chainrule.tensor import Tensor

float = float32
double = float64
long = int64
bool = bool_

__version__ = "0.1.0"
