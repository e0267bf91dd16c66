"""Autograd semantics, PyTorch's: accumulation, grad mode, retain_graph/create_graph,
``autograd.grad``, hooks, retain_grad, version counters and in-place ops, anomaly mode,
memory release, deep graphs and gradient dtypes."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr


def f64(data: object, requires_grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# --- accumulation ---------------------------------------------------------------------------


def test_grad_accumulates_across_backward_calls() -> None:
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2 + 3, 4 + 3])


def test_zero_grad_trap_doubles_the_gradient() -> None:
    """The lesson's trap: two training steps without zeroing give twice the gradient."""
    w = f64([0.5, -1.0])
    x = f64([2.0, 3.0], requires_grad=False)
    for _ in range(2):
        loss = ((w * x).sum() - 1.0) ** 2
        loss.backward()
    single = 2 * ((0.5 * 2 - 3.0) - 1.0) * np.array([2.0, 3.0])
    np.testing.assert_allclose(w.grad.data, 2 * single)


def test_backward_on_a_leaf_copies_the_gradient() -> None:
    x = f64([1.0, 2.0])
    g = f64([3.0, 4.0], False)
    x.backward(g)
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    assert not np.shares_memory(x.grad.data, g.data)
    x.backward(g)
    np.testing.assert_array_equal(g.data, [3.0, 4.0])  # accumulation did not write into g
    np.testing.assert_array_equal(x.grad.data, [6.0, 8.0])


def test_grad_reset_by_none_and_zero_() -> None:
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_same_leaf_used_twice_adds_both_paths() -> None:
    x = f64(3.0)
    y = x * x + x.exp() * x  # x reaches y along four edges
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3.0 + np.exp(3.0) * (1 + 3.0))


# --- grad mode ------------------------------------------------------------------------------


def test_no_grad_enable_grad_and_set_grad_enabled() -> None:
    x = f64([1.0])
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        with cr.enable_grad():
            z = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with cr.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert cr.is_grad_enabled()


