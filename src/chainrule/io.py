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
import math
import os
import stat
import zipfile
from typing import Any

import numpy as np

from chainrule import _device, safetensors_io
from chainrule.tensor import Tensor

__all__ = ["DEFAULT_MAX_BYTES", "load", "save"]

_META = "__chainrule_meta__"
_FORMAT = "chainrule.save"


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (a state dict: a dict of str -> Tensor, possibly nested, with lists and
    Python scalars, e.g. an optimizer's ``state_dict()``) to ``path`` as ``.npz``. NumPy
    arrays and scalars (complex ones included) come back from ``load`` as NumPy arrays and
    scalars; Tensors as Tensors.

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
    try:
        tree = _encode(obj, "", arrays)
        meta = json.dumps({"format": _FORMAT, "version": 1, "tree": tree})
    except RecursionError:
        raise ValueError("save: obj is nested too deeply to be a state dict") from None
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
        kind = "scalar" if isinstance(obj, np.generic) else "array"  # np.float64(2.0) too
        return {"t": kind, "name": _store(array, key, arrays)}
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


#: Largest total size, in bytes, that ``load`` lets a file's arrays take once loaded (4 GiB),
#: unless the caller passes another ``max_bytes``. A zip member compresses a run of zeros
#: about 1000:1, so an 8 MB ``.npz`` can declare an 8 GiB array: the limit is checked from
#: the sizes the file declares, before anything is decompressed or allocated.
DEFAULT_MAX_BYTES = 4 << 30

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive


def load(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    map_location: Any = None,
    weights_only: bool = True,
) -> Any:
    """Read what ``save`` wrote (or any numeric ``.npz``/``.npy``) without unpickling.

    Arrays come back as Tensors (arrays that ``save`` was given as NumPy arrays come back as
    NumPy arrays). A corrupt, truncated or pickled file, a file that is not ``.npz``/``.npy``
    at all, or one whose arrays would take more than ``max_bytes`` bytes once loaded
    (default ``DEFAULT_MAX_BYTES``, 4 GiB; ``None`` for no limit) raises ``ValueError``
    naming the path; nothing in the file is ever executed, and the size check reads only
    the sizes the file declares, so a small archive that would inflate to gigabytes is
    refused before it is decompressed.

    A ``.safetensors`` path is read by ``chainrule.safetensors_io`` (a state dict of Tensors),
    held to the same ``max_bytes``. ``map_location`` and ``weights_only`` are PyTorch's
    keywords: the device is checked (the CPU is the only one), and only weights are ever
    loaded.
    """
    if map_location is not None:
        _device.check(map_location)
    name = os.fspath(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # FileNotFoundError passes through
        raise ValueError(
            f"load: cannot read {name!r}: it is not a regular file (a device, a pipe or a "
            "directory); pass the path of an .npz or .npy file"
        )
    if safetensors_io.is_safetensors_path(path):  # see chainrule.safetensors_io
        return safetensors_io.load(path, max_bytes=max_bytes)
    declared = 0
    try:
        with open(path, "rb") as f:
            declared = _declared_bytes(f, name)
            if max_bytes is not None and declared > max_bytes:
                raise _Refused(
                    f"load: {name!r} declares arrays of {declared:,} bytes in all, more than "
                    f"max_bytes={max_bytes:,} (the default is DEFAULT_MAX_BYTES = "
                    f"{DEFAULT_MAX_BYTES:,}); if you trust the file and have the memory, pass "
                    "a larger max_bytes= (or max_bytes=None)"
                )
            f.seek(0)
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.ndarray):  # a bare .npy file
                return _tensor(loaded, name, "the array")
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}  # read every member now
    except _Refused as err:
        raise ValueError(str(err)) from None
    except MemoryError:
        raise ValueError(
            f"load: not enough memory to load {name!r}, which declares arrays of "
            f"{declared:,} bytes in all"
        ) from None
    except Exception as err:  # BadZipFile, EOFError, ValueError (pickle refused), zlib.error
        hint = (
            "it holds pickled data, which chainrule never loads (unpickling can run code)"
            if "pickle" in str(err)
            else "the file is truncated, corrupt or not an .npz archive"
        )
        raise ValueError(f"load: cannot read {name!r}: {hint} ({err})") from None
    for key, a in arrays.items():
        ok = isinstance(a, np.ndarray) and a.dtype.kind in ("U" if key == _META else "biufc")
        if not ok:  # e.g. a member that is not .npy data at all: NpzFile returns raw bytes
            raise ValueError(f"load: {name!r} is corrupt: member {key!r} is not a numeric array")
    if _META not in arrays:
        return {key: _tensor(a, name, f"member {key!r}") for key, a in arrays.items()}
    try:
        meta = json.loads(str(arrays.pop(_META)))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        return _decode(meta["tree"], arrays)
    except RecursionError:
        raise ValueError(
            f"load: {name!r} has a damaged chainrule structure record (nested too deeply to "
            "be a state dict)"
        ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"load: {name!r} has a damaged chainrule structure record ({err})"
        ) from None


