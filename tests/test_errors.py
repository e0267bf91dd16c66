"""Bad inputs get errors that speak the user's language: the op, the shapes, the dtype and
the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr


def message(exc_type: type[BaseException], fn: object) -> str:
    with pytest.raises(exc_type) as info:
        fn()  # type: ignore[operator]
    return str(info.value)


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
        ("maximum", cr.maximum),
        ("minimum", cr.minimum),
    ],
)
def test_broadcast_mismatch_names_op_and_both_shapes(op: str, fn: object) -> None:
    msg = message(ValueError, lambda: fn(cr.ones(2, 3), cr.ones(4, 3)))  # type: ignore[operator]
    assert msg.startswith(f"{op}:")
    assert "(2, 3)" in msg and "(4, 3)" in msg and "broadcast" in msg


def test_where_mismatch_names_all_shapes() -> None:
    msg = message(ValueError, lambda: cr.where(cr.ones(2) > 0, cr.ones(3), cr.ones(2)))
    assert msg.startswith("where:") and "(3,)" in msg and "(2,)" in msg


@pytest.mark.parametrize(
    ("a", "b"), [((2, 3), (4, 3)), ((3,), (4,)), ((2, 3, 4), (5, 2)), ((3,), (4, 2))]
)
def test_matmul_mismatch_names_both_shapes(a: tuple, b: tuple) -> None:
    msg = message(ValueError, lambda: cr.ones(*a) @ cr.ones(*b))
    assert msg.startswith("matmul:")
    assert str(a) in msg and str(b) in msg and "aligned" in msg


def test_matmul_of_0d_says_use_mul() -> None:
    msg = message(ValueError, lambda: cr.tensor(2.0) @ cr.ones(3))
    assert msg.startswith("matmul:") and "*" in msg


@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor([1, 2], requires_grad=True),
        lambda: cr.tensor([1, 2]).requires_grad_(),
        lambda: cr.arange(3, requires_grad=True),
        lambda: cr.zeros(2, dtype=cr.int64, requires_grad=True),
    ],
)
def test_integer_requires_grad_names_dtype_and_fix(make: object) -> None:
    msg = message(TypeError, make)
    assert "int64" in msg and ".float()" in msg and "floating point" in msg


def test_backward_on_non_scalar_without_gradient() -> None:
    x = cr.ones(3, requires_grad=True)
    msg = message(RuntimeError, lambda: (x * 2).backward())
    assert "scalar outputs" in msg and "(3,)" in msg and "gradient=" in msg


def test_backward_with_wrong_gradient_shape() -> None:
    x = cr.ones(3, requires_grad=True)
    msg = message(RuntimeError, lambda: (x * 2).backward(gradient=cr.ones(2)))
    assert "(2,)" in msg and "(3,)" in msg


def test_backward_on_tensor_without_grad() -> None:
    msg = message(RuntimeError, lambda: cr.ones(3).sum().backward())
    assert "does not require grad" in msg and "requires_grad=True" in msg and "no_grad" in msg
    x = cr.ones(3, requires_grad=True)
    with cr.no_grad():
        y = (x * 2).sum()
    assert "does not require grad" in message(RuntimeError, y.backward)


@pytest.mark.parametrize(
    ("shape", "target"), [((2, 3), (4, 2)), ((2, 3), (-1, 4)), ((6,), (5,)), ((2, 3), (-1, -1))]
)
def test_reshape_to_wrong_size(shape: tuple, target: tuple) -> None:
    msg = message(ValueError, lambda: cr.ones(*shape).reshape(*target))
    assert msg.startswith("reshape:") and str(shape) in msg


def test_view_to_wrong_size() -> None:
    msg = message(ValueError, lambda: cr.ones(2, 3).view(4, 2))
    assert "(4, 2)" in msg and "(2, 3)" in msg and "6 elements" in msg


def test_cat_with_mismatched_shapes() -> None:
    msg = message(ValueError, lambda: cr.cat([cr.ones(2, 3), cr.ones(2, 4)]))
    assert msg.startswith("cat:") and "(2, 3)" in msg and "(2, 4)" in msg and "dim 0" in msg
    msg = message(ValueError, lambda: cr.cat([cr.ones(2, 3), cr.ones(3)], dim=1))
    assert msg.startswith("cat:") and "(3,)" in msg


def test_stack_with_mismatched_shapes() -> None:
    msg = message(ValueError, lambda: cr.stack([cr.ones(2, 3), cr.ones(3, 2)]))
    assert msg.startswith("stack:") and "(2, 3)" in msg and "(3, 2)" in msg


@pytest.mark.parametrize("index", [1.5, (0, 1.0), np.array([0.5]), cr.tensor([0.0, 1.0])])
def test_float_index(index: object) -> None:
    msg = message(IndexError, lambda: cr.ones(2, 3)[index])
    assert "(2, 3)" in msg and ("integer" in msg or "integers" in msg)


@pytest.mark.parametrize("index", [5, (0, 3), [0, 2], (slice(None), -4), np.array([[3]])])
def test_index_out_of_range_names_the_shape(index: object) -> None:
    msg = message(IndexError, lambda: cr.ones(2, 3)[index])
    assert msg.startswith("index:") and "out of bounds" in msg and "(2, 3)" in msg


def test_bool_mask_of_wrong_shape() -> None:
    msg = message(IndexError, lambda: cr.ones(2, 3)[np.array([True, False, True])])
    assert "(2, 3)" in msg


def test_item_on_multi_element() -> None:
    msg = message(ValueError, lambda: cr.ones(2, 3).item())
    assert "one-element" in msg and "(2, 3)" in msg


def test_numpy_on_requires_grad_says_detach() -> None:
    msg = message(RuntimeError, lambda: cr.ones(2, requires_grad=True).numpy())
    assert "detach()" in msg
    x = cr.ones(2, requires_grad=True)
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 1.0])


def test_gradcheck_on_float32_inputs() -> None:
    x = cr.ones(3, requires_grad=True)
    msg = message(RuntimeError, lambda: cr.autograd.gradcheck(lambda t: t.sin(), (x,)))
    assert "float32" in msg and "float64" in msg and ".double()" in msg
    msg = message(RuntimeError, lambda: cr.autograd.gradgradcheck(lambda t: t.sin(), (x,)))
    assert "float32" in msg


def test_gradcheck_reports_a_wrong_gradient() -> None:
    """A function whose backward disagrees with its values (via a detached part) fails."""
    x = cr.tensor(np.array([0.5, 1.5]), requires_grad=True)
    msg = message(RuntimeError, lambda: cr.autograd.gradcheck(lambda t: t * t.detach(), (x,)))
    assert "Jacobian mismatch" in msg
    assert not cr.autograd.gradcheck(lambda t: t * t.detach(), (x,), raise_exception=False)


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("sum", lambda x: x.sum(2)),
        ("mean", lambda x: x.mean(-3)),
        ("softmax", lambda x: x.softmax(2)),
        ("max", lambda x: x.max(5)),
        ("squeeze", lambda x: x.squeeze(3)),
        ("unsqueeze", lambda x: x.unsqueeze(4)),
        ("transpose", lambda x: x.transpose(0, 2)),
        ("flatten", lambda x: x.flatten(3)),
        ("split", lambda x: x.split(1, dim=2)),
        ("chunk", lambda x: x.chunk(2, dim=-3)),
        ("cat", lambda x: cr.cat([x, x], dim=2)),
        ("take_along_dim", lambda x: cr.take_along_dim(x, cr.tensor([[0]]), 2)),
    ],
)
def test_dim_out_of_range(op: str, fn: object) -> None:
    """Never wrapped around silently (dim 2 of a 2-D tensor is not dim 0)."""
    msg = message(IndexError, lambda: fn(cr.ones(2, 3)))  # type: ignore[operator]
    assert msg.startswith(f"{op}:") and "out of range" in msg and "(2, 3)" in msg


def test_permute_not_a_permutation() -> None:
    for dims in ((0, 0), (0, 2), (1,)):
        msg = message(ValueError, lambda d=dims: cr.ones(2, 3).permute(*d))
        assert msg.startswith("permute:") and "permutation" in msg


def test_expand_invalid() -> None:
    msg = message(ValueError, lambda: cr.ones(2, 3).expand(3, 3))
    assert msg.startswith("expand:") and "(2, 3)" in msg and "(3, 3)" in msg


def test_unsupported_operand_and_data() -> None:
    msg = message(TypeError, lambda: cr.ones(2) + "a")
    assert msg.startswith("add:") and "str" in msg
    msg = message(TypeError, lambda: cr.tensor(["a"]))
    assert "dtype" in msg


def test_mean_of_integer_tensor() -> None:
    msg = message(TypeError, lambda: cr.tensor([1, 2]).mean())
    assert "int64" in msg and ".float()" in msg


def test_inplace_shape_change_is_an_error() -> None:
    msg = message(RuntimeError, lambda: cr.ones(3).add_(cr.ones(2, 3)))
    assert msg.startswith("add_:") and "(3,)" in msg and "(2, 3)" in msg
    msg = message(RuntimeError, lambda: cr.ones(2, 3).mul_(cr.ones(4, 3)))
    assert msg.startswith("mul_:") and "(2, 3)" in msg and "(4, 3)" in msg


def test_retain_graph_message() -> None:
    x = cr.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    msg = message(RuntimeError, y.backward)
    assert re.search(r"second time", msg) and "retain_graph=True" in msg
