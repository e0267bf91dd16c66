"""Random streams: ``Generator`` (PyTorch's name and methods) over a NumPy ``Generator``.

Every random function (``rand``, ``randn``, ``randint``, ``randperm``, ``multinomial``,
``normal_``, dropout, init) draws from ``generator`` when one is passed, else from
``default_generator``, which ``manual_seed`` reseeds and returns. A chainrule stream is a
NumPy PCG64 stream: the same seed gives the same numbers here every time, but not the numbers
PyTorch's Mersenne Twister gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import _device
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE


class Generator:
    """A seedable random stream.

    >>> g = Generator().manual_seed(2147483647)
    >>> g.initial_seed()
    2147483647
    """

    def __init__(self, device: Any = "cpu") -> None:
        self._device = _device.check(device)
        self._seed = int(xp.random.SeedSequence().entropy) % (1 << 63)
        self.np = xp.random.default_rng(self._seed)  # the NumPy stream behind it

    @property
    def device(self) -> _device.device:
        return self._device

    def manual_seed(self, seed: Any) -> Generator:
        """Restart the stream from ``seed`` (an int; negative ones wrap as in PyTorch)."""
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise TypeError(f"manual_seed: expected an int seed, got {seed!r:.40}") from None
        self._seed = seed % (1 << 64)
        # reseed the same NumPy object in place, so that whoever holds it (a DataLoader, the
        # checkpoint's state capture) sees the new stream
        self.np.bit_generator.state = xp.random.PCG64(self._seed).state
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        self.manual_seed(int(xp.random.SeedSequence().entropy) % (1 << 63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """A snapshot of the stream, for ``set_state`` (a dict, not PyTorch's byte tensor)."""
        return {"seed": self._seed, "bit_generator": self.np.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise TypeError("set_state: expected a state from Generator.get_state()")
        self._seed = state.get("seed", self._seed)
        self.np.bit_generator.state = state["bit_generator"]
        return self

    def __repr__(self) -> str:
        return f"<chainrule.Generator on {self._device}>"


default_generator = Generator()

#: checks run on every draw: a program trace (``chainrule.func.program``) refuses random draws,
#: which would otherwise be frozen into the program (the same numbers on every call)
DRAW_CHECKS: list[Callable[[Generator | None], None]] = []


def manual_seed(seed: Any) -> Generator:
    """Seed the default stream (``rand``, ``randn``, dropout, init); returns it, as PyTorch."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def rng(generator: Generator | None = None) -> Any:
    """The NumPy stream to draw from: ``generator``'s, or the default one's.

    Every random function comes through here, so this is where ``vmap(..., randomness="error")``
    refuses a draw (with or without an explicit generator, as ``torch.func.vmap``)."""
    if STATE.no_random:
        raise RuntimeError(
            "vmap: called a random function (rand, randn, dropout...) inside vmap with "
            "randomness='error'. Pass randomness='same' to share one draw across the batch, "
            "or draw the random values outside vmap and pass them in as a batched argument."
        )
    if DRAW_CHECKS:
        DRAW_CHECKS[-1](generator)
    if generator is None:
        return default_generator.np
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a chainrule.Generator, got {type(generator).__name__}")
    return generator.np
