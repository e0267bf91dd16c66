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

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split"]


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


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Any) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return self.dataset[[self.indices[int(i)] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Any, lengths: Any, generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given ``lengths``, or of
    the given fractions (summing to 1; the remainder goes round-robin, as in PyTorch)."""
    from chainrule._random import rng

    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(f, float) and 0 <= f <= 1 for f in lengths):
        if not math.isclose(sum(lengths), 1.0, abs_tol=1e-9):
            raise ValueError(f"random_split: fractions must sum to 1, got {sum(lengths)}")
        sizes = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(sizes)):  # distribute what flooring left over
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length "
            f"of the input dataset ({n})"
        )
    order = rng(generator).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start : start + k]))
        start += k
    return out


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
        generator: a ``chainrule.Generator`` to shuffle with (PyTorch's spelling of ``seed``).
        collate_fn: turns a list of samples into a batch (default: stack into Tensors).
        num_workers: accepted for PyTorch scripts; batches are always loaded in this process.

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
        *,
        generator: Any = None,
        collate_fn: Any = None,
        num_workers: int = 0,
        pin_memory: bool = False,
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
        if generator is not None:
            from chainrule._random import rng

            self._generator = rng(generator)  # the Generator's NumPy stream (reseeds in place)
        self.collate_fn = collate_fn

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
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        collate = self.collate_fn or _collate
        for start in range(0, stop, bs):
            index = order[start : start + bs]
            if fast:
                yield tuple(Tensor(a[index]) for a in self.dataset.arrays)
            else:
                yield collate([self.dataset[int(i)] for i in index])


def _collate(samples: list[Any]) -> Any:
    """Stack a list of samples (tensors, arrays, numbers, or tuples of them) into a batch."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[k] for s in samples]) for k in range(len(first)))
    return Tensor(np.stack([s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples]))
