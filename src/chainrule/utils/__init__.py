"""Utilities: gradient checkpointing (``checkpoint``, ``checkpoint_sequential``) and, at
PyTorch's path, the dataset tools (``chainrule.utils.data``)."""

from chainrule.utils import data
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential

__all__ = ["checkpoint", "checkpoint_sequential", "data"]
