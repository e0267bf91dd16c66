"""Cases that once gave a silently wrong answer (issue 14), each pinned to the right number
or to a clear, named error. The comparisons with PyTorch itself are in
``test_silent_wrong_torch.py``; here the expected values are written out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from silent_cases import CASES, ERRORS

import chainrule as cr
import chainrule.nn.functional as crF
from chainrule.func import grad, hessian, jacfwd, jacrev, value_and_grad, vjp


def _x() -> cr.Tensor:
    return cr.tensor(np.array([1.0, 2.0, 3.0]))


# --- item 2: argnums ------------------------------------------------------------------------


@pytest.mark.parametrize("argnums", [(0, 0), (1, 0, 1), (0, -2), [1, 1]])
@pytest.mark.parametrize("transform", [grad, value_and_grad, jacrev, jacfwd])
def test_repeated_argnums_are_refused(transform, argnums):
    x = _x()
    with pytest.raises(ValueError, match="more than once"):
        transform(lambda a, b: (a * b).sum(), argnums=argnums)(x, 2 * x)


@pytest.mark.parametrize("argnums", [True, False, "0", 1.0, (0, 1.0), (True,), (), None])
@pytest.mark.parametrize("transform", [grad, value_and_grad, jacrev, jacfwd])
def test_argnums_of_the_wrong_type_name_what_is_allowed(transform, argnums):
    x = _x()
    with pytest.raises(TypeError, match="argnums must be an int or a non-empty tuple of ints"):
        transform(lambda a, b: (a * b).sum(), argnums=argnums)(x, 2 * x)


def test_valid_argnums_still_work():
    x = _x()
    ga, gb = grad(lambda a, b: (a * b).sum(), argnums=(1, 0))(x, 2 * x)
    np.testing.assert_allclose(ga.numpy(), x.numpy())  # d/db = a
    np.testing.assert_allclose(gb.numpy(), 2 * x.numpy())  # d/da = b
    g = grad(lambda a, b: (a * b).sum(), argnums=np.int64(1))(x, 2 * x)
    np.testing.assert_allclose(g.numpy(), x.numpy())
    g = grad(lambda a, b: (a * b).sum(), argnums=-1)(x, 2 * x)
    np.testing.assert_allclose(g.numpy(), x.numpy())


# --- item 3: in-place ops on the differentiated input in reverse mode ------------------------


def _set_first(a):
    a[0] = 5.0
    return (a * a).sum()


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (lambda a: a.mul_(2).sum(), [2.0, 2.0, 2.0]),
        (lambda a: a.mul_(a).sum(), [2.0, 4.0, 6.0]),  # d(a^2)/da = 2a
        (_set_first, [0.0, 4.0, 6.0]),  # a[0] no longer reaches the output
        (lambda a: a.add_(1).mul_(3).sum(), [3.0, 3.0, 3.0]),
        # a*a is read before the change, (a+1)^2 after it: 2a + 2(a+1)
        (lambda a: (a * a).sum() + a.add_(1).mul_(a).sum(), [6.0, 10.0, 14.0]),
        (lambda a: (a * 1).sum() + a.zero_().sum(), [1.0, 1.0, 1.0]),
    ],
)
def test_inplace_on_the_input_inside_grad(f, expected):
    x = _x()
    np.testing.assert_allclose(grad(f)(x).numpy(), expected)
    np.testing.assert_allclose(value_and_grad(f)(_x())[1].numpy(), expected)
    (g,) = vjp(f, _x())[1](cr.tensor(np.array(1.0)))
    np.testing.assert_allclose(g.numpy(), expected)
    np.testing.assert_allclose(x.numpy(), [1.0, 2.0, 3.0])  # the caller's tensor is untouched


def test_inplace_on_the_input_inside_jacrev_matches_jacfwd():
    for f in (lambda a: a.mul_(2), lambda a: a.mul_(a), lambda a: a.add_(a)):
        np.testing.assert_allclose(jacrev(f)(_x()).numpy(), jacfwd(f)(_x()).numpy())
    np.testing.assert_allclose(jacrev(lambda a: a.mul_(2))(_x()).numpy(), 2 * np.eye(3))


def test_inplace_on_the_input_at_second_order():
    def f(a):
        return (a.mul_(a) * a).sum()  # a^2 * a^2 = a^4: Hessian diag(12 a^2)

    expected = np.diag(12 * _x().numpy() ** 2)
    np.testing.assert_allclose(hessian(f)(_x()).numpy(), expected)
    np.testing.assert_allclose(jacrev(jacrev(f))(_x()).numpy(), expected)
    np.testing.assert_allclose(grad(lambda a: grad(f)(a).sum())(_x()).numpy(), np.diag(expected))


def test_inplace_through_a_view_of_the_input_is_refused():
    def f(a):
        a[0:2].mul_(2)
        return (a * a).sum()

    with pytest.raises(RuntimeError, match="changed in place"):
        grad(f)(_x())


# --- items 5 and 6: NaN and shape semantics, with PyTorch 2.13's answers written out --------


def run_case(lib: Any, F: Any, case: Any, to_numpy: Any) -> tuple[Any, list[Any]]:
    """The case's value and the gradients of ``value.sum()`` for its float inputs."""
    tensors = [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in case.inputs]
    out = case.fn(lib, F, *tensors)
    out.sum().backward()
    return to_numpy(out), [to_numpy(t.grad) for t in tensors if t.requires_grad]


def _np(t: Any) -> Any:
    return t.detach().numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_nan_and_shape_cases_give_pytorchs_numbers(case):
    value, grads = run_case(cr, crF, case, _np)
    expected = np.asarray(case.value, dtype=np.float64)
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-9, atol=0, equal_nan=True)
    assert len(grads) == len(case.grads)
    for g, e in zip(grads, case.grads):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize(("name", "fn", "error"), ERRORS, ids=[e[0] for e in ERRORS])
def test_shape_errors_are_pytorchs(name, fn, error):
    with pytest.raises(error) as info:
        fn(cr, crF)
    assert info.type is error  # not a subclass Python raised on its own
    ops = {"sum", "amax", "embedding", "arange", "argmax", "argmin"}
    assert str(info.value).split(":")[0] in ops  # the message names the op


def test_max_with_dim_on_a_0d_tensor_returns_index_0():
    values, indices = cr.tensor(2.0).max(dim=0)
    assert values.item() == 2.0 and indices.item() == 0 and indices.shape == ()


def test_dim_arguments_of_the_wrong_type_are_named():
    x = cr.ones(2, 2)
    for bad in (1.5, "0", (0, 1.5), True):
        with pytest.raises(TypeError, match="dim must be an int or a tuple of ints"):
            x.sum(dim=bad)