def test_set_grad_enabled_as_a_function_call() -> None:
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
        assert not (f64([1.0]) * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


def test_grad_mode_decorators() -> None:
    x = f64([1.0])

    @cr.no_grad()
    def infer(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    @cr.enable_grad()
    def train(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    @cr.set_grad_enabled(False)
    def off(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    assert not infer(x).requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert train(x).requires_grad
        assert not cr.is_grad_enabled()
    assert not off(x).requires_grad
    assert cr.is_grad_enabled()


def test_grad_mode_restored_after_exception() -> None:
    with pytest.raises(ValueError), cr.no_grad():
        raise ValueError
    assert cr.is_grad_enabled()


# --- retain_graph and create_graph ----------------------------------------------------------


def test_second_backward_needs_retain_graph() -> None:
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates() -> None:
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])


def test_linear_graph_can_be_backpropagated_twice() -> None:
    """add/sum save nothing, so there is nothing to free (PyTorch behaves the same)."""
    x = f64([1.0, 2.0])
    y = (x + 2.0 + x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0])


def test_create_graph_second_and_third_derivatives() -> None:
    x = f64([0.5, -2.0])
    y = (x**3).sum()
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    (h,) = cr.autograd.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(h.data, 6 * x.data)
    (t,) = cr.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(t.data, [6.0, 6.0])


def test_backward_create_graph_double_backward_gives_6x() -> None:
    x = f64(2.0)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.item() == pytest.approx(12.0)
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(12.0)  # d/dx 3x^2 = 6x = 12


# --- autograd.grad --------------------------------------------------------------------------


def test_autograd_grad_returns_and_does_not_touch_dot_grad() -> None:
    x = f64([1.0, 2.0])
    (g,) = cr.autograd.grad((x * x).sum(), x)
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    assert x.grad is None
    assert not g.requires_grad


def test_autograd_grad_non_leaf_inputs() -> None:
    x = f64([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    gh, gx = cr.autograd.grad(y, [h, x])
    np.testing.assert_array_equal(gh.data, 2 * h.data)
    np.testing.assert_array_equal(gx.data, 2 * h.data * 3)
    assert h.grad is None and x.grad is None


def test_autograd_grad_same_input_twice() -> None:
    x = f64([1.0, 2.0])
    h = x * 2
    gh1, gh2, gx1, gx2 = cr.autograd.grad((h * h).sum(), [h, h, x, x])
    np.testing.assert_array_equal(gh1.data, 2 * h.data)
    np.testing.assert_array_equal(gh2.data, 2 * h.data)
    np.testing.assert_array_equal(gx1.data, 4 * h.data)
    np.testing.assert_array_equal(gx2.data, 4 * h.data)


def test_autograd_grad_wrt_the_output_itself() -> None:
    x = f64([1.0, 2.0])
    h = x * 2
    gx, gh = cr.autograd.grad(h, [x, h], f64([3.0, 4.0], False))
    np.testing.assert_array_equal(gx.data, [6.0, 8.0])
    np.testing.assert_array_equal(gh.data, [3.0, 4.0])


def test_autograd_grad_multiple_outputs_and_grad_outputs() -> None:
    x = f64([1.0, 2.0])
    y1, y2 = x * 2, x * x
    (g,) = cr.autograd.grad([y1, y2], x, [f64([1.0, 1.0], False), f64([10.0, 100.0], False)])
    np.testing.assert_array_equal(g.data, [2 + 10 * 2, 2 + 100 * 4])


def test_autograd_grad_retain_graph() -> None:
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    (g1,) = cr.autograd.grad(y, x, retain_graph=True)
    (g2,) = cr.autograd.grad(y, x)
    np.testing.assert_array_equal(g1.data, g2.data)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        cr.autograd.grad(y, x)


def test_autograd_grad_allow_unused() -> None:
    x, unused = f64([1.0]), f64([5.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        cr.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = cr.autograd.grad(y, [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.data, [2.0])
    assert gu is None


def test_autograd_grad_of_non_scalar_needs_grad_outputs() -> None:
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad_outputs"):
        cr.autograd.grad(x * 2, x)


# --- hooks and retain_grad ------------------------------------------------------------------


def test_hook_on_leaf_reads_and_replaces_grad() -> None:
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.data, [20.0, 40.0])


def test_hook_on_non_leaf_replaces_grad_flowing_on() -> None:
    x = f64([1.0, 2.0])
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.data.copy()))
    handle = h.register_hook(lambda g: g * 0 + 1)
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], 2 * h.data)
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])  # the hook's ones, times dh/dx
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * h.data * 3)
    assert len(seen) == 2


def test_hook_handle_remove_on_leaf() -> None:
    x = f64([1.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    handle.remove()  # idempotent
    (x * 2).sum().backward()
    assert calls == [1]


def test_hooks_also_run_in_autograd_grad() -> None:
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: g * 10)
    (gx,) = cr.autograd.grad((x * x).sum(), x)
    np.testing.assert_array_equal(gx.data, [20.0, 40.0])
    y = x * 2
    y.register_hook(lambda g: g * 0 + 5)
    (gy,) = cr.autograd.grad(y.sum(), y)
    np.testing.assert_array_equal(gy.data, [5.0, 5.0])
    assert x.grad is None


def test_hook_on_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_on_non_leaf() -> None:
    x = f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    assert h.retains_grad and not h.is_leaf
    other = x * 4
    (h * h + other).sum().backward()
    np.testing.assert_array_equal(h.grad.data, 2 * h.data)
    assert other.grad is None  # not retained: non-leaf grads are not kept by default
    assert not np.shares_memory(h.grad.data, x.grad.data)


# --- version counters and in-place ----------------------------------------------------------


def test_inplace_on_saved_output_raises_with_full_message() -> None:
    """The lesson's trap: exp saves its output; changing it in place breaks backward."""
    x = f64([1.0, 2.0])
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    msg = str(info.value)
    assert "ExpBackward0" in msg
    assert "(2,)" in msg  # the shape
    assert "version 0" in msg and "version 1" in msg  # saved and current versions
    assert "in-place" in msg and "out-of-place" in msg and "clone" in msg  # the fix


def test_inplace_on_saved_input_raises() -> None:
    x, w = f64([1.0, 2.0]), f64([3.0, 4.0])
    a = x * 2
    b = a * w  # mul saves a (for w's gradient)
    a.add_(1)
    with pytest.raises(RuntimeError, match=r"MulBackward0.*version 0.*version 1"):
        b.sum().backward()


def test_inplace_on_unsaved_input_is_safe() -> None:
    x = f64([1.0, 2.0])
    a = x * 2
    b = a + 1  # add saves nothing
    a.add_(1)
    b.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_version_counter_bumps() -> None:
    x = cr.tensor([1.0, 2.0])
    assert x._version == 0
    x.add_(1)
    x.mul_(2)
    x[0] = 5.0
    assert x._version == 3
    np.testing.assert_array_equal(x.data, [5.0, 6.0])


def test_inplace_on_non_leaf_is_recorded() -> None:
    x = f64([1.0, 2.0])
    y = x * 2
    y.mul_(3)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])
    np.testing.assert_array_equal(y.data, [6.0, 12.0])


