"""The cases of ``silent_cases.py`` (issue 14, items 5 and 6) run in chainrule and in PyTorch
itself: same values, same gradients, same kind of error."""

from __future__ import annotations

import numpy as np
import pytest
from silent_cases import CASES, ERRORS
from test_silent_wrong import run_case

import chainrule as cr
import chainrule.nn.functional as crF

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
tF = torch.nn.functional


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_values_and_gradients_as_torch(case):
    ours, our_grads = run_case(cr, crF, case, _np)
    theirs, their_grads = run_case(torch, tF, case, _np)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0, equal_nan=True)
    for g, e in zip(our_grads, their_grads):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-300, equal_nan=True)
    # the numbers written in silent_cases.py are PyTorch's
    np.testing.assert_allclose(theirs, np.asarray(case.value), rtol=1e-9, equal_nan=True)
    for e, written in zip(their_grads, case.grads):
        np.testing.assert_allclose(e, written, rtol=1e-9, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize(("name", "fn", "error"), ERRORS, ids=[e[0] for e in ERRORS])
def test_same_error_as_torch(name, fn, error):
    with pytest.raises(error):
        fn(torch, tF)
    with pytest.raises(error):
        fn(cr, crF)
