"""Small datasets and a DataLoader, so examples train on real data without downloads."""

from chainrule.data.datasets import load_digits, make_moons, train_test_split
from chainrule.data.loader import DataLoader, Dataset, Subset, TensorDataset, random_split

__all__ = [
    "DataLoader",
    "Dataset",
    "Subset",
    "TensorDataset",
    "load_digits",
    "make_moons",
    "random_split",
    "train_test_split",
]