class _Refused(ValueError):
    """A file that ``load`` turns down for what it is (its kind, its size): the message is
    already the one the user should see."""


def _tensor(array: np.ndarray, name: str, what: str) -> Tensor:
    if array.dtype.kind == "c":
        raise _Refused(
            f"load: {what} in {name!r} holds complex numbers; chainrule tensors cannot hold "
            "them (np.load reads the file as it is)"
        )
    return Tensor(array)


def _declared_bytes(f: Any, name: str) -> int:
    """What the arrays in ``f`` will take once loaded, from the sizes the file declares (the
    zip directory and each ``.npy`` header); raises ``_Refused`` for a file of another kind."""
    head = f.read(8)
    f.seek(0)
    if head.startswith(_NPY_MAGIC):
        return _npy_declared_bytes(f, name, "the file")
    if not head.startswith(_ZIP_MAGICS):
        raise _Refused(f"load: cannot read {name!r}: {_not_ours(head)}")
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile as err:
        raise _Refused(
            f"load: cannot read {name!r}: the file is truncated, corrupt or not an .npz "
            f"archive ({err})"
        ) from None
    total = 0
    with archive:
        for info in archive.infolist():
            size = info.file_size  # what the member inflates to, as the directory says
            if info.filename.endswith(".npy"):
                with archive.open(info) as member:
                    head = member.read(8)
                    if not head.startswith(_NPY_MAGIC):
                        raise _Refused(
                            f"load: cannot read {name!r}: member {info.filename!r} is not "
                            f".npy data: {_not_ours(head)}"
                        )
                with archive.open(info) as member:
                    array_bytes = _npy_declared_bytes(member, name, repr(info.filename))
                size = max(size, array_bytes)  # np.load allocates what the header declares
            total += size
    return total


def _npy_declared_bytes(f: Any, name: str, what: str) -> int:
    """Bytes of the array an ``.npy`` header declares (shape times item size)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception as err:  # a header too long to parse safely, or a damaged one
        if "Header info length" in str(err):  # NumPy's own message suggests allow_pickle
            raise _Refused(
                f"load: cannot read {name!r}: the .npy header of {what} is longer than the "
                "10,000 bytes NumPy reads safely (a real header takes about a hundred); the "
                "file is damaged or hostile"
            ) from None
        raise _Refused(
            f"load: cannot read {name!r}: the .npy header of {what} is damaged or too large "
            f"to read safely ({err})"
        ) from None
    if dtype.hasobject:
        raise _Refused(
            f"load: cannot read {name!r}: {what} is an array of Python objects, which would "
            "be pickled data; chainrule never loads it (unpickling can run code)"
        )
    return math.prod(shape) * dtype.itemsize


def _not_ours(head: bytes) -> str:
    """Say what a file that is neither ``.npz`` nor ``.npy`` looks like, from its first bytes."""
    if not head:
        return "the file is empty"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it holds pickled data, which chainrule never loads (unpickling can run code)"
    return (
        f"it is neither an .npz archive nor an .npy file (it starts with {head!r}); chainrule "
        "loads only what cr.save writes and NumPy's .npz/.npy"
    )


def _decode(node: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    kind = node["t"]
    if kind == "tensor":
        return Tensor(arrays[node["name"]])
    if kind == "array":
        return arrays[node["name"]]
    if kind == "scalar":
        return arrays[node["name"]][()]
    if kind == "py":
        return node["v"]
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    raise ValueError(f"unknown entry type {kind!r}")
