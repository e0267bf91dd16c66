"""``chainrule.utils.data``: the dataset tools at PyTorch's import path
(``from torch.utils.data import DataLoader, TensorDataset, random_split``)."""

from chainrule.data.loader import DataLoader, Dataset, Subset, TensorDataset, random_split

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split"]
