"""Issue 14, items 5 and 6: inputs where chainrule once gave NaN, a different shape or a
raw Python error where PyTorch 2.13 gives numbers, a result or a named error.

Each case is written once, as a function of the library (``chainrule`` or ``torch``) and its
``nn.functional``, with the answer PyTorch 2.13 gives written out, so that
``test_silent_wrong.py`` checks chainrule without torch and ``test_silent_wrong_torch.py``
checks the same cases against torch itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

nan, inf = float("nan"), float("inf")
EPS = float(np.float32(1e-12))  # the clamp of p (1 - p) in PyTorch's BCE backward


def f64(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.float64)


@dataclass
class Case:
    """``fn(lib, F, *tensors)`` on ``inputs`` (float inputs require grad); PyTorch's value and
    the gradient of ``value.sum()`` for each float input."""

    name: str
    fn: Any
    inputs: tuple
    value: Any
    grads: list = field(default_factory=list)


def _max0(lib, F, x):
    return x.max(dim=0)[0]


CASES = [
    # --- item 5: NaN where PyTorch gives numbers ---
    Case("std of a constant", lambda lib, F, x: x.std(), (f64(2, 2, 2),), 0.0, [f64(0, 0, 0)]),
    Case(
        "std(dim) of constant columns",
        lambda lib, F, x: x.std(dim=0),
        (np.array([[2.0, 1.0], [2.0, 1.0]]),),
        f64(0, 0),
        [np.zeros((2, 2))],
    ),
    Case(
        "std of a varying vector is unchanged",
        lambda lib, F, x: x.std(),
        (f64(1, 2, 4),),
        np.std([1, 2, 4], ddof=1),
        [(f64(1, 2, 4) - 7 / 3) / (2 * np.std([1, 2, 4], ddof=1))],
    ),
    Case(
        "binary_cross_entropy at p = 0 and 1, matching targets",
        # (the target's gradient there is PyTorch's inf; chainrule's is that of the clamped
        # logs, +-100 / 2: it is not compared)
        lambda lib, F, p: F.binary_cross_entropy(p, lib.tensor(f64(0, 1))),
        (f64(0, 1),),
        0.0,
        [f64(0, 0)],
    ),
    Case(
        "binary_cross_entropy at p = 0 and 1, opposite targets",
        lambda lib, F, p: F.binary_cross_entropy(p, lib.tensor(f64(1, 0))),
        (f64(0, 1),),
        100.0,
        [f64(-0.5, 0.5) / EPS],
    ),
    Case(
        "binary_cross_entropy inside the clamped band",
        lambda lib, F, p: F.binary_cross_entropy(p, lib.tensor(f64(0.5, 0.3))),
        (f64(1e-13, 0.3),),
        (-(0.5 * np.log(1e-13) + 0.5 * np.log1p(-1e-13)) - (0.3 * np.log(0.3) + 0.7 * np.log(0.7)))
        / 2,
        [f64((1e-13 - 0.5) / EPS / 2, 0.0)],
    ),
    Case("max() holding a NaN", lambda lib, F, x: x.max(), (f64(1, nan, 3),), nan, [f64(0, 1, 0)]),
    Case("min() holding a NaN", lambda lib, F, x: x.min(), (f64(1, nan, 3),), nan, [f64(0, 1, 0)]),
    Case(
        "max() holding two NaNs",
        lambda lib, F, x: x.max(),
        (f64(nan, 1, nan),),
        nan,
        [f64(0.5, 0, 0.5)],
    ),
    Case("max(dim) holding a NaN", _max0, (f64(1, nan, 3),), nan, [f64(0, 1, 0)]),
    Case(
        "relu at NaN",
        lambda lib, F, x: x.relu(),
        (f64(nan, -1, 2),),
        f64(nan, 0, 2),
        [f64(1, 0, 1)],
    ),
    Case(
        "maximum(NaN, 1)",
        lambda lib, F, x, y: lib.maximum(x, y),
        (f64(nan, 1, 2, 3), f64(1, nan, 2, 1)),
        f64(nan, nan, 2, 3),
        [f64(1, 1, 0.5, 1), f64(1, 1, 0.5, 0)],
    ),
    Case(
        "minimum(NaN, 1)",
        lambda lib, F, x, y: lib.minimum(x, y),
        (f64(nan, 1, 2, 3), f64(1, nan, 2, 1)),
        f64(nan, nan, 2, 1),
        [f64(1, 1, 0.5, 0), f64(1, 1, 0.5, 1)],
    ),
    Case(
        "abs at NaN", lambda lib, F, x: x.abs(), (f64(nan, -2, 0),), f64(nan, 2, 0), [f64(0, -1, 0)]
    ),
    Case(
        "x ** 0.5 at -0.0",
        lambda lib, F, x: x**0.5,
        (f64(-0.0, 0.0, 4.0),),
        f64(0, 0, 2),
        [f64(-inf, inf, 0.25)],
    ),
    Case(
        "sqrt at -0.0", lambda lib, F, x: x.sqrt(), (f64(-0.0, 0.0),), f64(0, 0), [f64(-inf, inf)]
    ),
    Case(
        "0.0 ** x for x < 0",
        lambda lib, F, x: lib.tensor(f64(0, 0, 0, 2)) ** x,
        (f64(-1, 0, 2, 1),),
        f64(inf, 1, 0, 2),
        [f64(-inf, 0, 0, np.log(2) * 2)],
    ),
    Case(
        "cross_entropy of an empty batch",
        lambda lib, F, z: F.cross_entropy(z, lib.tensor(np.zeros(0, dtype=np.int64))),
        (np.zeros((0, 3)),),
        nan,
        [np.zeros((0, 3))],
    ),
    Case(
        "nll_loss of an empty batch",
        lambda lib, F, z: F.nll_loss(z, lib.tensor(np.zeros(0, dtype=np.int64))),
        (np.zeros((0, 3)),),
        nan,
        [np.zeros((0, 3))],
    ),
    Case(
        "cross_entropy(sum) of an empty batch",
        lambda lib, F, z: F.cross_entropy(
            z, lib.tensor(np.zeros(0, dtype=np.int64)), reduction="sum"
        ),
        (np.zeros((0, 3)),),
        0.0,
        [np.zeros((0, 3))],
    ),
    # --- item 6: shapes ---
    Case(
        "sum(dim=())",
        lambda lib, F, x: x.sum(dim=()),
        (np.arange(4.0).reshape(2, 2),),
        6.0,
        [np.ones((2, 2))],
    ),
    Case(
        "mean(dim=[])",
        lambda lib, F, x: x.mean(dim=[]),
        (np.arange(4.0).reshape(2, 2),),
        1.5,
        [np.full((2, 2), 0.25)],
    ),
    Case("amax(dim=())", lambda lib, F, x: x.amax(dim=()), (f64(1, 5, 2),), 5.0, [f64(0, 1, 0)]),
    Case(
        "softmax over an empty dim",
        lambda lib, F, x: x.softmax(1),
        (np.zeros((3, 0)),),
        np.zeros((3, 0)),
        [np.zeros((3, 0))],
    ),
    Case(
        "log_softmax over an empty dim",
        lambda lib, F, x: x.log_softmax(1),
        (np.zeros((3, 0)),),
        np.zeros((3, 0)),
        [np.zeros((3, 0))],
    ),
    Case(
        "logsumexp over an empty dim",
        lambda lib, F, x: x.logsumexp(1),
        (np.zeros((3, 0)),),
        f64(-inf, -inf, -inf),
        [np.zeros((3, 0))],
    ),
    Case(
        "max(dim=0) of a 0-d tensor",
        lambda lib, F, x: x.max(dim=0)[0],
        (np.array(2.0),),
        2.0,
        [np.array(1.0)],
    ),
    Case(
        "min(dim=-1) of a 0-d tensor",
        lambda lib, F, x: x.min(dim=-1)[0],
        (np.array(2.0),),
        2.0,
        [np.array(1.0)],
    ),
]


def _embedding(lib, F):
    return F.embedding(lib.tensor(np.array([-1])), lib.ones(3, 2))


#: (name, fn(lib, F), the exception PyTorch 2.13 raises)
ERRORS = [
    ("sum over dim (0, 0)", lambda lib, F: lib.ones(2, 2).sum(dim=(0, 0)), RuntimeError),
    ("sum over dim (0, -2)", lambda lib, F: lib.ones(2, 2).sum(dim=(0, -2)), RuntimeError),
    ("amax over dim (1, 1)", lambda lib, F: lib.ones(2, 2).amax(dim=(1, 1)), RuntimeError),
    ("embedding index -1", _embedding, IndexError),
    ("sum(dim=1.5)", lambda lib, F: lib.ones(2, 2).sum(dim=1.5), TypeError),
    ("arange with step 0", lambda lib, F: lib.arange(0, 1, 0), RuntimeError),
    ("argmax of an empty tensor", lambda lib, F: lib.zeros(0).argmax(), IndexError),
    ("argmin of an empty tensor", lambda lib, F: lib.zeros(0).argmin(), IndexError),
    ("argmax over an empty dim", lambda lib, F: lib.zeros(2, 0).argmax(dim=1), IndexError),
]
