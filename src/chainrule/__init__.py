"""chainrule: automatic differentiation you can see and use.

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, 2.0]], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([[2., 4.]])
"""

# The kit sits on top of the tensor engine, so it is imported after it.
from chainrule.ops import api as _ops  # first: attaches the Tensor methods (isort: skip)

import math as _math

import numpy as _np

from chainrule import autograd, data, func, linalg, nn, optim, utils, viz  # viz: no heavy imports
from chainrule._backend import (
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from chainrule._compile import compile
from chainrule._device import (
    accelerator,
    backends,
    cuda,
    device,
    get_default_device,
    mps,
    set_default_device,
)
from chainrule._random import Generator, default_generator, initial_seed, seed
from chainrule._threads import get_num_threads, set_num_threads
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.creation import (
    arange,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
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
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.io import load, save
from chainrule.ops.api import *  # noqa: F403  (the ops: generated from the family files)
from chainrule.tensor import Size, Tensor, is_tensor

float = float32
double = float64
long = int64
bool = bool_
half = float16
int = int32
short = int16

# PyTorch's constants and dtype-info helpers (NumPy's finfo/iinfo take chainrule's dtypes)
pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan
finfo, iinfo = _np.finfo, _np.iinfo

__version__ = "0.1.0"