def test_inplace_chain_on_non_leaf() -> None:
    x = f64([1.0, 2.0])
    y = x * 2
    y.add_(x)  # y = 3x
    y.mul_(x)  # y = 3x^2: mul_ saves the pre-change y, which add_ produced
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_setitem_on_non_leaf_zeroes_grad_there() -> None:
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    y[0] = 0
    (y * f64([1.0, 1.0, 1.0], False)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, 2.0])


def test_setitem_routes_grad_to_value() -> None:
    w = f64(4.0)
    z = cr.zeros(3, dtype=cr.float64)
    z[1] = w
    assert z.requires_grad and z.grad_fn is not None
    (z * f64([1.0, 10.0, 100.0], False)).sum().backward()
    assert w.grad.item() == 10.0


def test_setitem_with_advanced_index_and_tensor_value() -> None:
    x = f64([1.0, 2.0, 3.0, 4.0])
    v = f64([7.0, 8.0])
    y = x * 1
    y[[3, 0]] = v
    np.testing.assert_array_equal(y.data, [8.0, 2.0, 3.0, 7.0])
    (y * f64([1.0, 2.0, 3.0, 4.0], False)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, 3.0, 0.0])
    np.testing.assert_array_equal(v.grad.data, [4.0, 1.0])


def test_augmented_assignment_into_a_slice_of_a_non_leaf() -> None:
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    y[0:2] += 1  # y.__getitem__ gives a view, += runs add_ on it, then y.__setitem__
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [3.0, 5.0, 6.0])
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_inplace_on_a_view_updates_the_base_history() -> None:
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    y[0:2].mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [6.0, 12.0, 6.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0, 2.0])


def test_inplace_on_a_view_of_a_view_and_reading_views_first() -> None:
    x = f64([1.0, 2.0, 3.0, 4.0])
    y = (x * 1.0).reshape(2, 2)
    y[0][1] = y[0][1] * x[3]  # read a view, then write through a view of a view
    y[1] *= 2
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [[1.0, 8.0], [6.0, 8.0]])
    np.testing.assert_array_equal(x.grad.data, [1.0, 4.0, 2.0, 2.0 + 2.0])


def test_a_buffer_without_grad_gets_history_through_its_view() -> None:
    w = f64([5.0])
    z = cr.zeros(3, dtype=cr.float64)
    z[1:2].add_(w)  # z did not require grad; writing w through its view gives it a history
    (z * cr.tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0])


def test_a_stale_alias_is_refused() -> None:
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    v = y[0:2]
    y.mul_(3)  # v's memory changed through y; v's recorded history still says y[0:2] of old y
    with pytest.raises(RuntimeError, match="is a view, and its memory was changed in place"):
        (v * 1.0).sum()
    z = cr.zeros(3)
    u = z[0:2]  # a view of a buffer that does not require grad
    with pytest.raises(RuntimeError, match="shares memory with another"):
        z[2] = cr.ones(1, requires_grad=True)[0]
    del u


def test_inplace_on_views_without_grad() -> None:
    z = cr.zeros(2, 3)
    z[:, 1:] += 1
    z[0].mul_(5)
    z.T[0].fill_(7)
    np.testing.assert_array_equal(z.data, [[7.0, 5.0, 5.0], [7.0, 1.0, 1.0]])


