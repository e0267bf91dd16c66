"""Utilities: gradient checkpointing (``checkpoint``, ``checkpoint_sequential``)."""

from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential

__all__ = ["checkpoint", "checkpoint_sequential"]
