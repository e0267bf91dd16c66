"""State dicts as ``.safetensors`` files: the format PyTorch and Hugging Face models ship in.

A safetensors file is a JSON header (name -> dtype, shape, byte range) followed by the raw
bytes of every tensor: nothing in it is code, nothing is compressed, so a file can never
unpack to more memory than its own size (no size bomb), and loading executes nothing. The
``safetensors`` package's NumPy API reads and writes it; it is an optional dependency
(``pip install chainrule[safetensors]``), imported only when such a file is saved or loaded.

Keys are the state dict's own (``'0.weight'``, ``'fc1.bias'``), the same names PyTorch gives
the equivalent ``torch.nn`` model, so ``safetensors.torch.load_file`` reads a chainrule model's
file straight into ``torch_model.load_state_dict`` and the other way round. Only flat dicts
of tensors fit the format; an optimizer's nested state dict goes to ``.npz``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

SUFFIX = ".safetensors"


def is_safetensors_path(path: Any) -> bool:
    """True when ``path`` names a ``.safetensors`` file (by its suffix, as PyTorch tools do)."""
    try:
        return os.fspath(path).lower().endswith(SUFFIX)
    except TypeError:
        return False


def _numpy_api() -> Any:
    try:
        from safetensors import numpy as st_numpy
    except ImportError:
        raise ImportError(
            "saving or loading .safetensors files needs the 'safetensors' package: "
            "pip install 'chainrule[safetensors]' (or use a .npz path)"
        ) from None
    return st_numpy


def save(obj: Any, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> None:
    """Write a flat state dict (str -> Tensor or array) to ``path`` in safetensors format.

    ``metadata`` (str -> str) goes into the header; ``{"format": "pt"}`` is added, as
    PyTorch's writer does, so that tools that check it accept the file.
    """
    if not isinstance(obj, dict):
        raise TypeError(
            f"save: a .safetensors file holds a flat dict of tensors (a state_dict), got "
            f"{type(obj).__name__}; use a .npz path for other structures"
        )
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"save: safetensors keys must be str, got {key!r:.40}")
        if isinstance(value, Tensor):
            value = value.data
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(
                f"save: {key!r} is a {type(value).__name__}; a .safetensors file holds only "
                "tensors (use a .npz path for nested state such as an optimizer's)"
            )
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save: {key!r} has dtype {array.dtype}, not a numeric one")
        # the format stores C-ordered bytes; views (a transposed weight) are copied once here
        arrays[key] = np.ascontiguousarray(array)
    meta = {"format": "pt", **(metadata or {})}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise TypeError("save: safetensors metadata must map str to str")
    _numpy_api().save_file(arrays, os.fspath(path), metadata=meta)


def load(path: str | os.PathLike[str], max_bytes: int | None = None) -> dict[str, Tensor]:
    """Read a ``.safetensors`` file into a dict of Tensors (written by chainrule, PyTorch's
    ``safetensors.torch.save_file``, or any other writer). A damaged file raises
    ``ValueError`` naming the path; a dtype NumPy lacks (bfloat16) is named in the error.

    The tensors take as much memory as the file's size (nothing is compressed), so
    ``max_bytes`` is checked against the file size before anything is read.
    """
    st_numpy = _numpy_api()
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {os.fspath(path)!r}")
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        raise ValueError(
            f"load: {os.fspath(path)!r} is {size} bytes, more than max_bytes={max_bytes}"
        )
    try:
        arrays = st_numpy.load_file(os.fspath(path))
    except Exception as err:  # SafetensorError, a dtype NumPy lacks (BF16), a short file
        raise ValueError(
            f"load: cannot read {os.fspath(path)!r} as safetensors (damaged, truncated, or a "
            f"dtype NumPy lacks, such as bfloat16): {err}"
        ) from None
    out = {}
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise ValueError(f"load: {key!r} in {os.fspath(path)!r} has unsupported dtype")
        out[key] = Tensor(array)
    return out
