"""Shared fixtures (kept tiny: the op table lives in ``opinfo.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from chainrule.autograd.grad_mode import STATE


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded NumPy generator per test."""
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _global_modes_unchanged() -> Iterator[None]:
    """Every test must leave grad mode and anomaly mode as it found them; a leak is restored
    (so it cannot break later tests) and reported as an error of the leaking test."""
    before = STATE.grad_enabled, STATE.anomaly
    yield
    after = STATE.grad_enabled, STATE.anomaly
    STATE.grad_enabled, STATE.anomaly = before
    if after != before:
        pytest.fail(f"test changed (grad_enabled, anomaly) from {before} to {after}")
