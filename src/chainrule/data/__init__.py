"""Small datasets and a DataLoader, so examples train on real data without downloads."""

from chainrule.data.datasets import load_digits, make_moons, train_test_split
from chainrule.data.loader import DataLoader, Dataset, TensorDataset

__all__ = [
    "DataLoader",
    "Dataset",
    "TensorDataset",
    "load_digits",
    "make_moons",
    "train_test_split",
]