def test_inplace_on_leaf_requiring_grad_raises_but_works_under_no_grad() -> None:
    w = f64([1.0, 2.0])
    for op in (
        lambda: w.add_(1),
        lambda: w.mul_(2),
        lambda: w.zero_(),
        lambda: w.__setitem__(0, 1.0),
    ):
        with pytest.raises(RuntimeError, match=r"leaf.*requires grad.*no_grad"):
            op()
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    with cr.no_grad():
        w.sub_(0.5)
        w[1] = 7.0
    np.testing.assert_array_equal(w.data, [0.5, 7.0])
    assert w.is_leaf and w.requires_grad


def test_optimizer_style_update_after_backward() -> None:
    w = f64([1.0, 2.0])
    for _ in range(2):
        loss = (w * w).sum()
        loss.backward()
        with cr.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.data, [0.25, 0.5])


# --- anomaly mode ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_detect_anomaly_names_sqrt_and_user_line() -> None:
    x = f64([0.0, 1.0])
    with cr.autograd.detect_anomaly():
        y = (x.sqrt() * 0.0).sum()  # d sqrt at 0 is inf, times 0 is nan
        with pytest.raises(RuntimeError) as info:
            y.backward()
    msg = str(info.value)
    assert "SqrtBackward0" in msg and "nan" in msg
    assert "test_autograd.py" in msg and "x.sqrt() * 0.0" in msg


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_detect_anomaly_log_at_zero() -> None:
    x = f64([0.0, 1.0])
    with cr.autograd.detect_anomaly():
        y = (x.log() * 0.0).sum()
        with pytest.raises(RuntimeError, match="LogBackward0") as info:
            y.backward()
    assert "test_autograd.py" in str(info.value)


def test_detect_anomaly_log_of_negative() -> None:
    """log(-1) is nan in the forward; backward turns it into a nan gradient at the first op
    that multiplies by it, which is named, with the user's line that contains the log."""
    x, w = f64([-1.0, 2.0]), f64([1.0, 1.0])
    with cr.autograd.detect_anomaly():
        y = (x.log() * w).sum()
        with pytest.raises(RuntimeError, match=r"MulBackward0.*nan") as info:
            y.backward()
    assert "x.log() * w" in str(info.value)


# NumPy warns on 0 * inf; PyTorch does not (reported to the lead: elementwise impls that can
# meet inf are not all silenced like div/log/exp are).
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_no_anomaly_check_outside_mode() -> None:
    x = f64([0.0])
    (x.sqrt() * 0.0).sum().backward()
    assert np.isnan(x.grad.data).all()


# --- memory ---------------------------------------------------------------------------------


def _mlp_activations(depth: int) -> tuple[cr.Tensor, list[cr.Tensor], list[weakref.ref]]:
    rng = np.random.default_rng(0)
    ws = [f64(rng.standard_normal((8, 8)) / 3) for _ in range(depth)]
    h = f64(rng.standard_normal((4, 8)), requires_grad=False)
    refs = []
    for w in ws:
        h = (h @ w).tanh() + 0.1 * h  # matmul saves h, tanh saves its output
        refs.append(weakref.ref(h.data))
    loss = (h * h).sum()
    return loss, ws, refs


def test_backward_frees_the_graph_arrays() -> None:
    loss, ws, refs = _mlp_activations(100)
    gc.collect()
    assert all(r() is not None for r in refs)  # held by the graph until backward
    loss.backward()
    gc.collect()
    alive = sum(r() is not None for r in refs)
    assert alive == 0, f"{alive} of 100 activations still alive after backward"
    assert all(w.grad is not None for w in ws)


def test_retain_graph_keeps_the_graph_arrays() -> None:
    loss, _, refs = _mlp_activations(100)
    loss.backward(retain_graph=True)
    gc.collect()
    assert all(r() is not None for r in refs)
    loss.backward()  # and they can be used again
    gc.collect()
    assert all(r() is None for r in refs)


