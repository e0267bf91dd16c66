"""What PyTorch scripts rely on (issue 16): ``.data``/``.grad`` assignment, devices, random
streams, PyTorch's names and keywords, NumPy interop, ``chainrule.utils.data``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

# --- 1. .data and .grad ---------------------------------------------------------------------


def test_data_update_in_place_keeps_the_array() -> None:
    p = cr.randn(4, 3, requires_grad=True)
    arr = p.data
    (p * p).sum().backward()
    expected = arr - 0.1 * (2 * arr)
    p.data += -0.1 * p.grad  # Karpathy's update: NumPy's in-place add, into the same array
    assert p.data is arr and type(p.data) is np.ndarray
    np.testing.assert_allclose(arr, expected, rtol=1e-6)
    # the parameter still trains: a second backward works and sees the new values
    p.grad = None
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad.data, 2 * arr, rtol=1e-6)


def test_data_other_in_place_forms() -> None:
    p = cr.ones(3, requires_grad=True)
    arr = p.data
    p.data -= 0.5 * cr.ones(3)
    p.data *= cr.tensor(4.0)
    assert p.data is arr
    np.testing.assert_allclose(arr, [2.0, 2.0, 2.0])


def test_data_assignment_is_checked() -> None:
    p = cr.zeros(2, requires_grad=True)
    for bad in (0.5, [1.0, 2.0], "x", None):
        with pytest.raises(TypeError, match=r"Tensor\.data must be a NumPy array"):
            p.data = bad
    with pytest.raises(TypeError, match="unsupported dtype"):
        p.data = np.array(["a", "b"])
    with pytest.raises(TypeError, match="floating-point"):
        p.data = np.array([1, 2])
    p.data = cr.tensor([3.0, 4.0])  # PyTorch's p.data = tensor: takes its array
    assert type(p.data) is np.ndarray and p.data.tolist() == [3.0, 4.0]
    p.data = np.zeros(5, dtype=np.float32)  # a new shape is allowed, as in PyTorch
    assert p.shape == (5,)


def test_grad_assignment_is_checked() -> None:
    a = cr.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="Tensor or None but got grad of type float"):
        a.grad = 0.0
    with pytest.raises(RuntimeError, match="different size"):
        a.grad = cr.ones(4)
    with pytest.raises(RuntimeError, match="different type"):
        a.grad = cr.ones(3, dtype=cr.float64)
    a.grad = cr.full((3,), 2.0)
    a.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0, 3.0]
    a.grad = None
    assert a.grad is None


# --- NumPy interop --------------------------------------------------------------------------


def test_numpy_on_the_left_and_asarray() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, cr.Tensor) and y.requires_grad
    (np.float32(2.0) + y).sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]
    z = np.exp(cr.zeros(2))
    assert isinstance(z, cr.Tensor) and z.tolist() == [1.0, 1.0]
    t = cr.ones(3)
    assert np.asarray(t) is t.data  # no copy
    assert np.shares_memory(np.asarray(t), t.data)
    assert isinstance(np.array(t), np.ndarray)
    assert isinstance(np.mean(cr.ones(3).numpy()), np.floating)
    m = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert np.sum(m).item() == 10.0 and np.mean(m, axis=0).tolist() == [2.0, 3.0]
    assert cr.sum(m, axis=1).tolist() == [3.0, 7.0] and np.max(m).item() == 4.0


def test_from_numpy_shares_memory() -> None:
    a = np.arange(4.0)
    t = cr.from_numpy(a)
    assert t.dtype == np.float64 and t.data is a
    t.add_(1.0)
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0]
    a[0] = 10.0
    assert t[0].item() == 10.0
    with pytest.raises(TypeError, match="ndarray"):
        cr.from_numpy([1, 2])


def test_dlpack_with_numpy() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = cr.from_dlpack(a)
    assert np.shares_memory(t.data, a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    assert t.__dlpack_device__() == (1, 0)
    with pytest.raises(RuntimeError, match="requires grad"):
        cr.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(TypeError, match="__dlpack__"):
        cr.from_dlpack([1, 2])


@pytest.mark.torch
def test_dlpack_with_torch() -> None:
    torch = pytest.importorskip("torch")
    tt = torch.arange(6.0).reshape(2, 3)
    t = cr.from_dlpack(tt)
    tt[0, 0] = 42.0
    assert t[0, 0].item() == 42.0  # same memory
    c = cr.ones(3)
    back = torch.from_dlpack(c)
    back += 1
    assert c.tolist() == [2.0, 2.0, 2.0]


def test_dlpack_with_jax() -> None:
    jnp = pytest.importorskip("jax.numpy")
    j = jnp.arange(4.0)
    t = cr.from_dlpack(j)
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert t.data.ctypes.data == j.unsafe_buffer_pointer()  # JAX's buffer, not a copy
    import jax

    back = jax.dlpack.from_dlpack(cr.tensor([1.0, 2.0]))
    assert back.tolist() == [1.0, 2.0]


# --- 2. devices -----------------------------------------------------------------------------


def test_devices() -> None:
    cpu = cr.device("cpu")
    assert cpu == "cpu" and cpu.type == "cpu" and cpu.index is None and str(cpu) == "cpu"
    assert cr.device("cuda:1").index == 1 and repr(cr.device("cuda", 0)).startswith("device(")
    with pytest.raises(RuntimeError, match="device type"):
        cr.device("gpu")
    x = cr.ones(2, device="cpu")
    assert x.device == cpu and not x.is_cuda
    assert x.to("cpu") is x and x.to(cpu, cr.float64).dtype == np.float64
    assert x.to(cr.zeros(1, dtype=cr.float64)).dtype == np.float64
    assert x.cpu() is x
    assert x.to("float64").dtype == np.float64  # a NumPy dtype name still works
    assert not cr.cuda.is_available() and cr.cuda.device_count() == 0
    assert not cr.backends.mps.is_available() and not cr.backends.cudnn.is_available()
    assert not cr.accelerator.is_available() and cr.accelerator.current_accelerator() is None
    for bad in ("cuda", "cuda:0", "mps"):
        with pytest.raises(RuntimeError, match="not available"):
            cr.zeros(2, device=bad)
        with pytest.raises(RuntimeError, match="not available"):
            x.to(bad)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        x.cuda()
    cr.set_default_device("cpu")
    assert cr.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match="not available"):
        cr.set_default_device("cuda")


def test_module_to_device() -> None:
    m = cr.nn.Linear(2, 3)
    assert m.to("cpu") is m and m.to(cr.device("cpu")) is m
    assert m.to("cpu", dtype=cr.float64).weight.dtype == np.float64
    with pytest.raises(RuntimeError, match="not available"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="not available"):
        m.cuda()
    assert m.cpu() is m


# --- 3. random streams ----------------------------------------------------------------------


def test_generator_streams() -> None:
    g1 = cr.Generator().manual_seed(2147483647)
    g2 = cr.Generator().manual_seed(2147483647)
    a = cr.rand(5, generator=g1)
    assert a.tolist() == cr.rand(5, generator=g2).tolist()
    assert cr.randn(3, generator=g1).tolist() == cr.randn(3, generator=g2).tolist()
    assert (
        cr.randint(0, 10, (4,), generator=g1).tolist()
        == cr.randint(0, 10, (4,), generator=g2).tolist()
    )
    state = g1.get_state()
    first = cr.rand(2, generator=g1).tolist()
    g1.set_state(state)
    assert cr.rand(2, generator=g1).tolist() == first
    assert g1.initial_seed() == 2147483647 and g1.device == "cpu"
    assert cr.manual_seed(7) is cr.default_generator
    assert cr.Generator().manual_seed(5).np.random() == np.random.default_rng(5).random()
    g = cr.Generator()
    loader = cr.utils.data.DataLoader(
        cr.utils.data.TensorDataset(cr.arange(6)), 6, True, generator=g
    )
    g.manual_seed(1)
    first = [b[0].tolist() for b in loader]
    g.manual_seed(1)
    assert [b[0].tolist() for b in loader] == first  # the loader sees the reseeded stream
    x = cr.rand(3)
    cr.manual_seed(7)
    assert cr.rand(3).tolist() == x.tolist()
    with pytest.raises(TypeError, match="Generator"):
        cr.rand(2, generator=np.random.default_rng(0))
    w = cr.zeros(1000)
    w.normal_(generator=cr.Generator().manual_seed(1))
    assert abs(w.data.std() - 1) < 0.1


def test_multinomial() -> None:
    g = cr.Generator().manual_seed(0)
    p = cr.tensor([0.0, 0.25, 0.75])
    s = cr.multinomial(p, 4000, replacement=True, generator=g)
    assert s.dtype == np.int64 and s.shape == (4000,)
    counts = np.bincount(s.data, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / 4000 - 0.75) < 0.03
    rows = cr.tensor([[1.0, 0.0], [0.0, 5.0]])
    assert rows.multinomial(1).tolist() == [[0], [1]]
    distinct = cr.multinomial(cr.ones(5), 5, generator=g)
    assert sorted(distinct.tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="without replacement"):
        cr.multinomial(cr.ones(2), 3)
    with pytest.raises(RuntimeError, match="element < 0"):
        cr.multinomial(cr.tensor([-1.0, 2.0]), 1)
    a = cr.multinomial(p, 5, True, generator=cr.Generator().manual_seed(3))
    b = cr.multinomial(p, 5, True, generator=cr.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()


# --- 4. names -------------------------------------------------------------------------------


def test_names() -> None:
    x = cr.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert x.nelement() == 4 and x.numel() == 4
    assert x.size() == (2, 2) and isinstance(x.size(), cr.Size) and x.size(1) == 2
    assert repr(x.size()) == "chainrule.Size([2, 2])"
    assert x.t().tolist() == [[3.0, 0.0], [4.0, 0.0]] and cr.ones(3).t().shape == (3,)
    assert x.norm().item() == 5.0 and cr.norm(x, dim=1).tolist() == [5.0, 0.0]
    assert cr.norm(x, p=1).item() == 7.0 and x.norm(float("inf")).item() == 4.0
    assert cr.log10(cr.tensor([100.0])).tolist() == pytest.approx([2.0])
    assert x.sum(1, keepdims=True).shape == (2, 1)
    assert cr.mean(x, dim=0, keepdims=True).shape == (1, 2)
    assert x.all().item() is False and x.any().item() is True
    assert cr.all(x > -1).item() is True and (x > 0).any(dim=1).tolist() == [True, False]
    assert cr.allclose(x, x + 1e-9) and not cr.allclose(x, x + 1)
    assert cr.isclose(x, x).all()
    hist, edges = cr.histogram(cr.tensor([0.0, 0.5, 1.0, 1.0]), bins=2)
    assert hist.tolist() == [1.0, 3.0] and edges.tolist() == [0.0, 0.5, 1.0]
    assert cr.histc(cr.tensor([1.0, 2.0, 1.0]), bins=2, min=0, max=3).tolist() == [2.0, 1.0]
    assert f"{cr.tensor(3.14159):.3f}" == "3.142" and f"{cr.tensor([2.5]):.1f}" == "2.5"
    assert f"{cr.tensor(7)}" == "7"


def test_torch_keywords_and_out() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.add(input=x, other=cr.ones(2)).tolist() == [2.0, 3.0]
    assert cr.mul(x, other=3.0).tolist() == [3.0, 6.0]
    assert cr.sum(input=x, dim=0).item() == 3.0
    assert cr.nn.functional.relu(input=x - 1.5).tolist() == [0.0, 0.5]
    assert cr.where(x > 1.5, input=x, other=cr.zeros(2)).tolist() == [0.0, 2.0]
    out = cr.zeros(2)
    r = cr.add(cr.ones(2), cr.ones(2), out=out)
    assert r is out and out.tolist() == [2.0, 2.0]
    out2 = cr.zeros(5)  # resized to fit, as in PyTorch
    cr.exp(cr.zeros(3), out=out2)
    assert out2.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        cr.add(x, x, out=cr.zeros(2, requires_grad=True))


def test_utils_data_at_pytorch_path() -> None:
    from chainrule.utils.data import DataLoader, Dataset, TensorDataset, random_split

    ds = TensorDataset(cr.arange(10).float(), cr.arange(10))
    train, val = random_split(ds, [8, 2], generator=cr.Generator().manual_seed(0))
    assert len(train) == 8 and len(val) == 2
    idx = sorted(int(y) for _, y in train) + sorted(int(y) for _, y in val)
    assert sorted(idx) == list(range(10))
    a, b = random_split(ds, [0.7, 0.3])
    assert len(a) == 7 and len(b) == 3
    batches = list(DataLoader(train, batch_size=4, shuffle=True))
    assert [len(xb) for xb, _ in batches] == [4, 4]
    assert issubclass(TensorDataset, Dataset)
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [3, 3])


def test_init_generator_and_device_context() -> None:
    w1, w2 = cr.empty(3, 4), cr.empty(3, 4)
    cr.nn.init.kaiming_uniform_(w1, generator=cr.Generator().manual_seed(5))
    cr.nn.init.kaiming_uniform_(w2, generator=cr.Generator().manual_seed(5))
    assert w1.tolist() == w2.tolist() and w1.abs().max().item() > 0
    with cr.device("cpu"):
        assert cr.zeros(1).device == "cpu"
    with pytest.raises(RuntimeError, match="not available"), cr.device("cuda"):
        pass
    assert cr.get_default_device() == "cpu"


def test_save_load_with_pytorch_keywords(tmp_path) -> None:
    model = cr.nn.Linear(3, 2)
    cr.save(model.state_dict(), tmp_path / "model.pth")  # PyTorch's quickstart names
    other = cr.nn.Linear(3, 2)
    other.load_state_dict(cr.load(tmp_path / "model.pth", weights_only=True, map_location="cpu"))
    assert other.weight.tolist() == model.weight.tolist()
    with pytest.raises(RuntimeError, match="not available"):
        cr.load(tmp_path / "model.pth", map_location="cuda:0")


def test_default_dtype_and_small_names() -> None:
    assert cr.get_default_dtype() == cr.float32
    cr.set_default_dtype(cr.float64)
    try:
        assert (
            cr.tensor([1.5]).dtype == cr.float64 and (cr.tensor([1, 2]) * 0.5).dtype == cr.float64
        )
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.tensor([1.5]).dtype == cr.float32
    with pytest.raises(TypeError, match="floating-point"):
        cr.set_default_dtype(cr.int64)
    assert cr.is_tensor(cr.ones(1)) and not cr.is_tensor(np.ones(1))
    assert cr.numel(cr.ones(2, 3)) == 6
    x = cr.tensor([[1.0, 2.0]])
    assert x.new_zeros(3).tolist() == [0.0, 0.0, 0.0] and x.new_full((2,), 7.0).tolist() == [7, 7]
    m = cr.ones(2, 3)
    assert m.stride() == (3, 1) and m.t().stride() == (1, 3) and not m.t().is_contiguous()
    assert cr.equal(x, x.clone()) and not cr.equal(x, x.t()) and m.is_contiguous()


def test_inference_mode_and_constants() -> None:
    w = cr.ones(2, requires_grad=True)
    with cr.inference_mode():
        assert not (w * 2).requires_grad
    with cr.inference_mode(False):
        assert (w * 2).requires_grad

    @cr.inference_mode()
    def f(x):
        return x * 2

    assert not f(w).requires_grad and cr.is_grad_enabled()
    assert cr.finfo(cr.float32).eps == np.finfo(np.float32).eps and cr.iinfo(cr.int64).max > 0
    assert cr.pi == np.pi and cr.inf == float("inf") and cr.nan != cr.nan


def test_no_torch_ported_ops_batch_under_vmap() -> None:
    x = cr.randn(2, 3, 3)
    vmap = cr.func.vmap
    assert vmap(lambda a: cr.isclose(a, a * 1.0))(x).data.all()
    for f in (cr.tril, cr.triu):
        np.testing.assert_array_equal(vmap(f)(x > 0).data, f(x > 0).data)
        np.testing.assert_allclose(vmap(f)(x).data, f(x).data)
    np.testing.assert_allclose(vmap(lambda a: cr.flip(a, 0))(x).data, cr.flip(x, 1).data)
    np.testing.assert_allclose(vmap(cr.log2)(x.abs()).data, cr.log2(x.abs()).data)
    np.testing.assert_array_equal(vmap(cr.sign)(x).data, cr.sign(x).data)
    with pytest.raises(RuntimeError, match="randomness='error'"):  # an explicit generator too
        vmap(lambda a: a + cr.randn(3, 3, generator=cr.Generator()), randomness="error")(x)
    for op in (cr.all, cr.any):
        for kw in ({}, {"dim": 0}, {"dim": (0, 1)}, {"dim": 1, "keepdim": True}):
            loop = np.stack([op(x[k] > 0, **kw).data for k in range(2)])
            np.testing.assert_array_equal(
                vmap(lambda a, op=op, kw=kw: op(a > 0, **kw))(x).data, loop
            )
    loop = np.stack([cr.argsort(x[k], 0, descending=True).data for k in range(2)])
    np.testing.assert_array_equal(vmap(lambda a: cr.argsort(a, 0, descending=True))(x).data, loop)
    g = cr.Generator().manual_seed(1)
    draws = vmap(lambda a: cr.randn(3, generator=g), randomness="different")(x)
    assert draws.shape == (2, 3) and not np.allclose(draws.data[0], draws.data[1])
