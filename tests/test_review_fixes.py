"""Regressions found by the final read of the 2026-11-30 change."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd.node import SavedMeta


def test_numpy_ufunc_without_an_op_refuses_a_tensor_that_requires_grad() -> None:
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.arctan on a tensor that requires grad"):
        np.arctan(t)
    np.testing.assert_allclose(np.arctan(t.detach()).data, np.arctan([1.0, 2.0]), rtol=1e-6)
    with cr.no_grad():
        np.arctan(t)  # no gradient is being recorded: nothing to lose


def test_device_refuses_bools() -> None:
    with pytest.raises(TypeError):
        cr.device(True)
    with pytest.raises(RuntimeError):
        cr.device("cpu", True)


def test_linalg_of_integers_follows_the_default_float() -> None:
    before = cr.get_default_dtype()
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.linalg.inv(cr.tensor([[2, 0], [0, 4]])).dtype == cr.float64
    finally:
        cr.set_default_dtype(before)


def test_vmap_output_saved_inside_an_inner_grad_is_a_plain_value() -> None:
    saved = []

    def inner(x):
        y = x * 2.0
        saved.append(y)
        return y.sum()

    def f(x):
        func.grad(inner)(x)
        return saved[-1]

    out = func.vmap(f)(cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=cr.float64))
    assert type(out) is cr.Tensor
    np.testing.assert_allclose(out.data, [[2.0, 4.0], [6.0, 8.0]])


def test_saved_meta_answers_private_probes_like_an_object() -> None:
    meta = SavedMeta((2,), np.dtype("float32"), None, 0)
    assert not hasattr(meta, "_level")
    copy.deepcopy(meta)
    with pytest.raises(RuntimeError, match="does not save"):
        meta.data  # noqa: B018
