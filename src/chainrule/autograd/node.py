"""Graph nodes: what the tape records for one primitive application.

A node keeps what its VJP rule needs at backward time (the rule is looked up on the primitive,
never stored as a per-op closure): the input Tensors, the primal output's array, the
primitive's parameters, and the *edges* — for each input, the node that produced it, the leaf
tensor that receives its gradient, or ``None`` when no gradient is needed. Edges are captured
at forward time, so an in-place change that later gives an input a new history cannot re-route
this node's gradient.
"""

from __future__ import annotations

import weakref
from typing import Any

# The bottom layer: no chainrule import at all. ``prim`` is a ``chainrule.ops._primitive.
# Primitive`` and the inputs are Tensors, both defined above this module.


class Version:
    """A tensor's version counter, shared by every alias of its memory (views, ``detach``).

    ``data`` counts in-place changes: a node records it for each value it saves, and backward
    refuses to run a rule whose saved value changed since. ``history`` counts the *recorded*
    in-place changes, the ones that give the tensor a new graph history: an alias made before
    one still carries the old history, and using it in a recorded op is refused.
    """

    __slots__ = ("data", "history")

    def __init__(self) -> None:
        self.data = 0
        self.history = 0


class SavedMeta:
    """Stand-in for an input that no VJP which will run reads: its shape and dtype only.

    Reading anything else (its values, an arithmetic operator) means the primitive's ``saves``
    declaration is wrong; that raises an error naming the op and the input, never a
    ``TypeError`` from deep inside a rule.
    """

    __slots__ = ("dtype", "index", "prim", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: Any, prim: Any = None, index: int = 0):
        self.shape = shape
        self.dtype = dtype
        self.prim = prim
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def unsaved_error(self) -> RuntimeError:
        name = getattr(self.prim, "name", "this op")
        return RuntimeError(
            f"{name}'s VJP read input {self.index}, which {name} does not save (only its "
            f"shape {tuple(self.shape)} and dtype {self.dtype} are kept). Declare it in the "
            "primitive's saves= for that input's rule."
        )

    def __getattr__(self, attr: str) -> Any:  # only reached for what a stand-in lacks
        if attr.startswith("_"):  # hasattr, copy and pickle probe private names: say no
            raise AttributeError(attr)
        raise self.unsaved_error()


def _refuse(self: SavedMeta, *args: Any, **kwargs: Any) -> Any:
    raise self.unsaved_error()


# Operators are looked up on the type, not through __getattr__: refuse them one by one.
for _op in (
    "add sub mul truediv pow matmul radd rsub rmul rtruediv rpow rmatmul neg abs lt le gt ge "
    "and or xor invert getitem array iter len float int bool"
).split():
    setattr(SavedMeta, f"__{_op}__", _refuse)
SavedMeta.__eq__ = _refuse  # type: ignore[method-assign, assignment]
SavedMeta.__ne__ = _refuse  # type: ignore[method-assign, assignment]
SavedMeta.__hash__ = object.__hash__  # type: ignore[method-assign, assignment]
del _op


class Node:
    """One recorded primitive application (PyTorch's ``grad_fn``).

    Rarely used fields are class-level defaults, so recording a node writes five attributes.
    """

    saved: tuple = ()  # (input index or -1 for the output, version cell, version at save)
    hooks: list | None = None  # pre-hooks: run on the output's cotangent
    retained: weakref.ref | None = None  # the non-leaf output that called retain_grad
    stack: list[str] | None = None  # forward traceback, kept in anomaly mode
    out_tensor: Any = None  # set by reverse-mode transforms: the traced output
    freed: bool = False  # True once release() dropped what the rule needs

    def __init__(self, prim: Any, inputs: tuple, params: dict, out_data: Any) -> None:
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.out_data = out_data  # kept only when the rule uses the output (prim.saves_out)
        self.edges: tuple = ()

    def name(self) -> str:
        """PyTorch-style name, e.g. ``MulBackward0``."""
        return self.prim.backward_name

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """The producers of this node's inputs (PyTorch's name): nodes, leaves or ``None``."""
        return tuple((edge, 0) for edge in self.edges)

    def register_hook(self, fn: Any) -> None:
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(fn)

    def release(self) -> None:
        """Drop what backward needed once it ran (PyTorch frees saved tensors the same way).

        A node whose rule reads saved values is then spent: running it again is an error.
        Rules of the others (add, sum, reshape...) only need shapes, kept as ``SavedMeta``,
        so a graph of such ops can be backpropagated again, as in PyTorch.
        """
        if self.saved:
            self.inputs = None
            self.out_data = None
            self.freed = True
        # Otherwise nothing to drop: record() already replaced the intermediates among the
        # inputs by their shapes; what is left are leaves, which their owner keeps alive.