def test_dropping_the_graph_frees_it_without_backward() -> None:
    loss, _, refs = _mlp_activations(20)
    del loss
    gc.collect()
    assert all(r() is None for r in refs)


def test_graph_does_not_hold_unsaved_intermediates() -> None:
    x = f64(np.ones(1000))
    t = x * 2
    ref = weakref.ref(t.data)
    y = (t + 1).sum()  # add and sum save nothing
    del t
    gc.collect()
    assert ref() is None
    y.backward()


def test_deep_chain_100k_ops() -> None:
    """No recursion anywhere: building, backward and freeing a 100,000-op chain."""
    x = f64(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad.item() == pytest.approx(1.00001**100_000, rel=1e-9)
    del y  # freeing a 100,000-deep chain of nodes must not overflow the C stack either
    gc.collect()


# --- dtypes ---------------------------------------------------------------------------------


def test_grads_have_the_leaf_dtype_after_mixing() -> None:
    a32 = cr.tensor([1.0, 2.0], requires_grad=True)
    b64 = f64([3.0, 4.0])
    s64 = f64(2.0)
    out = a32 * b64  # 1-D f32 with 1-D f64: f64
    assert out.dtype == np.float64
    scaled = a32 * s64  # a 0-d f64 does not upcast: f32
    assert scaled.dtype == np.float32
    (out.sum() + scaled.sum()).backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    assert s64.grad.dtype == np.float64 and s64.grad.shape == ()
    np.testing.assert_allclose(a32.grad.data, [3.0 + 2.0, 4.0 + 2.0])
    assert s64.grad.item() == pytest.approx(3.0)


def test_backward_gradient_is_cast_to_output_dtype() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(gradient=np.array([1.0, 1.0]))  # a float64 cotangent for a float32 output
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_random_fill_of_a_non_leaf_cuts_its_history() -> None:
    x = cr.ones(3, dtype=cr.float64, requires_grad=True)
    y = x * 2
    y.normal_()  # y no longer depends on x: zero gradient, as PyTorch's NormalBackward
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.uniform_()


def test_copies_numpy_marks_with_a_base_are_not_views() -> None:
    # NumPy sets .base on some copies (fancy indexing, reshape of a transpose): not aliases
    x = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x * 1
    v = y[:, [0, 1]]
    v.mul_(2)  # changes the copy only
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((3, 4)))
    x.grad = None
    y = x * 1
    e = y * y
    z = y.T.reshape(-1)
    with cr.no_grad():
        z.add_(1)  # a copy: e's saved y is untouched
    e.sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)


def test_casting_to_integers_cuts_the_graph() -> None:
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    n = x.long()
    assert not n.requires_grad and n.grad_fn is None
    (n.float() * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])


def test_gradients_never_alias_the_callers_tensors() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    b.retain_grad()
    c = b + 0
    c.retain_grad()
    g = cr.tensor([1.0, 1.0])
    c.backward(g)
    assert b.grad is not c.grad and c.grad is not g
    assert not np.shares_memory(b.grad.data, c.grad.data)
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    keep = cr.tensor([5.0, 5.0])
    w.register_hook(lambda grad: keep)
    (w * 1).sum().backward()
    (w * 1).sum().backward()
    np.testing.assert_array_equal(keep.data, [5.0, 5.0])
    np.testing.assert_array_equal(w.grad.data, [10.0, 10.0])


# --- a node saves only what a VJP that will run reads (issue 18) ----------------------------


def _f64(values: object, requires_grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def test_row_written_from_another_row_gives_pytorchs_gradient() -> None:
    x = _f64([[1.0], [2.0]], requires_grad=True)
    y = x * 1.0
    y[0] = y[1] * 2.0  # y[1] * 2.0 saves nothing of y[1]: the write to y is harmless
    (y * _f64([[0.3], [-0.7]])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0.0], [-0.1]])  # PyTorch's answer


