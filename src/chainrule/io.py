"""``save`` and ``load``: state dicts to and from ``.npz`` files, never pickle.

Unpickling a file runs whatever code its author chose, so a model file from the internet
would be a program. Here arrays go in as ``.npy`` members of a zip (``np.savez``) and come back
with ``np.load(allow_pickle=False)``, which refuses object arrays and pickles outright. The
structure around the arrays (nested dicts, lists, int keys, Python numbers, strings, None:
what an optimizer's ``state_dict`` holds) is written as JSON in one extra member, so
``load(save(x))`` gives back the same structure. Array members are named by their dotted
key path (``'0.weight'``, ``'state.0.exp_avg'``), so ``np.load`` alone can read the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from chainrule import _device, safetensors_io
from chainrule.tensor import Tensor

__all__ = ["load", "save"]

_META = "__chainrule_meta__"
_FORMAT = "chainrule.save"


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (a state dict: a dict of str -> Tensor, possibly nested, with lists and
    Python scalars, e.g. an optimizer's ``state_dict()``) to ``path`` as ``.npz``.

    >>> import os, tempfile, chainrule as cr
    >>> from chainrule.io import save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> save({"w": cr.ones(2), "step": 3, "betas": (0.9, 0.999)}, path)
    >>> load(path)
    {'w': tensor([1., 1.]), 'step': 3, 'betas': (0.9, 0.999)}
    """
    if safetensors_io.is_safetensors_path(path):  # a state dict for PyTorch / Hugging Face
        return safetensors_io.save(obj, path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", arrays)
    meta = json.dumps({"format": _FORMAT, "version": 1, "tree": tree})
    arrays[_META] = np.array(meta)  # a unicode array: loads without pickle
    # an open file object, so np.savez does not append ".npz" to a path that lacks it
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _encode(obj: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON description of ``obj``; arrays are stored in ``arrays`` under unique names."""
    if isinstance(obj, Tensor):
        return {"t": "tensor", "name": _store(obj.data, key, arrays)}
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"save: the array at {key or 'the top level'!r} has dtype {array.dtype}; only "
                "numeric arrays can be saved (object arrays would need pickle)"
            )
        return {"t": "array", "name": _store(array, key, arrays)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "py", "v": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__}")
            child = f"{key}.{k}" if key else str(k)
            items.append([k, _encode(v, child, arrays)])
        return {"t": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        items = [_encode(v, f"{key}.{i}" if key else str(i), arrays) for i, v in enumerate(obj)]
        return {"t": kind, "items": items}
    raise TypeError(
        f"save: cannot save a {type(obj).__name__} (at {key or 'the top level'!r}); save "
        "state dicts: dicts, lists and tuples of Tensors, arrays, numbers, strings and None"
    )


def _store(array: np.ndarray, key: str, arrays: dict[str, np.ndarray]) -> str:
    name = key or "tensor"
    while name in arrays or name == _META:  # keys with dots could collide: keep names unique
        name += "_"
    arrays[name] = array
    return name


def load(
    path: str | os.PathLike[str], *, map_location: Any = None, weights_only: bool = True
) -> Any:
    """Read what ``save`` wrote (or any numeric ``.npz``/``.npy``) without unpickling.

    Arrays come back as Tensors. A corrupt, truncated or pickled file raises ``ValueError``
    naming the path; nothing in the file is ever executed. ``map_location`` and
    ``weights_only`` are PyTorch's keywords: the device is checked (the CPU is the only one),
    and only weights are ever loaded.
    """
    if map_location is not None:
        _device.check(map_location)
    if safetensors_io.is_safetensors_path(path):  # see chainrule.safetensors_io
        return safetensors_io.load(path)
    try:
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.ndarray):  # a bare .npy file
                return Tensor(loaded)
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}  # read every member now
    except FileNotFoundError:
        raise
    except Exception as err:  # BadZipFile, EOFError, ValueError (pickle refused), zlib.error
        hint = (
            "it holds pickled data, which chainrule never loads (unpickling can run code)"
            if "pickle" in str(err)
            else "the file is truncated, corrupt or not an .npz archive"
        )
        raise ValueError(f"load: cannot read {os.fspath(path)!r}: {hint} ({err})") from None
    for name, a in arrays.items():
        ok = isinstance(a, np.ndarray) and a.dtype.kind in ("U" if name == _META else "biuf")
        if not ok:  # e.g. a member that is not .npy data at all: NpzFile returns raw bytes
            raise ValueError(
                f"load: {os.fspath(path)!r} is corrupt: member {name!r} is not a numeric array"
            )
    if _META not in arrays:
        return {name: Tensor(a) for name, a in arrays.items()}
    try:
        meta = json.loads(str(arrays.pop(_META)))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        return _decode(meta["tree"], arrays)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"load: {os.fspath(path)!r} has a damaged chainrule structure record ({err})"
        ) from None


def _decode(node: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    kind = node["t"]
    if kind == "tensor":
        return Tensor(arrays[node["name"]])
    if kind == "array":
        return arrays[node["name"]]
    if kind == "py":
        return node["v"]
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    raise ValueError(f"unknown entry type {kind!r}")
