"""cr.set_num_threads / cr.get_num_threads (issue 14, item 8) and their use in training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule as cr
import chainrule.train as train

pytest.importorskip("threadpoolctl")

#: A count the BLAS can take here (OpenBLAS will not go above the cores it started with).
TWO = 2 if (os.cpu_count() or 1) >= 2 else 1


@pytest.fixture
def restore_threads():
    before = cr.get_num_threads()
    yield before
    cr.set_num_threads(before)


def test_set_and_get_num_threads(restore_threads):
    cr.set_num_threads(1)
    assert cr.get_num_threads() == 1
    cr.set_num_threads(TWO)
    assert cr.get_num_threads() == TWO


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-3, ValueError), (True, TypeError), (1.5, TypeError), ("2", TypeError)],
)
def test_set_num_threads_refuses_non_positive_ints(bad, error, restore_threads):
    with pytest.raises(error, match="expected a positive int"):
        cr.set_num_threads(bad)


def test_import_chainrule_does_not_import_threadpoolctl():
    code = "import sys, chainrule; print('threadpoolctl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_helpers_train_on_one_thread_and_restore(monkeypatch, restore_threads):
    seen = []
    monkeypatch.setattr(train, "_train_digits_body", lambda *a: seen.append(cr.get_num_threads()))
    cr.set_num_threads(TWO)
    train.train_digits_mlp(epochs=1, progress=False)
    train.train_digits_cnn(epochs=1, progress=False, threads=TWO)
    train.train_digits_mlp(epochs=1, progress=False, threads=None)
    assert seen == [1, TWO, TWO]
    assert cr.get_num_threads() == TWO  # put back afterwards
    with train.blas_threads(1):
        assert cr.get_num_threads() == 1
    assert cr.get_num_threads() == TWO


def test_tour_passes_threads_to_the_training(monkeypatch, capsys):
    import chainrule.tour as tour

    seen = []

    def fake(**kw):
        seen.append(kw["threads"])
        return {"test_accuracy": 1.0, "epochs": 1, "parameters": 1, "seconds": 0.0}

    monkeypatch.setattr(train, "train_digits_mlp", fake)
    monkeypatch.setattr(train, "train_digits_cnn", fake)
    monkeypatch.setattr(tour, "_transforms_part", lambda: [])
    monkeypatch.setattr(tour, "_lessons_part", lambda *args: (Path("index.html"), True))
    monkeypatch.setattr(
        tour, "train_moons", lambda steps: {"accuracy": 1, "seconds": 0, "ms_per_step": 0}
    )
    assert tour.main(["--quick", "--threads", "2"]) == 0
    assert tour.main(["--quick"]) == 0
    assert seen == [2, 2, 1, 1]
    assert "BLAS threads while training: 2" in capsys.readouterr().out


def test_mid_sized_products_run_on_one_thread_and_put_the_count_back(restore_threads, monkeypatch):
    """On a busy machine, a matrix product between 2**18 and 2**23 multiply-adds runs on one
    BLAS thread (the count seen inside it), and the user's count is back afterwards."""
    import numpy as np

    from chainrule import _threads

    assert isinstance(_threads.machine_busy(), bool)  # reads the load average (or says no)
    monkeypatch.setattr(_threads, "machine_busy", lambda: True)
    cr.set_num_threads(TWO)
    seen = []
    blas = _threads._blas if _threads._blas is not None else _threads._find_blas()

    def spy(a, b):
        # OpenBLAS's own count (get_num_threads is the largest over every library loaded)
        seen.append(blas[0]() if blas else TWO)
        return a @ b

    a, b = np.ones((64, 784), np.float32), np.ones((784, 128), np.float32)
    out = _threads.product(spy, a, b, 64 * 784 * 128)
    np.testing.assert_array_equal(out, a @ b)
    if blas:  # NumPy's OpenBLAS on pthreads: the count is driven
        assert seen == [1]
    assert cr.get_num_threads() == TWO
    # outside the range (small, or large enough to gain from threads) nothing is changed
    _threads.product(spy, a, b, 1 << 30)
    assert seen[-1] == TWO
    # on an idle machine the threads the user set are used
    monkeypatch.setattr(_threads, "machine_busy", lambda: False)
    _threads.product(spy, a, b, 64 * 784 * 128)
    assert seen[-1] == TWO
    # and chainrule's products give NumPy's results at that size, forward and backward
    x = cr.tensor(a, requires_grad=True)
    w = cr.tensor(b, requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.ones((64, 128), np.float32) @ b.T)
    assert cr.get_num_threads() == TWO