@pytest.mark.parametrize(
    ("op", "dx"),
    [
        (lambda v, c: v * c, lambda c: c),
        (lambda v, c: c * v, lambda c: c),
        (lambda v, c: v / c, lambda c: 1.0 / c),
        (lambda v, c: v @ c, lambda c: c),  # (1,) @ (1, 1)
    ],
)
def test_write_through_a_view_after_an_op_with_a_constant(op: object, dx: object) -> None:
    x = _f64([[1.0], [2.0]], requires_grad=True)
    c = _f64([[3.0]])
    y = x * 1.0
    y[0] = op(y[1], c)  # type: ignore[operator]
    (y * _f64([[0.3], [-0.7]])).sum().backward()
    k = float(dx(c).data.ravel()[0])  # type: ignore[operator]
    np.testing.assert_allclose(x.grad.data, [[0.0], [-0.7 + 0.3 * k]])


def test_pow_with_a_constant_exponent_saves_the_base_and_is_refused_like_pytorch() -> None:
    # d/dx x**c reads x: PyTorch saves it, so writing to it afterwards is refused
    x = _f64([[1.0], [2.0]], requires_grad=True)
    y = x * 1.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y[0] = y[1] ** 2.0
        (y * _f64([[0.3], [-0.7]])).sum().backward()


def test_constant_base_pow_saves_the_exponent_as_pytorch() -> None:
    # d/dy c**y = c**y log c, except 0 where c == 0 and y >= 0 (PyTorch's rule): the exponent
    # rule reads y, so y is saved and the later write through y is refused, as PyTorch does
    x = _f64([[1.0], [2.0]], requires_grad=True)
    y = x * 1.0
    y[0] = _f64([[2.0]]) ** y[1]
    with pytest.raises(RuntimeError, match="PowBackward1 saved its input 1"):
        (y * _f64([[0.3], [-0.7]])).sum().backward()


def test_both_operands_need_a_gradient_still_refused() -> None:
    # x * y with both requiring grad saves both: an in-place change is caught as before
    x = _f64([1.0, 2.0], requires_grad=True)
    a = x * 1.0
    b = x * 2.0
    out = a * b
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="MulBackward0 saved its input 0"):
        out.sum().backward()


def test_reading_an_unsaved_input_names_the_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import elementwise as E

    # a wrong declaration: sin's rule reads x, which is declared as not saved
    monkeypatch.setattr(E.sin_p, "saves", ())
    monkeypatch.setattr(E.sin_p, "saves_table", None)
    monkeypatch.setattr(E.sin_p, "saves_mask", 0)
    x = _f64([0.5, 1.0], requires_grad=True)
    y = (x * 1.0).sin()
    with pytest.raises(RuntimeError, match="sin's VJP read input 0, which sin does not save"):
        y.sum().backward()


def test_a_constant_operand_costs_no_saved_memory() -> None:
    w = _f64(np.ones((50, 50)), requires_grad=True)
    h = w * 1.0
    big = _f64(np.ones((50, 50)))
    out = big * h  # only big is read (by h's rule): h is kept as its shape
    node = out.grad_fn
    from chainrule.autograd.node import SavedMeta

    assert isinstance(node.inputs[1], SavedMeta) and node.inputs[0] is big


# --- grad mode, anomaly mode and transform levels are per thread (issue 14, item 1) ----------


def _run_threads(work: object, n: int = 4) -> list[object]:
    import threading

    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = work(k)  # type: ignore[operator]
        except BaseException as err:  # reported by the main thread
            results[k] = err

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def test_backward_in_threads_gives_exact_gradients() -> None:
    # 4 threads x 200 backward passes on independent graphs: backward turns recording off
    # while its rules run; with one process-wide flag, the other threads' forward passes went
    # unrecorded ("does not require grad") or got wrong gradients
    def work(k: int) -> int:
        rng = np.random.default_rng(k)
        for _ in range(200):
            a = rng.standard_normal((3, 4))
            w = cr.tensor(a, requires_grad=True)
            loss = ((w * w).sum(1) * cr.tensor(np.arange(3.0))).sum() + (w.exp() * 0.5).sum()
            loss.backward()
            expected = 2 * a * np.arange(3.0)[:, None] + 0.5 * np.exp(a)
            np.testing.assert_array_equal(w.grad.data, expected)
        return k

    assert _run_threads(work) == [0, 1, 2, 3]


