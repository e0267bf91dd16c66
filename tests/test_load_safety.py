"""Loading hostile or unusual files and state dicts (issue 14, item 7): each is refused with a
message that says what is wrong, before anything large is allocated, or round-trips."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import DEFAULT_MAX_BYTES, load, save


def _bomb(path, declared_elements: int, written_bytes: int) -> None:
    """An .npz whose member's .npy header declares ``declared_elements`` float64s but whose
    data (zeros, compressed ~1000:1) is only ``written_bytes`` long."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (declared_elements,)}
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z,
        z.open("w.npy", "w", force_zip64=True) as member,
    ):
        np.lib.format.write_array_header_1_0(member, header)
        member.write(bytes(written_bytes))


def test_a_small_file_declaring_gigabytes_is_refused_before_allocation(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path, 1 << 30, 1 << 20)  # declares 8 GiB in a file of about 1 kB
    assert os.path.getsize(path) < 100_000
    with pytest.raises(ValueError, match=r"8,589,934,592 bytes.*max_bytes=4,294,967,296"):
        load(path)
    assert DEFAULT_MAX_BYTES == 4 << 30


def test_max_bytes_counts_what_the_members_inflate_to(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, w=np.zeros(1 << 17))  # 1 MiB of zeros, a few kB on disk
    with pytest.raises(ValueError, match=r"max_bytes=100,000"):
        load(path, max_bytes=100_000)
    assert load(path, max_bytes=2 << 20)["w"].shape == (1 << 17,)
    assert load(path, max_bytes=None)["w"].shape == (1 << 17,)
    npy = tmp_path / "zeros.npy"
    np.save(npy, np.zeros(1000))
    with pytest.raises(ValueError, match=r"8,000 bytes.*max_bytes=7,999"):
        load(npy, max_bytes=7999)
    assert load(npy, max_bytes=8000).shape == (1000,)


def test_what_save_accepts_load_gives_back(tmp_path):
    path = tmp_path / "c.npz"
    z = np.array([1 + 2j, -3.5j])
    scalars = {"c": np.complex64(1 - 1j), "f": np.float64(2.5), "i": np.int32(7)}
    save({"z": z, "w": cr.ones(2), "n": None, "s": "x", **scalars}, path)
    back = load(path)
    for k, v in scalars.items():
        assert type(back[k]) is type(v) and back[k] == v
    np.testing.assert_array_equal(back["z"], z)
    assert back["z"].dtype == np.complex128
    assert back["n"] is None and back["s"] == "x"
    np.testing.assert_array_equal(back["w"].numpy(), [1.0, 1.0])


def test_complex_arrays_outside_save_are_named_not_called_corrupt(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.array([1j]))
    with pytest.raises(ValueError, match="complex numbers"):
        load(path)
    path = tmp_path / "c.npz"
    np.savez(path, z=np.array([1j]))
    with pytest.raises(ValueError, match=r"member 'z'.*complex numbers"):
        load(path)


def test_files_of_other_kinds_are_described_accurately(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello world\n")
    with pytest.raises(ValueError, match=r"neither an .npz archive nor an .npy file") as info:
        load(text)
    assert "pickle" not in str(info.value).split("(")[0]
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        load(empty)
    with pytest.raises(ValueError, match="not a regular file"):
        load(tmp_path)  # a directory
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="not a regular file") as info:
            load("/dev/zero")
        assert "pickle" not in str(info.value)
    raw = tmp_path / "p.npz"
    raw.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="pickled data"):
        load(raw)


def test_a_huge_npy_header_is_called_what_it_is(tmp_path):
    path = tmp_path / "big.npy"
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), " + " " * 60_000 + "}"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header.encode())
        f.write(bytes(16))
    with pytest.raises(ValueError, match=r"header.*longer than the 10,000 bytes") as info:
        load(path)
    assert "pickle" not in str(info.value)
    member = tmp_path / "big.npz"
    with zipfile.ZipFile(member, "w") as z:
        z.write(path, "w.npy")
    with pytest.raises(ValueError, match=r"header of 'w.npy' is longer"):
        load(member)


def test_deeply_nested_metadata_is_a_value_error(tmp_path):
    depth = 100_000
    tree = '{"t":"list","items":[' * depth + '{"t":"py","v":1}' + "]}" * depth
    meta = '{"format":"chainrule.save","version":1,"tree":' + tree + "}"
    path = tmp_path / "deep.npz"
    np.savez(path, __chainrule_meta__=np.array(meta))
    with pytest.raises(ValueError, match=r"damaged chainrule structure record.*nested too deep"):
        load(path)
    nested: list = []
    inner = nested
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    with pytest.raises(ValueError, match="nested too deeply"):
        save(nested, tmp_path / "x.npz")


