"""Devices: ``chainrule.device``, the default device, and the ``cuda``/``accelerator`` probes.

This build computes with NumPy on the CPU, so ``"cpu"`` is the one device that exists. The
objects are still real, with PyTorch's spelling and checks (``device("cpu")``,
``device("cuda", 0)``, ``device("cuda:1")``, ``set_default_device``), so that scripts written
for PyTorch run here, and asking for a device this build does not have fails at once, with
a clear message, rather than later in some op. A GPU backend (``_backend`` on CuPy) would
add its device type here.
"""

from __future__ import annotations

from typing import Any

#: device types PyTorch knows; only "cpu" is available in this build
KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "mtia", "privateuseone")
_AVAILABLE = ("cpu",)


class device:
    """A device: a type (``"cpu"``, ``"cuda"``, ...) and an optional index.

    >>> device("cpu")
    device(type='cpu')
    >>> device("cuda:1").index
    1
    >>> device("cpu") == "cpu"
    True
    """

    __slots__ = ("_saved", "index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if isinstance(type, int) and not isinstance(
            type, bool
        ):  # device(0): PyTorch's current accelerator's index
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {type!r:.60}")
        name = type.strip()
        if ":" in name:
            if index is not None:
                raise RuntimeError(
                    f"device: type {type!r} already names an index; don't pass index too"
                )
            name, _, idx = name.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"device: invalid device string {type!r}")
            index = int(idx)
        if name not in KNOWN:
            raise RuntimeError(
                f"device: expected one of {', '.join(KNOWN)} device type at start of device "
                f"string: {type!r}"
            )
        if index is not None and (
            not isinstance(index, int) or isinstance(index, bool) or index < 0
        ):
            raise RuntimeError(f"device: index must be a non-negative int, got {index!r}")
        self.type: str = name
        self.index: int | None = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self) -> Any:
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        """``with device("cpu"):`` makes it the factories' default inside (checked)."""
        self._saved = _default[0]  # type: ignore[attr-defined]
        set_default_device(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _default[0] = self._saved  # type: ignore[attr-defined]


CPU = device("cpu")
_default: list[device] = [CPU]


def check(dev: Any) -> device:
    """``dev`` as a device this build can use (the CPU), or a clear error naming it."""
    if dev is None:
        return _default[0]
    d = dev if isinstance(dev, device) else device(dev)
    if d.type not in _AVAILABLE:
        raise RuntimeError(
            f"device {str(d)!r} is not available: this build of chainrule computes with NumPy "
            f"on the CPU and has no {d.type.upper()} device. Use device='cpu' (or test "
            f"chainrule.cuda.is_available() first, as portable PyTorch code does)."
        )
    if d.index not in (None, 0):
        raise RuntimeError(f"device {str(d)!r} is not available: the only CPU is 'cpu' (or cpu:0)")
    return CPU


def set_default_device(dev: Any) -> None:
    """Set the device that factories use when ``device=`` is not given (only the CPU here)."""
    _default[0] = CPU if dev is None else check(dev)


def get_default_device() -> device:
    return _default[0]


class _Probe:
    """``chainrule.cuda`` and friends: a backend that this build does not have."""

    def __init__(self, name: str) -> None:
        self._name = name

    def is_available(self) -> bool:
        return False

    def device_count(self) -> int:
        return 0

    def manual_seed(self, seed: int) -> None:
        """Accepted and ignored, as in PyTorch without the device (there is no stream)."""

    def manual_seed_all(self, seed: int) -> None:
        """Accepted and ignored (no device streams)."""

    def synchronize(self, device: Any = None) -> None:
        """Nothing to wait for on the CPU."""

    def is_built(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<chainrule.{self._name}: not available in this build>"


cuda = _Probe("cuda")
mps = _Probe("mps")


class _Backends:
    """``chainrule.backends.mps.is_available()`` / ``.cuda`` / ``.cudnn``: the probes older
    PyTorch scripts use to pick a device; none is available in this build."""

    def __init__(self) -> None:
        self.mps, self.cuda, self.cudnn = _Probe("backends.mps"), cuda, _Probe("backends.cudnn")

    def __repr__(self) -> str:
        return "<chainrule.backends: CPU only>"


backends = _Backends()


class _Accelerator:
    """``chainrule.accelerator``: PyTorch's device-agnostic probe; there is none here."""

    def is_available(self) -> bool:
        return False

    def current_accelerator(self, check_available: bool = False) -> device | None:
        return None

    def device_count(self) -> int:
        return 0

    def synchronize(self, device: Any = None) -> None:
        """Nothing to wait for on the CPU."""

    def __repr__(self) -> str:
        return "<chainrule.accelerator: none in this build (CPU only)>"


accelerator = _Accelerator()