def test_no_grad_in_one_thread_does_not_affect_the_others() -> None:
    import threading

    inside = threading.Event()
    done = threading.Event()

    def work(k: int) -> bool:
        if k == 0:
            with cr.no_grad():
                inside.set()
                done.wait(timeout=30)
                return cr.is_grad_enabled()
        inside.wait(timeout=30)
        try:
            ok = True
            for _ in range(50):
                x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
                y = (x * x).sum()
                ok = ok and cr.is_grad_enabled() and y.requires_grad
                y.backward()
                ok = ok and np.array_equal(x.grad.data, [2.0, 4.0])
            return ok
        finally:
            if k == 3:
                done.set()

    assert _run_threads(work) == [False, True, True, True]
    assert cr.is_grad_enabled()


def test_anomaly_mode_and_transform_levels_are_per_thread() -> None:
    import threading

    from chainrule.autograd.grad_mode import STATE

    seen: dict[str, object] = {}
    entered = threading.Event()
    release = threading.Event()

    def other() -> None:
        entered.wait(timeout=30)
        seen["anomaly"] = cr.autograd.anomaly.is_anomaly_enabled()
        seen["levels"] = STATE.levels
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        seen["recorded"] = (x * 2).requires_grad
        release.set()

    t = threading.Thread(target=other)
    t.start()

    def f(x: cr.Tensor) -> cr.Tensor:
        entered.set()
        release.wait(timeout=30)
        return (x * x).sum()

    with cr.autograd.detect_anomaly():
        g = cr.func.grad(f)(cr.tensor([1.0, 3.0], dtype=cr.float64))
    t.join()
    np.testing.assert_array_equal(g.data, [2.0, 6.0])
    assert seen == {"anomaly": False, "levels": 0, "recorded": True}


# --- a hook's replacement gradient is checked, naming the hook (issue 14, item 4) -----------


def _wrong_shape(g: cr.Tensor) -> cr.Tensor:
    return cr.ones(3)


def _wrong_dtype(g: cr.Tensor) -> cr.Tensor:
    return g.double()


def _not_a_tensor(g: cr.Tensor) -> object:
    return [1.0, 2.0]


@pytest.mark.parametrize("leaf", [True, False])
@pytest.mark.parametrize(
    ("hook", "error", "message"),
    [
        (_wrong_shape, RuntimeError, r"hook _wrong_shape changed the size of value"),
        (_wrong_dtype, RuntimeError, r"hook _wrong_dtype changed the type of value"),
        (_not_a_tensor, TypeError, r"hook _not_a_tensor returned a list"),
    ],
)
def test_a_hook_returning_a_wrong_value_is_refused(
    leaf: bool, hook: object, error: type, message: str
) -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    target = x if leaf else x * 1.0
    target.register_hook(hook)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        (target * 2.0).sum().backward()
    assert x.grad is None


def test_a_hook_returning_a_right_value_still_replaces_the_gradient() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10.0)
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [20.0, 20.0])
    (gx,) = cr.autograd.grad((x * 3.0).sum(), x)
    np.testing.assert_array_equal(gx.data, [30.0, 30.0])


def test_transforms_in_threads_give_exact_gradients() -> None:
    def work(k: int) -> int:
        x = cr.tensor(np.arange(3.0) + k, dtype=cr.float64)
        for _ in range(50):
            g = cr.func.grad(lambda a: (a * a * a).sum())(x)
            np.testing.assert_array_equal(g.data, 3 * x.data**2)
            _, t = cr.func.jvp(lambda a: a.sin(), (x,), (cr.ones(3, dtype=cr.float64),))
            np.testing.assert_array_equal(t.data, np.cos(x.data))
        return k

    assert _run_threads(work) == [0, 1, 2, 3]


def test_unary_uses_is_parsed_the_same_with_spaces() -> None:
    from chainrule.ops.elementwise import unary

    for uses in ("out, x", "x,out", " x , out "):
        prim = unary("probe", np.negative, lambda x, out: x, uses=uses)
        assert prim.saves == (0,) and prim.saves_out
    with pytest.raises(ValueError, match="expected 'x', 'out' or 'x, out'"):
        unary("probe", np.negative, lambda x, out: x, uses="y")
