"""``TensorDataset`` and ``DataLoader``: mini-batches of Tensors from arrays, shuffled by a
seeded generator.

For a ``TensorDataset`` (the common case) a batch is one fancy-index per array, not a Python
loop over samples, so loading costs microseconds per batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["DataLoader", "Dataset", "TensorDataset"]


class Dataset:
    """Anything with ``__getitem__(i)`` and ``__len__`` (PyTorch's map-style dataset)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Arrays or tensors of equal length, indexed together: ``ds[i] == (X[i], y[i])``.

    >>> ds = TensorDataset(np.zeros((5, 3)), np.arange(5))
    >>> len(ds), ds[2][1]
    (5, tensor(2))
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: at least one array is required")
        arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        n = len(arrays[0])
        for k, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != n:
                raise ValueError(
                    f"TensorDataset: array {k} has shape {a.shape}; every array needs the same "
                    f"first dim ({n})"
                )
        self.arrays = arrays

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor(a[index]) for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class DataLoader:
    """Iterate over ``dataset`` in mini-batches of Tensors.

    Args:
        dataset: a ``TensorDataset``, any map-style dataset, or a tuple of arrays.
        batch_size: rows per batch.
        shuffle: draw a new order every epoch (from ``seed``, or from chainrule's
            generator, ``cr.manual_seed``, when ``seed`` is None).
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        seed: seeds this loader's own generator, so its order does not depend on other
            random calls.

    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [tuple(yb.tolist()) for _, yb in DataLoader((X, y), batch_size=2)]
    [(0, 1), (2, 3), (4,)]
    >>> len(DataLoader((X, y), batch_size=2, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if isinstance(dataset, (tuple, list)):
            dataset = TensorDataset(*dataset)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self._generator is not None:
            return self._generator.permutation(n)
        from chainrule.creation import _rng

        return _rng().permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset)
        for start in range(0, stop, bs):
            index = order[start : start + bs]
            if fast:
                yield tuple(Tensor(a[index]) for a in self.dataset.arrays)
            else:
                yield _collate([self.dataset[int(i)] for i in index])


def _collate(samples: list[Any]) -> Any:
    """Stack a list of samples (tensors, arrays, numbers, or tuples of them) into a batch."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[k] for s in samples]) for k in range(len(first)))
    return Tensor(np.stack([s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples]))