# --- Module.load_state_dict ------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 1 + 5j, "7", np.array([[1 + 1j]]), [[1.0], [2.0, 3.0]]])
def test_module_load_state_dict_refuses_non_real_values(value):
    m = cr.nn.Linear(1, 1)
    before = m.weight.detach().numpy().copy()
    sd = m.state_dict()
    sd["weight"] = value
    with pytest.raises(RuntimeError, match=r'parameter named "weight".*received a'):
        m.load_state_dict(sd)
    np.testing.assert_array_equal(m.weight.detach().numpy(), before)  # nothing was copied


def test_module_load_state_dict_still_takes_numbers_and_arrays():
    m = cr.nn.Linear(1, 1)
    m.load_state_dict({"weight": np.array([[2]]), "bias": [0.5]})
    assert m.weight.item() == 2.0 and m.bias.item() == 0.5


# --- Optimizer.load_state_dict ---------------------------------------------------------------


def _trained(opt_cls, **kw):
    w = cr.nn.Parameter(cr.ones(2, 3))
    b = cr.nn.Parameter(cr.ones(3))
    opt = opt_cls([w, b], **kw)
    (w.sum() + b.sum()).backward()
    opt.step()
    return opt, opt.state_dict()


def _copy(sd):
    state = {k: dict(v) for k, v in sd["state"].items()}
    return {"state": state, "param_groups": sd["param_groups"]}


@pytest.mark.parametrize(
    ("opt_cls", "kw", "key"),
    [
        (cr.optim.Adam, {}, "exp_avg"),
        (cr.optim.Adam, {}, "step"),
        (cr.optim.Adam, {"amsgrad": True}, "max_exp_avg_sq"),
        (cr.optim.AdamW, {}, "exp_avg_sq"),
        (cr.optim.RMSprop, {"momentum": 0.5, "centered": True}, "grad_avg"),
        (cr.optim.RMSprop, {"momentum": 0.5}, "momentum_buffer"),
    ],
)
def test_optimizer_state_with_a_missing_key_is_refused_at_load(opt_cls, kw, key):
    opt, sd = _trained(opt_cls, **kw)
    bad = _copy(sd)
    del bad["state"][1][key]
    fresh = opt_cls(opt.param_groups[0]["params"], **kw)
    with pytest.raises(ValueError, match=rf"state of parameter 1 \(shape \(3,\)\) lacks '{key}'"):
        fresh.load_state_dict(bad)
    assert fresh.state == {}  # nothing was loaded


@pytest.mark.parametrize(
    ("opt_cls", "kw"),
    [(cr.optim.Adam, {}), (cr.optim.SGD, {"lr": 0.1, "momentum": 0.9}), (cr.optim.RMSprop, {})],
)
def test_optimizer_state_of_the_wrong_shape_is_refused_at_load(opt_cls, kw):
    opt, sd = _trained(opt_cls, **kw)
    params = opt.param_groups[0]["params"]
    name = next(k for k in sd["state"][0] if k != "step")
    for value, message in [
        (cr.ones(5), r"of shape \(5,\); it must have the parameter's shape"),
        (3.0, "expected a tensor of the parameter's shape"),
        (cr.tensor(np.ones((2, 3), dtype=np.int64)), "expected floats"),
    ]:
        bad = _copy(sd)
        bad["state"][0][name] = value
        with pytest.raises(ValueError, match=r"parameter 0 \(shape \(2, 3\)\) has .*" + message):
            opt_cls(params, **kw).load_state_dict(bad)
    good = opt_cls(params, **kw)
    good.load_state_dict(sd)  # the untouched state dict still loads and steps
    good.step()


def test_optimizer_step_must_be_a_number():
    opt, sd = _trained(cr.optim.Adam)
    bad = _copy(sd)
    bad["state"][0]["step"] = "3"
    with pytest.raises(ValueError, match="has step '3'; expected a number"):
        cr.optim.Adam(opt.param_groups[0]["params"]).load_state_dict(bad)


def test_running_out_of_memory_is_not_called_corruption(tmp_path, monkeypatch):
    path = tmp_path / "ok.npz"
    save({"w": cr.ones(4)}, path)

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "load", no_memory)
    with pytest.raises(ValueError, match=r"not enough memory to load .*ok\.npz") as info:
        load(path)
    assert "corrupt" not in str(info.value)
