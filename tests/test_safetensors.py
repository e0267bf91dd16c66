"""``cr.save``/``cr.load`` with ``.safetensors`` paths: PyTorch's state-dict keys, and the
digits MLP and CNN going both ways between chainrule and ``torch.nn`` with equal predictions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.train import digits_cnn, digits_mlp

st = pytest.importorskip("safetensors")


def test_import_chainrule_does_not_import_safetensors() -> None:
    code = "import sys, chainrule; print('safetensors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_round_trip_and_format(tmp_path) -> None:
    model = digits_mlp((16,), dropout=0.0)
    path = tmp_path / "mlp.safetensors"
    cr.save(model.state_dict(), path)
    from safetensors.numpy import load_file

    raw = load_file(str(path))
    assert sorted(raw) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    loaded = cr.load(path)
    for k, v in model.state_dict().items():
        assert loaded[k].dtype == v.dtype and np.array_equal(loaded[k].data, v.data)
    # a non-contiguous view is stored by value
    cr.save({"wt": model[0].weight.detach().T}, tmp_path / "t.safetensors")
    assert np.array_equal(cr.load(tmp_path / "t.safetensors")["wt"].data, model[0].weight.data.T)


def test_errors(tmp_path) -> None:
    with pytest.raises(TypeError, match="npz"):
        cr.save({"state": {"0": cr.ones(1)}}, tmp_path / "opt.safetensors")
    with pytest.raises(TypeError, match="flat dict"):
        cr.save([cr.ones(1)], tmp_path / "l.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="cannot read"):
        cr.load(bad)
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.safetensors")
    from chainrule.safetensors_io import load as st_load

    cr.save({"w": cr.ones(100)}, tmp_path / "big.safetensors")
    with pytest.raises(ValueError, match="max_bytes"):
        st_load(tmp_path / "big.safetensors", max_bytes=100)
    assert st_load(tmp_path / "big.safetensors", max_bytes=10_000)["w"].shape == (100,)
    with pytest.raises(ValueError, match="max_bytes"):  # cr.load passes its limit through
        cr.load(tmp_path / "big.safetensors", max_bytes=100)
    assert cr.load(tmp_path / "big.safetensors", map_location="cpu")["w"].shape == (100,)
    with pytest.raises(ValueError, match="regular file"):  # io.py's check comes first
        cr.load(tmp_path, max_bytes=None)
    cr.save({"w": cr.ones(2)}, tmp_path / "w.npz")  # .npz keeps working
    assert cr.load(tmp_path / "w.npz")["w"].tolist() == [1.0, 1.0]


def _torch_models(torch):
    nn = torch.nn
    mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4, 10),
    )
    return mlp, cnn


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_digits_models_both_ways_with_torch(tmp_path, kind: str) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    x, _ = cr.data.load_digits(as_images=kind == "cnn")
    x = x[:200].astype(np.float32)
    mlp_t, cnn_t = _torch_models(torch)
    t_model = mlp_t if kind == "mlp" else cnn_t
    c_model = digits_mlp((32,), dropout=0.0) if kind == "mlp" else digits_cnn()
    c_model.eval()
    t_model.eval()

    # chainrule -> PyTorch
    path = tmp_path / f"{kind}_cr.safetensors"
    cr.save(c_model.state_dict(), path)
    t_model.load_state_dict(load_file(str(path)))
    with torch.no_grad():
        t_pred = t_model(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        c_pred = c_model(cr.from_numpy(x)).numpy()
    np.testing.assert_allclose(c_pred, t_pred, rtol=1e-4, atol=1e-5)
    assert (c_pred.argmax(1) == t_pred.argmax(1)).all()

    # PyTorch -> chainrule (fresh weights on the torch side)
    torch.manual_seed(1)
    for p in t_model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    path = tmp_path / f"{kind}_torch.safetensors"
    save_file({k: v.contiguous() for k, v in t_model.state_dict().items()}, str(path))
    c_model.load_state_dict(cr.load(path))
    with torch.no_grad():
        t_pred = t_model(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        c_pred = c_model(cr.from_numpy(x)).numpy()
    np.testing.assert_allclose(c_pred, t_pred, rtol=1e-4, atol=1e-4)
    assert (c_pred.argmax(1) == t_pred.argmax(1)).all()
