"""chainrule.data (digits, moons, splits, DataLoader) and chainrule.io (save/load without
pickle: round trips, trained-model accuracy after reload, corrupt and malicious files)."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim
from chainrule.data import (
    DataLoader,
    TensorDataset,
    load_digits,
    make_moons,
    train_test_split,
)
from chainrule.io import load, save


def test_load_digits() -> None:
    pytest.importorskip("sklearn")
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and set(y.tolist()) == set(range(10))
    images, _ = load_digits(as_images=True)
    assert images.shape == (1797, 1, 8, 8)


def test_make_moons_unchanged() -> None:
    X, y = make_moons(100, noise=0.1, random_state=0)
    assert X.shape == (100, 2) and y.sum() == 50
    np.testing.assert_array_equal(X, make_moons(100, noise=0.1, random_state=0)[0])


def test_train_test_split_is_seeded_and_complete() -> None:
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    a = train_test_split(X, y, test_size=0.25, seed=3)
    b = train_test_split(X, y, test_size=0.25, seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X_tr, X_te, y_tr, y_te = a
    assert len(y_te) == 5 and sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(20))
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)  # rows stay aligned
    assert isinstance(train_test_split(cr.tensor(X), test_size=5)[0], cr.Tensor)
    with pytest.raises(ValueError, match="same length"):
        train_test_split(X, y[:5])


def test_dataloader_batches_shuffle_and_drop_last() -> None:
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    batches = list(DataLoader((X, y), batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], cr.Tensor) and batches[0][0].dtype == np.float64
    assert len(DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)) == 2

    loader = DataLoader((X, y), batch_size=3, shuffle=True, seed=0)
    epoch1 = np.concatenate([b[1].data for b in loader])
    epoch2 = np.concatenate([b[1].data for b in loader])
    assert sorted(epoch1.tolist()) == list(range(10)) and epoch1.tolist() != epoch2.tolist()
    again = DataLoader((X, y), batch_size=3, shuffle=True, seed=0)
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in again]), epoch1)
    for xb, yb in loader:  # features and labels stay paired
        np.testing.assert_array_equal(xb.data[:, 0] // 2, yb.data)


def test_dataloader_generic_dataset() -> None:
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i]), i

    (xb, yb), *_ = DataLoader(Squares(), batch_size=5)
    assert xb.tolist()[3] == [3, 9] and yb.tolist() == [0, 1, 2, 3, 4]


def test_save_load_round_trip(tmp_path) -> None:
    obj = {
        "w": cr.tensor([[1.0, 2.0]]),
        "ints": cr.tensor([1, 2, 3]),
        "raw": np.arange(3, dtype=np.int32),
        "nested": {"state": {0: {"step": 4, "buf": cr.zeros(2)}}, "lr": 0.1},
        "groups": [{"params": [0, 1], "betas": (0.9, 0.999), "amsgrad": False, "x": None}],
        "name": "adam",
    }
    path = tmp_path / "state"  # no suffix: saved exactly where asked
    save(obj, path)
    assert os.path.exists(path)
    back = load(path)
    assert back["nested"]["state"][0]["step"] == 4 and back["nested"]["lr"] == 0.1
    assert back["groups"][0]["betas"] == (0.9, 0.999) and back["groups"][0]["params"] == [0, 1]
    assert back["groups"][0]["amsgrad"] is False and back["groups"][0]["x"] is None
    assert back["name"] == "adam"
    np.testing.assert_array_equal(back["w"].data, obj["w"].data)
    assert back["ints"].dtype == np.int64 and back["raw"].dtype == np.int32
    # a plain np.load sees the tensors under their dotted names
    with np.load(path, allow_pickle=False) as f:
        assert "nested.state.0.buf" in f.files


def test_trained_model_survives_save_and_load(tmp_path) -> None:
    cr.manual_seed(0)
    X, y = make_moons(200, noise=0.1, random_state=0)
    X, y = cr.tensor(X.astype(np.float32)), cr.tensor(y)

    def mlp():
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))

    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    acc = float((model(X).argmax(1) == y).float().mean())
    assert acc > 0.95
    save(model.state_dict(), tmp_path / "model.npz")
    save(opt.state_dict(), tmp_path / "opt.npz")

    restored = mlp()
    restored.load_state_dict(load(tmp_path / "model.npz"))
    assert float((restored(X).argmax(1) == y).float().mean()) == acc
    opt2 = optim.Adam(restored.parameters(), lr=0.05)
    opt2.load_state_dict(load(tmp_path / "opt.npz"))
    assert opt2.state_dict()["state"][0]["step"] == 150
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)


def test_load_refuses_truncated_and_corrupt_files(tmp_path) -> None:
    path = tmp_path / "model.npz"
    save({"w": cr.ones(100)}, path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"load: cannot read .*truncated\.npz.*truncated, corrupt"):
        load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00\x01not a zip at all" * 10)
    with pytest.raises(ValueError, match=r"garbage\.npz"):
        load(garbage)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


class _Bomb:
    """Unpickling this would run code (here: create a marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_never_unpickles(tmp_path) -> None:
    marker = str(tmp_path / "pwned")
    # a raw pickle file
    raw = tmp_path / "bomb.npz"
    raw.write_bytes(pickle.dumps({"w": _Bomb(marker)}))
    with pytest.raises(ValueError, match="pickled data, which chainrule never loads"):
        load(raw)
    # an .npz whose member is an object array (a pickle inside the zip)
    inner = tmp_path / "inner.npz"
    np.savez(inner, w=np.array([_Bomb(marker)], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load(inner)
    # a .npy member replaced by a pickle
    swapped = tmp_path / "swapped.npz"
    with zipfile.ZipFile(swapped, "w") as z:
        z.writestr("w.npy", pickle.dumps(_Bomb(marker)))
    with pytest.raises(ValueError, match=r"swapped\.npz"):
        load(swapped)
    assert not os.path.exists(marker)


def test_save_rejects_what_would_need_pickle(tmp_path) -> None:
    with pytest.raises(TypeError, match="cannot save a set"):
        save({"a": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="only numeric arrays"):
        save({"a": np.array(["x"], dtype=object)}, tmp_path / "x.npz")
