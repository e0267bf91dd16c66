"""Small datasets and a DataLoader, so examples train on real data without downloads."""

from chainrule.data.datasets import make_moons

__all__ = ["make_moons"]
